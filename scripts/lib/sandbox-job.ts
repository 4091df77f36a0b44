/**
 * The part of the main jobs that is the same whichever Temporal they run against: the sandbox system,
 * the workers on task queue `rollbacks`, and the banner that says where to look and what to paste.
 */
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FLAGD_FILE, DEFAULT_PORTS, sandboxRunbookFor } from '../../sandbox/sandbox.ts';
import { Client, type Connection } from '@temporalio/client';
import { TASK_QUEUE, watchdogWorkflowId } from '../../src/contract/index.ts';
import { workerCommand } from '../../src/build/worker-command.ts';
import type { MainJob } from './main-job.ts';
import { startService } from './processes.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Where the main jobs' first worker takes Alertmanager's webhook (loopback; ALERT_RECEIVER_ADDRESS=off turns it off). */
const DEFAULT_ALERT_RECEIVER = '127.0.0.1:9095';

export function portFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0 || value > 65535) throw new Error(`${name} must be a port number, got ${process.env[name]}`);
  return value;
}

/**
 * The environment the sandbox and the workers run with: the sandbox's ports, database, webhook and
 * flag file. runbooks/sandbox.yaml names the default ports and flag file; where those differ, the
 * workers get a copy of the runbooks that names these.
 */
export function sandboxEnvironment(dataDir: string, say: (line: string) => void): { env: NodeJS.ProcessEnv; routerPort: number } {
  const ports = {
    router: portFromEnv('SANDBOX_ROUTER_PORT', DEFAULT_PORTS.router),
    stable: portFromEnv('SANDBOX_STABLE_PORT', DEFAULT_PORTS.stable),
    canary: portFromEnv('SANDBOX_CANARY_PORT', DEFAULT_PORTS.canary),
  };
  const flagdFile = join(dataDir, 'flags', 'sandbox.flagd.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SANDBOX_DATABASE_URL: process.env.SANDBOX_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sandbox',
    SANDBOX_WEBHOOK_URL: process.env.SANDBOX_WEBHOOK_URL ?? `http://127.0.0.1:${ports.router}/hooks/notify`,
    SANDBOX_FLAGD_FILE: flagdFile,
    // The sandbox and the workers stop by themselves if the job dies without stopping them (SIGKILL).
    ROLLBACKS_MAIN_JOB_PID: String(process.pid),
  };
  const defaultPlaces = JSON.stringify(ports) === JSON.stringify(DEFAULT_PORTS) && flagdFile === join(root, DEFAULT_FLAGD_FILE);
  if (!process.env.RUNBOOKS_DIR && !defaultPlaces) {
    const dir = join(dataDir, 'runbooks');
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(join(root, 'runbooks')).filter((n) => /\.ya?ml$/.test(n))) copyFileSync(join(root, 'runbooks', name), join(dir, name));
    writeFileSync(join(dir, 'sandbox.yaml'), sandboxRunbookFor({ ports, flagdFile }));
    env.RUNBOOKS_DIR = dir;
    say(`sandbox on non-default ports or data directory: the workers read runbooks from ${dir} (runbooks/sandbox.yaml with those)`);
  }
  return { env, routerPort: ports.router };
}

/** The sandbox system (essential: its router state lives in memory) and `count` supervised workers. */
export async function startSandboxAndWorkers(job: MainJob, env: NodeJS.ProcessEnv, count: number, say: (line: string) => void): Promise<void> {
  say('starting the sandbox system');
  job.essential(startService('sandbox', process.execPath, ['--import', 'tsx', join(root, 'sandbox/main.ts')], env));
  say(`starting ${count === 1 ? 'the worker' : `${count} workers`} on task queue '${TASK_QUEUE}'`);
  const worker = await workerCommand(); // builds the worker's JavaScript when a source changed
  for (let n = 1; n <= count; n += 1) {
    // Each worker serves its own metrics: the first on WORKER_METRICS_ADDRESS, the next on the ports after it.
    const metrics = env.WORKER_METRICS_ADDRESS ?? '127.0.0.1:9464';
    const [host, port] = metrics.split(':');
    const own = metrics === 'off' || n === 1 ? metrics : `${host}:${Number(port) + n - 1}`;
    // Alertmanager's webhook likewise: the first worker on ALERT_RECEIVER_ADDRESS (default 127.0.0.1:9095).
    const alerts = env.ALERT_RECEIVER_ADDRESS ?? DEFAULT_ALERT_RECEIVER;
    const [alertHost, alertPort] = [alerts.slice(0, alerts.lastIndexOf(':')), alerts.slice(alerts.lastIndexOf(':') + 1)];
    const ownAlerts = alerts === 'off' || n === 1 ? alerts : `${alertHost}:${Number(alertPort) + n - 1}`;
    const name = count === 1 ? 'worker' : `worker-${n}`;
    job.supervise(() => startService(name, process.execPath, worker.args, { ...worker.env, ...env, WORKER_METRICS_ADDRESS: own, ALERT_RECEIVER_ADDRESS: ownAlerts }));
  }
}

/**
 * Starts the sandbox's watchdog (runbooks/sandbox.yaml, watch:), or finds the one a previous run
 * started: the dev server keeps it across restarts in its history file.
 */
export async function startSandboxWatchdog(connection: Connection, namespace: string, say: (line: string) => void): Promise<void> {
  const workflowId = watchdogWorkflowId('sandbox');
  const client = new Client({ connection, namespace });
  await client.workflow.start('rollbackWatchdog', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ system: 'sandbox', startedBy: 'npm-start' }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: "sandbox watchdog: seed 000's automatic triggers",
  });
  say(`watchdog ${workflowId} watches the sandbox (rollback watch status --system sandbox)`);
}

/** What to look at and what to paste, once everything is up. */
export function printReady(where: { uiUrl: string | undefined; address: string; namespace: string; routerPort: number; workers: number }): void {
  const example = { system: 'sandbox', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', dryRun: true };
  const phases = { system: 'sandbox', phases: { from: 5, to: 3 }, reason: 'grok answers wrong', requestedBy: 'alice', verifyWindowSeconds: 10, dryRun: true };
  const polling = where.workers === 1 ? 'Worker polling:  ' : `${where.workers} workers poll:  `;
  console.log(`
  Ready.
  Temporal Web UI:  ${where.uiUrl ?? '(the UI of the service at ' + where.address + ')'}
  ${polling} task queue '${TASK_QUEUE}' in namespace '${where.namespace}' at ${where.address}
  Sandbox router:   http://127.0.0.1:${where.routerPort}/admin/state
  Watchdog:         rollback-watchdog:sandbox (npm run rollback -- watch status --system sandbox)
  Alertmanager:     webhook receiver at http://${process.env.ALERT_RECEIVER_ADDRESS ?? DEFAULT_ALERT_RECEIVER}/alertmanager

  Start a rollback from the UI: Workflows > Start Workflow
    Workflow ID:    rollback-sandbox-1
    Task Queue:     ${TASK_QUEUE}
    Workflow Type:  fullRollback
    Input (JSON):   ${JSON.stringify(example)}
  Or undo seed 000's phases 5 to 3 (type phaseRollback; leave out dryRun to do it):
    Input (JSON):   ${JSON.stringify(phases)}

  Ctrl-C stops everything.
`);
}
