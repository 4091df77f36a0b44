/**
 * The main job (`npm start`): the Temporal dev server with its Web UI (unless TEMPORAL_ADDRESS
 * points at a service already running), the sandbox system, and the worker on task queue
 * `rollbacks`. Prints where to look and what to paste; SIGINT/SIGTERM stops everything it started.
 */
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FLAGD_FILE, DEFAULT_PORTS, sandboxRunbookFor } from '../sandbox/sandbox.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { startService, stopService, type Service } from './lib/processes.ts';
import { devServerArgs, ensureSearchAttributes, waitForPoller, waitForTemporal } from './lib/temporal.ts';
import { resolveTemporalCli } from './temporal-cli.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => console.log(`[start] ${line}`);

function portFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0 || value > 65535) throw new Error(`${name} must be a port number, got ${process.env[name]}`);
  return value;
}

const services: Service[] = [];
let stopping = false;
/** Set once the worker first polls: from then on a worker exit is a crash to recover from. */
let ready = false;

async function stopAll(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping: worker, sandbox, Temporal dev server');
  // Worker first, so it drains before the service it talks to goes away.
  for (const service of [...services].reverse()) await stopService(service);
  say('all stopped');
  process.exit(code);
}

/**
 * Stop on SIGINT/SIGTERM/SIGHUP, however many arrive. Ctrl-C in a terminal signals every process of the
 * foreground group (npm, the bootstrap and us), and the bootstrap passes its own on: a handler that
 * went away after the first signal would let the second kill us before the services (each in its
 * own group, so untouched by the terminal) were stopped.
 */
function stopOnSignals(): void {
  // SIGHUP: the terminal was closed (a tmux session killed, an SSH connection dropped).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) say(`${signal} again: already stopping (the worker may take up to its shutdown grace time)`);
      void stopAll(0);
    });
  }
  // Whoever started us died without a signal for us (npm does that on SIGTERM): stop everything too.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && void stopAll(0), 500).unref();
}

/** Restarts after a crash: 1 s, doubling to 30 s; back to 1 s once a run has lasted a minute. */
const RESTART_DELAYS = { firstMs: 1000, maxMs: 30_000, healthyAfterMs: 60_000 };

/**
 * Keeps the worker running. A crashed worker loses nothing (every rollback resumes from its history
 * on the next worker), so it is started again, with backoff, while the dev server and the sandbox
 * (whose router state lives in memory) go on.
 */
function superviseWorker(start: () => Service, isReady: () => boolean): void {
  let delayMs = RESTART_DELAYS.firstMs;
  const keep = (worker: Service, startedAt: number): void =>
    void worker.exited.then(async (code) => {
      if (stopping) return;
      if (!isReady()) {
        // It never got going (a broken runbook or environment, printed above): restarting would repeat it.
        say(`worker exited (code ${code}) before it polled task queue '${TASK_QUEUE}'; see its error above. Stopping the rest`);
        void stopAll(1);
        return;
      }
      const ranMs = Date.now() - startedAt;
      if (ranMs >= RESTART_DELAYS.healthyAfterMs) delayMs = RESTART_DELAYS.firstMs;
      say(`worker exited unexpectedly (${code === 128 ? 'killed by a signal' : `code ${code}`}) after ${Math.round(ranMs / 1000)} s; restarting it in ${delayMs / 1000} s (rollbacks resume where they were)`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, RESTART_DELAYS.maxMs);
      if (stopping) return;
      services.splice(services.indexOf(worker), 1);
      const next = start();
      say(`worker restarted (pid ${next.child.pid})`);
      keep(next, Date.now());
    });
  keep(start(), Date.now());
}

async function run(): Promise<void> {
  stopOnSignals();
  // The dev server and the sandbox hold what everything else needs: without them, stop the rest.
  const watch = (service: Service) =>
    void service.exited.then((code) => {
      if (!stopping) {
        say(`${service.name} exited unexpectedly (code ${code}); stopping the rest`);
        void stopAll(1);
      }
    });

  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const dataDir = process.env.DATA_DIR ?? join(root, '.data');
  mkdirSync(dataDir, { recursive: true });
  let address = process.env.TEMPORAL_ADDRESS;
  let uiUrl: string | undefined;
  const sandboxPorts = {
    router: portFromEnv('SANDBOX_ROUTER_PORT', DEFAULT_PORTS.router),
    stable: portFromEnv('SANDBOX_STABLE_PORT', DEFAULT_PORTS.stable),
    canary: portFromEnv('SANDBOX_CANARY_PORT', DEFAULT_PORTS.canary),
  };
  const flagdFile = join(dataDir, 'flags', 'sandbox.flagd.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SANDBOX_DATABASE_URL: process.env.SANDBOX_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sandbox',
    SANDBOX_WEBHOOK_URL: process.env.SANDBOX_WEBHOOK_URL ?? `http://127.0.0.1:${sandboxPorts.router}/hooks/notify`,
    SANDBOX_FLAGD_FILE: flagdFile,
    // The sandbox and the worker stop by themselves if this process dies without stopping them (SIGKILL).
    ROLLBACKS_MAIN_JOB_PID: String(process.pid),
  };
  const defaultPlaces = JSON.stringify(sandboxPorts) === JSON.stringify(DEFAULT_PORTS) && flagdFile === join(root, DEFAULT_FLAGD_FILE);
  if (!process.env.RUNBOOKS_DIR && !defaultPlaces) {
    // runbooks/sandbox.yaml names the default ports and flag file; give the worker a copy that names these.
    const dir = join(dataDir, 'runbooks');
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(join(root, 'runbooks')).filter((n) => /\.ya?ml$/.test(n))) copyFileSync(join(root, 'runbooks', name), join(dir, name));
    writeFileSync(join(dir, 'sandbox.yaml'), sandboxRunbookFor({ ports: sandboxPorts, flagdFile }));
    env.RUNBOOKS_DIR = dir;
    say(`sandbox on non-default ports or data directory: the worker reads runbooks from ${dir} (runbooks/sandbox.yaml with those)`);
  }

  if (address) {
    say(`TEMPORAL_ADDRESS=${address}: using that Temporal service, starting no dev server`);
  } else {
    const port = portFromEnv('TEMPORAL_PORT', 7233);
    const uiPort = portFromEnv('TEMPORAL_UI_PORT', 8233);
    const cli = await resolveTemporalCli(say);
    say(`Temporal CLI: ${cli.path} (${cli.source}; ${cli.version.split('\n')[0]})`);
    const dbFile = join(dataDir, 'temporal.db');
    say(`starting the Temporal dev server on 127.0.0.1:${port}, UI on ${uiPort}, history in ${dbFile}`);
    const server = startService('temporal', cli.path, devServerArgs({ dbFile, port, uiPort, namespace }), process.env);
    services.push(server);
    watch(server);
    address = `127.0.0.1:${port}`;
    uiUrl = `http://localhost:${uiPort}`;
    env.TEMPORAL_ADDRESS = address;
  }
  const connection = await waitForTemporal(address, 60_000, { tls: process.env.TEMPORAL_TLS === 'true' || undefined, apiKey: process.env.TEMPORAL_API_KEY });
  // A dev server we started registered them itself (devServerArgs); a cluster we did not start may lack them.
  if (process.env.TEMPORAL_ADDRESS) await ensureSearchAttributes(connection, namespace);

  say('starting the sandbox system');
  const sandbox = startService('sandbox', process.execPath, ['--import', 'tsx', join(root, 'sandbox/main.ts')], env);
  services.push(sandbox);
  watch(sandbox);

  say(`starting the worker on task queue '${TASK_QUEUE}'`);
  superviseWorker(() => {
    const worker = startService('worker', process.execPath, ['--import', 'tsx', join(root, 'src/worker/main.ts')], env);
    services.push(worker);
    return worker;
  }, () => ready);
  await waitForPoller(connection, namespace, 120_000);
  await connection.close();
  ready = true;

  const example = { system: 'sandbox', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', dryRun: true };
  const phases = { system: 'sandbox', phases: { from: 5, to: 3 }, reason: 'grok answers wrong', requestedBy: 'alice', verifyWindowSeconds: 10, dryRun: true };
  console.log(`
  Ready.
  Temporal Web UI:  ${uiUrl ?? '(the UI of the service at ' + address + ')'}
  Worker polling:   task queue '${TASK_QUEUE}' in namespace '${namespace}' at ${address}
  Sandbox router:   http://127.0.0.1:${sandboxPorts.router}/admin/state

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

run().catch((err: unknown) => {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  void stopAll(1);
});
