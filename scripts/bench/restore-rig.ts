/**
 * What bench:restore measures with: the real dev server, the sandbox, the live database and its backup,
 * a runbook naming them, and one real worker process. Everything it starts or makes is handed to the
 * benchmark's Cleanup the moment it exists.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { createActivities } from '../../src/activities/index.ts';
import { ProviderClients } from '../../src/providers/index.ts';
import type { BackupManifest } from '../../src/providers/database/backup.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import { devServerOptions, waitForPoller } from '../lib/temporal.ts';
import { resolveTemporalCli } from '../temporal-cli.ts';
import type { Cleanup } from './cleanup.ts';
import { benchLogger, startBenchWorker, stopBenchWorker } from './common.ts';
import { benchDatabases, createLiveDatabase, dropBenchDatabase, LIVE, LIVE_URL, sql, type LiveDatabase } from './restore-database.ts';
import { benchRunbook } from './runbook.ts';
import { sum } from './stats.ts';

/** The bench runbook's system. */
export const SYSTEM = 'bench-restore';
/** The backup every run restores. */
export const BACKUP_ID = 'bench';
/** pg_dump and pg_restore jobs: the backup's, the workflow's and the bare path's. */
export const JOBS = 2;
const URL_ENV = 'BENCH_RESTORE_DATABASE_URL';

export const log = benchLogger('restore');

export interface RestoreRig {
  client: Client;
  /** The backup's pg_dump directory, which the bare path restores too. */
  dumpDir: string;
  database: LiveDatabase;
  backup: { ms: number; files: number; bytes: number };
  /** Between runs: only the live database stays (vacuumed, as a database in service is), and no safety dumps. */
  reset(): Promise<void>;
}

/**
 * Starts the dev server and the sandbox (only the runbook's traffic and health sections point at it;
 * no HTTP traffic is needed), makes the live database at pgbench `scale`, backs it up with the
 * backupDatabase activity outside any timed section, and starts the worker.
 */
export async function startRestoreRig(scale: number, cleanup: Cleanup): Promise<RestoreRig> {
  const cli = await resolveTemporalCli((line) => console.log(line));
  const dir = mkdtempSync(join(tmpdir(), 'bench-restore-'));
  cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const backupDir = join(dir, 'backups');
  const backupsOfMain = join(backupDir, 'main');
  const runbooksDir = join(dir, 'runbooks');
  const reportsDir = join(dir, 'reports');
  mkdirSync(runbooksDir, { recursive: true });

  // Each is stopped also when the signal comes while it is still starting.
  const envStarting = TestWorkflowEnvironment.createLocal({ server: devServerOptions(cli.path) });
  cleanup.add('stop the dev server', () => envStarting.then((env) => env.teardown(), () => undefined));
  const env = await envStarting;
  const sandboxStarting = startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null });
  cleanup.add('stop the sandbox', () => sandboxStarting.then((sandbox) => sandbox.stop(), () => undefined));
  const sandbox = await sandboxStarting;

  const secrets = { [URL_ENV]: LIVE_URL, SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` };
  // No gates: human time is not measured here. A failed step nobody decides on (the benchmark stops at
  // the first) aborts after a minute, not the default 30, should the workflow outlive the benchmark.
  const runbookText = benchRunbook(sandbox, { system: SYSTEM, gates: {}, database: { urlEnv: URL_ENV, backupDir }, decisions: { timeoutSeconds: 60, onTimeout: 'abort' } });
  writeFileSync(join(runbooksDir, `${SYSTEM}.yaml`), runbookText);
  const runbook = parseRunbook(runbookText, `runbooks/${SYSTEM}.yaml`);

  log(`creating ${LIVE}: sandbox tables, pgbench -i -s ${scale}`);
  cleanup.add('drop the bench databases', async () => {
    for (const name of await benchDatabases()) await dropBenchDatabase(name);
  });
  const database = await createLiveDatabase(scale);

  log(`backup of ${LIVE} (backupDatabase activity, jobs ${JOBS})`);
  const logger = pino({ level: 'error' });
  const clients = new ProviderClients({ env: secrets, logger });
  const activities = createActivities({ runbooks: new Map([[SYSTEM, runbook]]), env: secrets, logger, clients, temporal: { client: env.client, namespace: 'default' }, reportsDir });
  const started = performance.now();
  let manifest: BackupManifest;
  try {
    manifest = await new MockActivityEnvironment().run(activities.backupDatabase, { system: SYSTEM, database: 'main', backupId: BACKUP_ID, jobs: JOBS });
  } finally {
    await clients.close();
  }
  const backup = { ms: performance.now() - started, files: manifest.files.length, bytes: sum(manifest.files.map((f) => f.size)) };

  const worker = await startBenchWorker(env.address, { ...secrets, RUNBOOKS_DIR: runbooksDir, REPORTS_DIR: reportsDir, WORKER_SHUTDOWN_GRACE_SECONDS: '2' });
  cleanup.add('stop the worker', () => stopBenchWorker(worker, 15_000));
  await waitForPoller(env.connection, 'default', 60_000, worker.pid);

  return {
    client: env.client,
    dumpDir: join(backupsOfMain, BACKUP_ID, 'dump'),
    database,
    backup,
    async reset() {
      for (const name of await benchDatabases()) if (name !== LIVE) await dropBenchDatabase(name);
      for (const entry of readdirSync(backupsOfMain)) if (entry !== BACKUP_ID) rmSync(join(backupsOfMain, entry), { recursive: true, force: true });
      await sql(LIVE, 'VACUUM ANALYZE');
    },
  };
}
