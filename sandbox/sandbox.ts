/**
 * Starts the whole sandbox system in this process: stable and canary deployments, the router in
 * front of them, the load generator, and (unless told not to) the Postgres database. Loopback only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureSandboxDatabase } from './database.ts';
import { Deployment } from './deployment.ts';
import { LoadGenerator } from './load-generator.ts';
import { Router } from './router.ts';

export const DEFAULT_PORTS = { router: 18080, stable: 18081, canary: 18082 } as const;

export interface SandboxOptions {
  ports?: Partial<Record<keyof typeof DEFAULT_PORTS, number>>;
  /** null leaves Postgres alone (tests of HTTP behaviour only). */
  databaseUrl?: string | null;
  loadRequestsPerSecond?: number;
  loadMaxDurationMs?: number;
  /** The state a canary release leaves: most traffic on stable, some on the canary. */
  initial?: { weights: Record<string, number>; instances: Record<string, number> };
}

export interface Sandbox {
  router: Router;
  deployments: Map<string, Deployment>;
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

  const deployments = new Map([
    ['stable', new Deployment('stable')],
    ['canary', new Deployment('canary')],
  ]);
  const router = new Router(deployments, { ...initial.weights });
  const started: { stop(): Promise<void> }[] = [];
  try {
    for (const [version, deployment] of deployments) {
      await deployment.start(ports[version as 'stable' | 'canary'], initial.instances[version] ?? 1);
      started.push(deployment);
    }
    await router.start(ports.router);
    started.push(router);
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
export function sandboxRunbookFor(sandbox: Pick<Sandbox, 'ports'>): string {
  let text = readFileSync(sandboxRunbookPath, 'utf8');
  for (const key of Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[]) {
    text = text.replaceAll(`127.0.0.1:${DEFAULT_PORTS[key]}`, `127.0.0.1:${sandbox.ports[key]}`);
  }
  return text;
}
