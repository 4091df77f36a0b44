/**
 * Redis keyspace backups and their restore (seed 004 stage 9: `session:*:agentic_state`): what is
 * there is saved before anything is overwritten, TTLs are kept, the restore is verified key by key,
 * and compensation puts back exactly what was there.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KeyspaceManifest } from '../providers/keyspace/redis-keyspace.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { keyspaceOf } from './inspect.ts';
import { runbookFor } from './runbook.ts';

export const createKeyspaceActivities = (deps: ActivityDeps) => {
  const target = (system: string, keyspace: string) => {
    const found = keyspaceOf(runbookFor(deps, system), keyspace);
    return { ...found, client: deps.clients.get('keyspace', found.ref) };
  };
  return {
    /** Backs up the keyspace (SCAN, DUMP, PTTL) with a manifest. Safe to retry: an existing backup is returned as it is. */
    async backupKeyspace(input: { system: string; keyspace: string; backupId: string }): Promise<KeyspaceManifest> {
      const { client, dir, pattern } = target(input.system, input.keyspace);
      let progress: { keys: number } | undefined;
      return withHeartbeats(client.backup({ pattern, dir, id: input.backupId, system: input.system, onProgress: (keys) => (progress = { keys }) }), () => progress);
    },

    /** Complete backups of the keyspace, oldest first. Safe to retry: it only reads. */
    async listKeyspaceBackups(input: { system: string; keyspace: string }): Promise<KeyspaceManifest[]> {
      const { client, dir } = target(input.system, input.keyspace);
      return (await client.listBackups(dir)).filter((b) => b.kind === 'backup');
    },

    /**
     * Restores backup `backup` ("latest" or an id) after saving what is there as `saveId`, then checks
     * every key holds the backed-up value. Safe to retry with the same saveId: the save is taken once,
     * and restoring the same values again changes nothing more.
     */
    async restoreKeyspace(input: { system: string; keyspace: string; backup: string; saveId: string }): Promise<{ backupId: string; restored: number; existedBefore: number; savedAs: string }> {
      const { client, dir } = target(input.system, input.keyspace);
      const backups = (await client.listBackups(dir)).filter((b) => b.kind === 'backup');
      const chosen = input.backup === 'latest' ? backups.at(-1) : backups.find((b) => b.id === input.backup);
      if (!chosen) throw ApplicationFailure.nonRetryable(`no backup '${input.backup}' of keyspace ${input.keyspace} in ${dir}`, 'BackupNotFound');
      const context = Context.current();
      let progress: { done: number; phase: string } | undefined;
      // The check reads every key again (DUMP and PTTL): as long as the restore on a large keyspace,
      // so it beats too, or the server gives the attempt up mid-check and retries it.
      const restoreAndCheck = async () => {
        const result = await client.restore({ dir, id: chosen.id, saveId: input.saveId, onProgress: (done, phase) => (progress = { done, phase }) }).catch((err: Error) => {
          throw context.cancellationSignal.aborted ? err : ApplicationFailure.nonRetryable(err.message, 'RestoreNotVerified');
        });
        progress = { done: 0, phase: 'verify' };
        return { result, problems: await client.verifyRestore({ dir, id: chosen.id }) };
      };
      const { result, problems } = await withHeartbeats(restoreAndCheck(), () => progress);
      if (problems.length > 0) throw ApplicationFailure.nonRetryable(`keyspace ${input.keyspace} did not verify after the restore: ${problems.slice(0, 5).join('; ')}`, 'RestoreNotVerified');
      return { backupId: chosen.id, ...result };
    },

    /** Compensation: puts back exactly what the save holds. Safe to retry: it writes the same values again. */
    async undoKeyspaceRestore(input: { system: string; keyspace: string; saveId: string }): Promise<{ putBack: number; removed: number }> {
      const { client, dir } = target(input.system, input.keyspace);
      return withHeartbeats(client.undoRestore({ dir, saveId: input.saveId }));
    },
  };
};
