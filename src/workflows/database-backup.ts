/**
 * databaseBackup: one backup of a runbook database, with its manifest (the backup a later
 * dataRestore restores). Made to run on a Temporal Schedule, e.g. nightly. backupCatalog: the
 * backups the worker can see for a database, newest last. Both run their work where the runbook's
 * secrets and backup directories are: on the worker.
 */
import { workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { activities, watching } from './activities.ts';
import { surfaceKnownFailure } from './failures.ts';
import { personName } from '../contract/index.ts';
import { databaseRef, parseInput } from './input.ts';

export const databaseBackupInput = z.strictObject({
  ...databaseRef,
  requestedBy: personName.default('schedule'),
  backupId: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'letters, digits, ".", "_" or "-", at most 40').optional(),
  jobs: z.int().min(1).max(16).default(2),
});

const REFUSALS = new Set(['UnknownDatabase', 'MissingSecret']);

export async function databaseBackup(raw: z.input<typeof databaseBackupInput>) {
  const input = parseInput('databaseBackup', databaseBackupInput, raw);
  // The workflow fixes the id (from its start time), so a retried backup activity finds its own work.
  const backupId = input.backupId ?? workflowInfo().startTime.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const manifest = await activities(`pg_dump backup ${backupId} of ${input.system}/${input.database}`, watching(6 * 3600))
    .backupDatabase({ system: input.system, database: input.database, backupId, jobs: input.jobs })
    .catch((err: unknown) => surfaceKnownFailure(err, REFUSALS));
  const bytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
  return { id: manifest.id, takenAt: manifest.takenAt, files: manifest.files.length, bytes, rowCounts: manifest.rowCounts };
}

export async function backupCatalog(raw: z.input<z.ZodObject<typeof databaseRef>>) {
  const input = parseInput('backupCatalog', z.strictObject(databaseRef), raw);
  return activities(`list backups of ${input.system}/${input.database}`)
    .listDatabaseBackups(input)
    .catch((err: unknown) => surfaceKnownFailure(err, REFUSALS));
}
