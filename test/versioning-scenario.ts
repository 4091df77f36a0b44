/**
 * The worker-versioning scenario, run on the dev server (test/worker-versioning.test.ts) and on the
 * cluster (test/cluster/cluster.test.ts): a rollback waits at its gate on build A; a build B whose
 * fullRollback no longer replays A's history is started and made current; the approval is sent. The
 * rollback completes on A with no non-determinism error, a new rollback runs on B, and A reports
 * drained once its last rollback ends. `rollback workers` shows it along the way.
 *
 * Workflow logic with STUBBED ACTIVITIES: what is tested is where the server routes each workflow
 * task, not what the activities do to a target. The server must judge drainage within seconds
 * (matching.wv.VersionDrainageStatus* dynamic config, set by both callers).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type NativeConnection } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { parseDocument, stringify } from 'yaml';
import { TASK_QUEUE, WORKER_DEPLOYMENT, type RollbackStatus } from '../src/contract/index.ts';
import { approveSignal, statusQuery } from '../src/contract/messages.ts';
import { sharedModulesPath, workerWorkflowBundle } from '../src/build/workflow-bundle.ts';
import { workflowWebpackConfig } from '../src/build/workflow-bundle-builder.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { buildIdOf, deploymentBuilds, makeCurrent, promoteWhenPolling, type WorkerVersion } from '../src/worker/deployment.ts';
import { quietLogger } from './harness.ts';

/** The dev server's arguments for drainage judged within seconds (the default grace period is 3 minutes). */
export const DRAINAGE_IN_SECONDS_ARGS = ['matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"', 'matching.wv.VersionDrainageStatusRefreshInterval="1s"'];

export interface VersioningServer {
  /** A client of the namespace the scenario runs in: one no other worker polls. */
  client: Client;
  nativeConnection: NativeConnection;
  address: string;
}

const run = promisify(execFile);

const doc = parseDocument(readFileSync(new URL('../runbooks/sandbox.yaml', import.meta.url), 'utf8')).toJS() as Record<string, any>;
doc.system = 'versioned';
doc.gates['before-cleanup'] = { role: 'oncall', required: 1, timeoutSeconds: 600 };
const runbook = parseRunbook(stringify(doc), 'runbooks/versioned.yaml');

/** fullRollback's activities, stubbed: each build's worker records which build ran them. */
function stubs(build: string, calls: string[]) {
  const record = (name: string) => async () => void calls.push(`${build}:${name}`);
  return {
    preflight: async () => runbook,
    captureSnapshot: async () => ({ takenAt: new Date().toISOString(), traffic: { weights: { stable: 75, canary: 25 }, instances: { stable: 2, canary: 1 } }, baseline: null }),
    notify: record('notify'),
    publishReport: async () => '/dev/null',
    setWeights: async (input: { weights: Record<string, number> }) => {
      calls.push(`${build}:setWeights`);
      return { weights: input.weights, instances: {} };
    },
    scaleVersion: async () => {
      calls.push(`${build}:scaleVersion`);
      return { weights: {}, instances: {} };
    },
    verifyHealth: async () => ({ passed: true, reasons: [], window: null, checks: [] }),
  };
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    // A query sent before the workflow's first task has run finds no handler yet: asked again.
    const value = await read().catch((err: Error) => err);
    if (!(value instanceof Error) && ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${value instanceof Error ? value.message : JSON.stringify(value)} after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const pinnedBuild = async (handle: WorkflowHandle) => (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId;

/** `rollback workers ...` against the server, as an operator runs it: its standard output. */
export const workersCli = async (server: VersioningServer, ...args: string[]) =>
  (await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'workers', ...args], { env: { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.client.options.namespace }, cwd: fileURLToPath(new URL('..', import.meta.url)) })).stdout;

export async function pinnedUpgrade(server: VersioningServer): Promise<void> {
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const calls: string[] = [];
  async function startWorker(version: WorkerVersion, workflowBundle: { codePath: string } | { code: string }): Promise<void> {
    const worker = await Worker.create({
      connection: server.nativeConnection,
      namespace: server.client.options.namespace,
      taskQueue: TASK_QUEUE,
      workflowBundle,
      activities: stubs(version.buildId, calls),
      workerDeploymentOptions: { useWorkerVersioning: true, version, defaultVersioningBehavior: 'PINNED' },
    });
    workers.push({ worker, running: worker.run() });
  }
  const start = (id: string) =>
    server.client.workflow.start('fullRollback', { taskQueue: TASK_QUEUE, workflowId: id, args: [{ system: 'versioned', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }] });
  try {
    const stamp = Date.now().toString(36);
    const bundleA = await workerWorkflowBundle(quietLogger);
    const a: WorkerVersion = { deploymentName: WORKER_DEPLOYMENT, buildId: buildIdOf(bundleA.codePath) };
    await startWorker(a, bundleA);
    assert.equal(await promoteWhenPolling(server.client, a, { identity: 'test', timeoutMs: 30_000 }), 'promoted');

    const first = await start(`versioned-${stamp}-1`);
    await until('the first rollback reaching its gate', () => first.query(statusQuery), (s: RollbackStatus) => s.state === 'awaiting_approval');
    assert.equal(await pinnedBuild(first), a.buildId);

    // Build B: fullRollback changed without patched(). Its code cannot replay A's rollback.
    const { code } = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./fixtures/versioning/workflows-build-b.ts', import.meta.url)),
      preloadModules: [sharedModulesPath],
      logger: quietLogger as never,
      webpackConfigHook: workflowWebpackConfig,
    });
    const b: WorkerVersion = { deploymentName: WORKER_DEPLOYMENT, buildId: createHash('sha256').update(code).digest('hex').slice(0, 16) };
    assert.notEqual(b.buildId, a.buildId);
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: { code } }, await first.fetchHistory(), first.workflowId), DeterminismViolationError, "build B's code does not replay build A's rollback");

    await startWorker(b, { code });
    await until('build B polling', () => deploymentBuilds(server.client), (builds) => builds.some((x) => x.buildId === b.buildId));
    await makeCurrent(server.client, b, 'test');

    const cli = () => workersCli(server);
    const listed = await until('A draining with its rollback', () => cli(), (out) => new RegExp(`${a.buildId}\\s+draining\\s+.*versioned-${stamp}-1`).test(out));
    assert.match(listed, new RegExp(`${b.buildId}\\s+current\\s`));
    assert.match(listed, new RegExp(`keep a worker of ${a.buildId} running until it is drained`));

    calls.length = 0;
    await first.signal(approveSignal, { by: 'bob' });
    await first.result(); // would fail with a non-determinism error had B picked it up
    assert.equal(await pinnedBuild(first), a.buildId);
    assert.ok(calls.length > 0 && calls.every((c) => c.startsWith(`${a.buildId}:`)), `after the approval only build A worked: ${calls.join(', ')}`);

    calls.length = 0;
    const second = await start(`versioned-${stamp}-2`);
    await until('the second rollback reaching its gate', () => second.query(statusQuery), (s: RollbackStatus) => s.state === 'awaiting_approval');
    assert.equal(await pinnedBuild(second), b.buildId, 'a new rollback starts on the current build');
    await second.signal(approveSignal, { by: 'bob' });
    await second.result();
    assert.ok(calls.every((c) => c.startsWith(`${b.buildId}:`)), `the new rollback ran on build B only: ${calls.join(', ')}`);

    await until('build A drained', () => deploymentBuilds(server.client), (builds) => builds.find((x) => x.buildId === a.buildId)?.state === 'drained');
    assert.match(await cli(), new RegExp(`${a.buildId}\\s+drained\\s+\\S.*-\\n`));
  } finally {
    for (const { worker } of workers) worker.shutdown();
    await Promise.all(workers.map((w) => w.running));
  }
}
