/**
 * For rollback workflow tests: one dev server and one production-wired worker for a whole file, and
 * per test a fresh sandbox with a runbook of its own (its own system name), added to the worker's
 * live runbook map. Test runbooks keep the sandbox's shape with short windows and timeouts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createClient as createRedisClient } from 'redis';
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { createRollbackWorker, type RollbackWorker } from '../src/worker/worker.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import type { RollbackStatus } from '../src/contract/index.ts';
import { resolveTemporalCli } from '../scripts/temporal-cli.ts';
import { dropTestDatabase, POSTGRES, quietLogger, startTemporal, testWorkerEnv } from './harness.ts';
import { statusQuery } from '../src/contract/messages.ts';

export interface TestSystem {
  name: string;
  sandbox: Sandbox;
  runbook: Runbook;
}

export interface RollbackTestEnv {
  env: TestWorkflowEnvironment;
  worker: RollbackWorker;
  runbooks: Map<string, Runbook>;
  reportsDir: string;
  /** Secrets the worker resolves `*Env` names from; tests add database URLs here. */
  secrets: Record<string, string>;
  /** Every rollback started through startRollback, so their histories can be kept as replay fixtures. */
  started: WorkflowHandle[];
  /** A new sandbox (the previous one is stopped) and a runbook named `<prefix>-<n>` for it; `edit` changes the runbook document. */
  newSystem(edit?: (doc: Record<string, any>) => void, options?: { loadRequestsPerSecond?: number; database?: boolean }): Promise<TestSystem>;
  stop(): Promise<void>;
}

let counter = 0;

/** Short windows so a test takes seconds: 1 s health window, few requests needed, quick gate timeouts. */
export function testDefaults(doc: Record<string, any>): void {
  doc.health.windowSeconds = 1;
  doc.health.minRequests = 5;
  doc.traffic.stepPauseSeconds = 0;
  doc.gates['before-cleanup'].timeoutSeconds = 60;
  delete doc.gates['before-cleanup'].escalateAfterSeconds;
  doc.decisions = { timeoutSeconds: 60, onTimeout: 'abort' };
  for (const gate of ['before-phase-9', 'before-phase-11']) if (doc.gates[gate]) doc.gates[gate].timeoutSeconds = 60;
  doc.notify = [{ provider: 'log' }, { provider: 'webhook', settings: { urlEnv: 'SANDBOX_WEBHOOK_URL' } }];
}

export async function startRollbackTestEnv(): Promise<RollbackTestEnv> {
  const env = await startTemporal();
  const runbooks = new Map<string, Runbook>();
  const sandboxes: Sandbox[] = [];
  const databases: string[] = [];
  const reportsDir = mkdtempSync(join(tmpdir(), 'reports-'));
  const secrets: Record<string, string> = {};
  const worker = await createRollbackWorker({
    connection: env.nativeConnection,
    client: env.client,
    namespace: 'default',
    env: testWorkerEnv,
    runbooks,
    secrets,
    logger: quietLogger,
    reportsDir,
  });
  const running = worker.run();
  const started: WorkflowHandle[] = [];
  return {
    env,
    worker,
    runbooks,
    reportsDir,
    secrets,
    started,
    async newSystem(edit, options) {
      // Tests in a file run one after another, each on the sandbox it just made (its rollbacks awaited):
      // stop the earlier ones entirely, replica processes and all, so memory stays bounded.
      await Promise.all(sandboxes.splice(0).map((earlier) => earlier.stop()));
      const name = `sys-${process.pid}-${++counter}`;
      // Its own flag file, Redis keys, keyspace backups and (if asked) database: systems never see each other's.
      const redisPrefix = `${name}:`;
      const databaseUrl = options?.database ? `${POSTGRES}/sandbox_test_${name.replaceAll('-', '_')}` : null;
      if (databaseUrl) databases.push(databaseUrl);
      const sandbox = await startSandbox({
        ports: { router: 0, stable: 0, canary: 0 },
        databaseUrl,
        loadRequestsPerSecond: options?.loadRequestsPerSecond ?? 40,
        redis: { killSwitchPrefix: `${redisPrefix}kill_switch:` },
        flagdFile: join(reportsDir, name, 'flags.flagd.json'),
      });
      sandboxes.push(sandbox);
      const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
      doc.system = name;
      testDefaults(doc);
      doc.providers.redis.settings.killSwitchPrefix = `${redisPrefix}kill_switch:`;
      doc.keyspaces.sessions.pattern = `${redisPrefix}session:*:agentic_state`;
      doc.keyspaces.sessions.backupDir = join(reportsDir, name, 'redis-backups');
      for (const phase of doc.phases as { rollback: Record<string, any>[] }[]) {
        for (const action of phase.rollback) if (action.command) action.command = action.command.map((arg: string) => arg.replace('rag:cache:*', `${redisPrefix}rag:cache:*`));
      }
      doc.databases.main.backupDir = join(reportsDir, name, 'backups');
      const urlEnv = `SANDBOX_DATABASE_URL_${counter}`;
      doc.databases.main.urlEnv = urlEnv;
      doc.providers.flags.settings.databaseUrlEnv = urlEnv;
      if (databaseUrl) secrets[urlEnv] = databaseUrl;
      edit?.(doc);
      // Every system's webhook channel posts to its own sandbox router.
      doc.notify = (doc.notify as { provider: string; settings?: { urlEnv?: string } }[]).map((n) =>
        n.provider === 'webhook' ? { ...n, settings: { urlEnv: `WEBHOOK_${counter}` } } : n,
      );
      secrets[`WEBHOOK_${counter}`] = `${sandbox.urls.router}/hooks/notify`;
      const runbook = parseRunbook(stringify(doc), `runbooks/${name}.yaml`);
      runbooks.set(name, runbook);
      return { name, sandbox, runbook };
    },
    async stop() {
      // RECORD_HISTORIES=<dir> keeps each closed rollback's history for test/replay.test.ts.
      if (process.env.RECORD_HISTORIES) await recordHistories(env.address, started, process.env.RECORD_HISTORIES);
      worker.shutdown();
      await running;
      await Promise.all(sandboxes.map((s) => s.stop()));
      await env.teardown();
      for (const url of databases) await dropTestDatabase(decodeURIComponent(new URL(url).pathname.slice(1)));
      await deleteRedisKeys(`sys-${process.pid}-*`);
      rmSync(reportsDir, { recursive: true, force: true });
    },
  };
}

/**
 * A runbook for a system without the sandbox, holding just `sections` besides what every runbook has
 * (approvers, rto, a log channel, decisions that wait 2 minutes), added to the worker's runbooks.
 */
export function addMinimalRunbook(t: RollbackTestEnv, system: string, sections: Record<string, unknown>): void {
  const doc = {
    system,
    approvers: { oncall: ['alice', 'bob'] },
    rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
    notify: [{ provider: 'log' }],
    decisions: { timeoutSeconds: 120, onTimeout: 'abort' },
    ...sections,
  };
  t.runbooks.set(system, parseRunbook(stringify(doc), `runbooks/${system}.yaml`));
}

export async function startRollback(
  t: RollbackTestEnv,
  input: Record<string, unknown>,
  workflowId = `rollback-${++counter}`,
  workflowType = 'fullRollback',
): Promise<WorkflowHandle> {
  const handle = await t.env.client.workflow.start(workflowType, { taskQueue: TASK_QUEUE, workflowId, args: [input] });
  t.started.push(handle);
  return handle;
}

/** Histories in the CLI's JSON form (`temporal workflow show -o json`), which historyFromJSON reads back. */
const repoRoot = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

async function recordHistories(address: string, handles: WorkflowHandle[], dir: string): Promise<void> {
  const cli = await resolveTemporalCli();
  mkdirSync(dir, { recursive: true });
  for (const [index, handle] of handles.entries()) {
    const description = await handle.describe();
    if (description.status.name === 'RUNNING') continue;
    const name = `${description.type}-${String(index + 1).padStart(2, '0')}-${description.status.name.toLowerCase()}.json`;
    const json = execFileSync(cli.path, ['workflow', 'show', '--address', address, '--workflow-id', handle.workflowId, '--output', 'json'], { maxBuffer: 64 << 20, encoding: 'utf8' });
    // Stack traces name where the checkout lives; recorded as the image's /app, like every fixture.
    writeFileSync(join(dir, name), json.replaceAll(`${repoRoot}/`, '/app/'));
  }
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const cliPath = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

/**
 * The operator CLI (src/cli/main.ts under tsx, or `entry` instead, e.g. the bin shim) as a child process
 * against the dev server at `address`. Only that server: no profile, API key or UI URL from the
 * developer's shell (every other TEMPORAL_* variable is dropped).
 */
export function runCli(address: string, args: string[], cwd = repoRoot, entry: string[] = ['--import', 'tsx', cliPath]): Promise<CliRun> {
  const inherited = Object.entries(process.env).filter(([key]) => !key.startsWith('TEMPORAL_'));
  const env: NodeJS.ProcessEnv = { ...Object.fromEntries(inherited), TEMPORAL_ADDRESS: address };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, ...args], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls the status query until `predicate` holds (or fails after `timeoutMs`, showing the last status). */
export async function waitForStatus(handle: WorkflowHandle, predicate: (s: RollbackStatus) => boolean, timeoutMs = 30_000): Promise<RollbackStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: RollbackStatus | undefined;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(statusQuery);
    } catch (err) {
      // Right after a worker is killed and another started, the server answers queries with "no
      // poller seen for task queue recently" until the new worker polls: ask again.
      if (!/no poller seen/.test(String((err as { cause?: unknown }).cause ?? err))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    if (predicate(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`status never matched; last: ${JSON.stringify({ state: last?.state, step: last?.currentStep, details: last?.details, events: last?.events })}`);
}

/** Deletes every Redis key matching `pattern` (a test's own prefix), so tests leave nothing behind. */
export async function deleteRedisKeys(pattern: string): Promise<void> {
  const client = createRedisClient();
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 500 })) if (keys.length > 0) await client.del(keys);
  } finally {
    await client.close();
  }
}

/** The ApplicationFailure a rollback ended with (it must end failed: completing fails the test). */
export async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail('the workflow completed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err.cause)}`);
  return err.cause;
}
