/**
 * The main job (`npm start`): the Temporal dev server with its Web UI (unless TEMPORAL_ADDRESS
 * points at a service already running), the sandbox system, and the worker on task queue
 * `rollbacks`. Prints where to look and what to paste. Ctrl-C, SIGTERM or closing the terminal stops
 * everything it started; a crashed worker is started again while the rest runs on.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MainJob } from './lib/main-job.ts';
import { startService } from './lib/processes.ts';
import { portFromEnv, printReady, sandboxEnvironment, startSandboxAndWorkers, startSandboxWatchdog } from './lib/sandbox-job.ts';
import { devServerArgs, ensureSearchAttributes, waitForPoller, waitForTemporal } from './lib/temporal.ts';
import { resolveTemporalCli } from './temporal-cli.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => console.log(`[start] ${line}`);
const job = new MainJob(say);

async function run(): Promise<void> {
  job.stopOnSignals();
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const dataDir = process.env.DATA_DIR ?? join(root, '.data');
  mkdirSync(dataDir, { recursive: true });
  const { env, routerPort } = sandboxEnvironment(dataDir, say);
  let address = process.env.TEMPORAL_ADDRESS;
  let uiUrl: string | undefined;

  if (address) {
    say(`TEMPORAL_ADDRESS=${address}: using that Temporal service, starting no dev server`);
  } else {
    const port = portFromEnv('TEMPORAL_PORT', 7233);
    const uiPort = portFromEnv('TEMPORAL_UI_PORT', 8233);
    const cli = await resolveTemporalCli(say);
    say(`Temporal CLI: ${cli.path} (${cli.source}; ${cli.version.split('\n')[0]})`);
    const dbFile = join(dataDir, 'temporal.db');
    say(`starting the Temporal dev server on 127.0.0.1:${port}, UI on ${uiPort}, history in ${dbFile}`);
    job.essential(startService('temporal', cli.path, devServerArgs({ dbFile, port, uiPort, namespace }), process.env));
    address = `127.0.0.1:${port}`;
    uiUrl = `http://localhost:${uiPort}`;
    env.TEMPORAL_ADDRESS = address;
    // Notifications link to the rollback in this UI (a Slack button, the webhook's text).
    env.TEMPORAL_UI_URL ??= uiUrl;
  }
  const connection = await waitForTemporal(address, 60_000, { tls: process.env.TEMPORAL_TLS === 'true' || undefined, apiKey: process.env.TEMPORAL_API_KEY });
  // A dev server we started registered them itself (devServerArgs); a cluster we did not start may lack them.
  if (process.env.TEMPORAL_ADDRESS) await ensureSearchAttributes(connection, namespace);

  await startSandboxAndWorkers(job, env, 1, say);
  await waitForPoller(connection, namespace, 120_000);
  await startSandboxWatchdog(connection, namespace, say);
  await connection.close();
  job.markReady();
  printReady({ uiUrl, address, namespace, routerPort, workers: 1 });
}

run().catch((err: unknown) => job.fail(err));
