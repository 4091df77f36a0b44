/**
 * `rollback backup` takes a backup of a runbook database now (the databaseBackup workflow, so it runs
 * on the worker, where the secrets and backup directories are); `rollback backups` lists them.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { TASK_QUEUE } from '../contract/index.ts';
import type { BackupListing, DatabaseBackupResult, KeyspaceBackupResult } from '../contract/index.ts';
import { EXIT_REFUSED, parseCommand, required, UsageError } from './args.ts';
import { table, utcStamp, when } from './format.ts';
import { withTemporal } from './temporal.ts';

export const backupUsage = `Usage: rollback backup --system <name> (--database <name> | --keyspace <name>) [--by <you>] [--id <backupId>]

Takes a backup and waits for it: of a database, pg_dump (directory format, parallel jobs) with a
manifest (sha256 of every file, row counts per table, versions); of a Redis keyspace, every key
matching its pattern (DUMP and PTTL) with a manifest (key count, sha256).`;

export const backupsUsage = `Usage: rollback backups --system <name> --database <name>

Lists the complete backups of a runbook database, oldest first (the ids dataRestore --backup takes).`;

const REFUSED = Symbol('refused');

/** The workflow's own words ("unknown database 'x' for sandbox; the runbook has: main"), not "Workflow execution failed". */
function refused(err: unknown): typeof REFUSED {
  if (!(err instanceof WorkflowFailedError)) throw err;
  console.error(`REFUSED: ${err.cause?.message ?? err.message}`);
  return REFUSED;
}

export async function backup(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { system: { type: 'string' }, database: { type: 'string' }, keyspace: { type: 'string' }, by: { type: 'string' }, id: { type: 'string' } });
  if (values.keyspace !== undefined) {
    if (values.database !== undefined) throw new UsageError('give --database or --keyspace, not both');
    return backupKeyspace({ system: required(values.system, 'system', 'runbook system'), keyspace: values.keyspace, by: values.by, id: values.id });
  }
  const input = {
    system: required(values.system, 'system', 'runbook system'),
    database: required(values.database, 'database', 'runbook database'),
    requestedBy: values.by ?? process.env.USER ?? 'cli',
    ...(values.id ? { backupId: values.id } : {}),
  };
  return withTemporal(async (temporal) => {
    const workflowId = `backup-${input.system}-${input.database}-${utcStamp()}`;
    console.log(`Backing up ${input.system}/${input.database} (${workflowId})...`);
    const result = await temporal.client.workflow.execute<(request: typeof input) => Promise<DatabaseBackupResult>>('databaseBackup', { taskQueue: TASK_QUEUE, workflowId, args: [input] }).catch(refused);
    if (result === REFUSED) return EXIT_REFUSED;
    console.log(`Backup ${result.id} taken ${when(result.takenAt)}: ${result.files} files, ${(result.bytes / 1e6).toFixed(1)} MB`);
    console.log(table(['table', 'rows'], Object.entries(result.rowCounts).map(([t, n]) => [t, String(n)])));
    return 0;
  });
}

export async function backups(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { system: { type: 'string' }, database: { type: 'string' } });
  const input = { system: required(values.system, 'system', 'runbook system'), database: required(values.database, 'database', 'runbook database') };
  return withTemporal(async (temporal) => {
    const list = await temporal.client.workflow.execute<(request: typeof input) => Promise<BackupListing[]>>('backupCatalog', { taskQueue: TASK_QUEUE, workflowId: `backups-${Date.now()}`, args: [input] }).catch(refused);
    if (list === REFUSED) return EXIT_REFUSED;
    if (list.length === 0) {
      console.log(`No backups of ${input.system}/${input.database} yet. Take one: rollback backup --system ${input.system} --database ${input.database}`);
      return 0;
    }
    const rows = list.map((b) => [
      b.id,
      b.kind,
      when(b.takenAt),
      String(Object.values(b.rowCounts).reduce((a, n) => a + n, 0)),
      b.serverVersion,
    ]);
    console.log(table(['id', 'kind', 'taken at', 'rows', 'server'], rows));
    return 0;
  });
}

/** `rollback backup --keyspace`: the keyspaceBackup workflow (seed 004: the continuation state before stage 9). */
async function backupKeyspace(options: { system: string; keyspace: string; by?: string; id?: string }): Promise<number> {
  const input = { system: options.system, keyspace: options.keyspace, requestedBy: options.by ?? process.env.USER ?? 'cli', ...(options.id ? { backupId: options.id } : {}) };
  return withTemporal(async (temporal) => {
    const workflowId = `backup-${input.system}-${input.keyspace}-${utcStamp()}`;
    console.log(`Backing up keyspace ${input.system}/${input.keyspace} (${workflowId})...`);
    const result = await temporal.client.workflow.execute<(request: typeof input) => Promise<KeyspaceBackupResult>>('keyspaceBackup', { taskQueue: TASK_QUEUE, workflowId, args: [input] }).catch(refused);
    if (result === REFUSED) return EXIT_REFUSED;
    console.log(`Backup ${result.id} taken ${when(result.takenAt)}: ${result.keyCount} keys matching ${result.pattern}, ${(result.bytes / 1e3).toFixed(1)} kB`);
    return 0;
  });
}
