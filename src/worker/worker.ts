/**
 * Builds the rollback worker: runtime (logs into pino, Prometheus metrics), connection through
 * envconfig (so TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and API keys work, Temporal Cloud
 * included), the activities with their real dependencies, and the workflow bundle.
 */
import { Client } from '@temporalio/client';
import { makeTelemetryFilterString, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from '../activities/index.ts';
import { keepAliveHeartbeats } from '../activities/heartbeat.ts';
import { ProviderClients } from '../providers/index.ts';
import type { Runbook } from '../runbook/schema.ts';
import { TASK_QUEUE, WATCH_TASK_QUEUE } from '../contract/index.ts';
import { temporalConnectConfig } from './connect-config.ts';
import type { WorkerEnv } from './env.ts';
import { temporalLogger } from './logger.ts';
import { workerWorkflowBundle } from '../build/workflow-bundle.ts';
import { versionOf, type WorkerVersion } from './deployment.ts';

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

/**
 * Connects the worker the way the `temporal` CLI would (envconfig: env vars and TOML profiles); the
 * client shares the worker's connection, so closing `connection` closes both.
 */
export async function connect(env: Record<string, string | undefined>): Promise<{ connection: NativeConnection; client: Client; namespace: string }> {
  const { connectionOptions, namespace } = temporalConnectConfig(env);
  const connection = await NativeConnection.connect(connectionOptions);
  const client = new Client({ connection, namespace });
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
  /** Where the workflow bundle is cached; null builds it afresh into a temporary directory. */
  bundleCacheDir?: string | null;
  /**
   * Worker Deployment Versioning (src/worker/deployment.ts): the deployment this worker's build joins,
   * its build id the workflow bundle's hash. Rollbacks are Pinned to the build that started them.
   * Unset, the worker is unversioned (the tests that run one worker against their own dev server).
   */
  deployment?: { name: string };
  overrides?: Partial<WorkerOptions>;
}

/**
 * The rollback worker and the provider clients its activities share (pools, Redis connections), made
 * once and closed when it stops.
 */
export class RollbackWorker {
  constructor(
    readonly worker: Worker,
    /** The watch loops' worker (WATCH_TASK_QUEUE), in the same process and deployment version. */
    readonly watchWorker: Worker,
    private readonly clients: ProviderClients,
    /** The deployment version this worker polls as, or null when it is unversioned. */
    readonly version: WorkerVersion | null,
  ) {}

  /** Polls until shutdown (SIGINT/SIGTERM or shutdown()), drains, then closes the provider clients. */
  async run(): Promise<void> {
    try {
      // Both stop together: one that ends (or fails) shuts the other down, and both have drained
      // before the provider clients close.
      const ended = await Promise.allSettled([this.worker.run().finally(() => this.stopOther(this.watchWorker)), this.watchWorker.run().finally(() => this.stopOther(this.worker))]);
      for (const each of ended) if (each.status === 'rejected') throw each.reason;
    } finally {
      await this.clients.close();
    }
  }

  private stopOther(worker: Worker): void {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  }

  shutdown(): void {
    this.stopOther(this.worker);
    this.stopOther(this.watchWorker);
  }

  getState() {
    return this.worker.getState();
  }
}

export async function createRollbackWorker(options: RollbackWorkerOptions): Promise<RollbackWorker> {
  const clients = new ProviderClients({ env: options.secrets, logger: options.logger });
  const activities = createActivities({
    runbooks: options.runbooks,
    env: options.secrets,
    logger: options.logger,
    clients,
    temporal: { client: options.client, namespace: options.namespace },
    reportsDir: options.reportsDir,
  });
  const workflowBundle = await workerWorkflowBundle(options.logger, options.bundleCacheDir);
  const version = options.deployment ? versionOf(workflowBundle.codePath, options.deployment.name) : null;
  // What both workers share: the connection, the build they version as, and activities that
  // heartbeat throughout.
  const shared = {
    connection: options.connection,
    namespace: options.namespace,
    // Pinned by default: a rollback never moves to another build mid-way (the watchdog opts out at
    // continue-as-new, see rollback-watchdog.ts).
    ...(version ? { workerDeploymentOptions: { useWorkerVersioning: true as const, version, defaultVersioningBehavior: 'PINNED' as const } } : {}),
    interceptors: { activity: [keepAliveHeartbeats] },
  };
  const worker = await Worker.create({
    ...shared,
    taskQueue: TASK_QUEUE,
    workflowBundle,
    activities,
    shutdownGraceTime: `${options.env.WORKER_SHUTDOWN_GRACE_SECONDS} seconds`,
    maxConcurrentActivityTaskExecutions: options.env.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxCachedWorkflows: options.env.WORKER_MAX_CACHED_WORKFLOWS,
    ...options.overrides,
  });
  // The watch loops: long-running, heartbeating, each mostly asleep between scrapes, so many may run
  // at once without holding back a rollback's activities on the other queue.
  const watchWorker = await Worker.create({
    ...shared,
    taskQueue: WATCH_TASK_QUEUE,
    activities: { watchSystem: activities.watchSystem },
    // A watch loop never finishes by itself and only reads: on shutdown it is cancelled at once
    // rather than waited for, and its retry carries on from its last heartbeat on another worker.
    shutdownGraceTime: '1 second',
    maxConcurrentActivityTaskExecutions: options.env.WORKER_MAX_WATCHED_SYSTEMS,
  });
  return new RollbackWorker(worker, watchWorker, clients, version);
}
