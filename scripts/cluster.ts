/**
 * `npm run cluster`: the production path, run for real on this machine. A Temporal server (not the dev
 * server) with persistence and visibility in the local PostgreSQL (databases `temporal` and
 * `temporal_visibility`, created and migrated with temporal-sql-tool), 4 history shards, the dynamic
 * config the compose stack uses, our search attributes; the Web UI server pointed at it; the sandbox;
 * two workers on `rollbacks`. Frontend on 127.0.0.1:7233 and the UI on 8233 by default, so every
 * command in the README works against it unchanged. Ctrl-C stops it all; a restart keeps histories.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultPorts, ensureNamespace, migrateDatabases, resolveClusterBinaries, writeClusterConfig, type ClusterSettings } from './lib/cluster.ts';
import { MainJob } from './lib/main-job.ts';
import { startService } from './lib/processes.ts';
import { portFromEnv, printReady, sandboxEnvironment, startSandboxAndWorkers, startSandboxWatchdog } from './lib/sandbox-job.ts';
import { ensureSearchAttributes, waitForPoller, waitForTemporal } from './lib/temporal.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => console.log(`[cluster] ${line}`);
const job = new MainJob(say);

/** Where and how: the environment, with this machine's defaults. */
function settingsFromEnv(dataDir: string): ClusterSettings {
  const postgres = new URL(process.env.TEMPORAL_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432');
  return {
    postgres: {
      host: postgres.hostname,
      port: Number(postgres.port || 5432),
      user: decodeURIComponent(postgres.username || 'postgres'),
      password: postgres.password ? decodeURIComponent(postgres.password) : undefined,
    },
    databases: { main: process.env.TEMPORAL_DATABASE ?? 'temporal', visibility: process.env.TEMPORAL_VISIBILITY_DATABASE ?? 'temporal_visibility' },
    ports: defaultPorts(portFromEnv('TEMPORAL_PORT', 7233)),
    dir: join(dataDir, 'cluster'),
    uiPort: portFromEnv('TEMPORAL_UI_PORT', 8233),
  };
}

async function run(): Promise<void> {
  job.stopOnSignals();
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const dataDir = process.env.DATA_DIR ?? join(root, '.data');
  mkdirSync(dataDir, { recursive: true });
  const settings = settingsFromEnv(dataDir);
  const binaries = await resolveClusterBinaries(say);
  await migrateDatabases(binaries.sqlTool, settings, say);
  say(`databases ${settings.databases.main} and ${settings.databases.visibility} on ${settings.postgres.host}:${settings.postgres.port}: schemas up to date`);
  const { serverArgs, uiArgs } = writeClusterConfig(settings);
  // The password, if any, reaches the server through its environment (the config is a template).
  const serverEnv = { ...process.env, ...(settings.postgres.password ? { TEMPORAL_POSTGRES_PASSWORD: settings.postgres.password } : {}) };
  say(`starting the Temporal server ${binaries.server} (frontend 127.0.0.1:${settings.ports.frontend}, 4 history shards)`);
  job.essential(startService('temporal-server', binaries.server, serverArgs, serverEnv));
  const address = `127.0.0.1:${settings.ports.frontend}`;
  const connection = await waitForTemporal(address, 120_000);
  await ensureNamespace(connection, namespace);
  await ensureSearchAttributes(connection, namespace);
  say(`starting the Web UI on http://localhost:${settings.uiPort}`);
  job.essential(startService('temporal-ui', binaries.ui, uiArgs, process.env));

  const { env, routerPort } = sandboxEnvironment(dataDir, say);
  env.TEMPORAL_ADDRESS = address;
  env.TEMPORAL_NAMESPACE = namespace;
  env.TEMPORAL_UI_URL ??= `http://localhost:${settings.uiPort}`;
  await startSandboxAndWorkers(job, env, 2, say);
  await waitForPoller(connection, namespace, 120_000);
  await startSandboxWatchdog(connection, namespace, say);
  await connection.close();
  job.markReady();
  printReady({ uiUrl: `http://localhost:${settings.uiPort}`, address, namespace, routerPort, workers: 2 });
}

run().catch((err: unknown) => job.fail(err));
