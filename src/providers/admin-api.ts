/**
 * A small HTTP admin API client, shared by the providers that speak one (the sandbox router's traffic
 * routes, its platform routes): JSON in and out, a bearer token from the environment variable the
 * runbook names, a timeout, and on every change the Idempotency-Key and actor, so a retried call is
 * answered from the target's memory instead of applied again.
 */
import { secretFromEnv, type ChangeOptions, type ProviderContext } from './types.ts';

export type AdminCall = (method: string, path: string, body?: unknown, options?: ChangeOptions) => Promise<unknown>;

/** `what` names the API in errors ("router", "admin API"); the token's variable is named, never its value. */
export function adminApi(settings: { url: string; adminTokenEnv?: string; timeoutMs: number }, context: ProviderContext, what: string): AdminCall {
  const base = settings.url.replace(/\/$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (settings.adminTokenEnv) headers.authorization = `Bearer ${secretFromEnv(context, settings.adminTokenEnv)}`;
  return async (method, path, body, options) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: options ? { ...headers, 'idempotency-key': options.idempotencyKey, 'x-actor': options.actor } : headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${what} ${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as unknown;
  };
}
