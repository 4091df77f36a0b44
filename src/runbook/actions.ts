/**
 * The actions a runbook phase rolls back with, in the order it lists them. Each is written with its
 * kind as the key naming its target (`flag: grok_integration`, `restart: stable`), so a runbook reads
 * like the seeds' procedures, and names the provider (under `providers:`) that carries it out; the
 * provider may be left out where the runbook has exactly one that can. Pure zod, shared by the
 * runbook loader (which fills in the provider), the plans and the workflows.
 */
import { z } from 'zod';
import { configKey, envVarName, featureName, GIT_RANGE } from '../contract/index.ts';
import { placeholderProblem, placeholdersIn } from './templates.ts';

const identifier = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"');
const provider = identifier.optional().describe('a name under providers:; may be left out when exactly one provider can do this');

/** A pattern that would only fail when its command runs is refused when the runbook loads instead. */
function regExpError(pattern: string): string | null {
  try {
    new RegExp(pattern);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

export const flagAction = z.strictObject({
  flag: featureName.describe('feature flag name'),
  enabled: z.boolean().describe('the value to set'),
  provider,
});

export const configAction = z.strictObject({
  config: z.record(configKey, z.string().nullable()).refine((c) => Object.keys(c).length > 0, 'must set at least one key').describe('values to set; null unsets a key'),
  provider,
});

export const secretVersionAction = z.strictObject({
  'secret-version': z.string().min(1).describe('secret name'),
  to: z.union([z.literal('previous'), z.int().min(1)]).default('previous').describe('"previous" (the version before the current one) or a version number'),
  provider,
});

export const killSwitchAction = z.strictObject({
  'kill-switch': featureName.describe("feature name; one of the kill switches its provider's settings list"),
  on: z.boolean().default(true).describe('true switches the feature off (the kill switch engaged)'),
  provider,
});

export const restartAction = z.strictObject({
  restart: z.string().min(1).describe('the version or service to restart, or "all"'),
  provider,
});

const argv = (what: string) => z.array(z.string().min(1)).min(1).describe(what);
const commandFields = ['command', 'undo', 'capture'] as const;

export const commandAction = z
  .strictObject({
    command: argv('argument vector, e.g. [fly, scale, count, "0", -a, app-canary]; never a shell string; may hold {{system}}, {{workflowId}}, {{requestedBy}}, {{phase}}, {{captured}} and {{captured.<field>}}, each filled into its own argument'),
    env: z.record(configKey, envVarName).default({}).describe('variables for the command, each taken from the worker environment variable named'),
    timeoutSeconds: z.number().positive().max(86_400).default(300),
    successPattern: z
      .string()
      .superRefine((pattern, ctx) => {
        const error = regExpError(pattern);
        if (error) ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${error}` });
      })
      .optional()
      .describe('a regular expression the output must match, besides exit code 0'),
    repeatable: z.boolean().default(false).describe('safe to run twice; otherwise a retry after an unclear end asks a person'),
    undo: argv('argument vector run by compensation; may hold the same placeholders as command').optional(),
    capture: argv(
      'argument vector run when the snapshot is taken, before anything changes (read-only, so safe to repeat); its trimmed stdout is {{captured}} in command and undo, and {{captured.<field>}} reads a field when it prints JSON',
    ).optional(),
    provider,
  })
  .superRefine((action, ctx) => {
    // A misspelt placeholder would otherwise reach a rollback and only fail there, or worse, run literally.
    for (const field of commandFields) {
      action[field]?.forEach((arg, i) => {
        for (const name of placeholdersIn(arg)) {
          const problem = placeholderProblem(name, field, action.capture !== undefined);
          if (problem) ctx.addIssue({ code: 'custom', path: [field, i], message: problem });
        }
      });
    }
  });

export const gitRevertAction = z.strictObject({
  'git-revert': z
    .string()
    .regex(GIT_RANGE, 'a commit or a range A..B (shas, branch or tag names)')
    .describe('commits to revert as new commits on the branch (A..B: those after A up to B), pushed; never a reset or a force-push'),
  provider,
});

export const downSqlAction = z.strictObject({
  'down-sql': z.strictObject({ database: identifier, sql: z.string().min(1) }),
});

export const redisRestoreAction = z.strictObject({
  'redis-restore': identifier.describe('a keyspace under keyspaces:'),
  backup: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '"latest" or a backup id').default('latest'),
});

export const actionSchema = z.union([flagAction, configAction, secretVersionAction, killSwitchAction, restartAction, commandAction, downSqlAction, redisRestoreAction, gitRevertAction]);
export type Action = z.infer<typeof actionSchema>;
