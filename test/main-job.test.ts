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
import { TASK_QUEUE } from '../src/workflows/contract.ts';
import { dropTestDatabase, freePort, POSTGRES, startTemporal } from './harness.ts';

const marker = `main-job-test-${randomUUID()}`;
const dataDir = mkdtempSync(join(tmpdir(), 'rollbacks-data-'));
const databaseName = `sandbox_test_${process.pid}_main`;

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

/** `npm start`, exactly as the README says to run it. */
async function startMainJob(env: Record<string, string>): Promise<MainJob> {
  const child = spawn('npm', ['start'], {
    env: { ...process.env, ...env, ROLLBACKS_TEST_MARKER: marker },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`main job not ready in 180 s:\n${output.join('')}`)), 180_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.join('').includes('Ready.')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`main job exited (${code}) before it was ready:\n${output.join('')}`)));
  });
  return { child, output, exited };
}

/**
 * SIGTERM to the npm process. npm exits at once without passing the signal on; the main job notices
 * its parent is gone and stops everything it started. Resolves once every process of ours is gone.
 */
async function stopMainJob(job: MainJob): Promise<void> {
  job.child.kill('SIGTERM');
  await job.exited;
  const deadline = Date.now() + 30_000;
  while (markedProcesses().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
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
    };
    env = {
      TEMPORAL_PORT: String(ports.temporal),
      TEMPORAL_UI_PORT: String(ports.ui),
      SANDBOX_ROUTER_PORT: String(ports.router),
      SANDBOX_STABLE_PORT: String(ports.stable),
      SANDBOX_CANARY_PORT: String(ports.canary),
      SANDBOX_DATABASE_URL: `${POSTGRES}/${databaseName}`,
      SANDBOX_LOAD_RPS: '5',
      WORKER_METRICS_ADDRESS: `127.0.0.1:${ports.metrics}`,
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
    assert.ok(running.some((p) => p.command.includes('src/worker/main.ts')), 'worker running');
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
