/**
 * Durability: the worker process is killed with SIGKILL mid-rollback (during a traffic shift whose
 * answer is slow, and during the verification window), a new worker process starts, and the rollback
 * completes with every planned change applied exactly once on the router. Likewise a watchdog killed
 * mid-count goes on counting.
 */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { waitForPoller } from '../scripts/lib/temporal.ts';
import { TASK_QUEUE, watchdogWorkflowId } from '../src/contract/index.ts';
import { createClient as createRedisClient } from 'redis';
import { ensureSandboxDatabase } from '../sandbox/database.ts';
import { createActivities } from '../src/activities/index.ts';
import { ProviderClients } from '../src/providers/index.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { databasesLike, dropTestDatabase, kill9, POSTGRES, quietLogger, sleep, sql, startTemporal, terminateRunning } from './harness.ts';
import { waitForStatus } from './rollback-harness.ts';
import { workerProcesses, writeSandboxRunbook } from './crash-harness.ts';
import { approveSignal, decideSignal, statusQuery, watchdogStatusQuery } from '../src/contract/messages.ts';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let dir: string;
const databaseName = `sandbox_test_${process.pid}_crash`;
const databaseUrl = `${POSTGRES}/${databaseName}`;

const workers = workerProcesses(() => ({
  address: env.address,
  runbooksDir: dir,
  env: { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify`, SANDBOX_DATABASE_URL: databaseUrl },
}));
const startWorkerProcess = () => workers.start();
const killWorkers = () => workers.killAll();

const changes = () => sandbox.router.changes.map((c) => [c.kind, c.after, c.idempotencyKey?.split(':').at(-1)]);

// The timeout only ends a hung run: nine workers SIGKILLed, one watch loop's minute-long heartbeat
// timeout waited out, some 250 s on a quiet machine.
describe('a worker killed mid-rollback', { timeout: 900_000 }, () => {
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
  // A failed test must not leave its rollback holding the sandbox's lock: the next test would only
  // see "another rollback of sandbox is running".
  afterEach(() => terminateRunning(env.client, 'the test ended'));

  async function freshSandbox(windowSeconds: number, edit?: (doc: Record<string, any>) => void): Promise<string> {
    await sandbox?.stop();
    sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null, loadRequestsPerSecond: 40 });
    return writeSandboxRunbook(dir, sandbox, windowSeconds, edit);
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

  test('a watchdog mid-count: the worker SIGKILLed after its first breach, the new worker resumes the count and acts, dated from the first breach', async () => {
    await killWorkers(); // the earlier test's worker loaded the earlier runbook
    await freshSandbox(1, (doc) => {
      doc.watch = { intervalSeconds: 2, rules: [{ name: 'error-rate', metric: 'errorRatePct', above: 10, consecutive: 3, action: { rollback: 'immediate' } }] };
    });
    const first = await startWorkerProcess();
    await waitForPoller(env.connection, 'default', 60_000);
    await fetch(`${sandbox.urls.router}/admin/weights`, { method: 'PUT', body: JSON.stringify({ weights: { stable: 50, canary: 50 } }) });
    const watchdog = await env.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId: watchdogWorkflowId('sandbox'), args: [{ system: 'sandbox' }] });
    const streak = async () => (await watchdog.query(watchdogStatusQuery)).rules[0]?.streak ?? 0;
    sandbox.deployments.get('canary')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    for (const deadline = Date.now() + 30_000; (await streak()) < 1 && Date.now() < deadline; ) await sleep(100);
    const before = await watchdog.query(watchdogStatusQuery);
    assert.equal(before.rules[0]!.streak, 1);
    await kill9(first);
    await sleep(3000); // a whole interval without a worker
    await startWorkerProcess();
    let status = await watchdog.query(watchdogStatusQuery);
    for (const deadline = Date.now() + 60_000; status.actions.length === 0 && Date.now() < deadline; await sleep(200)) status = await watchdog.query(watchdogStatusQuery);
    assert.equal(status.actions.length, 1, 'it acted once, after the third breach');
    assert.equal(status.actions[0]!.detectedAt, before.rules[0]!.firstBreachAt, 'the count went on from the breach before the crash');
    // The watch loop's retry carries on from its last heartbeat (whose evaluations the workflow had
    // not yet been told of), so the evaluations from the crash to the action are breaches that
    // continued the count. (Later ones may already see the rollback's shift: the watchdog follows it.)
    const acted = status.actions[0]!.at;
    const after = status.evaluations.filter((e) => e.at > before.evaluations.at(-1)!.at && e.at <= acted);
    assert.ok(after.length >= 2, `breaches after the crash: ${JSON.stringify(after)}`);
    assert.deepEqual(after.map((e) => e.results[0]!.verdict), after.map(() => 'breach'), 'every evaluation from the crash to the action was a breach');
    const rollback = env.client.workflow.getHandle(status.actions[0]!.workflowId!);
    await waitForStatus(rollback, (s) => s.state === 'awaiting_approval', 60_000);
    await watchdog.terminate('test done'); // first, so it cannot act again when the rollback ends
    await rollback.terminate('test done');
    sandbox.deployments.get('canary')!.fault = { errorRatePct: 0, addedLatencyMs: 0 };
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

  /** The sandbox with its platform, Redis (keys under this test's prefix) and flag file, and the runbook for it. */
  async function freshPlatformSandbox(): Promise<{ prefix: string; text: string }> {
    await sandbox?.stop();
    const prefix = `crash-${process.pid}-${Date.now()}:`;
    sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null, loadRequestsPerSecond: 40, redis: { killSwitchPrefix: `${prefix}kill_switch:` }, flagdFile: join(dir, 'flags.flagd.json') });
    const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
    doc.health.windowSeconds = 1;
    doc.health.minRequests = 5;
    doc.providers.redis.settings.killSwitchPrefix = `${prefix}kill_switch:`;
    doc.keyspaces.sessions.pattern = `${prefix}session:*:agentic_state`;
    doc.keyspaces.sessions.backupDir = join(dir, 'redis-backups');
    doc.decisions = { timeoutSeconds: 120, onTimeout: 'abort' };
    const text = stringify(doc);
    writeFileSync(join(dir, 'sandbox.yaml'), text);
    return { prefix, text };
  }

  test('during a restart: the retried restart is answered from the platform, the replicas restart once and load the rolled-back config', async () => {
    await killWorkers();
    await freshPlatformSandbox();
    const first = await startWorkerProcess();
    await waitForPoller(env.connection, 'default', 60_000);
    const handle = await env.client.workflow.start('configRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-restart-${Date.now()}`,
      args: [{ system: 'sandbox', reason: 'crash drill', requestedBy: 'alice', config: { ROUTING_MODE: 'single' }, restart: ['stable'], baselineSeconds: 0, verifyWindowSeconds: 1 }],
    });
    await waitForStatus(handle, (s) => s.currentStep === 'config ROUTING_MODE' || s.currentStep === 'restart stable', 60_000);
    // The platform restarts at once but answers 30 s later, so the worker dies mid-call.
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 30_000 }) });
    const deadline = Date.now() + 60_000;
    while (!sandbox.router.changes.some((c) => c.kind === 'restart') && Date.now() < deadline) await sleep(50);
    await kill9(first);
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 0 }) });
    await startWorkerProcess();
    await handle.result();
    assert.deepEqual(sandbox.router.changes.map((c) => c.kind), ['config', 'restart'], 'the config set once, the replicas restarted once');
    assert.ok(sandbox.router.replays >= 1, 'the retried restart was answered from the platform’s memory');
    const { replicas } = (await (await fetch(`${sandbox.urls.router}/admin/replicas`)).json()) as { replicas: Record<string, { config: Record<string, string> }[]> };
    assert.deepEqual(replicas.stable!.map((r) => r.config.ROUTING_MODE), ['single', 'single']);
    assert.deepEqual(replicas.canary!.map((r) => r.config.ROUTING_MODE), ['dual-lane'], 'the canary was not restarted');
  });

  test('during a Redis restore: the new worker finishes it without saving again, so compensation still puts back what was there before', async () => {
    await killWorkers();
    const { prefix, text } = await freshPlatformSandbox();
    const key = (n: number) => `${prefix}session:${n}:agentic_state`;
    const keys = 60_000;
    const redis = createRedisClient();
    await redis.connect();
    try {
      for (let n = 0; n < keys; n += 1000) await redis.mSet(Array.from({ length: 1000 }, (_, i) => [key(n + i), `backed up ${n + i}`] as [string, string]));
      const clients = new ProviderClients({ env: {}, logger: quietLogger });
      const activities = createActivities({ runbooks: new Map([['sandbox', parseRunbook(text, 'runbooks/sandbox.yaml')]]), env: {}, logger: quietLogger, clients, temporal: { client: env.client, namespace: 'default' }, reportsDir: join(dir, 'reports') });
      await new MockActivityEnvironment().run(activities.backupKeyspace, { system: 'sandbox', keyspace: 'sessions', backupId: 'before-stage-9' });
      await clients.close();
      for (let n = 0; n < keys; n += 1000) await redis.mSet(Array.from({ length: 1000 }, (_, i) => [key(n + i), `broken ${n + i}`] as [string, string]));

      const first = await startWorkerProcess();
      await waitForPoller(env.connection, 'default', 60_000);
      const handle = await env.client.workflow.start('phaseRollback', {
        taskQueue: TASK_QUEUE,
        workflowId: `crash-redis-${Date.now()}`,
        args: [{ system: 'sandbox', phases: [9], reason: 'crash drill', requestedBy: 'alice', baselineSeconds: 0, verifyWindowSeconds: 1 }],
      });
      await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 60_000);
      await handle.signal(approveSignal, { by: 'bob' });
      // Kill the worker while the restore is half done: some keys already back, others still broken (the
      // save, taken first, is complete by then). A sample of keys is read as fast as Redis answers.
      const probe = Array.from({ length: 300 }, (_, i) => key(Math.floor((i * keys) / 300)));
      let halfway = false;
      for (let deadline = Date.now() + 120_000; !halfway && Date.now() < deadline; ) {
        const values = await redis.mGet(probe);
        const back = values.filter((v) => v?.startsWith('backed up')).length;
        halfway = back > 0 && back < probe.length;
      }
      assert.ok(halfway, 'the restore was caught half done');
      await kill9(first);
      await startWorkerProcess();
      await waitForStatus(handle, (s) => s.currentStep === 'verify:phase-9', 120_000);
      assert.equal(await redis.get(key(12_345)), 'backed up 12345', 'the retried restore completed');
      // Health fails now, and the on-call engineer compensates: the save must hold what was there before.
      sandbox.deployments.get('stable')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
      await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 60_000);
      await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
      await handle.result().catch(() => undefined);
      let broken = 0;
      for (let n = 0; n < keys; n += 1000) {
        const values = await redis.mGet(Array.from({ length: 1000 }, (_, i) => key(n + i)));
        broken += values.filter((v, i) => v === `broken ${n + i}`).length;
      }
      assert.equal(broken, keys, 'compensation put back every value from before the restore: the save was not taken again after the crash');
      const status = await handle.query(statusQuery);
      assert.equal(status.steps.find((s) => s.name === 'phase-9/restore keyspace sessions')?.runs, 1, 'one step run, retried inside Temporal');
    } finally {
      for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (batch.length > 0) await redis.del(batch);
      await redis.close();
    }
  });

  test('during a command that is not safe to repeat: the new worker refuses to run it again, and a person decides', async () => {
    await killWorkers();
    const { text } = await freshPlatformSandbox();
    const doc = parseDocument(text).toJS() as Record<string, any>;
    const marker = join(dir, `ran-${Date.now()}`);
    // Appends a line each time it runs, then works for a while: the worker dies meanwhile.
    doc.phases.find((p: { id: number }) => p.id === 4).rollback = [{ command: ['node', '-e', `require('fs').appendFileSync(${JSON.stringify(marker)}, 'ran\\n'); setTimeout(() => {}, 6000)`], timeoutSeconds: 60 }];
    writeFileSync(join(dir, 'sandbox.yaml'), stringify(doc));
    const first = await startWorkerProcess();
    await waitForPoller(env.connection, 'default', 60_000);
    const handle = await env.client.workflow.start('phaseRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-command-${Date.now()}`,
      args: [{ system: 'sandbox', phases: [4], reason: 'crash drill', requestedBy: 'alice', baselineSeconds: 0, verifyWindowSeconds: 1 }],
    });
    for (let deadline = Date.now() + 60_000; !existsSync(marker) && Date.now() < deadline; ) await sleep(50);
    await kill9(first);
    await startWorkerProcess();
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 90_000);
    assert.equal(waiting.pendingDecision?.step, 'phase-4/command node');
    assert.match(waiting.pendingDecision!.error, /^the command node -e .* may already have run: attempt 1 ended without an answer \(the worker may have died\)\. Check its effect, then decide retry \(run it again\) or skip$/);
    assert.equal(readFileSync(marker, 'utf8'), 'ran\n', 'it ran once, and was not run again on its own');
    await handle.signal(decideSignal, { by: 'bob', action: 'skip' });
    await handle.result();
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
  /** A phaseRollback of the sandbox's phase `id`, whose actions `edit` adds, with the router's answers held back 30 s. */
  async function startHeldBack(id: number, edit: (doc: Record<string, any>) => void): Promise<{ handle: Awaited<ReturnType<typeof env.client.workflow.start>>; first: ChildProcess }> {
    await killWorkers();
    await freshSandbox(1, (doc) => {
      doc.providers.router = { provider: 'http-router', settings: { ...doc.traffic.settings } };
      edit(doc);
    });
    const first = await startWorkerProcess();
    await waitForPoller(env.connection, 'default', 60_000);
    // The router applies changes at once but answers 30 s later, so the worker dies mid-call.
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 30_000 }) });
    const handle = await env.client.workflow.start('phaseRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-phase-${id}-${Date.now()}`,
      args: [{ system: 'sandbox', phases: [id], reason: 'crash drill', requestedBy: 'alice', baselineSeconds: 0 }],
    });
    const deadline = Date.now() + 60_000;
    while (!sandbox.router.changes.some((c) => c.kind === 'instances') && Date.now() < deadline) await sleep(50);
    return { handle, first };
  }

  test('during a scale action: the retried scale is answered from the router, each count set once, in order', async () => {
    const { handle, first } = await startHeldBack(6, (doc) => {
      doc.phases.push({ id: 6, name: 'Canary capacity', rollback: [{ scale: { target: 'canary', instances: 0 } }, { scale: { target: 'stable', instances: 4 } }], verify: false });
    });
    await kill9(first);
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 0 }) });
    await startWorkerProcess();
    await handle.result();
    assert.deepEqual(changes(), [
      ['instances', { version: 'canary', count: 0 }, 'phase-6/scale canary'],
      ['instances', { version: 'stable', count: 4 }, 'phase-6/scale stable'],
    ]);
    assert.ok(sandbox.router.replays >= 1, 'the retried scale was answered from the router’s memory');
    assert.deepEqual(sandbox.router.state().instances, { stable: 4, canary: 0 });
  });

  test('during a SQLite restore: the new worker finishes it, the file from before saved once and the writer stopped and started once', async () => {
    const files = join(dir, 'sqlite');
    rmSync(files, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', join(files, 'backups')]);
    const live = join(files, 'memory.db');
    execFileSync('sqlite3', [join(files, 'backups', 'memory_20240116_020000.db'), "CREATE TABLE sessions (id INTEGER PRIMARY KEY); INSERT INTO sessions DEFAULT VALUES; INSERT INTO sessions DEFAULT VALUES;"]);
    execFileSync('sqlite3', [live, 'CREATE TABLE sessions (id INTEGER PRIMARY KEY);']);
    const { handle, first } = await startHeldBack(8, (doc) => {
      doc.sqlite = { memory: { path: live, backupDir: join(files, 'backups'), backupPattern: 'memory_*.db', writer: { provider: 'router', scale: 'canary' } } };
      doc.phases.push({ id: 8, name: 'Memory store', rollback: [{ 'sqlite-restore': 'memory' }], verify: false });
    });
    await kill9(first); // while the writer's stop waits for its answer
    await fetch(`${sandbox.urls.router}/admin/delay`, { method: 'PUT', body: JSON.stringify({ ms: 0 }) });
    await startWorkerProcess();
    await handle.result();
    assert.equal(execFileSync('sqlite3', [live, 'SELECT count(*) FROM sessions'], { encoding: 'utf8' }).trim(), '2', 'the backup is live');
    const saved = readdirSync(files).filter((f) => f.startsWith('memory.db.pre-restore-'));
    assert.equal(saved.length, 1, 'the file from before saved once');
    assert.equal(execFileSync('sqlite3', [join(files, saved[0]!), 'SELECT count(*) FROM sessions'], { encoding: 'utf8' }).trim(), '0');
    assert.deepEqual(readdirSync(files).filter((f) => f.includes('.restoring-')), [], 'no staging copy left behind');
    assert.deepEqual(changes(), [
      ['instances', { version: 'canary', count: 0 }, 'writer-stop'],
      ['instances', { version: 'canary', count: 1 }, 'writer-start'],
    ], 'the writer stopped once and started once, at the count it had');
  });
});
