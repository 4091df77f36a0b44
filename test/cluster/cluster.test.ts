/**
 * The production path, for real: a Temporal server (not the dev server) on PostgreSQL with 4 history
 * shards, its Web UI server, two worker processes, the real sandbox and database. A fullRollback and a
 * dataRestore end to end; a rollback started and approved in the Web UI; a worker SIGKILLed mid-step
 * while the other finishes; the Temporal server SIGKILLed at a gate and restarted; PostgreSQL
 * restarted mid-rollback; a rollback pinned to its build across a worker upgrade (worker versioning);
 * and every history made here replayed against the current workflow code.
 */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { parseDocument, stringify } from 'yaml';
import { ensureSandboxDatabase } from '../../sandbox/database.ts';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { ensureSearchAttributes, waitForPoller } from '../../scripts/lib/temporal.ts';
import { ensureNamespace } from '../../scripts/lib/cluster.ts';
import { pinnedUpgrade } from '../versioning-scenario.ts';
import { createActivities } from '../../src/activities/index.ts';
import { TASK_QUEUE } from '../../src/contract/index.ts';
import { ProviderClients } from '../../src/providers/index.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import { workerWorkflowBundle } from '../../src/build/workflow-bundle.ts';
import { launchChromium, SHOTS, TemporalUi } from '../browser/ui-driver.ts';
import { databasesLike, dropTestDatabase, kill9, POSTGRES, quietLogger, sleep, sql } from '../harness.ts';
import { waitForStatus } from '../rollback-harness.ts';
import { startTestCluster, type TestCluster } from './cluster-harness.ts';
import { approveSignal, statusQuery } from '../../src/contract/messages.ts';

let cluster: TestCluster;
let sandbox: Sandbox;
let dir: string;
const started: WorkflowHandle[] = [];
const workers: ChildProcess[] = [];
const databaseName = `sandbox_test_${process.pid}_cluster`;
const databaseUrl = `${POSTGRES}/${databaseName}`;
let counter = 0;

const changes = () => sandbox.router.changes.map((c) => [c.kind, c.after]);
/** What an immediate fullRollback of the sandbox changes on its router, each once, in this order. */
const IMMEDIATE_ROLLBACK_CHANGES = [
  ['instances', { version: 'stable', count: 3 }],
  ['weights', { stable: 100, canary: 0 }],
  ['instances', { version: 'canary', count: 0 }],
];

function startWorker(): ChildProcess {
  const worker = cluster.startWorker({ RUNBOOKS_DIR: dir, REPORTS_DIR: join(dir, 'reports'), SANDBOX_DATABASE_URL: databaseUrl, SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` });
  workers.push(worker);
  return worker;
}

async function rollback(type: string, input: Record<string, unknown>): Promise<WorkflowHandle> {
  const handle = await cluster.client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId: `cluster-${type}-${++counter}`, args: [{ system: 'sandbox', reason: 'cluster test', requestedBy: 'alice', ...input }] });
  started.push(handle);
  return handle;
}

/** The sandbox and the runbook the workers read (once, at their start: the sandbox stays for the file). */
async function startClusterSandbox(): Promise<void> {
  sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null, loadRequestsPerSecond: 40, redis: null, flagdFile: join(dir, 'flags.flagd.json') });
  const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
  doc.health.windowSeconds = 1;
  doc.health.minRequests = 5;
  doc.databases.main.backupDir = join(dir, 'backups');
  writeFileSync(join(dir, 'sandbox.yaml'), stringify(doc));
}

/** The canary release as it stood before any rollback, and an empty change log. */
async function resetSandbox(): Promise<void> {
  const put = (path: string, body: unknown) => fetch(`${sandbox.urls.router}/admin/${path}`, { method: 'PUT', body: JSON.stringify(body) });
  await put('weights', { weights: { stable: 75, canary: 25 } });
  await put('instances', { version: 'stable', count: 2 });
  await put('instances', { version: 'canary', count: 1 });
  sandbox.router.changes.length = 0;
  sandbox.router.replays = 0;
}

describe('a Temporal cluster on PostgreSQL with two workers', { timeout: 600_000 }, () => {
  before(async () => {
    cluster = await startTestCluster({ ui: true });
    dir = cluster.settings.dir;
    await ensureSandboxDatabase(databaseUrl);
    await startClusterSandbox();
    startWorker();
    startWorker();
    await waitForPoller(cluster.connection, 'default', 120_000);
  });
  after(async () => {
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) await kill9(worker);
    await sandbox?.stop();
    await cluster?.stop();
    for (const name of await databasesLike(databaseName)) await dropTestDatabase(name);
  });

  test('a fullRollback completes on the cluster, and a dataRestore swaps in its backup keeping the old database', async () => {
    const full = await rollback('fullRollback', { mode: 'immediate', baselineSeconds: 0 });
    await waitForStatus(full, (s) => s.state === 'awaiting_approval', 60_000);
    await full.signal(approveSignal, { by: 'bob' });
    await full.result();
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });

    const runbook = parseRunbook(readFileSync(join(dir, 'sandbox.yaml'), 'utf8'), 'runbooks/sandbox.yaml');
    const clients = new ProviderClients({ env: { SANDBOX_DATABASE_URL: databaseUrl }, logger: quietLogger });
    const activities = createActivities({ runbooks: new Map([['sandbox', runbook]]), env: { SANDBOX_DATABASE_URL: databaseUrl }, logger: quietLogger, clients, temporal: { client: cluster.client, namespace: 'default' }, reportsDir: join(dir, 'reports') });
    await new MockActivityEnvironment().run(activities.backupDatabase, { system: 'sandbox', database: 'main', backupId: 'nightly' });
    await clients.close();
    await sql(databaseName, 'DELETE FROM payments');
    const restore = await rollback('dataRestore', { database: 'main' });
    await waitForStatus(restore, (s) => s.state === 'awaiting_approval', 120_000);
    await restore.signal(approveSignal, { by: 'dana' });
    await restore.result();
    assert.deepEqual(await sql(databaseName, 'SELECT count(*)::int AS n FROM payments'), [{ n: 1000 }], 'live is the backup again');
    assert.equal((await databasesLike(`${databaseName}__pre_restore_`)).length, 1, 'the database as it was is kept');
  });

  test("the cluster's Web UI (the ui-server build): an operator starts a rollback from the form, is refused and then approves in the Update dialog, and sees it complete", async (t) => {
    await resetSandbox();
    const { browser, page } = await launchChromium();
    try {
      const ui = new TemporalUi(page, cluster.uiUrl!);
      const stage = ui.stages(t);
      const id = 'cluster-ui-rollback';
      await stage('start form', () => ui.startFromForm(id, 'fullRollback', { system: 'sandbox', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }, 'cluster-01-start-form.png'));
      await stage('awaiting approval', () => ui.openAt(id, 'awaiting approval from oncall (0 of 1) before cleanup'));
      await stage('update dialog', async () => {
        assert.equal(await ui.sendUpdate(id, 'approve', { by: 'dave' }, 'cluster-02-update-refused.png'), 'refused: dave is not an approver for role oncall (alice, bob, carol)');
        assert.equal(await ui.sendUpdate(id, 'approve', { by: 'bob', comment: 'looks good' }), null);
      });
      await stage('completed', async () => {
        await ui.header().getByText('Completed', { exact: true }).waitFor();
        await ui.waitForCurrentDetails('rollback completed');
        await page.screenshot({ path: join(SHOTS, 'cluster-03-completed.png') });
      });
      const handle = cluster.client.workflow.getHandle(id);
      started.push(handle);
      const status = await handle.query(statusQuery);
      assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.gate]), [['approved', 'bob', 'before-cleanup']], 'the refused approval left no trace');
      assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });
    } finally {
      await browser.close();
    }
  });

  test('one of two workers SIGKILLed mid-step: the other finishes the rollback, and each router change is applied once', async () => {
    await resetSandbox();
    // The router applies weight changes at once but answers 30 s later: a worker is caught mid-call.
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 30_000 }) });
    const handle = await rollback('fullRollback', { mode: 'immediate', baselineSeconds: 0 });
    for (let deadline = Date.now() + 60_000; !sandbox.router.changes.some((c) => c.kind === 'instances') && Date.now() < deadline; ) await sleep(50);
    // The worker whose activity is in flight is the one to kill: its identity is "<pid>@<host>".
    const pending = (await handle.describe()).raw.pendingActivities?.[0];
    const pid = Number(pending?.lastWorkerIdentity?.split('@')[0]);
    const victim = workers.find((w) => w.pid === pid);
    assert.ok(victim, `the scale-stable activity runs on one of our workers (${pending?.lastWorkerIdentity})`);
    await kill9(victim);
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 0 }) });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 90_000);
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.deepEqual(changes(), IMMEDIATE_ROLLBACK_CHANGES);
    assert.ok(sandbox.router.replays >= 1, 'the retry on the other worker was answered from the router’s memory');
    startWorker(); // two again, for the tests after this one
  });

  test('the Temporal server SIGKILLed while a rollback waits at its gate and restarted: the gate still waits, and the approval then counts', async () => {
    await resetSandbox();
    const handle = await rollback('fullRollback', { mode: 'immediate', baselineSeconds: 0 });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 60_000);
    await cluster.killServer();
    await sleep(2000);
    await cluster.startServer();
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 120_000);
    assert.equal(waiting.pendingGate?.gate, 'before-cleanup');
    await handle.signal(approveSignal, { by: 'carol' });
    await handle.result();
    assert.deepEqual(changes(), IMMEDIATE_ROLLBACK_CHANGES);
  });

  test('PostgreSQL restarted mid-rollback: the server and the workers recover, and the rollback completes', async () => {
    await resetSandbox();
    const handle = await rollback('fullRollback', { mode: 'immediate', baselineSeconds: 0, verifyWindowSeconds: 8 });
    await waitForStatus(handle, (s) => s.currentStep === 'verify:shift-traffic', 60_000);
    const version = readdirSync('/etc/postgresql')[0]!;
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { stdio: 'ignore' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 180_000);
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });
  });

  test('worker versioning: a rollback waiting on build A finishes there after build B is made current; B takes new ones; A drains (test/versioning-scenario.ts)', async () => {
    // A namespace of its own: the two worker processes above poll 'default' as the current build.
    await ensureNamespace(cluster.connection, 'versioning');
    await ensureSearchAttributes(cluster.connection, 'versioning');
    const nativeConnection = await NativeConnection.connect({ address: cluster.address });
    try {
      await pinnedUpgrade({ client: new Client({ connection: cluster.connection, namespace: 'versioning' }), nativeConnection, address: cluster.address });
    } finally {
      await nativeConnection.close();
    }
  });

  test('every history recorded on the cluster replays against the current workflow code', async () => {
    const histories = await Promise.all(started.map(async (handle) => ({ workflowId: handle.workflowId, history: await handle.fetchHistory() })));
    assert.equal(histories.length, 6, 'a fullRollback, a dataRestore, the one started in the UI and the three interrupted ones');
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workerWorkflowBundle(quietLogger), replayName: 'cluster' }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });
});
