/**
 * databaseBackup: one backup of a runbook database, with its manifest (the backup a later
 * dataRestore restores). Made to run on a Temporal Schedule, e.g. nightly. backupCatalog: the
 * backups the worker can see for a database, newest last. Both run their work where the runbook's
 * secrets and backup directories are: on the worker.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import { activities, watching } from './activities.ts';
import { surfaceKnownFailure } from './failures.ts';
import { databaseBackupInput, databaseRef, keyspaceBackupInput, type BackupListing, type DatabaseBackupResult, type KeyspaceBackupResult } from '../contract/index.ts';
import { parseInput } from './input.ts';


const REFUSALS = new Set(['UnknownDatabase', 'MissingSecret']);

export async function databaseBackup(raw: z.input<typeof databaseBackupInput>): Promise<DatabaseBackupResult> {
  const input = parseInput('databaseBackup', databaseBackupInput, raw);
  // The workflow fixes the id (from its start time), so a retried backup activity finds its own work.
  const backupId = input.backupId ?? workflowInfo().startTime.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const manifest = await activities(`pg_dump backup ${backupId} of ${input.system}/${input.database}`, watching(6 * 3600))
    .backupDatabase({ system: input.system, database: input.database, backupId, jobs: input.jobs })
    .catch((err: unknown) => surfaceKnownFailure(err, REFUSALS));
  const bytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
  return { id: manifest.id, takenAt: manifest.takenAt, files: manifest.files.length, bytes, rowCounts: manifest.rowCounts };
}

export async function backupCatalog(raw: z.input<typeof databaseRef>): Promise<BackupListing[]> {
  const input = parseInput('backupCatalog', databaseRef, raw);
  return activities(`list backups of ${input.system}/${input.database}`)
    .listDatabaseBackups(input)
    .catch((err: unknown) => surfaceKnownFailure(err, REFUSALS));
}

/**
 * keyspaceBackup: one backup of a runbook keyspace (seed 004, before stage 9: the continuation state
 * in Redis), with its manifest; what a phase's redis-restore action restores. Schedulable like
 * databaseBackup.
 */
export async function keyspaceBackup(raw: z.input<typeof keyspaceBackupInput>): Promise<KeyspaceBackupResult> {
  const input = parseInput('keyspaceBackup', keyspaceBackupInput, raw);
  const backupId = input.backupId ?? workflowInfo().startTime.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const manifest = await activities(`backup ${backupId} of keyspace ${input.system}/${input.keyspace}`, watching(3600))
    .backupKeyspace({ system: input.system, keyspace: input.keyspace, backupId })
    .catch((err: unknown) => surfaceKnownFailure(err, REFUSALS));
  return { id: manifest.id, takenAt: manifest.takenAt, pattern: manifest.pattern, keyCount: manifest.keyCount, bytes: manifest.bytes };
}
