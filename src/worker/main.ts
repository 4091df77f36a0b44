/**
 * The worker process: parse the environment, load every runbook (a broken one stops start-up with
 * file, path and reason), connect, poll task queue `rollbacks` until SIGINT/SIGTERM, then drain
 * within the grace time and exit.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { promoteWhenPolling, type WorkerVersion } from './deployment.ts';
import { loadRunbooks } from '../runbook/load.ts';
import { parseEnv } from './env.ts';
import { createLogger } from './logger.ts';
import { stopWithParent } from './parent.ts';
import { mapStackTracesOf } from './stack-traces.ts';
import { startAlertReceiver } from '../triggers/alert-receiver.ts';
import { connect, createRollbackWorker, installRuntime } from './worker.ts';
import { TASK_QUEUE } from '../contract/index.ts';

async function run(): Promise<void> {
  // The built file node runs: its frames name our sources from here on (stack-traces.ts).
  if (process.argv[1]) mapStackTracesOf(process.argv[1]);
  const env = parseEnv(process.env);
  const logger = createLogger({ level: env.LOG_LEVEL, format: env.LOG_FORMAT });
  const runbooks = loadRunbooks(resolve(env.RUNBOOKS_DIR));
  logger.info({ systems: [...runbooks.keys()], dir: env.RUNBOOKS_DIR }, 'runbooks loaded');
  installRuntime(env, logger);
  const { connection, client, namespace } = await connect(process.env);
  try {
    const reportsDir = resolve(env.REPORTS_DIR);
    const deployment = env.WORKER_DEPLOYMENT === 'off' ? undefined : { name: env.WORKER_DEPLOYMENT };
    const worker = await createRollbackWorker({ connection, client, namespace, env, runbooks, secrets: process.env, logger, reportsDir, deployment });
    logger.info(
      {
        taskQueue: TASK_QUEUE,
        namespace,
        ...(worker.version ? { deployment: worker.version.deploymentName, build: worker.version.buildId } : { deployment: 'off (unversioned)' }),
        metrics: env.WORKER_METRICS_ADDRESS === 'off' ? 'off' : `http://${env.WORKER_METRICS_ADDRESS}/metrics`,
      },
      'worker polling',
    );
    // The token's value stays in the environment; only its variable's name is configuration.
    // A port in use costs the webhook, not the rollbacks: said loudly, and the worker polls on.
    const receiver =
      env.ALERT_RECEIVER_ADDRESS === 'off'
        ? null
        : await startAlertReceiver({ address: env.ALERT_RECEIVER_ADDRESS, token: process.env[env.ALERT_RECEIVER_TOKEN_ENV] || null, runbooks, client, logger }).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'EADDRINUSE') throw err;
            logger.error({ address: env.ALERT_RECEIVER_ADDRESS }, `Alertmanager receiver NOT started: ${env.ALERT_RECEIVER_ADDRESS} is in use (set ALERT_RECEIVER_ADDRESS)`);
            return null;
          });
    stopWithParent(() => {
      logger.warn('the main job is gone: stopping');
      worker.shutdown();
    });
    const running = worker.run(); // resolves after SIGINT/SIGTERM once in-flight tasks finish or the grace time ends
    // Promotion stops trying once the worker stops (Ctrl-C during start-up must not wait for it).
    const stopped = new AbortController();
    void running.finally(() => stopped.abort()).catch(() => undefined);
    if (worker.version && env.WORKER_PROMOTE === 'auto') await promote(client, worker.version, logger, stopped.signal);
    await running;
    await receiver?.close();
    logger.info('worker stopped');
  } finally {
    await connection.close(); // the client shares it
  }
}

/**
 * Makes this worker's build the deployment's current one (WORKER_PROMOTE=auto): new rollbacks start on
 * it, rollbacks already running stay on the build that started them. A failure is logged, not fatal:
 * the worker still runs what is routed to it, and `rollback workers promote` can do it by hand.
 */
async function promote(client: Client, version: WorkerVersion, logger: Logger, signal: AbortSignal): Promise<void> {
  try {
    const outcome = await promoteWhenPolling(client, version, { identity: `worker ${hostname()} pid ${process.pid}`, timeoutMs: 60_000, signal });
    if (outcome === 'gave up' && signal.aborted) return;
    if (outcome === 'gave up') logger.warn({ build: version.buildId }, `build ${version.buildId} not made current: the server had not seen it poll after 60 s; run \`rollback workers promote ${version.buildId}\``);
    else logger.info({ deployment: version.deploymentName, build: version.buildId }, outcome === 'promoted' ? 'build made current: new rollbacks start on it' : 'build already current');
  } catch (err) {
    logger.error({ err, build: version.buildId }, `build ${version.buildId} not made current; run \`rollback workers promote ${version.buildId}\``);
  }
}

run().catch((err: unknown) => {
  // Start-up errors (environment, runbooks) are written plainly: they are read by a person, not a log pipeline.
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
