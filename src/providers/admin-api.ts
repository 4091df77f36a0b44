/**
 * The client of a small HTTP admin API (the sandbox router's traffic routes, its platform routes),
 * for the providers that speak one: the shared JSON client (http-api.ts) with a bearer token from the
 * environment variable the runbook names, read at each request, and on every change the
 * Idempotency-Key and the actor (X-Actor), so a change asked again (after a 5xx, a lost answer or a
 * retried activity) is answered from the target's memory instead of applied again.
 */
import type { z } from 'zod';
import { bearerToken, jsonApi, type ApiRequest } from './http-api.ts';
import type { ChangeOptions, ProviderContext } from './types.ts';

export interface AdminSettings {
  url: string;
  /** The variable holding the bearer token; no token is sent without it. */
  adminTokenEnv?: string;
  timeoutMs: number;
}

export interface AdminApi {
  read<T>(schema: z.ZodType<T>, path: string): Promise<T>;
  change<T>(schema: z.ZodType<T>, method: string, path: string, body: unknown, options: ChangeOptions): Promise<T>;
}

/**
 * `what` names the API in errors ("router", "admin API"); the token's variable is named, never its
 * value. A refused change is an ApiError ("router PUT /admin/weights answered 503 (after 3 attempts): ...").
 */
export function adminApi(settings: AdminSettings, context: ProviderContext, what: string): AdminApi {
  const advise = (status: number, request: ApiRequest): string | undefined => {
    if (status === 0) return `Check that the ${what} answers at ${settings.url}.`;
    if (status === 401 || status === 403) {
      return settings.adminTokenEnv ? `The ${what} refused the token in ${settings.adminTokenEnv}: check it is the current one.` : `The ${what} wants a token: name the variable holding it in adminTokenEnv.`;
    }
    if (status >= 500) {
      return request.method === 'GET' ? `The ${what} failed: run the step again.` : `The ${what} failed: run the step again (the change carries its idempotency key, so one already made is not made twice).`;
    }
    return undefined;
  };
  const api = jsonApi({
    baseUrl: settings.url,
    what,
    headers: settings.adminTokenEnv ? bearerToken(context, settings.adminTokenEnv) : {},
    advise,
    timeoutMs: settings.timeoutMs,
    // The activity making the call is retried too (by Temporal, with its own backoff): a few tries
    // here ride out a blip without multiplying that retry's wait.
    retry: { attempts: 3 },
  });
  return {
    read: async (schema, path) => (await api('GET', path, { schema })).body,
    change: async (schema, method, path, body, options) =>
      (await api(method, path, { schema, body, headers: { 'idempotency-key': options.idempotencyKey, 'x-actor': options.actor }, repeatable: true })).body,
  };
}
