/**
 * `down-sql: {database, sql}`: a phase's schema change undone (seed 000's "Rollback migrations in
 * reverse order"), after a verified safety dump of the database, in one transaction, ledgered so it
 * never runs twice. There is no automatic way back: the safety dump is it (dataRestore restores it).
 */
import { z } from 'zod';
import { lazily, type ActionKindModule } from './kind.ts';

const schema = lazily(() =>
  z.strictObject({
    'down-sql': z.strictObject({ database: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"'), sql: z.string().min(1) }),
  }),
);
export type DownSqlAction = z.output<ReturnType<typeof schema>>;

/**
 * How long the down SQL may run: a team's DDL may rewrite a large table. A retry past it waits in the
 * database for the attempt before it and finds it applied, so it never runs twice.
 */
export const DOWN_SQL_SECONDS = 1800;

export interface DownSqlChange {
  database: string;
  phase: number;
}

export interface DownSqlActivities {
  applyDownMigrations(input: { system: string; database: string; phases: number[]; idempotencyKey: string; actor: string }): Promise<{ applied: { phase: number; sql: string }[]; alreadyApplied: boolean }>;
}

export const downSql: ActionKindModule<'down-sql', DownSqlAction, DownSqlChange, DownSqlActivities> = {
  kind: 'down-sql',
  schema,
  capability: null, // the runbook's database, under databases:
  repeat: { safe: true, why: 'a ledger table in the database records the step key, so a repeat finds it applied and runs nothing' },
  describe: (action) => `down-sql on ${action['down-sql'].database}`,

  // The safety dump, taken just before the SQL runs, is its snapshot.
  capture: async () => undefined,

  plan(action, ctx) {
    const { database } = action['down-sql'];
    return [
      {
        name: ctx.named(`down SQL on ${database}`),
        phase: ctx.phase,
        kind: 'down-sql',
        target: `database ${database}`,
        from: 'schema as it is',
        to: `down SQL of phase ${ctx.phase ?? '?'} (one transaction, after a verified safety dump)`,
        changes: true,
        change: { database, phase: ctx.phase ?? 0 },
        undo: null,
        noUndo: `down SQL on ${database} is not undone automatically; restore the safety dump with dataRestore`,
      },
    ];
  },

  async carryOut(change, ctx) {
    // DESIGN: a safety dump before any down migration; the dump is the way back.
    const dumpId = `safety-${ctx.runId.slice(0, 8)}-p${change.phase}`;
    await ctx.takeSafetyDump(change.database, dumpId);
    const applied = await ctx.activities(DOWN_SQL_SECONDS).applyDownMigrations({ system: ctx.system, database: change.database, phases: [change.phase], idempotencyKey: ctx.key, actor: ctx.actor });
    for (const { sql } of applied.applied) ctx.note(`- phase ${change.phase} down SQL on ${change.database} (one transaction; safety dump ${dumpId} before it):`, '', '```sql', sql.trim(), '```', '');
    return applied;
  },
};
