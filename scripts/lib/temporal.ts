/** Helpers the main job and operator scripts share for talking to a Temporal service. */
import { Client, Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES, TASK_QUEUE } from '../../src/contract/index.ts';
import { deploymentBuilds } from '../../src/worker/deployment.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Dynamic config the dev server runs with wherever we start one (main job, tests, benchmarks); the
 * compose stack sets the same in deploy/temporal/dynamicconfig.yaml. Both cut the time a rollback
 * spends between steps (see `npm run bench:rollback`):
 * - eager activity execution: the server hands a just-scheduled activity back to the worker that
 *   scheduled it with the workflow task's answer, saving a matching round trip per step (about
 *   40 ms). Off by default in Temporal's server config.
 * - the transfer queue's read rate: every workflow task and activity the history service schedules
 *   goes through its shard's transfer queue, which by default is read at most 20 times a second per
 *   shard. A cluster has hundreds of shards; the dev server has one, so once the burst allowance is
 *   spent every step waits for the next read (about 30 ms each, measured). 1000 reads a second lifts
 *   the cap for one shard without busy polling: the reader only reads when told of new tasks.
 */
export const DEV_SERVER_DYNAMIC_CONFIG_VALUES = ['system.enableActivityEagerExecution=true', 'history.transferProcessorMaxPollRPS=1000'];

/** DEV_SERVER_DYNAMIC_CONFIG_VALUES as dev-server arguments. */
const DEV_SERVER_DYNAMIC_CONFIG = DEV_SERVER_DYNAMIC_CONFIG_VALUES.flatMap((value) => ['--dynamic-config-value', value]);

/**
 * The `server` options of TestWorkflowEnvironment.createLocal for the benchmarks' dev server: the
 * given Temporal CLI, our search attributes, errors only, DEV_SERVER_DYNAMIC_CONFIG. Typed here by
 * shape, so this module does not depend on @temporalio/testing (a dev dependency).
 */
export function devServerOptions(cliPath: string, dynamicConfig: string[] = []) {
  return {
    executable: { type: 'existing-path' as const, path: cliPath },
    searchAttributes: ALL_SEARCH_ATTRIBUTES,
    log: { format: 'pretty', level: 'error' },
    extraArgs: [...DEV_SERVER_DYNAMIC_CONFIG, ...dynamicConfig.flatMap((value) => ['--dynamic-config-value', value])],
  };
}

/** Dev-server arguments: persistent SQLite in WAL mode, the UI, and our search attributes registered. */
export function devServerArgs(options: { dbFile: string; port: number; uiPort: number; namespace: string }): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace,
    '--db-filename',
    options.dbFile,
    '--sqlite-pragma',
    'journal_mode=WAL',
    '--sqlite-pragma',
    'synchronous=NORMAL',
    '--log-level',
    'error', // its warnings are mostly connection noise while it starts and stops
    ...ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
    ...DEV_SERVER_DYNAMIC_CONFIG,
  ];
}

/** Waits until the frontend answers, up to `timeoutMs`. */
export async function waitForTemporal(address: string, timeoutMs: number, options: { tls?: boolean; apiKey?: string } = {}): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, tls: options.tls, apiKey: options.apiKey, connectTimeout: 2000 });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      lastError = err;
      await sleep(500);
    }
  }
  throw new Error(`Temporal at ${address} did not answer within ${timeoutMs / 1000} s: ${String(lastError)}`);
}

/** Registers RollbackSystem, RollbackKind and RollbackState where they are missing (a cluster we did not start). */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 6 /* gRPC ALREADY_EXISTS */) throw err;
  }
}

/** Whether process `pid` still runs (a child that exited is reaped by Node at once). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until some worker polls the rollbacks task queue for workflow tasks; with `pid`, that
 * process's worker, failing at once if it exits first.
 */
/** temporal.api.enums.v1.WorkerVersioningMode VERSIONED (@temporalio/proto is not a direct dependency). */
const WORKER_VERSIONING_MODE_VERSIONED = 2;

/**
 * Whether new rollbacks reach one of these pollers: always for an unversioned worker; for a versioned
 * one (src/worker/deployment.ts) once its build is the deployment's current build, which the worker
 * makes it right after its first poll. Until then a rollback started would wait for a current build.
 */
async function routedTo(connection: Connection, namespace: string, pollers: { deploymentOptions?: { deploymentName?: string | null; buildId?: string | null; workerVersioningMode?: number | null } | null }[]): Promise<boolean> {
  const versioned = pollers.map((p) => p.deploymentOptions).filter((o) => o?.workerVersioningMode === WORKER_VERSIONING_MODE_VERSIONED);
  if (versioned.length < pollers.length) return true;
  const builds = await deploymentBuilds(new Client({ connection, namespace }), versioned[0]?.deploymentName ?? '').catch(() => []);
  const current = builds.find((b) => b.state === 'current')?.buildId;
  return current !== undefined && versioned.some((o) => o?.buildId === current);
}

export async function waitForPoller(connection: Connection, namespace: string, timeoutMs: number, pid?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answer = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: TASK_QUEUE, kind: 1 /* TASK_QUEUE_KIND_NORMAL */ },
      taskQueueType: 1 /* TASK_QUEUE_TYPE_WORKFLOW */,
    });
    // The server lists pollers for a while after they are gone; with `pid`, only that process counts
    // (a worker's identity is "<pid>@<host>" unless configured otherwise).
    const pollers = (answer.pollers ?? []).filter((p) => pid === undefined || p.identity?.startsWith(`${pid}@`));
    if (pollers.length > 0 && (await routedTo(connection, namespace, pollers))) return;
    if (pid !== undefined && !alive(pid)) throw new Error(`the worker (pid ${pid}) exited before it polled task queue '${TASK_QUEUE}' (its error is above)`);
    await sleep(500);
  }
  throw new Error(`no worker polled task queue '${TASK_QUEUE}' within ${timeoutMs / 1000} s`);
}
