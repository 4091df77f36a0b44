/**
 * Builds the rollback worker: runtime (logs into pino, Prometheus metrics), connection through
 * envconfig (so TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and API keys work, Temporal Cloud
 * included), the activities with their real dependencies, and the workflow bundle.
 */
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { makeTelemetryFilterString, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { fileURLToPath } from 'node:url';
import { createActivities } from '../activities/index.ts';
import type { Runbook } from '../runbook/schema.ts';
import { TASK_QUEUE } from '../workflows/contract.ts';
import type { WorkerEnv } from './env.ts';
import { temporalLogger } from './logger.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

let runtimeInstalled = false;

/** Once per process: the SDK allows a single Runtime. */
export function installRuntime(env: WorkerEnv, logger: Logger): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: temporalLogger(logger.child({ component: 'temporal-sdk' })),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
      metrics: env.WORKER_METRICS_ADDRESS === 'off' ? undefined : { prometheus: { bindAddress: env.WORKER_METRICS_ADDRESS } },
    },
  });
  runtimeInstalled = true;
}

/** Connects worker and client the way the `temporal` CLI would (envconfig: env vars and TOML profiles). */
export async function connect(env: Record<string, string | undefined>): Promise<{ connection: NativeConnection; client: Client; namespace: string }> {
  const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const config = loadClientConnectConfig({ overrideEnvVars });
  const options = { ...config.connectionOptions, address: config.connectionOptions.address ?? 'localhost:7233' };
  const namespace = config.namespace ?? 'default';
  const connection = await NativeConnection.connect(options);
  const client = new Client({ connection: await Connection.connect(options), namespace });
  return { connection, client, namespace };
}

export interface RollbackWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  env: WorkerEnv;
  runbooks: ReadonlyMap<string, Runbook>;
  secrets: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** A client for the same service, used by preflight to see other running rollbacks. */
  client: Client;
  reportsDir: string;
  overrides?: Partial<WorkerOptions>;
}

export function createRollbackWorker(options: RollbackWorkerOptions): Promise<Worker> {
  const activities = createActivities({
    runbooks: options.runbooks,
    env: options.secrets,
    logger: options.logger,
    temporal: { client: options.client, namespace: options.namespace },
    reportsDir: options.reportsDir,
  });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: TASK_QUEUE,
    workflowsPath,
    activities,
    shutdownGraceTime: `${options.env.WORKER_SHUTDOWN_GRACE_SECONDS} seconds`,
    maxConcurrentActivityTaskExecutions: options.env.WORKER_MAX_CONCURRENT_ACTIVITIES,
    ...options.overrides,
  });
}
