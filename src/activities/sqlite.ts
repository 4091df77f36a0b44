/**
 * SQLite restores (seed 001: the memory database on Railway, restored from `memory_*.db` backups).
 * The file mechanics are src/providers/sqlite/sqlite-file.ts; here the runbook's database is found,
 * its writer stopped and started through its provider, and each step made safe to retry.
 */
import { ApplicationFailure } from '@temporalio/common';
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { SqliteStep } from '../actions/sqlite-restore.ts';
import { listBackupFiles } from '../providers/backup-files.ts';
import { checkSqlite, putBackSaved, stageCopy, swapInStaged } from '../providers/sqlite/sqlite-file.ts';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';


/** A runbook's SQLite database with what reaches it: its file, its backups, its writer. */
export async function sqliteTarget(deps: ActivityDeps, runbook: Runbook, name: string) {
  const config = runbook.sqlite[name];
  if (!config) throw ApplicationFailure.nonRetryable(`unknown SQLite database '${name}' in the ${runbook.system} runbook`, 'InvalidInput');
  const path = resolve(config.path);
  const backupDir = resolve(config.backupDir);
  const bytes = await stat(path).then((s) => s.size, () => null);
  const writer = config.writer;
  return {
    path,
    backupDir,
    bytes,
    smokeQueries: config.smokeQueries,
    backups: () => listBackupFiles(backupDir, config.backupPattern),
    writer: !writer
      ? null
      : 'scale' in writer
        ? {
            target: writer.scale,
            instances: async () => (await deps.clients.get('scaling', providerRef(runbook, writer.provider)).readState()).instances[writer.scale] ?? 0,
            stop: (key: string, actor: string) => deps.clients.get('scaling', providerRef(runbook, writer.provider)).scale(writer.scale, 0, { idempotencyKey: key, actor }).then(() => `${writer.scale} scaled to 0`),
            start: (count: number, key: string, actor: string) =>
              deps.clients.get('scaling', providerRef(runbook, writer.provider)).scale(writer.scale, count, { idempotencyKey: key, actor }).then(() => `${writer.scale} back to ${count}`),
          }
        : {
            target: writer.stop.join(' '),
            instances: async () => 1,
            stop: () => runWriterCommand(deps, runbook, writer.provider, writer.stop, writer.timeoutSeconds),
            start: () => runWriterCommand(deps, runbook, writer.provider, writer.start, writer.timeoutSeconds),
          },
  };
}

/** The writer's stop or start command (e.g. `railway down`): it must exit 0. */
async function runWriterCommand(deps: ActivityDeps, runbook: Runbook, provider: string | undefined, argv: string[], timeoutSeconds: number): Promise<string> {
  const result = await deps.clients.get('commands', providerRef(runbook, provider)).run({ argv, env: {}, timeoutMs: timeoutSeconds * 1000 }, { onLine: () => undefined });
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')} ${result.timedOut ? 'timed out' : `exited with ${result.exitCode}`}: ${result.outputTail.slice(-3).join(' | ')}`);
  return `ran ${argv.join(' ')}`;
}

export const createSqliteActivities = (deps: ActivityDeps) => ({
  /**
   * Restores the database from `backup`: checked on a staging copy (integrity_check, smoke queries)
   * before the writer stops; then the writer stopped, the file there now moved aside as
   * `<file>.pre-restore-<saveId>`, the copy renamed into place, the writer started again. Safe to
   * retry: the file is moved aside once, the copy renamed only while it waits, and the writer's
   * scaling carries this step's key.
   */
  async restoreSqlite(input: SqliteStep & { backup: string }): Promise<{ backup: string; savedAs: string | null; writer: string }> {
    const target = await sqliteTarget(deps, runbookFor(deps, input.system), input.database);
    const backup = (await target.backups()).find((b) => b.name === input.backup);
    if (!backup) throw ApplicationFailure.nonRetryable(`no backup ${input.backup} of SQLite database ${input.database} in ${target.backupDir}`, 'BackupNotFound');
    const staged = await stageCopy(backup.path, target.path, input.saveId);
    const problems = await withHeartbeats(checkSqlite(staged, target.smokeQueries));
    if (problems.length > 0) throw ApplicationFailure.nonRetryable(`backup ${backup.name} did not verify, so nothing was stopped or replaced: ${problems.join('; ')}`, 'RestoreNotVerified');
    const savedAs = join(dirname(target.path), `${basename(target.path)}.pre-restore-${input.saveId}`);
    const stopped = target.writer ? await target.writer.stop(`${input.idempotencyKey}:writer-stop`, input.actor) : 'no writer';
    const { saved } = await swapInStaged(target.path, staged, savedAs);
    const started = target.writer ? await target.writer.start(input.writerInstances ?? 1, `${input.idempotencyKey}:writer-start`, input.actor) : '';
    return { backup: backup.name, savedAs: saved ? savedAs : null, writer: [stopped, started].filter(Boolean).join(', ') };
  },

  /**
   * Compensation: the writer stopped, the restored file moved aside as `<file>.undone-<saveId>` (kept:
   * what was written to it since is not thrown away), the file from before put back, the writer
   * started at the count it had. Safe to retry: once the saved file is back there is nothing to move.
   */
  async undoSqliteRestore(input: SqliteStep): Promise<{ putBack: boolean; undoneAs: string; writer: string }> {
    const target = await sqliteTarget(deps, runbookFor(deps, input.system), input.database);
    const at = (suffix: string) => join(dirname(target.path), `${basename(target.path)}.${suffix}-${input.saveId}`);
    const stopped = target.writer ? await target.writer.stop(`${input.idempotencyKey}:writer-stop`, input.actor) : 'no writer';
    const { putBack } = await putBackSaved(target.path, at('pre-restore'), at('undone'));
    const started = target.writer ? await target.writer.start(input.writerInstances ?? 1, `${input.idempotencyKey}:writer-start`, input.actor) : '';
    return { putBack, undoneAs: at('undone'), writer: [stopped, started].filter(Boolean).join(', ') };
  },
});
