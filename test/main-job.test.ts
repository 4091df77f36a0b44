/**
 * The README's first command, end to end: dev server with UI, sandbox and worker come up; a workflow
 * runs; SIGTERM leaves no process behind; a restart keeps earlier histories; with TEMPORAL_ADDRESS
 * set no dev server is started.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { dropTestDatabase, freePort, sleep, startTemporal } from './harness.ts';
import { approveSignal } from '../src/contract/messages.ts';

const marker = `main-job-test-${randomUUID()}`;
const dataDir = mkdtempSync(join(tmpdir(), 'rollbacks-data-'));
const databaseName = `sandbox_test_${process.pid}_main`;
const password = `pw-${randomUUID()}`;

/** A worker process: node running the worker's built JavaScript (src/build/worker-command.ts). */
const isWorker = (command: string) => /\/\.cache\/worker\/[0-9a-f]{64}\.mjs\b/.test(command);

/** Processes that carry this test's marker in their environment: everything the main job started. */
function markedProcesses(): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').includes(`ROLLBACKS_TEST_MARKER=${marker}`)) {
        found.push({ pid: Number(entry), command: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ') });
      }
    } catch {
      /* the process ended while we looked */
    }
  }
  return found;
}

interface MainJob {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

type Launch = 'npm' | 'terminal' | 'process-group';

/**
 * `npm start`, exactly as the README says to run it: plainly (`npm`), in a real pseudo-terminal
 * (`terminal`: util-linux `script`, so Ctrl-C is the terminal's SIGINT to the foreground group), or
 * as the leader of its own process group (`process-group`, as a supervisor runs it).
 */
async function startMainJob(env: Record<string, string>, launch: Launch = 'npm'): Promise<MainJob> {
  const options = { env: { ...process.env, ...env, ROLLBACKS_TEST_MARKER: marker }, stdio: ['pipe', 'pipe', 'pipe'] as ['pipe', 'pipe', 'pipe'] };
  const child =
    launch === 'terminal'
      ? spawn('script', ['--quiet', '--flush', '--return', '--command', 'npm start', '/dev/null'], options)
      : spawn('npm', ['start'], { ...options, detached: launch === 'process-group' });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  await waitForOutput({ child, output, exited }, 'Ready.', 180_000);
  return { child, output, exited };
}

/** Resolves once the job has printed `text` (after `from` characters of output). */
async function waitForOutput(job: MainJob, text: string, timeoutMs = 60_000, from = 0): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let ended = false;
  void job.exited.then(() => (ended = true));
  while (!job.output.join('').slice(from).includes(text)) {
    if (ended) throw new Error(`main job exited before printing "${text}":\n${job.output.join('')}`);
    if (Date.now() > deadline) throw new Error(`main job did not print "${text}" within ${timeoutMs / 1000} s:\n${job.output.join('')}`);
    await sleep(100);
  }
}

/** Waits until no process of ours is left (or 30 s); returns what is left. */
async function leftOver(): Promise<{ pid: number; command: string }[]> {
  const deadline = Date.now() + 30_000;
  while (markedProcesses().length > 0 && Date.now() < deadline) await sleep(200);
  return markedProcesses();
}

/**
 * SIGTERM to the npm process. npm exits at once without passing the signal on; the main job notices
 * its parent is gone and stops everything it started. Resolves once every process of ours is gone.
 */
async function stopMainJob(job: MainJob): Promise<void> {
  job.child.kill('SIGTERM');
  await job.exited;
  await leftOver();
}

describe('main job (npm start)', () => {
  let ports: Record<string, number>;
  let env: Record<string, string>;

  before(async () => {
    ports = {
      temporal: await freePort(),
      ui: await freePort(),
      router: await freePort(),
      stable: await freePort(),
      canary: await freePort(),
      metrics: await freePort(),
      alerts: await freePort(),
    };
    env = {
      TEMPORAL_PORT: String(ports.temporal),
      TEMPORAL_UI_PORT: String(ports.ui),
      SANDBOX_ROUTER_PORT: String(ports.router),
      SANDBOX_STABLE_PORT: String(ports.stable),
      SANDBOX_CANARY_PORT: String(ports.canary),
      // The local server trusts every connection, so a password is accepted and must never be printed.
      SANDBOX_DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:5432/${databaseName}`,
      SANDBOX_LOAD_RPS: '20', // enough requests for a 2 s verification window
      WORKER_METRICS_ADDRESS: `127.0.0.1:${ports.metrics}`,
      ALERT_RECEIVER_ADDRESS: `127.0.0.1:${ports.alerts}`,
      DATA_DIR: dataDir,
    };
  });

  after(async () => {
    for (const { pid } of markedProcesses()) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    await dropTestDatabase(databaseName);
  });

  test('brings up the UI, the sandbox and a polling worker; SIGTERM stops every process; a restart keeps histories', async () => {
    const first = await startMainJob(env);
    const ui = await fetch(`http://127.0.0.1:${ports.ui}/`);
    assert.equal(ui.status, 200, 'the Web UI answers');
    const metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    assert.match(metrics, /temporal_/, 'the worker serves Prometheus metrics');
    const state = await (await fetch(`http://127.0.0.1:${ports.router}/admin/state`)).json();
    assert.deepEqual(state, { weights: { stable: 75, canary: 25 }, instances: { stable: 2, canary: 1 } });
    const printed = first.output.join('');
    assert.match(printed, new RegExp(`Temporal Web UI: +http://localhost:${ports.ui}`));
    assert.match(printed, /Workflow Type: +fullRollback/);
    assert.match(printed, /Input \(JSON\): +\{"system":"sandbox",/);

    const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    const client = new Client({ connection });
    const workflowId = `main-job-${randomUUID()}`;
    // The input the start-up banner suggests for the UI's Start Workflow form, run through the real worker.
    const result = await client.workflow.execute('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ system: 'sandbox', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', dryRun: true }],
    });
    assert.equal(result.plan.steps.length, 3, 'the plan was computed from this sandbox (non-default ports)');
    await connection.close();

    const running = markedProcesses();
    assert.ok(running.some((p) => p.command.includes('temporal server start-dev')), 'dev server running');
    assert.ok(running.some((p) => p.command.includes('sandbox/main.ts')), 'sandbox running');
    assert.ok(running.some((p) => isWorker(p.command)), 'worker running');
    await stopMainJob(first);
    assert.deepEqual(markedProcesses(), [], 'no process left behind');

    const second = await startMainJob(env);
    const again = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    const description = await new Client({ connection: again }).workflow.getHandle(workflowId).describe();
    assert.equal(description.status.name, 'COMPLETED', 'the first run’s workflow is still in history');
    await again.close();
    await stopMainJob(second);
    assert.deepEqual(markedProcesses(), []);
  });

  test('in a real terminal: a worker SIGKILLed mid-rollback is restarted while the rest runs on, the rollback completes with each change once, and Ctrl-C stops every process', async () => {
    const job = await startMainJob(env, 'terminal');
    assert.doesNotMatch(job.output.join(''), new RegExp(password), 'the database password is never printed');
    assert.match(job.output.join(''), /database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\//);

    const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    const client = new Client({ connection });
    const handle = await client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `main-job-crash-${randomUUID()}`,
      args: [{ system: 'sandbox', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0, verifyWindowSeconds: 2 }],
    });
    const atGate = async () => (await handle.query<{ state: string }>('status')).state === 'awaiting_approval';
    for (let deadline = Date.now() + 60_000; !(await atGate()); await sleep(200)) assert.ok(Date.now() < deadline, 'the rollback reached its gate');

    const workers = markedProcesses().filter((p) => isWorker(p.command));
    assert.equal(workers.length, 1);
    const before = job.output.join('').length;
    process.kill(workers[0]!.pid, 'SIGKILL');
    await waitForOutput(job, 'worker exited unexpectedly (killed by a signal)', 10_000, before);
    await waitForOutput(job, 'worker restarted', 10_000, before);
    const running = markedProcesses();
    assert.ok(running.some((p) => p.command.includes('temporal server start-dev')), 'the dev server ran on');
    assert.ok(running.some((p) => p.command.includes('sandbox/main.ts')), 'the sandbox ran on');

    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    const { changes } = (await (await fetch(`http://127.0.0.1:${ports.router}/admin/changes`)).json()) as { changes: { kind: string; after: unknown }[] };
    assert.deepEqual(
      changes.map((c) => [c.kind, c.after]),
      [
        ['instances', { version: 'stable', count: 3 }],
        ['weights', { stable: 100, canary: 0 }],
        ['instances', { version: 'canary', count: 0 }],
      ],
      'the router kept its change log through the crash, and each change was applied once',
    );
    await connection.close();

    job.child.stdin!.write('\x03'); // Ctrl-C, as the terminal delivers it: SIGINT to the whole foreground group
    await job.exited;
    assert.deepEqual(await leftOver(), [], 'no process left behind');
    assert.match(job.output.join(''), /\[start\] all stopped/);
  });

  test('closing the terminal (its SIGHUP to the foreground group) stops every process', async () => {
    const job = await startMainJob(env, 'terminal');
    job.child.kill('SIGTERM'); // `script` ends, its pseudo-terminal closes: the kernel hangs up on npm start
    await job.exited;
    assert.deepEqual(await leftOver(), [], 'no process left behind');
  });

  test('SIGTERM to the whole process group (what a supervisor or kill -- -PGID sends) stops every process', async () => {
    const job = await startMainJob(env, 'process-group');
    process.kill(-job.child.pid!, 'SIGTERM');
    await job.exited;
    assert.deepEqual(await leftOver(), [], 'no process left behind');
  });

  test('Ctrl-C under `npm start | tee job.log` (the reader of its output ends first) still stops every process', async () => {
    const job = await startMainJob(env, 'process-group');
    // What tee does on Ctrl-C: it is in the same foreground group and exits, closing the pipe, so the
    // job's next lines ("stopping: ...") are written to a closed pipe.
    job.child.stdout!.destroy();
    job.child.stderr!.destroy();
    process.kill(-job.child.pid!, 'SIGINT');
    await job.exited;
    assert.deepEqual(await leftOver(), [], 'no process left behind');
  });

  test('with TEMPORAL_ADDRESS set it starts no dev server and its worker polls that service', async () => {
    const external = await startTemporal();
    try {
      const job = await startMainJob({ ...env, TEMPORAL_ADDRESS: external.address });
      const processes = markedProcesses();
      assert.ok(!processes.some((p) => p.command.includes('start-dev')), 'no dev server of its own');
      assert.match(job.output.join(''), new RegExp(`TEMPORAL_ADDRESS=${external.address}: using that Temporal service`));
      const answer = await external.client.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: TASK_QUEUE, kind: 1 },
        taskQueueType: 1,
      });
      assert.ok((answer.pollers?.length ?? 0) >= 1);
      await stopMainJob(job);
      assert.deepEqual(markedProcesses(), []);
    } finally {
      await external.teardown();
    }
  });
});
