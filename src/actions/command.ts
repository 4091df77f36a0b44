/**
 * `command: [argv...]`: a runbook command (seed 000's `python scripts/clear_rag_cache.py`), never a
 * shell string, with a timeout, a success pattern and its environment taken from the worker's
 * variables by name. `capture: [argv...]` runs with the snapshot (read-only) and what it prints
 * fills `{{captured}}` in the command and its `undo`, the way back when the runbook gives one.
 */
import { z } from 'zod';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { configKey, envVarName, type CapturedValue, type FailureType } from '../contract/index.ts';
import { findValue, lazily, type ActionKindModule, type FillContext } from './kind.ts';
import { providerField } from './provider-field.ts';
import { fillArgs, placeholderProblem, placeholdersIn, showArgv } from './templates.ts';

/** A pattern that would only fail when its command runs is refused when the runbook loads instead. */
function regExpError(pattern: string): string | null {
  try {
    new RegExp(pattern);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

const argv = (what: string) => z.array(z.string().min(1)).min(1).describe(what);
const commandFields = ['command', 'undo', 'capture'] as const;

const schema = lazily(() =>
  z
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
      provider: providerField(),
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
    }),
);
export type CommandAction = z.output<ReturnType<typeof schema>>;

export interface CommandChange {
  provider: string;
  argv: string[];
  env: Record<string, string>;
  timeoutSeconds: number;
  successPattern?: string;
  repeatable: boolean;
}

/** How a command ended: its result, and the details of its CommandFailed failure (for the report). */
export interface CommandSummary {
  exitCode: number | null;
  durationMs: number;
  /** The last lines of output, secrets masked. */
  outputTail: string[];
  timedOut?: boolean;
  signal?: string | null;
}

export interface CommandActivities {
  runCommand(input: CommandChange & { system: string }): Promise<CommandSummary>;
}

const sameArgv = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((arg, i) => arg === b[i]);

/** A captured output in a few words for the plan's "found" column. */
const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, ' ');
  return flat === '' ? 'nothing' : flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
};

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A command in the report: one line with its last lines, then (when it printed more) up to 10 of them, masked. */
function commandNote(head: string, tail: string[]): string[] {
  const note = [`- ${head}: ${tail.slice(-3).join(' / ') || 'no output'}`];
  if (tail.length > 3) note.push('', '  ```', ...tail.slice(-10).map((line) => `  ${line.replaceAll('```', "'''")}`), '  ```', '');
  return note;
}

/**
 * `action` with its capture's placeholders filled, for the snapshot to run before any plan exists
 * (`{{captured}}` cannot appear there). Other actions are returned as they are.
 */
export function withCaptureFilled<A extends object>(action: A, context: FillContext & { phase: number | null }): { action: A; problems: string[] } {
  if (!('command' in action) || !('capture' in action)) return { action, problems: [] };
  const { command: argvOf, capture } = action as unknown as CommandAction;
  if (!capture) return { action, problems: [] };
  const { argv: filled, problems } = fillArgs(capture, context);
  return { action: { ...action, capture: filled }, problems: problems.map((p) => `command ${showArgv(argvOf)}: capture ${p}`) };
}

export const command: ActionKindModule<'command', CommandAction, CommandChange, CommandActivities> = {
  kind: 'command',
  schema,
  capability: 'commands',
  repeat: { safe: 'runbook', why: 'safe to run twice only when the runbook marks it repeatable; otherwise a retry after an attempt that ended without an answer is refused for a person to decide' },
  describe: (action) => `command ${action.command.join(' ')}`,

  async capture(action, ctx) {
    const capture = action.capture;
    if (!capture) return;
    const ran = (v: CapturedValue) => v.kind === 'command-output' && v.provider === action.provider && sameArgv(v.argv, capture);
    if (ctx.values.some(ran)) return; // run once
    ctx.values.push(await ctx.runCapture(action.provider, { ...action, capture }));
  },

  plan(action, ctx) {
    const { provider, env, timeoutSeconds, successPattern, repeatable } = action;
    const capture = action.capture;
    const captured = capture ? findValue(ctx.live, 'command-output', (v) => v.provider === provider && sameArgv(v.argv, capture)) : undefined;
    // Without a fill context (the snapshot's early check) templates are left as written: they are filled when the plan is built.
    const fill = (args: string[] | undefined) => (args && ctx.fill ? fillArgs(args, { ...ctx.fill, phase: ctx.phase, captured }) : { argv: args ?? [], problems: [] });
    const forward = fill(action.command);
    const back = fill(action.undo);
    const name = ctx.named(`command ${forward.argv[0]}`);
    if (forward.problems.length + back.problems.length > 0) {
      for (const p of forward.problems) ctx.problem(`${name}: command ${p}`);
      for (const p of back.problems) ctx.problem(`${name}: undo ${p}`);
      return [];
    }
    const run = (argvToRun: string[]): CommandChange => ({ provider, argv: argvToRun, env, timeoutSeconds, successPattern, repeatable });
    return [
      {
        name,
        phase: ctx.phase,
        kind: 'command',
        target: `command (${provider})`,
        from: captured ? `\`${showArgv(captured.argv)}\` printed ${oneLine(captured.output)}` : '',
        to: showArgv(forward.argv),
        changes: true,
        change: run(forward.argv),
        undo: action.undo ? run(back.argv) : null,
        noUndo: action.undo ? undefined : `command ${showArgv(forward.argv)} has no undo in the runbook`,
      },
    ];
  },

  async carryOut(change, ctx) {
    const ran = ctx.key === ctx.forwardKey ? 'ran' : 'undo: ran';
    const shown = `\`${showArgv(change.argv)}\``;
    try {
      const result = await ctx.activities(change.timeoutSeconds).runCommand({ system: ctx.system, ...change });
      ctx.note(...commandNote(`${ran} ${shown} (exit ${result.exitCode}, ${seconds(result.durationMs)})`, result.outputTail));
      return result;
    } catch (err) {
      // A command that ran and failed says how (its exit, time and last lines) in the report too.
      const failed = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === ('CommandFailed' satisfies FailureType);
      const ended = failed ? (((err as ActivityFailure).cause as ApplicationFailure).details?.[0] as CommandSummary | undefined) : undefined;
      if (ended) {
        const how = ended.timedOut ? `timed out after ${change.timeoutSeconds} s` : ended.exitCode === 0 ? `exit 0, success pattern not printed` : ended.signal ? `killed by ${ended.signal}` : `exit ${ended.exitCode}`;
        ctx.note(...commandNote(`${ran} ${shown}: FAILED (${how}, ${seconds(ended.durationMs)})`, ended.outputTail));
      }
      throw err;
    }
  },
};
