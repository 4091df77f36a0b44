/**
 * A real Temporal cluster on the local PostgreSQL: the Temporal server (the same version the dev
 * server embeds and docker-compose.yml runs) with persistence and visibility in their own databases,
 * created and migrated with temporal-sql-tool; 4 history shards; the dynamic config the compose stack
 * uses; and the Web UI server pointed at its frontend. Shared by `npm run cluster` and the cluster tests.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Connection } from '@temporalio/client';
import pg from 'pg';
import { stringify } from 'yaml';
import { resolveGoBinary, type GoBinary, type Say } from './go-binaries.ts';

const execFileAsync = promisify(execFile);

/** The server version the Temporal CLI 1.5.1 embeds, and the compose stack's image tag. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
/** The UI version the CLI embeds. */
export const TEMPORAL_UI_VERSION = '2.42.1';
export const HISTORY_SHARDS = 4;
/**
 * Temporal's PostgreSQL plugin on the pgx driver, not lib/pq (`postgres12`): lib/pq sends a query with
 * parameters as two round trips (prepare, then execute) and prepares it again every time, pgx sends it
 * once and keeps the prepared statements per connection. Every rollback step is three or four
 * persistence writes of a dozen statements each, so on this 2-core machine a write took 9 ms with
 * lib/pq and 4.8 ms with pgx, and a whole immediate rollback 827 ms and 556 ms (bench:rollback; the
 * dev server 544 ms). The same schema and the same transactions: durability is unchanged.
 */
export const SQL_PLUGIN = 'postgres12_pgx';
export const DYNAMIC_CONFIG_PATH = fileURLToPath(new URL('../../deploy/temporal/dynamicconfig.yaml', import.meta.url));

export const TEMPORAL_SERVER: GoBinary = {
  title: 'the Temporal server',
  name: 'temporal-server',
  module: 'go.temporal.io/server/cmd/server',
  version: TEMPORAL_SERVER_VERSION,
  builds: 'server',
  binary: 'temporal-server',
  pathEnv: 'TEMPORAL_SERVER_PATH',
  pathNames: ['temporal-server'],
  versionArgs: ['--version'],
};

export const TEMPORAL_SQL_TOOL: GoBinary = {
  title: 'temporal-sql-tool',
  name: 'temporal-sql-tool',
  module: 'go.temporal.io/server/cmd/tools/sql',
  version: TEMPORAL_SERVER_VERSION,
  builds: 'sql',
  binary: 'temporal-sql-tool',
  pathEnv: 'TEMPORAL_SQL_TOOL_PATH',
  pathNames: ['temporal-sql-tool'],
  versionArgs: ['--version'],
};

export const TEMPORAL_UI_SERVER: GoBinary = {
  title: 'the Temporal UI server',
  name: 'temporal-ui-server',
  module: 'github.com/temporalio/ui-server/v2/cmd/server',
  version: TEMPORAL_UI_VERSION,
  builds: 'server', // the same file name as the Temporal server's: each is kept under its own name
  binary: 'temporal-ui-server',
  pathEnv: 'TEMPORAL_UI_SERVER_PATH',
  pathNames: ['temporal-ui-server'],
  versionArgs: ['--version'],
};

export interface ClusterBinaries {
  server: string;
  sqlTool: string;
  ui: string;
}

/** The three programs, each resolved (and built the first time) as go-binaries.ts says. */
export async function resolveClusterBinaries(say: Say): Promise<ClusterBinaries> {
  const server = await resolveGoBinary(TEMPORAL_SERVER, say);
  const sqlTool = await resolveGoBinary(TEMPORAL_SQL_TOOL, say);
  const ui = await resolveGoBinary(TEMPORAL_UI_SERVER, say);
  return { server: server.path, sqlTool: sqlTool.path, ui: ui.path };
}

export interface ClusterPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  membership: { frontend: number; history: number; matching: number; worker: number };
  metrics: number;
  pprof: number;
}

/** The ports of the Temporal server's own development config, around a frontend on `frontend`. */
export function defaultPorts(frontend = 7233): ClusterPorts {
  return {
    frontend,
    frontendHttp: 7243,
    history: 7234,
    matching: 7235,
    worker: 7239,
    membership: { frontend: 6933, history: 6934, matching: 6935, worker: 6939 },
    metrics: 9090,
    pprof: 7936,
  };
}

export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  /** Read from the environment, never written into a file we keep. */
  password?: string;
}

export interface ClusterSettings {
  postgres: PostgresTarget;
  databases: { main: string; visibility: string };
  ports: ClusterPorts;
  /** Where the generated config lives: <dir>/config/cluster.yaml and ui.yaml. */
  dir: string;
  uiPort: number | null;
  /**
   * Dynamic config beside deploy/temporal/dynamicconfig.yaml's, for a test cluster only (the versioning
   * test judges drainage in seconds instead of the production grace period of minutes).
   */
  extraDynamicConfig?: Record<string, unknown>;
}

const sqlStore = (pgTarget: PostgresTarget, database: string, maxConns: number) => ({
  sql: {
    pluginName: SQL_PLUGIN,
    databaseName: database,
    connectAddr: `${pgTarget.host}:${pgTarget.port}`,
    connectProtocol: 'tcp',
    user: pgTarget.user,
    // The server reads ${VAR} in its config from the environment: the password stays out of the file.
    password: pgTarget.password ? '{{ env "TEMPORAL_POSTGRES_PASSWORD" }}' : '',
    maxConns,
    maxIdleConns: maxConns,
    maxConnLifetime: '1h',
  },
});

/** The server's config (as the Temporal server's development-postgres12.yaml, with our ports, databases and dynamic config). */
export function serverConfig(settings: ClusterSettings): string {
  const { ports, postgres, databases } = settings;
  // With a password the file is a template the server fills from its environment (`# enable-template`).
  const header = postgres.password ? '# enable-template\n' : '';
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, unknown> = {}) => ({ rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra } });
  return header + stringify({
    log: { stdout: true, level: 'error' }, // its warnings are mostly connection noise while services start and stop
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: { 'postgres-default': sqlStore(postgres, databases.main, 20), 'postgres-visibility': sqlStore(postgres, databases.visibility, 5) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      pprof: { port: ports.pprof },
      metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `127.0.0.1:${ports.metrics}` } },
    },
    services: {
      frontend: rpc(ports.frontend, ports.membership.frontend, { httpPort: ports.frontendHttp }),
      matching: rpc(ports.matching, ports.membership.matching),
      history: rpc(ports.history, ports.membership.history),
      worker: rpc(ports.worker, ports.membership.worker),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${ports.frontend}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: settings.extraDynamicConfig ? join(settings.dir, 'config', 'dynamicconfig.yaml') : DYNAMIC_CONFIG_PATH, pollInterval: '10s' },
  });
}

export function uiConfig(settings: ClusterSettings): string {
  return stringify({ temporalGrpcAddress: `127.0.0.1:${settings.ports.frontend}`, host: '127.0.0.1', port: settings.uiPort, enableUi: true, defaultNamespace: 'default', notifyOnNewVersion: false, cors: { unsafeAllowAllOrigins: true } });
}

/** Writes the server's and the UI's config; returns the arguments that start each. */
export function writeClusterConfig(settings: ClusterSettings): { serverArgs: string[]; uiArgs: string[] } {
  mkdirSync(join(settings.dir, 'config'), { recursive: true });
  writeFileSync(join(settings.dir, 'config', 'cluster.yaml'), serverConfig(settings));
  writeFileSync(join(settings.dir, 'config', 'ui.yaml'), uiConfig(settings));
  if (settings.extraDynamicConfig) {
    const extra = Object.entries(settings.extraDynamicConfig).map(([key, value]) => `${key}:\n  - value: ${JSON.stringify(value)}\n`);
    writeFileSync(join(settings.dir, 'config', 'dynamicconfig.yaml'), [readFileSync(DYNAMIC_CONFIG_PATH, 'utf8'), ...extra].join('\n'));
  }
  return {
    serverArgs: ['--root', settings.dir, '--config', 'config', '--env', 'cluster', '--allow-no-auth', 'start'],
    uiArgs: ['--root', settings.dir, '--config', 'config', '--env', 'ui', 'start'],
  };
}

/**
 * Creates the two databases when missing and brings their schemas to this server version with
 * temporal-sql-tool (its embedded schemas). Safe to run on every start: an up-to-date schema is left.
 */
export async function migrateDatabases(sqlTool: string, settings: ClusterSettings, say: Say): Promise<void> {
  const { postgres } = settings;
  const env = { ...process.env, SQL_PASSWORD: postgres.password ?? '' };
  const base = ['--plugin', SQL_PLUGIN, '--endpoint', postgres.host, '--port', String(postgres.port), '--user', postgres.user];
  const admin = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database: 'postgres' });
  await admin.connect();
  try {
    for (const [database, schema] of [
      [settings.databases.main, 'postgresql/v12/temporal'],
      [settings.databases.visibility, 'postgresql/v12/visibility'],
    ] as const) {
      const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1;
      const run = (args: string[]) => execFileAsync(sqlTool, [...base, '--database', database, ...args], { env, timeout: 120_000 });
      if (!exists) {
        say(`creating database ${database} and its schema (${schema})`);
        await run(['create-database']);
        await run(['setup-schema', '-v', '0.0']);
      }
      await run(['update-schema', '--schema-name', schema]);
    }
  } finally {
    await admin.end();
  }
}

/**
 * Registers `namespace` (72 h retention) unless it exists, then waits until the server's namespace
 * cache knows it (a new namespace takes up to about 10 s to be usable).
 */
export async function ensureNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    // protobufjs takes a plain number where the type says Long.
    const retention = { seconds: 72 * 3600 } as unknown as { seconds: never };
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: retention });
  } catch (err) {
    if ((err as { code?: number }).code !== 6 /* gRPC ALREADY_EXISTS */) throw err;
  }
  for (let deadline = Date.now() + 60_000; ; ) {
    try {
      await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`namespace ${namespace} not usable within 60 s: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
