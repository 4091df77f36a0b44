/**
 * Backup activities: take a backup with its manifest, list the catalog, prove a backup usable.
 */
import { Context } from '@temporalio/activity';
import { join } from 'node:path';
import { listBackups, readManifest, takeBackup, type BackupManifest } from '../providers/database/backup.ts';
import { tocEntries } from '../providers/database/pg-tools.ts';
import { databaseTarget, fail, verifyAgainstManifest, type DatabaseRef } from './database-target.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';

export const createBackupActivities = (deps: ActivityDeps) => {
  const target = (ref: DatabaseRef) => databaseTarget(deps, ref);
  return {
    /**
     * Backs a runbook database up with pg_dump (directory format, parallel jobs) and a manifest.
     * Safe to retry: a backup whose manifest exists is returned as it is; a partial one is redone.
     */
    async backupDatabase(input: DatabaseRef & { backupId: string; kind?: BackupManifest['kind']; jobs?: number }): Promise<BackupManifest> {
      const { conn, dir } = target(input);
      const path = join(dir, input.backupId);
      const existing = await readManifest(path);
      if (existing) return existing;
      const context = Context.current();
      let lines = 0;
      let progress: { pgDumpLines: number } | undefined;
      return withHeartbeats(
        takeBackup({
          conn,
          dir: path,
          id: input.backupId,
          kind: input.kind ?? 'backup',
          system: input.system,
          database: input.database,
          jobs: input.jobs ?? 2,
          onProgress: () => (progress = { pgDumpLines: ++lines }),
          signal: context.cancellationSignal,
        }),
        () => progress,
      );
    },

    /** Complete backups of a database, oldest first. Safe to retry: it only reads. */
    async listDatabaseBackups(input: DatabaseRef): Promise<Omit<BackupManifest, 'files'>[]> {
      const { dir } = target(input);
      return (await listBackups(dir)).map(({ files: _files, dir: _dir, ...rest }) => rest);
    },

    /**
     * Proves a backup is usable: every file matches the manifest and pg_restore can read its table
     * of contents. Safe to retry: it only reads.
     */
    async verifyBackup(input: DatabaseRef & { backupId: string }): Promise<{ files: number; tocEntries: number }> {
      const { conn, dir } = target(input);
      const path = join(dir, input.backupId);
      const manifest = await readManifest(path);
      if (!manifest) throw fail(`backup ${input.backupId} has no manifest in ${dir}`, 'BackupNotFound');
      await verifyAgainstManifest(input.backupId, path, manifest);
      return { files: manifest.files.length, tocEntries: await tocEntries(conn, join(path, 'dump')) };
    },
  };
};
