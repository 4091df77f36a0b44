/**
 * Durability: the worker process is killed with SIGKILL mid-rollback (during a traffic shift whose
 * answer is slow, and during the verification window), a new worker process starts, and the rollback
 * completes with every planned change applied exactly once on the router.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { waitForPoller } from '../scripts/lib/temporal.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { approveSignal, statusQuery } from '../src/workflows/signals.ts';
import { ensureSandboxDatabase } from '../sandbox/database.ts';
import { createActivities } from '../src/activities/index.ts';
import { ProviderClients } from '../src/providers/index.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { databasesLike, dropTestDatabase, POSTGRES, quietLogger, sleep, sql, startTemporal } from './harness.ts';
import { waitForStatus } from './rollback-harness.ts';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let dir: string;
const workers: ChildProcess[] = [];
const databaseName = `sandbox_test_${process.pid}_crash`;
const databaseUrl = `${POSTGRES}/${databaseName}`;

/** A worker exactly as production runs it: its own process, src/worker/main.ts, configured by environment. */
async function startWorkerProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      RUNBOOKS_DIR: dir,
      REPORTS_DIR: join(dir, 'reports'),
      WORKER_METRICS_ADDRESS: 'off',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify`,
      SANDBOX_DATABASE_URL: databaseUrl,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  workers.push(child);
  return child;
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** SIGKILL for every worker process still running. */
async function killWorkers(): Promise<void> {
  for (const child of workers) if (child.exitCode === null && child.signalCode === null) await kill9(child);
}

const changes = () => sandbox.router.changes.map((c) => [c.kind, c.after, c.idempotencyKey?.split(':').at(-1)]);

describe('a worker killed mid-rollback', { timeout: 420_000 }, () => {
  before(async () => {
    env = await startTemporal();
    dir = mkdtempSync(join(tmpdir(), 'crash-'));
  });
  after(async () => {
    await killWorkers();
    await sandbox?.stop();
    await env?.teardown();
    rmSync(dir, { recursive: true, force: true });
    for (const name of await databasesLike(databaseName)) await dropTestDatabase(name);
  });

  async function freshSandbox(windowSeconds: number): Promise<string> {
    await sandbox?.stop();
    sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null, loadRequestsPerSecond: 40 });
    const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
    doc.health.windowSeconds = windowSeconds;
    doc.health.minRequests = 5;
    doc.databases.main.backupDir = join(dir, 'backups');
    const text = stringify(doc);
    writeFileSync(join(dir, 'sandbox.yaml'), text);
    return text;
  }

  test('during a traffic shift: the retried shift is replayed by the router, not applied twice', async () => {
    await freshSandbox(1);
    const first = await startWorkerProcess();
    await waitForPoller(env.connection, 'default', 60_000);
    // The router applies weight changes at once but answers 30 s later, so the worker dies mid-call.
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 30_000 }) });
    const handle = await env.client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-shift-${Date.now()}`,
      args: [{ system: 'sandbox', reason: 'crash drill', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }],
    });
    const deadline = Date.now() + 60_000;
    while (!sandbox.router.changes.some((c) => c.kind === 'instances') && Date.now() < deadline) await sleep(50);
    // scale-stable is applied and its answer is being held back: kill the worker now.
    await kill9(first);
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 0 }) });
    await startWorkerProcess();
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 90_000);
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.deepEqual(changes(), [
      ['instances', { version: 'stable', count: 3 }, 'scale-stable'],
      ['weights', { stable: 100, canary: 0 }, 'shift-traffic'],
      ['instances', { version: 'canary', count: 0 }, 'cleanup'],
    ]);
    assert.ok(sandbox.router.replays >= 1, 'the retry after the crash was answered from the router’s memory');
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });
  });

  test('during the verification window: the new worker resumes the window and the rollback completes', async () => {
    await killWorkers();
    await freshSandbox(8);
    const first = await startWorkerProcess();
    await waitForPoller(env.connection, 'default', 60_000);
    const handle = await env.client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-verify-${Date.now()}`,
      args: [{ system: 'sandbox', reason: 'crash drill', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }],
    });
    await waitForStatus(handle, (s) => s.currentStep === 'verify:shift-traffic', 60_000);
    await sleep(2500); // well inside the 8 s window, after a few heartbeats carried the first scrape
    await kill9(first);
    await startWorkerProcess();
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 90_000);
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    const status = await handle.query(statusQuery);
    assert.equal(status.healthAfter?.passed, true);
    assert.equal(status.steps.find((s) => s.name === 'verify:shift-traffic')?.runs, 1, 'one step run, retried inside Temporal');
    const attempts = (await handle.fetchHistory()).events!
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(attempts.includes(2), 'the verification activity ran a second attempt on the new worker');
    assert.deepEqual(changes(), [
      ['instances', { version: 'stable', count: 3 }, 'scale-stable'],
      ['weights', { stable: 100, canary: 0 }, 'shift-traffic'],
      ['instances', { version: 'canary', count: 0 }, 'cleanup'],
    ]);
  });

  test('during pg_restore: the new worker recreates the side database, and the restore completes once', async () => {
    await killWorkers();
    const runbookText = await freshSandbox(1);
    await ensureSandboxDatabase(databaseUrl);
    execFileSync('pgbench', ['-i', '-s', '10', '-q', '-h', '127.0.0.1', '-U', 'postgres', databaseName], { stdio: 'ignore' });
    const clients = new ProviderClients({ env: { SANDBOX_DATABASE_URL: databaseUrl }, logger: quietLogger });
    const activities = createActivities({
      runbooks: new Map([['sandbox', parseRunbook(runbookText, 'runbooks/sandbox.yaml')]]),
      env: { SANDBOX_DATABASE_URL: databaseUrl },
      logger: quietLogger,
      clients,
      temporal: { client: env.client, namespace: 'default' },
      reportsDir: join(dir, 'reports'),
    });
    await new MockActivityEnvironment().run(activities.backupDatabase, { system: 'sandbox', database: 'main', backupId: 'nightly' });
    await clients.close();
    const first = await startWorkerProcess();
    await waitForPoller(env.connection, 'default', 60_000);
    const handle = await env.client.workflow.start('dataRestore', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-restore-${Date.now()}`,
      args: [{ system: 'sandbox', database: 'main', reason: 'crash drill', requestedBy: 'alice' }],
    });
    let running = false;
    for (let i = 0; i < 600 && !running; i += 1) {
      try {
        execFileSync('pgrep', ['-f', `pg_restore.*--dbname=${databaseName}__restore_`]);
        running = true;
      } catch {
        await sleep(50);
      }
    }
    assert.ok(running, 'pg_restore was running');
    await kill9(first);
    await startWorkerProcess();
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 180_000);
    await handle.signal(approveSignal, { by: 'dana' });
    await handle.result();
    const names = await databasesLike(`${databaseName}__`);
    assert.equal(names.length, 1, `one kept database and no leftover side database: ${names.join(', ')}`);
    assert.match(names[0]!, /__pre_restore_/);
    const counts = await sql(databaseName, 'SELECT count(*)::int AS n FROM pgbench_accounts');
    assert.deepEqual(counts, [{ n: 1000000 }]);
    const status = await handle.query(statusQuery);
    assert.equal(status.steps.find((s) => s.name === 'restore-to-side')?.runs, 1);
  });
});
