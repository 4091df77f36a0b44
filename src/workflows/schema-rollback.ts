/**
 * The schema-rollback action of dataRestore (seed 000's "Rollback migrations in reverse order"):
 *
 *   preflight -> verified safety dump -> DBA gate -> the phases' down SQL from the runbook, in one
 *   transaction -> smoke queries -> the service's health (when the runbook says how) -> report
 *
 * There is no automatic undo: the safety dump is the way back (dataRestore with its id).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { downMigrations } from '../plan/plan.ts';
import { activities, shortId, takeSafetyDump, watching } from './activities.ts';
import { DOWN_SQL_SECONDS } from '../actions/down-sql.ts';
import type { dataRestoreInput, DataRestoreResult, SchemaRollbackPlan } from '../contract/index.ts';
import { Rollback } from './rollback.ts';
import { baselineBeforeRestore, verifyHealthAfterRestore } from './health.ts';

export async function schemaRollback(input: z.output<typeof dataRestoreInput> & { phases: number[] }): Promise<DataRestoreResult> {
  const { system, database, requestedBy } = input;
  const safetyDump = `safety-${shortId()}`;
  const rollback = new Rollback(
    { workflowType: 'dataRestore', system, reason: input.reason, requestedBy, dryRun: input.dryRun },
    `${system}: ${input.dryRun ? 'dry run of ' : ''}schema rollback of phases ${input.phases.join(', ')} on ${database} requested by ${requestedBy}: ${input.reason}`,
  );
  const ref = { system, database };
  await rollback.settle(
    async () => {
      const runbook = await rollback.preflight();
      const downs = downMigrations(runbook, database, input.phases);
      if (downs.missing.length > 0) {
        throw ApplicationFailure.nonRetryable(`phase ${downs.missing.join(', ')} has no down SQL for database ${database} in the ${system} runbook`, 'InvalidInput');
      }
      const plan: SchemaRollbackPlan = { phases: downs.applied, safetyDump };
      rollback.board.setPlan(plan);
      if (input.dryRun) return;
      await baselineBeforeRestore(rollback, system);
      await rollback.step({
        name: 'safety-dump',
        kind: 'snapshot',
        description: `safety dump of ${database} before the down SQL runs`,
        skippable: false,
        run: () => takeSafetyDump(ref, safetyDump, database, input.jobs),
      });
      await rollback.gate(runbook.gates['before-schema-rollback'] ? 'before-schema-rollback' : 'before-swap', `running the down SQL of phases ${input.phases.join(', ')}`);
      const applied = await rollback.step({
        name: 'down-sql',
        kind: 'change',
        description: `down SQL of phases ${input.phases.join(', ')} in one transaction`,
        run: () => activities(`down SQL of phases ${input.phases.join(', ')}`, watching(DOWN_SQL_SECONDS)).applyDownMigrations({ ...ref, phases: input.phases, idempotencyKey: rollback.key('down-sql'), actor: rollback.actor }),
      });
      for (const { phase, sql } of applied?.applied ?? []) rollback.board.note(`- phase ${phase} down SQL (one transaction):`, '', '```sql', sql.trim(), '```', '');
      rollback.board.note(`- safety dump taken before: ${safetyDump} (restore it with dataRestore, backup "${safetyDump}")`);
      await rollback.step({
        name: 'verify-live',
        kind: 'verify',
        description: `smoke queries on ${database}`,
        run: () => activities(`smoke queries on ${database}`).smokeTestLive(ref),
      });
      await verifyHealthAfterRestore(rollback, system, 'schema rollback');
    },
    'schema rollback',
  );
  const { plan, preflight, report } = rollback.board.view;
  return { dryRun: input.dryRun, plan: plan as SchemaRollbackPlan, swapWindowMs: null, safetyDump: input.dryRun ? null : safetyDump, ...(preflight ? { preflight } : {}), report };
}

