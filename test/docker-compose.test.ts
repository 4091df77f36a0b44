/**
 * The Docker Compose stack, checked without Docker: docker-compose.yml and the Dockerfile are parsed
 * and compared with the worker's env schema, the runbooks and the workflow contract.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { envSchema } from '../src/worker/env.ts';
import { WORKER_MALLOC_ENV, WORKER_NODE_FLAGS } from '../src/build/worker-command.ts';
import { defaultPorts, DYNAMIC_CONFIG_PATH, HISTORY_SHARDS, serverConfig, SQL_PLUGIN, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../scripts/lib/cluster.ts';
import { ALL_SEARCH_ATTRIBUTES } from '../src/contract/index.ts';

const root = join(import.meta.dirname, '..');

type Service = {
  environment?: Record<string, unknown> | string[];
  ports?: (string | number | { published?: string | number; target?: number })[];
  command?: string | string[];
  entrypoint?: string | string[];
  stop_grace_period?: string;
  [key: string]: unknown;
};
type Compose = { services: Record<string, Service> };

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as Compose;

function service(name: string): Service {
  const found = compose.services[name];
  assert.ok(found, `service ${name} is missing`);
  return found;
}

/** A service's environment as a map, whether written as a map or as a list of KEY=VALUE. */
function environment(svc: Service): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  if (Array.isArray(svc.environment)) {
    for (const item of svc.environment) {
      const eq = item.indexOf('=');
      if (eq === -1) env.set(item, undefined); // `- KEY` passes the variable through from the host
      else env.set(item.slice(0, eq), item.slice(eq + 1));
    }
  } else {
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      env.set(key, value === null || value === undefined ? undefined : String(value));
    }
  }
  return env;
}

/** The host port of each published port, in short ("[ip:]host:container[/proto]") or long syntax. */
function publishedPorts(svc: Service): number[] {
  return (svc.ports ?? []).map((port) => {
    if (typeof port === 'object') return Number(port.published);
    const parts = String(port).replace(/\/(tcp|udp)$/, '').split(':');
    assert.ok(parts.length >= 2, `port ${String(port)} is not published to the host`);
    return Number(parts[parts.length - 2]);
  });
}

/** Compose durations like 45s, 1m30s, 2m. */
function seconds(duration: string): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)];
  assert.ok(parts.length > 0 && parts.map((p) => p[0]).join('') === duration, `unsupported duration ${duration}`);
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 } as const;
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * unit[u as keyof typeof unit], 0);
}

/** Every string value of a key ending in `Env` anywhere in the runbooks: the secrets they name. */
function runbookEnvReferences(): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key.endsWith('Env') && typeof value === 'string') names.add(value);
        else visit(value);
      }
    }
  };
  const dir = join(root, 'runbooks');
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    visit(parse(readFileSync(join(dir, file), 'utf8')));
  }
  return names;
}

describe('docker-compose.yml', () => {
  test('the stack is Postgres, Temporal, its one-shot admin tools, the Temporal UI and the worker', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['postgresql', 'temporal', 'temporal-admin-tools', 'temporal-ui', 'worker']);
  });

  test('Temporal gRPC (7233), the UI (8233) and worker metrics (9464) are published to the host', () => {
    const published = Object.values(compose.services).flatMap(publishedPorts).sort((a, b) => a - b);
    assert.deepEqual(published, [7233, 8233, 9464]);
    assert.deepEqual(publishedPorts(service('temporal')), [7233]);
    assert.deepEqual(publishedPorts(service('temporal-ui')), [8233]);
    assert.deepEqual(publishedPorts(service('worker')), [9464]);
  });

  test('the worker is only given variables its env schema knows or runbooks name as secrets', () => {
    const known = new Set([...Object.keys(envSchema.shape), ...runbookEnvReferences()]);
    const names = [...environment(service('worker')).keys()];
    assert.ok(names.length > 0, 'the worker service sets no environment');
    assert.deepEqual(names.filter((name) => !known.has(name)), []);
  });

  test('every secret a runbook names is passed to the worker from the host, never inlined', () => {
    const env = environment(service('worker'));
    for (const name of runbookEnvReferences()) {
      assert.ok(env.has(name), `${name} is referenced by a runbook but not passed to the worker`);
      const value = env.get(name);
      if (value !== undefined) assert.match(value, /^\$\{[^}]+\}$/, `${name} must be a \${...} interpolation`);
    }
  });

  test('the worker reaches Temporal through the temporal service on its gRPC port', () => {
    assert.equal(environment(service('worker')).get('TEMPORAL_ADDRESS'), 'temporal:7233');
  });

  test('the worker environment passes its own schema, so the container starts', () => {
    const env = Object.fromEntries(
      [...environment(service('worker'))].filter(([name, value]) => name in envSchema.shape && value !== undefined && !value.includes('${')),
    );
    const result = envSchema.safeParse(env);
    assert.ok(result.success, result.error?.message);
  });

  test('Docker waits longer than the worker shutdown grace time before killing the worker', () => {
    const worker = service('worker');
    const grace = Number(environment(worker).get('WORKER_SHUTDOWN_GRACE_SECONDS') ?? 30);
    assert.ok(worker.stop_grace_period, 'worker has no stop_grace_period (Docker defaults to 10s)');
    assert.ok(seconds(worker.stop_grace_period) > grace, `stop_grace_period ${worker.stop_grace_period} must exceed ${grace}s`);
  });

  test('no password is written literally: every PASSWORD/PWD value is a ${...} interpolation', () => {
    let checked = 0;
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [key, value] of environment(svc)) {
        if (!/PASSWORD|PWD/i.test(key) || value === undefined) continue;
        checked++;
        assert.match(value, /^\$\{[^}]+\}$/, `${name}: ${key} must be a \${...} interpolation, not a literal`);
      }
    }
    assert.ok(checked >= 2, 'expected the Postgres and Temporal passwords to be checked');
  });

  test('the admin-tools job registers every search attribute the workflows use, as Keyword', () => {
    const svc = service('temporal-admin-tools');
    const script = [svc.entrypoint ?? [], svc.command ?? []].flat().join(' ');
    assert.match(script, /temporal operator search-attribute create/);
    assert.match(script, /--type Keyword/);
    assert.ok(ALL_SEARCH_ATTRIBUTES.length > 0);
    for (const { name } of ALL_SEARCH_ATTRIBUTES) {
      assert.match(script, new RegExp(`\\b${name}\\b`), `search attribute ${name} is not registered`);
    }
    assert.equal(environment(svc).get('TEMPORAL_ADDRESS'), 'temporal:7233');
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

  test('the image starts the worker as every other worker is started (src/build/worker-command.ts): its built JavaScript, the same V8 flags and allocator settings', () => {
    const cmd = dockerfile.split('\n').filter((line) => /^CMD\s/.test(line));
    assert.equal(cmd.length, 1, 'expected exactly one CMD');
    assert.deepEqual(JSON.parse(cmd[0]!.replace(/^CMD\s+/, '')), ['node', ...WORKER_NODE_FLAGS, 'dist/worker.mjs']);
    assert.ok(dockerfile.includes('RUN node --import tsx src/build/worker-build.ts dist/worker.mjs\n'), 'the image builds dist/worker.mjs');
    const envLine = dockerfile.split('\n').find((line) => line.startsWith('ENV MALLOC_'));
    assert.deepEqual(
      Object.fromEntries(envLine!.replace(/^ENV\s+/, '').split(/\s+/).map((pair) => pair.split('='))),
      WORKER_MALLOC_ENV,
    );
    const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(packageJson.scripts.worker, 'node scripts/bootstrap.mjs worker', 'npm run worker goes through src/build/worker-command.ts');
  });

  test('the image carries the workflow bundle, built before the code becomes read-only', () => {
    const lines = dockerfile.split('\n');
    const build = lines.findIndex((line) => line.includes('src/build/workflow-bundle-builder.ts .cache/workflow-bundle'));
    assert.ok(build > lines.findIndex((line) => /^COPY src /.test(line)), 'the bundle is built after the source is copied');
    assert.ok(build < lines.findIndex((line) => /^USER /.test(line)), 'the bundle is built before USER node');
  });

  test('the worker runs as the non-root node user', () => {
    const users = dockerfile.split('\n').filter((line) => /^USER\s/.test(line));
    assert.equal(users.at(-1)?.trim(), 'USER node');
  });
});

describe('docker-compose.yml and npm run cluster agree', () => {
  const temporal = () => service('temporal');
  const env = () => temporal().environment as Record<string, string>;

  test('the same Temporal server and UI versions', () => {
    assert.equal(temporal().image, `temporalio/auto-setup:${TEMPORAL_SERVER_VERSION}`);
    assert.equal(service('temporal-admin-tools').image, `temporalio/admin-tools:${TEMPORAL_SERVER_VERSION}`);
    assert.equal(service('temporal-ui').image, `temporalio/ui:${TEMPORAL_UI_VERSION}`);
  });

  test('the same schema setup: PostgreSQL 12 plugin on pgx, the same two databases, 4 history shards', () => {
    const settings = { postgres: { host: '127.0.0.1', port: 5432, user: 'temporal' }, databases: { main: 'temporal', visibility: 'temporal_visibility' }, ports: defaultPorts(), dir: '/tmp/x', uiPort: 8233 };
    const config = parse(serverConfig(settings));
    assert.equal(env().DB, 'postgres12_pgx');
    assert.equal(SQL_PLUGIN, env().DB);
    assert.equal(config.persistence.datastores['postgres-default'].sql.pluginName, env().DB);
    assert.equal(env().DBNAME, config.persistence.datastores['postgres-default'].sql.databaseName);
    assert.equal(env().VISIBILITY_DBNAME, config.persistence.datastores['postgres-visibility'].sql.databaseName);
    assert.equal(Number(env().NUM_HISTORY_SHARDS), HISTORY_SHARDS);
    assert.equal(config.persistence.numHistoryShards, HISTORY_SHARDS);
  });

  test('the same dynamic config file', () => {
    const mounted = (temporal().volumes as string[]).find((v) => v.endsWith(`:/etc/temporal/${env().DYNAMIC_CONFIG_FILE_PATH}:ro`));
    assert.equal(mounted?.split(':')[0], './deploy/temporal/dynamicconfig.yaml');
    const settings = { postgres: { host: '127.0.0.1', port: 5432, user: 'temporal' }, databases: { main: 'temporal', visibility: 'temporal_visibility' }, ports: defaultPorts(), dir: '/tmp/x', uiPort: 8233 };
    assert.equal(parse(serverConfig(settings)).dynamicConfigClient.filepath, DYNAMIC_CONFIG_PATH);
    assert.equal(DYNAMIC_CONFIG_PATH, join(root, 'deploy/temporal/dynamicconfig.yaml'));
  });
});
