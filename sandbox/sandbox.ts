/**
 * Starts the whole sandbox system: in this process the platform's config and secrets, the router and
 * the deployments' control ports, the load generator and (unless told not to) the Postgres database;
 * each replica in a process of its own. Kill switches live in the real Redis, flags in a flagd file.
 * Loopback only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureSandboxDatabase } from './database.ts';
import { Deployment } from './deployment.ts';
import { ensureFlagdFile } from './flagd.ts';
import { LoadGenerator } from './load-generator.ts';
import { Platform } from './platform.ts';
import { Router } from './router.ts';

/** Where runbooks/sandbox.yaml says the flagd flag file is (relative to the checkout, where the worker runs). */
export const DEFAULT_FLAGD_FILE = '.data/flags/sandbox.flagd.json';

export const DEFAULT_PORTS = { router: 18080, stable: 18081, canary: 18082 } as const;
export const DEFAULT_REDIS = { url: 'redis://127.0.0.1:6379', killSwitchPrefix: 'kill_switch:' } as const;

export interface SandboxOptions {
  ports?: Partial<Record<keyof typeof DEFAULT_PORTS, number>>;
  /** null leaves Postgres alone (tests of HTTP behaviour only). */
  databaseUrl?: string | null;
  loadRequestsPerSecond?: number;
  loadMaxDurationMs?: number;
  /** The state a canary release leaves: most traffic on stable, some on the canary. */
  initial?: { weights: Record<string, number>; instances: Record<string, number> };
  /**
   * Where replicas read kill switches (`<killSwitchPrefix><feature>`) on each /api/features/<feature>
   * request; default DEFAULT_REDIS. Give each sandbox its own prefix so they never see each other's
   * keys. null turns kill switches off (every feature enabled).
   */
  redis?: { url?: string; killSwitchPrefix?: string } | null;
  /** The flagd flag file replicas evaluate on GET /api/flags, created with the phase flags when missing. */
  flagdFile?: string | null;
}

export interface Sandbox {
  router: Router;
  deployments: Map<string, Deployment>;
  /** The app's config and secrets that replicas load at start. */
  platform: Platform;
  redis: { url: string; killSwitchPrefix: string } | null;
  flagdFile: string | null;
  ports: Record<keyof typeof DEFAULT_PORTS, number>;
  urls: { router: string; stable: string; canary: string };
  databaseUrl: string | null;
  load: LoadGenerator;
  stop(): Promise<void>;
}

export const DEFAULT_INITIAL: { weights: Record<string, number>; instances: Record<string, number> } = {
  weights: { stable: 75, canary: 25 },
  instances: { stable: 2, canary: 1 },
};

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  const initial = options.initial ?? DEFAULT_INITIAL;
  const databaseUrl = options.databaseUrl === undefined ? 'postgres://postgres@127.0.0.1:5432/sandbox' : options.databaseUrl;
  if (databaseUrl) await ensureSandboxDatabase(databaseUrl);
  const redis =
    options.redis === null ? null : { url: options.redis?.url ?? DEFAULT_REDIS.url, killSwitchPrefix: options.redis?.killSwitchPrefix ?? DEFAULT_REDIS.killSwitchPrefix };
  const flagdFile = options.flagdFile ?? null;
  if (flagdFile) await ensureFlagdFile(flagdFile);

  const platform = new Platform();
  const replicaOptions = { boot: () => platform.boot(), redis, flagdFile };
  const deployments = new Map([
    ['stable', new Deployment('stable', replicaOptions)],
    ['canary', new Deployment('canary', replicaOptions)],
  ]);
  const router = new Router(deployments, { ...initial.weights }, platform);
  const started: { stop(): Promise<void> }[] = [];
  try {
    for (const [version, deployment] of deployments) {
      started.push(deployment); // before it starts: replicas it started before failing are stopped too
      await deployment.start(ports[version as 'stable' | 'canary'], initial.instances[version] ?? 1);
    }
    started.push(router);
    await router.start(ports.router);
  } catch (err) {
    await Promise.all(started.map((s) => s.stop()));
    throw err;
  }
  const actual = { router: router.port, stable: deployments.get('stable')!.controlPort, canary: deployments.get('canary')!.controlPort };
  const urls = {
    router: `http://127.0.0.1:${actual.router}`,
    stable: `http://127.0.0.1:${actual.stable}`,
    canary: `http://127.0.0.1:${actual.canary}`,
  };
  const load = new LoadGenerator(`${urls.router}/api/orders`, options.loadRequestsPerSecond ?? 0, options.loadMaxDurationMs);
  load.start();
  return {
    router,
    deployments,
    platform,
    redis,
    flagdFile,
    ports: actual,
    urls,
    databaseUrl,
    load,
    async stop() {
      load.stop();
      await router.stop();
      await Promise.all([...deployments.values()].map((d) => d.stop()));
    },
  };
}

export const sandboxRunbookPath = fileURLToPath(new URL('../runbooks/sandbox.yaml', import.meta.url));

/** runbooks/sandbox.yaml with the default ports replaced by the ones this sandbox listens on. */
export function sandboxRunbookFor(sandbox: Pick<Sandbox, 'ports'> & { flagdFile?: string | null }): string {
  let text = readFileSync(sandboxRunbookPath, 'utf8');
  for (const key of Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[]) {
    text = text.replaceAll(`127.0.0.1:${DEFAULT_PORTS[key]}`, `127.0.0.1:${sandbox.ports[key]}`);
  }
  if (sandbox.flagdFile) text = text.replaceAll(`path: ${DEFAULT_FLAGD_FILE}`, `path: ${sandbox.flagdFile}`);
  return text;
}
