/**
 * `rollback backup` takes a backup of a runbook database now (the databaseBackup workflow, so it runs
 * on the worker, where the secrets and backup directories are); `rollback backups` lists them.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { TASK_QUEUE } from '../../src/contract/index.ts';
import type { backupCatalog, databaseBackup } from '../../src/workflows/database-backup.ts';
import { EXIT_REFUSED, parseCommand, required } from './args.ts';
import { table, utcStamp, when } from './format.ts';
import { withTemporal } from './temporal.ts';

export const backupUsage = `Usage: rollback backup --system <name> --database <name> [--by <you>] [--id <backupId>]

Takes a pg_dump backup (directory format, parallel jobs) with a manifest: sha256 of every file, row
counts per table, versions. Waits for it and prints what was taken.`;

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
  const { values } = parseCommand(argv, { system: { type: 'string' }, database: { type: 'string' }, by: { type: 'string' }, id: { type: 'string' } });
  const input = {
    system: required(values.system, 'system', 'runbook system'),
    database: required(values.database, 'database', 'runbook database'),
    requestedBy: values.by ?? process.env.USER ?? 'cli',
    ...(values.id ? { backupId: values.id } : {}),
  };
  return withTemporal(async (temporal) => {
    const workflowId = `backup-${input.system}-${input.database}-${utcStamp()}`;
    console.log(`Backing up ${input.system}/${input.database} (${workflowId})...`);
    const result = await temporal.client.workflow.execute<typeof databaseBackup>('databaseBackup', { taskQueue: TASK_QUEUE, workflowId, args: [input] }).catch(refused);
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
    const list = await temporal.client.workflow.execute<typeof backupCatalog>('backupCatalog', { taskQueue: TASK_QUEUE, workflowId: `backups-${Date.now()}`, args: [input] }).catch(refused);
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
