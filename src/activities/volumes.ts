/**
 * Container volume restores (seed 003: `postgres_data` backed up and restored with tar). The engine
 * side is the provider's VolumesClient (src/providers/docker-compose/volumes.ts); here the runbook's
 * volume is found and each step made safe to retry.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { VolumeStep } from '../actions/volume-restore.ts';
import { listBackupFiles } from '../providers/backup-files.ts';
import { archiveEntries } from '../providers/docker-compose/volumes.ts';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';


/** A runbook's volume with what reaches it: the engine's client, its backups, its services. */
export function volumeTarget(deps: ActivityDeps, runbook: Runbook, name: string) {
  const config = runbook.volumes[name];
  if (!config) throw ApplicationFailure.nonRetryable(`unknown volume '${name}' in the ${runbook.system} runbook`, 'InvalidInput');
  const backupDir = resolve(config.backupDir);
  return {
    ...config,
    backupDir,
    client: deps.clients.get('volumes', providerRef(runbook, config.provider)),
    backups: () => listBackupFiles(backupDir, config.backupPattern),
    /** An archive of what the volume held, beside its backups, named after the step. */
    archive: (what: 'pre-restore' | 'undone', saveId: string) => join(backupDir, `${config.volume}.${what}-${saveId}.tar.gz`),
  };
}

/**
 * The volume archived to `path` unless an earlier attempt finished that: written under a name of this
 * attempt's own and renamed once it reads back whole, so a worker killed mid-archive leaves no
 * truncated archive a retry would take for the real one. The name is per attempt because the killed
 * worker's helper container may still be writing its own.
 */
async function archiveOnce(target: ReturnType<typeof volumeTarget>, path: string): Promise<void> {
  if (existsSync(path)) return;
  const partial = `${path}.partial-${Context.current().info.attempt}`;
  await withHeartbeats(target.client.archiveVolume(target.volume, partial)); // reads the archive back: a broken one throws here
  renameSync(partial, path);
}

export const createVolumeActivities = (deps: ActivityDeps) => ({
  /**
   * Restores the volume from `backup`: the backup read through first (a broken one refused before
   * anything stops), the services stopped, what the volume holds archived as
   * `<volume>.pre-restore-<saveId>.tar.gz` (once, and read through), the volume emptied and the backup
   * extracted and counted, the services started. Safe to retry: the archive of before is taken only
   * if it is not there yet, and the restore makes the volume hold exactly the backup again.
   */
  async restoreVolume(input: VolumeStep & { backup: string }): Promise<{ backup: string; savedAs: string; entries: number; services: string[] }> {
    const target = volumeTarget(deps, runbookFor(deps, input.system), input.name);
    const backup = (await target.backups()).find((b) => b.name === input.backup);
    if (!backup) throw ApplicationFailure.nonRetryable(`no backup ${input.backup} of volume ${input.name} in ${target.backupDir}`, 'BackupNotFound');
    await withHeartbeats(archiveEntries(backup.path)).catch((err: Error) => {
      throw ApplicationFailure.nonRetryable(`${err.message}; nothing was stopped or changed`, 'BackupCorrupt');
    });
    const savedAs = target.archive('pre-restore', input.saveId);
    await withHeartbeats(target.client.stopServices(target.services));
    await archiveOnce(target, savedAs);
    await withHeartbeats(archiveEntries(savedAs)); // what the undo needs must be readable before the volume is emptied
    const { entries } = await withHeartbeats(target.client.replaceVolume(target.volume, backup.path));
    await withHeartbeats(target.client.startServices(target.services));
    return { backup: backup.name, savedAs, entries, services: target.services };
  },

  /**
   * Compensation: the services stopped, the restored contents archived as
   * `<volume>.undone-<saveId>.tar.gz` (kept: what was written since is not thrown away), the archive of
   * before extracted again, the services started. Safe to retry like the restore.
   */
  async undoVolumeRestore(input: VolumeStep): Promise<{ putBack: string; undoneAs: string; entries: number; services: string[] }> {
    const target = volumeTarget(deps, runbookFor(deps, input.system), input.name);
    const savedAs = target.archive('pre-restore', input.saveId);
    const undoneAs = target.archive('undone', input.saveId);
    if (!existsSync(savedAs)) throw ApplicationFailure.nonRetryable(`${savedAs} is missing: there is nothing to put back`, 'BackupNotFound');
    await withHeartbeats(target.client.stopServices(target.services));
    await archiveOnce(target, undoneAs);
    const { entries } = await withHeartbeats(target.client.replaceVolume(target.volume, savedAs));
    await withHeartbeats(target.client.startServices(target.services));
    return { putBack: savedAs, undoneAs, entries, services: target.services };
  },
});
