/**
 * The router's admin routes for the app's platform: config, secret versions, rolling restarts, and
 * each replica's own /health. A write returns what it changed; the router logs it and answers, under
 * the same idempotency keys as its traffic routes.
 */
import type { Deployment, Replica } from './deployment.ts';
import { badRequest } from './http.ts';
import type { Platform } from './platform.ts';

export interface PlatformChange {
  kind: 'config' | 'secret' | 'restart';
  before: unknown;
  after: unknown;
  /** Added to the router's answer beside the change and its state. */
  answer: Record<string, unknown>;
}

const SECRET_VERSIONS = /^\/admin\/secrets\/([^/]+)\/versions(?:\/([^/]+))?$/;

const described = ({ id, pid, port, startedAt }: Replica) => ({ id, pid, port, startedAt });

/** Applies a platform write; undefined when `method path` is not one of them. */
export async function platformWrite(
  platform: Platform,
  deployments: Map<string, Deployment>,
  method: string,
  path: string,
  body: unknown,
): Promise<PlatformChange | undefined> {
  if (method === 'PUT' && path === '/admin/config') {
    return { kind: 'config', ...platform.updateConfig(body), answer: { config: platform.configView() } };
  }
  const secret = SECRET_VERSIONS.exec(path);
  if (secret) {
    const name = decodeURIComponent(secret[1]!);
    const version = secret[2] === undefined ? undefined : decodeURIComponent(secret[2]);
    const applied =
      method === 'POST' && version === undefined
        ? platform.addSecretVersion(name, body)
        : method === 'PUT' && version !== undefined
          ? platform.setSecretVersionState(name, version, body)
          : undefined;
    return applied && { kind: 'secret', ...applied, answer: { secret: { name, ...platform.secretsView()[name] } } };
  }
  if (method === 'POST' && path === '/admin/restart') {
    const version = body !== null && typeof body === 'object' ? (body as { version?: unknown }).version : undefined;
    const deployment = typeof version === 'string' ? deployments.get(version) : undefined;
    if (!deployment) throw badRequest(`unknown version ${JSON.stringify(version)}; must be one of: ${[...deployments.keys()].join(', ')}`);
    const before = { version, pids: deployment.replicas.map((r) => r.pid) };
    const replicas = await deployment.restart();
    return { kind: 'restart', before, after: { version, pids: replicas.map((r) => r.pid) }, answer: { replicas: replicas.map(described) } };
  }
  return undefined;
}

/** Every replica's own /health answer by version: what each running process loaded. */
export async function replicaHealth(deployments: Map<string, Deployment>): Promise<Record<string, unknown[]>> {
  const ask = async (replica: Replica) => {
    try {
      const response = await fetch(`http://127.0.0.1:${replica.port}/health`, { signal: AbortSignal.timeout(2000) });
      return await response.json();
    } catch (err) {
      return { replica: replica.id, pid: replica.pid, status: 'unreachable', error: (err as Error).message };
    }
  };
  const entries = await Promise.all([...deployments].map(async ([version, d]) => [version, await Promise.all(d.replicas.map(ask))] as const));
  return Object.fromEntries(entries);
}
