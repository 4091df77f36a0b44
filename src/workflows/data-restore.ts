/**
 * dataRestore: bring a Postgres database back to a backup without ever overwriting it. Seeds 000,
 * 001, 002 and 003 restore with `psql $DATABASE_URL < backup.sql` or `pg_restore` over the live
 * database; here the restore goes beside it and is proved before anything is swapped:
 *
 * The source is a backup the worker took (with its manifest: checksums and row counts), or a dump the
 * team already has (`source.dump`, inside the runbook's dumps directory; custom, directory or plain SQL):
 *
 *   preflight -> check the backup or dump (exists, checksums, tools, disk) -> safety dump of live (verified)
 *   -> restore into <db>__restore_<id> -> verify (row counts, smoke queries) -> DBA gate -> stop writers
 *   -> swap by rename (live kept as <db>__pre_restore_<id>) -> verify live (the restored database
 *   answers to the name; smoke queries) -> resume writers -> verify the service's health (when the
 *   runbook says how, as every rollback does) -> report
 *
 * Compensation swaps back; the side database is dropped only if it was never swapped in.
 */
import { patched, workflowInfo } from '@temporalio/workflow';
import { activities, shortId, takeSafetyDump, watching } from './activities.ts';
import { surfaceKnownFailure } from './failures.ts';
import { dataRestoreInput, type DataRestoreInput, type DataRestorePlan, type DataRestoreResult } from '../contract/index.ts';
import { parseInput } from './input.ts';
import { Rollback } from './rollback.ts';
import { schemaRollback } from './schema-rollback.ts';
import { dataRestoreSteps } from '../plan/restore-plan.ts';
import { baselineBeforeRestore, verifyHealthAfterRestore } from './health.ts';

/**
 * Stopping and resuming writers waits for the scaling provider to report the replicas gone or ready
 * (a Kubernetes rollout up to its 600 s, Compose's `up --wait` 300 s): more than the 2 minutes of a
 * quick activity, which would give a slow rollout up and scale again beside it.
 */
const writersScaling = watching(600);

/** Failures where nothing changed yet and a retry would refuse again: they end the workflow as they are. */
const REFUSALS = new Set(['UnknownDatabase', 'BackupNotFound', 'BackupCorrupt', 'ToolsTooOld', 'NotEnoughDisk', 'NameTaken', 'MissingSecret']);

export async function dataRestore(raw: DataRestoreInput): Promise<DataRestoreResult> {
  const input = parseInput('dataRestore', dataRestoreInput, raw);
  if (input.action === 'schema-rollback') return schemaRollback({ ...input, phases: input.phases! });
  const { system, database, requestedBy } = input;
  const from = input.source ? `dump ${input.source.dump}` : `backup ${input.backup ?? 'latest'}`;
  const restoreId = shortId();
  const safetyDump = `safety-${restoreId}`;
  const marker = `rollback-runbooks side restore ${restoreId} by ${workflowInfo().workflowId}`;
  const rollback = new Rollback(
    { workflowType: 'dataRestore', system, reason: input.reason, requestedBy, dryRun: input.dryRun },
    `${system}: ${input.dryRun ? 'dry run of ' : ''}restore of database ${database} from ${from} requested by ${requestedBy}: ${input.reason}`,
  );
  const ref = { system, database };
  let swapWindowMs: number | null = null;

  const result = await rollback.settle(
    async () => {
      await rollback.preflight();
      const checked = (await rollback.step({
        name: 'check-backup',
        kind: 'preflight',
        description: 'backup exists, files match the manifest, tools and disk are fit',
        skippable: false,
        run: () =>
          activities(`check ${from} of ${database}`, watching(600))
            .restorePreflight({ ...ref, backup: input.backup, before: input.before, ...(input.source ? { source: input.source } : {}), restoreId })
            .catch(refusal),
      }))!;
      const plan: DataRestorePlan = dataRestoreSteps(checked, input.jobs);
      rollback.board.setPlan(plan);
      if (input.dryRun) return plan;

      await rollback.step({
        name: 'notify-start',
        kind: 'notify',
        description: 'tell the runbook channels the restore started',
        run: () => rollback.announce({ title: `database restore of ${database} started by ${requestedBy}`, text: `${input.reason}\nBackup ${checked.id} taken ${checked.takenAt}`, severity: 'warning' }),
      });
      await baselineBeforeRestore(rollback, system);

      const safetyDumpOfLive = async () => {
        const dump = await takeSafetyDump(ref, safetyDump, checked.live, input.jobs);
        rollback.board.note(`- safety dump of ${checked.live} before the restore: ${safetyDump} (${dump.files} files, verified against its manifest)`);
        return dump;
      };
      const restoreToSide = () =>
        activities(`pg_restore -j ${input.jobs} of ${checked.id} into ${checked.side}`, watching(6 * 3600)).restoreToSide({
          ...ref,
          backupDir: checked.dir,
          side: checked.side,
          marker,
          jobs: input.jobs,
          ...(checked.dump ? { dump: { path: checked.dump.path, format: checked.dump.format } } : {}),
        });
      // Dropped only while it still carries this restore's marker, i.e. never swapped in.
      const dropSide = () => activities(`drop ${checked.side} (never swapped in)`).dropSideDatabase({ ...ref, side: checked.side, marker });

      // Tables counted as pg_restore finished loading them; verify-side counts only the others.
      let restored: { countedWhileLoading?: Record<string, number> } | undefined;
      if (patched('safety-dump-before-restore')) {
        // DESIGN: a safety dump before any restore. Taken and verified first, so the restore never
        // competes with it for the live server's disk and CPU, and a restore that fills the disk
        // cannot leave us without one.
        await rollback.step({
          name: 'safety-dump',
          kind: 'snapshot',
          description: `safety dump of ${checked.live}, verified against its manifest`,
          skippable: false,
          run: safetyDumpOfLive,
        });
        restored = await rollback.step({
          name: 'restore-to-side',
          kind: 'change',
          description: `backup ${checked.id} restored into ${checked.side}`,
          run: restoreToSide,
          undo: dropSide,
        });
      } else {
        // Histories from before the patch took the safety dump side by side with the restore.
        await rollback.step({
          name: 'restore-to-side',
          kind: 'change',
          description: `safety dump of ${checked.live}, and backup ${checked.id} restored into ${checked.side}, side by side`,
          run: async () => {
            const restoring = restoreToSide(); // scheduled first, as those histories have it
            return Promise.all([safetyDumpOfLive(), restoring]);
          },
          undo: dropSide,
        });
      }

      const sideVerified = await rollback.step({
        name: 'verify-side',
        kind: 'verify',
        description: `verify ${checked.side}: row counts and smoke queries`,
        run: () =>
          activities(`verify ${checked.side}`, watching(1800)).verifyRestoredDatabase({
            ...ref,
            databaseName: checked.side,
            manifest: checked.manifest,
            countedWhileLoading: restored?.countedWhileLoading,
          }),
      });

      await rollback.gate('before-swap', `swapping ${checked.side} in as ${checked.live}`);

      const writers = await rollback.step({
        name: 'stop-writers',
        kind: 'change',
        description: 'stop writers as the runbook says',
        run: () => activities('stop writers', writersScaling).stopWriters({ ...ref, idempotencyKey: rollback.key('stop-writers'), actor: rollback.actor }),
        undo: (stopped) => activities('resume writers', writersScaling).resumeWriters({ ...ref, previous: stopped.previous, idempotencyKey: rollback.key('stop-writers:undo'), actor: rollback.actor }),
      });

      const names = { side: checked.side, old: checked.old, liveComment: checked.liveComment };
      const swap = await rollback.step({
        name: 'swap',
        kind: 'change',
        description: `swap by rename: ${checked.live} kept as ${checked.old}`,
        run: () => activities(`swap ${checked.side} in as ${checked.live}`).swapDatabases({ ...ref, ...names }),
        undo: () => activities(`swap ${checked.old} back in as ${checked.live}`).swapDatabasesBack({ ...ref, ...names }),
      });
      swapWindowMs = swap?.windowMs ?? null;
      if (writers) {
        // The restored database carries the flag as it was at backup time: stop writers there too. A step
        // like any other, so a failure here waits for a decision instead of failing the workflow task.
        await rollback.step({
          name: 'stop-writers-after-swap',
          kind: 'change',
          description: 'stop writers on the restored database (its flag is as it was at backup time)',
          run: () => activities('stop writers on the restored database', writersScaling).stopWriters({ ...ref, idempotencyKey: rollback.key('stop-writers-after-swap'), actor: rollback.actor }),
        });
      }

      await rollback.step({
        name: 'verify-live',
        kind: 'verify',
        description: `verify ${checked.live} after the swap`,
        run: () =>
          // The rows were counted on the side database and a rename moves none: here it is enough that
          // the live name now answers with that same database and its smoke queries pass. Counted in
          // full again only when verify-side was skipped (or in histories from before this existed).
          patched('verify-live-by-identity') && sideVerified?.oid !== undefined
            ? activities(`verify ${checked.live}`).verifyLiveDatabase({ ...ref, restoredOid: sideVerified.oid })
            : activities(`verify ${checked.live}`, watching(1800)).verifyRestoredDatabase({ ...ref, databaseName: checked.live, manifest: checked.manifest }),
      });

      if (writers) {
        await rollback.step({
          name: 'resume-writers',
          kind: 'change',
          description: 'resume writers',
          run: () => activities('resume writers', writersScaling).resumeWriters({ ...ref, previous: writers.previous, idempotencyKey: rollback.key('resume-writers'), actor: rollback.actor }),
        });
      }
      await verifyHealthAfterRestore(rollback, system, 'restore');
      return plan;
    },
    'database restore',
  );
  const { preflight, report } = rollback.board.view;
  return { dryRun: input.dryRun, plan: result, swapWindowMs, safetyDump: input.dryRun ? null : safetyDump, ...(preflight ? { preflight } : {}), report };
}

/** A refusal before anything changed ends the workflow with the activity's own message. */
function refusal(err: unknown): never {
  surfaceKnownFailure(err, REFUSALS);
}
