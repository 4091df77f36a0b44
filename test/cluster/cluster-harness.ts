/**
 * A real Temporal cluster for tests (scripts/lib/cluster.ts, as `npm run cluster` runs it) on free
 * ports, with persistence and visibility in databases of its own on the local PostgreSQL, and workers
 * as their own processes (src/build/worker-command.ts, as production runs them) so a test can SIGKILL one.
 * `stop()` stops everything and drops the databases.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import { Client } from '@temporalio/client';
import pg from 'pg';
import { defaultPorts, ensureNamespace, migrateDatabases, resolveClusterBinaries, writeClusterConfig, type ClusterSettings } from '../../scripts/lib/cluster.ts';
import { startService, stopService, type Service } from '../../scripts/lib/processes.ts';
import { ensureSearchAttributes, waitForTemporal } from '../../scripts/lib/temporal.ts';
import { freePort, sql } from '../harness.ts';
import { workerCommand } from '../../src/build/worker-command.ts';

export interface TestCluster {
  address: string;
  client: Client;
  connection: Connection;
  settings: ClusterSettings;
  /** The Web UI server's address when started with `{ ui: true }`. */
  uiUrl: string | null;
  /** SIGKILL of the Temporal server process (every service of the cluster: one process). */
  killServer(): Promise<void>;
  startServer(): Promise<void>;
  /** A worker process against this cluster, with `env` (RUNBOOKS_DIR, secrets) added. */
  startWorker(env: Record<string, string>): ChildProcess;
  stop(): Promise<void>;
}

const say = (line: string) => console.log(`[cluster test] ${line}`);

/** Dynamic config under which a build that no rollback is pinned to any more is reported drained within seconds. */
export const DRAINAGE_IN_SECONDS = { 'matching.wv.VersionDrainageStatusVisibilityGracePeriod': '1s', 'matching.wv.VersionDrainageStatusRefreshInterval': '1s' };

export async function startTestCluster(options: { ui?: boolean } = {}): Promise<TestCluster> {
  const binaries = await resolveClusterBinaries(say);
  const worker = await workerCommand();
  const ports = defaultPorts(await freePort());
  Object.assign(ports, { frontendHttp: await freePort(), history: await freePort(), matching: await freePort(), worker: await freePort(), metrics: await freePort(), pprof: await freePort() });
  ports.membership = { frontend: await freePort(), history: await freePort(), matching: await freePort(), worker: await freePort() };
  const name = `temporal_test_${process.pid}`;
  const settings: ClusterSettings = {
    postgres: { host: '127.0.0.1', port: 5432, user: 'postgres' },
    databases: { main: name, visibility: `${name}_visibility` },
    ports,
    dir: mkdtempSync(join(tmpdir(), 'cluster-')),
    uiPort: options.ui ? await freePort() : null,
    // Worker versioning judges a build drained after a grace period (3 minutes by default): seconds here.
    extraDynamicConfig: DRAINAGE_IN_SECONDS,
  };
  await migrateDatabases(binaries.sqlTool, settings, say);
  const { serverArgs, uiArgs } = writeClusterConfig(settings);
  const address = `127.0.0.1:${ports.frontend}`;
  let server: Service = startService('temporal-server', binaries.server, serverArgs, process.env);
  const connection = await waitForTemporal(address, 120_000);
  await ensureNamespace(connection, 'default');
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection });
  const ui = settings.uiPort === null ? null : startService('temporal-ui', binaries.ui, uiArgs, process.env);
  const workers: ChildProcess[] = [];
  return {
    address,
    client,
    connection,
    settings,
    uiUrl: settings.uiPort === null ? null : `http://127.0.0.1:${settings.uiPort}`,
    async killServer() {
      const exited = server.exited;
      server.child.kill('SIGKILL');
      await exited;
    },
    async startServer() {
      server = startService('temporal-server', binaries.server, serverArgs, process.env);
      (await waitForTemporal(address, 120_000)).close().catch(() => undefined);
    },
    startWorker(env) {
      const child = spawn(process.execPath, worker.args, {
        env: { ...worker.env, ...process.env, TEMPORAL_ADDRESS: address, WORKER_METRICS_ADDRESS: 'off', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...env },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      workers.push(child);
      return child;
    },
    async stop() {
      for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      await connection.close().catch(() => undefined);
      if (ui) await stopService(ui);
      await stopService(server);
      for (const database of [settings.databases.main, settings.databases.visibility]) {
        await sql('postgres', `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
      }
      rmSync(settings.dir, { recursive: true, force: true });
    },
  };
}
