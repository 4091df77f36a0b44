/**
 * What the tests share: a real Temporal dev server (TestWorkflowEnvironment.createLocal with the
 * resolved CLI), the real sandbox on free ports with its own Postgres database, and a worker wired
 * like production. Everything started here is stopped by the returned `stop()`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import pino from 'pino';
import { parseConnection, withClient, withDatabase } from '../src/providers/database/pg-tools.ts';
import { devServerOptions } from '../scripts/lib/temporal.ts';
import { resolveTemporalCli } from '../scripts/temporal-cli.ts';
import { startSandbox, sandboxRunbookFor, type Sandbox, type SandboxOptions } from '../sandbox/sandbox.ts';
import { loadRunbooks } from '../src/runbook/load.ts';
import { parseEnv } from '../src/worker/env.ts';
import { createRollbackWorker, installRuntime, type RollbackWorker } from '../src/worker/worker.ts';

export const POSTGRES = 'postgres://postgres@127.0.0.1:5432';
export const quietLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'error' });

/** Whether `port` on loopback can be bound right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port for a service a test starts later. Chosen below the kernel's ephemeral range (32768 and up
 * on Linux): a port the kernel handed out and took back would be handed to the next process that
 * binds port 0 (a sandbox replica, the dev server's own listeners), and the service then finds it
 * taken. Below that range only an explicit bind can take it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await bindable(port)) return port;
  }
  throw new Error('no free port found between 20000 and 32000');
}

/** Worker settings for tests: no metrics endpoint, a short shutdown grace. */
export const testWorkerEnv = parseEnv({ WORKER_METRICS_ADDRESS: 'off', WORKER_SHUTDOWN_GRACE_SECONDS: '2' });

/** A dev server on free ports; with `uiPort`, the Web UI too (the browser test). */
export async function startTemporal(options: { uiPort?: number; dynamicConfig?: string[] } = {}): Promise<TestWorkflowEnvironment> {
  // The SDK's Runtime is a singleton created by the first connection: install ours (logs into pino) first.
  installRuntime(testWorkerEnv, quietLogger);
  const cli = await resolveTemporalCli((line) => console.log(line));
  return TestWorkflowEnvironment.createLocal({
    server: {
      ...devServerOptions(cli.path, options.dynamicConfig), // as the main job and the benchmarks run it
      ...(options.uiPort ? { ui: true, uiPort: options.uiPort } : {}),
    },
  });
}

let databaseCounter = 0;

export interface TestSandbox {
  sandbox: Sandbox;
  databaseUrl: string;
  runbooksDir: string;
  reportsDir: string;
  /** Environment a worker needs for this sandbox's runbook (secrets by name). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The sandbox on free ports, a database of its own, and runbooks/sandbox.yaml rewritten for those ports. */
export async function startTestSandbox(options: Omit<SandboxOptions, 'ports' | 'databaseUrl'> & { database?: boolean } = {}): Promise<TestSandbox> {
  const databaseName = `sandbox_test_${process.pid}_${++databaseCounter}`;
  const databaseUrl = `${POSTGRES}/${databaseName}`;
  const sandbox = await startSandbox({
    ...options,
    ports: { router: 0, stable: 0, canary: 0 },
    databaseUrl: options.database === false ? null : databaseUrl,
  });
  const runbooksDir = mkdtempSync(join(tmpdir(), 'runbooks-'));
  writeFileSync(join(runbooksDir, 'sandbox.yaml'), sandboxRunbookFor(sandbox));
  return {
    sandbox,
    databaseUrl,
    runbooksDir,
    reportsDir: join(runbooksDir, 'reports'),
    env: { SANDBOX_DATABASE_URL: databaseUrl, SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` },
    async stop() {
      await sandbox.stop();
      rmSync(runbooksDir, { recursive: true, force: true });
      if (options.database !== false) await dropTestDatabase(databaseName);
    },
  };
}

/** Runs `text` on the local server's database named exactly `database` (any characters); the result rows. */
export async function sql<T extends pg.QueryResultRow = any>(database: string, text: string, values: unknown[] = []): Promise<T[]> {
  return withClient(withDatabase(parseConnection(`${POSTGRES}/postgres`), database), async (c) => (await c.query<T>(text, values)).rows);
}

/** Every database on the local server whose name starts with `prefix`, in order. */
export async function databasesLike(prefix: string): Promise<string[]> {
  const rows = await sql<{ datname: string }>('postgres', 'SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1', [prefix]);
  return rows.map((r) => r.datname);
}

/** Drops a database this test run created; refuses any other name. */
export async function dropTestDatabase(name: string): Promise<void> {
  if (!name.startsWith('sandbox_test_')) throw new Error(`refusing to drop ${name}: not a test database`);
  await sql('postgres', `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}

export interface RunningWorker {
  worker: RollbackWorker;
  stop(): Promise<void>;
}

/** A production-wired worker (same factory as src/worker/main.ts) running until stop(). */
export async function startTestWorker(env: TestWorkflowEnvironment, testSandbox: TestSandbox): Promise<RunningWorker> {
  const worker = await createRollbackWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    env: testWorkerEnv,
    runbooks: loadRunbooks(testSandbox.runbooksDir),
    secrets: testSandbox.env,
    logger: quietLogger,
    client: env.client,
    reportsDir: testSandbox.reportsDir,
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGKILL for a child process; resolves once it has exited. */
export function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * Terminates every workflow still running in the client's namespace (rollbacks, their locks,
 * watchdogs), so what one test left behind cannot refuse the next test's rollback. Reads visibility,
 * which may lag a moment behind a start; a workflow already ended meanwhile is fine.
 */
export async function terminateRunning(client: Client, reason: string): Promise<void> {
  for await (const execution of client.workflow.list({ query: 'ExecutionStatus="Running"' })) {
    await client.workflow.getHandle(execution.workflowId, execution.runId).terminate(reason).catch((err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    });
  }
}
