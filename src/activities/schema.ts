/**
 * Schema rollback: the runbook's down SQL in one transaction, and smoke queries on the live database.
 */
import { withClient } from '../providers/database/pg-tools.ts';
import { smokeTest } from '../providers/database/restore.ts';
import { downMigrations } from '../plan/plan.ts';
import { databaseTarget, fail, type DatabaseRef } from './database-target.ts';
import type { ActivityDeps } from './deps.ts';

export const createSchemaActivities = (deps: ActivityDeps) => {
  const target = (ref: DatabaseRef) => databaseTarget(deps, ref);
  return {
    /**
     * Schema rollback: runs the down SQL of the given phases, as written in the runbook and in the
     * order given, in ONE transaction; nothing else can run. A ledger row written in the same
     * transaction makes it safe to retry: a key already in the ledger means it was applied, and it
     * is not run twice. Attempts on one database take turns (an advisory lock), so this holds for
     * two attempts at once too.
     */
    async applyDownMigrations(input: DatabaseRef & { phases: number[]; idempotencyKey: string; actor: string }): Promise<{ applied: { phase: number; sql: string }[]; alreadyApplied: boolean }> {
      const { runbook, conn } = target(input);
      const { applied, missing } = downMigrations(runbook, input.database, input.phases);
      if (missing.length > 0) throw fail(`phase ${missing[0]} has no down SQL for database ${input.database} in the ${input.system} runbook`, 'InvalidInput');
      return withClient(conn, async (c) => {
        await c.query('BEGIN');
        try {
          // One attempt at a time: a retry started while an earlier attempt still runs (its worker
          // presumed dead, or past its timeout) waits here for it, then finds its key in the ledger,
          // instead of running the SQL again or racing it to create the ledger.
          await c.query("SELECT pg_advisory_xact_lock(hashtextextended('rollback_runbooks.schema_rollbacks', 0))");
          await c.query('CREATE SCHEMA IF NOT EXISTS rollback_runbooks');
          await c.query('CREATE TABLE IF NOT EXISTS rollback_runbooks.schema_rollbacks (key text PRIMARY KEY, phases int[] NOT NULL, applied_by text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
          const seen = await c.query('SELECT 1 FROM rollback_runbooks.schema_rollbacks WHERE key = $1 FOR UPDATE', [input.idempotencyKey]);
          if (seen.rowCount) {
            await c.query('ROLLBACK');
            return { applied, alreadyApplied: true };
          }
          for (const { sql } of applied) await c.query(sql);
          await c.query('INSERT INTO rollback_runbooks.schema_rollbacks (key, phases, applied_by) VALUES ($1, $2, $3)', [input.idempotencyKey, input.phases, input.actor]);
          await c.query('COMMIT');
          return { applied, alreadyApplied: false };
        } catch (err) {
          await c.query('ROLLBACK');
          throw fail(`down SQL failed and was rolled back, nothing changed: ${(err as Error).message}`, 'SchemaRollbackFailed');
        }
      });
    },

    /** Runs the runbook's smoke queries against the live database. Safe to retry: read-only. */
    async smokeTestLive(input: DatabaseRef): Promise<void> {
      const { conn, config } = target(input);
      const { problems } = await smokeTest(conn, conn.database, config.smokeQueries);
      if (problems.length > 0) throw fail(`${conn.database} did not verify: ${problems.join('; ')}`, 'RestoreNotVerified');
    },
  };
};
