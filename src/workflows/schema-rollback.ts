/**
 * The schema-rollback action of dataRestore (seed 000's "Rollback migrations in reverse order"):
 *
 *   preflight -> verified safety dump -> DBA gate -> the phases' down SQL from the runbook, in one
 *   transaction -> smoke queries -> report
 *
 * There is no automatic undo: the safety dump is the way back (dataRestore with its id).
 */
import { ApplicationFailure, uuid4, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import { activities, watching } from './activities.ts';
import type { DataRestorePlan, DataRestoreResult, dataRestoreInput } from './data-restore.ts';
import { Rollback } from './rollback.ts';

export async function schemaRollback(input: z.output<typeof dataRestoreInput> & { phases: number[] }): Promise<DataRestoreResult> {
  const { system, database, requestedBy } = input;
  const { workflowId, runId } = workflowInfo();
  const safetyDump = `safety-${uuid4().replaceAll('-', '').slice(0, 8)}`;
  const rollback = new Rollback(
    { workflowType: 'dataRestore', system, reason: input.reason, requestedBy, dryRun: input.dryRun },
    `${system}: ${input.dryRun ? 'dry run of ' : ''}schema rollback of phases ${input.phases.join(', ')} on ${database} requested by ${requestedBy}: ${input.reason}`,
  );
  const ref = { system, database };
  await rollback.settle(
    async () => {
      const runbook = await rollback.preflight();
      const downs = input.phases.map((id) => ({ id, down: runbook.phases.find((p) => p.id === id)?.rollback.downSql }));
      const missing = downs.filter((d) => !d.down || d.down.database !== database).map((d) => d.id);
      if (missing.length > 0) {
        throw ApplicationFailure.nonRetryable(`phase ${missing.join(', ')} has no down SQL for database ${database} in the ${system} runbook`, 'InvalidInput');
      }
      rollback.status.plan = { phases: downs.map((d) => ({ phase: d.id, sql: d.down!.sql })), safetyDump };
      if (input.dryRun) return;
      await rollback.step({
        name: 'safety-dump',
        kind: 'snapshot',
        description: `safety dump of ${database} before the down SQL runs`,
        skippable: false,
        run: async () => {
          await activities(`safety dump of ${database}`, watching(3600)).backupDatabase({ ...ref, backupId: safetyDump, kind: 'safety-dump', jobs: input.jobs });
          return activities(`verify safety dump ${safetyDump}`, watching(600)).verifyBackup({ ...ref, backupId: safetyDump });
        },
      });
      await rollback.gate(runbook.gates['before-schema-rollback'] ? 'before-schema-rollback' : 'before-swap', `running the down SQL of phases ${input.phases.join(', ')}`);
      const applied = await rollback.step({
        name: 'down-sql',
        kind: 'change',
        description: `down SQL of phases ${input.phases.join(', ')} in one transaction`,
        run: () => activities(`down SQL of phases ${input.phases.join(', ')}`).applyDownMigrations({ ...ref, phases: input.phases, idempotencyKey: `${workflowId}:${runId}:down-sql`, actor: `${requestedBy} via ${workflowId}` }),
      });
      for (const { phase, sql } of applied?.applied ?? []) rollback.status.notes.push(`- phase ${phase} down SQL (one transaction):`, '', '```sql', sql.trim(), '```', '');
      rollback.status.notes.push(`- safety dump taken before: ${safetyDump} (restore it with dataRestore, backup "${safetyDump}")`);
      await rollback.step({
        name: 'verify-live',
        kind: 'verify',
        description: `smoke queries on ${database}`,
        run: () => activities(`smoke queries on ${database}`).smokeTestLive(ref),
      });
    },
    'schema rollback',
  );
  return { dryRun: input.dryRun, plan: rollback.status.plan as DataRestorePlan, swapWindowMs: null, safetyDump: input.dryRun ? null : safetyDump, report: rollback.status.report };
}

