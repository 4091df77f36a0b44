/**
 * What a runbook checks before a rollback touches anything (seed 002: "check for pending migrations",
 * "ensure dependent services are healthy", "verify the revision is ready"), in `preflight:`. Each
 * check is one of four forms: a read-only SQL query on one of the runbook's databases and what its
 * first row must hold, an HTTP request and a command in the same shape as health checks, and a release
 * that must exist and be ready. Pure (zod only); the checks run in src/activities/preflight-checks.ts.
 */
import { z } from 'zod';
import { commandCheckSchema, formProblem, httpCheckSchema, jsonExpectationSchema } from './health-schema.ts';

const identifier = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"');
const expectations = z.union([jsonExpectationSchema, z.array(jsonExpectationSchema).min(1)]);

export const sqlPreflightSchema = z.strictObject({
  name: identifier,
  sql: z.strictObject({
    database: identifier.optional().describe("a database under databases: (its urlEnv gives the connection); left out when the runbook has only one"),
    query: z.string().min(1).describe('run in a READ ONLY transaction; its first row, as JSON, is what expect reads (no row: null)'),
    expect: expectations.describe('what the first row must hold: {path: $.pending, equals: 0}, one expectation or a list'),
    timeoutSeconds: z.number().positive().max(300).default(10).describe("the query's statement timeout"),
  }),
});

export const releasePreflightSchema = z.strictObject({
  name: identifier,
  release: z.strictObject({
    target: z.string().min(1).describe('a service, app, Deployment or version as the provider names it'),
    to: z.string().min(1).max(300).default('previous').describe('"previous" (the release a rollback goes to), or a deploy id, image, digest, revision or tag'),
    provider: identifier.optional().describe("a releases provider under providers:; left out: the runbook's release section"),
  }),
});

export type SqlPreflightSpec = z.output<typeof sqlPreflightSchema>;
export type ReleasePreflightSpec = z.output<typeof releasePreflightSchema>;
export type HttpPreflightSpec = z.output<typeof httpCheckSchema>;
export type CommandPreflightSpec = z.output<typeof commandCheckSchema>;
export type PreflightCheckSpec = SqlPreflightSpec | HttpPreflightSpec | CommandPreflightSpec | ReleasePreflightSpec;

const preflightProblem = formProblem(
  [
    ['sql', sqlPreflightSchema],
    ['url', httpCheckSchema],
    ['command', commandCheckSchema],
    ['release', releasePreflightSchema],
  ],
  'a preflight check needs sql (a read-only query), url (an HTTP request), command (a command to run) or release (a release that must exist and be ready)',
);

export const preflightCheckSchema = z.union([sqlPreflightSchema, httpCheckSchema, commandCheckSchema, releasePreflightSchema], { error: preflightProblem });

export const preflightSchema = z
  .array(preflightCheckSchema)
  .default([])
  .describe('checks run before the snapshot; one that fails refuses the rollback with nothing changed, and a dry run shows each with its live result');

/** The database a SQL check reads: the one it names, else the runbook's only one. */
export function preflightDatabase(spec: SqlPreflightSpec, databases: readonly string[]): { database: string } | { problem: string } {
  if (spec.sql.database !== undefined) {
    return databases.includes(spec.sql.database) ? { database: spec.sql.database } : { problem: `unknown database '${spec.sql.database}'; must be one of: ${databases.join(', ') || '(none declared under databases:)'}` };
  }
  if (databases.length === 1) return { database: databases[0]! };
  return { problem: databases.length === 0 ? 'a sql check needs a database under databases: (its urlEnv gives the connection)' : `name the database: the runbook has ${databases.join(', ')}` };
}

/** Problems only the whole runbook shows: a name given twice, a database it does not have (providers: src/runbook/provider-check.ts). */
export function preflightProblems(runbook: { preflight: readonly PreflightCheckSpec[]; databases: Record<string, unknown> }, ctx: z.RefinementCtx): void {
  runbook.preflight.forEach((check, i) => {
    const path = ['preflight', i];
    if (runbook.preflight.findIndex((c) => c.name === check.name) !== i) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `duplicate preflight check name ${check.name}` });
    if ('sql' in check) {
      const found = preflightDatabase(check, Object.keys(runbook.databases));
      if ('problem' in found) ctx.addIssue({ code: 'custom', path: [...path, 'sql', 'database'], message: found.problem });
    }
  });
}
