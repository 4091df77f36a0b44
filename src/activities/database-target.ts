/** The runbook database an activity works on, with its connection and backup directory. */
import { ApplicationFailure } from '@temporalio/common';
import { resolve } from 'node:path';
import { verifyBackupFiles, type BackupManifest } from '../providers/database/backup.ts';
import { parseConnection, type Connection } from '../providers/database/pg-tools.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { runbookFor } from './runbook.ts';

export interface DatabaseRef {
  system: string;
  database: string;
}

/** A refusal a retry would only repeat. */
export const fail = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

export function databaseTarget(deps: ActivityDeps, { system, database }: DatabaseRef) {
  const runbook = runbookFor(deps, system);
  const config = runbook.databases[database];
  if (!config) {
    const known = Object.keys(runbook.databases).join(', ') || '(none)';
    throw fail(`unknown database '${database}' for ${system}; the runbook has: ${known}`, 'UnknownDatabase');
  }
  const url = deps.env[config.urlEnv];
  if (!url) throw fail(`environment variable ${config.urlEnv} is not set (the runbook's databases.${database}.urlEnv)`, 'MissingSecret');
  const conn: Connection = parseConnection(url);
  return { runbook, config, conn, dir: resolve(config.backupDir, database) };
}

/** Every file of backup `id` (in `dir`) matches its manifest, or a BackupCorrupt failure listing what does not. */
export async function verifyAgainstManifest(id: string, dir: string, manifest: BackupManifest): Promise<void> {
  const problems = await withHeartbeats(verifyBackupFiles(dir, manifest));
  if (problems.length > 0) throw fail(`backup ${id} does not match its manifest: ${problems.join('; ')}`, 'BackupCorrupt');
}
