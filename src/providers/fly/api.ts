/**
 * The Fly Machines REST API as the fly-machines provider uses it: one client (the token read at each
 * request, calls paced to the documented rate limits), the Machine, lease and versions resources as it
 * reads them, Machine leases, the wait for a Machine state, and the whole-config update.
 *
 * Every change to an existing Machine is made under its lease (POST .../lease, the nonce sent as
 * `fly-machine-lease-nonce`, DELETE .../lease after), so a deploy or another rollback touching the same
 * Machine is refused rather than raced. A lease held by anyone else stops the change with an error
 * saying so; a lease our own earlier attempt left behind (same idempotency key in its description) is
 * taken over, so a retry after a worker died mid-change goes on.
 *
 * API reference:
 *   https://fly.io/docs/machines/api/working-with-machines-api/ (base URL, bearer token, status codes, rate limits)
 *   https://fly.io/docs/machines/api/machines-resource/ (list, create, get, update, stop, delete, wait, leases, metadata)
 *   https://docs.machines.dev/ (OpenAPI: /restart, /versions `[{version, user_config}]`, /events, Lease)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ApiError, bearerToken, expectShape, jsonApi, withAdvice, type ApiRequest, type ApiResponse, type RequestOptions } from '../http-api.ts';
import type { ChangeOptions, ProviderContext } from '../types.ts';
import { RateLimits, type Action } from './rate-limits.ts';
import type { Settings } from './settings.ts';

export const API = 'Fly Machines API';
/** Metadata a scale-up stamps on the Machines it creates: the change's idempotency key. */
export const SCALE_KEY = 'rollback_scale_key';
/** Metadata a restart leaves before restarting a Machine: `<key>@<timestamp of its last start>`. */
export const RESTART_MARK = 'rollback_restart';
const OUR_METADATA = [SCALE_KEY, RESTART_MARK];
/** The documented wait endpoint blocks for at most 60 s per request. */
const LONGEST_WAIT_SECONDS = 60;

// Loose objects: an update sends back the whole config (the API takes no partial update), so fields
// this file does not know are kept as they were.
const stringMap = z.record(z.string(), z.string());
const machineConfig = z.looseObject({ image: z.string(), env: stringMap.nullish(), metadata: stringMap.nullish(), mounts: z.array(z.unknown()).nullish() });
export type MachineConfig = z.infer<typeof machineConfig>;
const machineEvent = z.looseObject({ type: z.string().optional(), status: z.string().optional(), timestamp: z.number().optional() });
export const machineSchema = z.looseObject({
  id: z.string(),
  state: z.string(),
  region: z.string().optional(),
  instance_id: z.string().optional(),
  config: machineConfig,
  created_at: z.string().optional(),
  updated_at: z.string().optional(),
  events: z.array(machineEvent).nullish(),
  /** The image as resolved at deploy: its digest names the release the Machine runs even when config.image is a tag. */
  image_ref: z.looseObject({ digest: z.string().optional() }).nullish(),
});
export type Machine = z.infer<typeof machineSchema>;
const leaseSchema = z.object({
  data: z.looseObject({ nonce: z.string(), expires_at: z.number().optional(), owner: z.string().optional(), description: z.string().optional() }),
});
export const versionsSchema = z.array(z.looseObject({ version: z.string(), user_config: z.looseObject({ image: z.string().optional() }).nullish() }));

/** States of a Machine that is gone or going: not counted, not changed. */
export const GONE = new Set(['destroyed', 'destroying']);
/** States of a Machine on its way up (a scale-up's Machines on a retry). */
export const COMING_UP = new Set(['created', 'starting', 'replacing', 'updating']);

/** Sort orders: the newest Machine first; the one updated last first. */
export const newest = (a: Machine, b: Machine) => (b.created_at ?? '').localeCompare(a.created_at ?? '') || b.id.localeCompare(a.id);
export const lastUpdated = (a: Machine, b: Machine) => (b.updated_at ?? '').localeCompare(a.updated_at ?? '') || newest(a, b);

/** The Machine's metadata without the marks this provider leaves. */
export function withoutOurMetadata(metadata: MachineConfig['metadata']): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata ?? {}).filter(([key]) => !OUR_METADATA.includes(key)));
}

/** Machines mid-change may disagree: the value most of `items` have (ties: the first met), with how many have each. */
export function mostCommon<T>(items: T[]): { value: T; counts: Map<T, number> } {
  const counts = new Map<T, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  let best = items[0] as T;
  for (const [value, count] of counts) if (count > (counts.get(best) ?? 0)) best = value;
  return { value: best, counts };
}

/** The app and Machine a request is about, read from its path (/v1/apps/{app}/machines/{id}/...). */
function subjectOf(path: string): { app: string; machine?: string } {
  const [, app = '?', machine] = /^\/v1\/apps\/([^/]+)\/machines(?:\/([^/?]+))?/.exec(path) ?? [];
  return { app: decodeURIComponent(app), ...(machine ? { machine: decodeURIComponent(machine) } : {}) };
}

export type FlyApi = ReturnType<typeof flyApi>;

/** The API at the settings' endpoint. Creating it does no I/O. */
export function flyApi(settings: Settings, context: ProviderContext) {
  const limits = new RateLimits();
  const leaseTtlSeconds = settings.waitTimeoutSeconds * 2 + 30;
  const base = (app: string) => `/v1/apps/${encodeURIComponent(app)}/machines`;
  const one = (app: string, id: string) => `${base(app)}/${encodeURIComponent(id)}`;

  const appOf = (version: string): string => {
    const app = settings.apps[version];
    if (!app) throw new Error(`${API}: no Fly app for version '${version}'; settings.apps names: ${Object.keys(settings.apps).join(', ')}`);
    return app;
  };

  /** What an on-call engineer can do about a failed request, by the app and Machine it was about. */
  const advise = (status: number, request: ApiRequest): string | undefined => {
    const { app, machine } = subjectOf(request.path);
    if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
    if (status === 401) return `The token in ${settings.tokenEnv} was refused (expired, revoked or not for this organization); make one with \`fly tokens create deploy -a ${app}\` and set ${settings.tokenEnv}.`;
    if (status === 404 && !machine) return `No Fly app '${app}' is visible to this token; check the app name in settings.apps (\`fly apps list\`).`;
    if (status === 404) return `Machine ${machine} of app ${app} is not there (destroyed by someone else?); see \`fly machine list -a ${app}\` and run the step again.`;
    if (status === 409 && machine) return `Machine ${machine} of app ${app} is leased by someone else: someone else is changing it (a deploy, a scale, another rollback); wait for them, then run the step again.`;
    if (status >= 500) return "Fly.io's side failed; see https://status.flyio.net and run the step again (it reads the Machines first, so done work is not repeated).";
    return undefined;
  };

  // The token is read at each request, so a rotated secret is picked up and none is kept in the client.
  const api = jsonApi({
    baseUrl: settings.baseUrl,
    what: API,
    headers: bearerToken(context, settings.tokenEnv),
    timeoutMs: settings.requestTimeoutMs,
    advise,
  });

  /** One request, paced to the rate limit of its action on its Machine (or app). */
  const call = async <T = unknown>(action: Action, app: string, machine: string | undefined, method: string, path: string, request: RequestOptions<T> = {}): Promise<ApiResponse<T>> => {
    await limits.take(action, machine ?? app);
    return api<T>(method, path, request);
  };

  const list = async (app: string): Promise<Machine[]> => (await call('list', app, undefined, 'GET', base(app), { schema: z.array(machineSchema) })).body.filter((m) => !GONE.has(m.state));

  const get = async (app: string, id: string): Promise<Machine> => (await call('get', app, id, 'GET', one(app, id), { schema: machineSchema })).body;

  const nonceHeader = (nonce: string) => ({ 'fly-machine-lease-nonce': nonce });

  /** The lease's description names the change, so a retry of it recognises the lease as its own. */
  const leaseDescription = (options: ChangeOptions) => `rollback-runbooks ${options.idempotencyKey}`;

  /** The Machine's lease for this change: a new one, or the one an earlier attempt of the same change left; anyone else's is an error naming who holds it. */
  const acquireLease = async (app: string, id: string, options: ChangeOptions): Promise<string> => {
    const path = `${one(app, id)}/lease`;
    const description = leaseDescription(options);
    for (let attempt = 1; ; attempt++) {
      const created = await call('lease', app, id, 'POST', path, { body: { ttl: leaseTtlSeconds, description }, accept: [409] });
      if (created.status !== 409) return expectShape(leaseSchema, created.body, `${API} POST ${path}`, created.status).data.nonce;
      const held = await call('lease-get', app, id, 'GET', path, { accept: [404] });
      if (held.status === 404 && attempt < 2) continue; // released between the two calls: ask again
      const lease = held.status === 404 ? null : expectShape(leaseSchema, held.body, `${API} GET ${path}`, held.status).data;
      // Our own lease, left by an attempt of this same change that died before releasing it.
      if (lease?.description === description) return lease.nonce;
      const until = lease?.expires_at ? ` until ${new Date(lease.expires_at * 1000).toISOString()}` : '';
      const holder = `Machine ${id} of app ${app} is leased by ${lease?.owner || 'someone else'}${until}${lease?.description ? ` ("${lease.description}")` : ''}: someone else is changing it (a deploy, a scale, another rollback)`;
      const advice = `Wait for them to finish, or if nobody is, clear it with \`fly machine leases clear ${id} -a ${app}\`; then run this step again.`;
      throw new ApiError(withAdvice(`${API} POST ${path} answered 409: ${holder}`, advice), 409, created.body);
    }
  };

  const releaseLease = async (app: string, id: string, nonce: string): Promise<void> => {
    try {
      await call('lease-release', app, id, 'DELETE', `${one(app, id)}/lease`, { headers: nonceHeader(nonce), repeatable: true });
    } catch (err) {
      // The change itself is done; the lease lapses at its TTL, and a retry with the same key takes it over.
      context.logger.warn({ app, machine: id, error: (err as Error).message }, `could not release the lease on Fly Machine ${id}; it expires in ${leaseTtlSeconds} s`);
    }
  };

  /** Runs `change` under the Machine's lease; `change` answers 'destroyed' when there is no lease left to release. */
  const withLease = async (app: string, id: string, options: ChangeOptions, change: (nonce: string) => Promise<'destroyed' | void>): Promise<void> => {
    const nonce = await acquireLease(app, id, options);
    let outcome: 'destroyed' | void = undefined;
    try {
      outcome = await change(nonce);
    } finally {
      if (outcome !== 'destroyed') await releaseLease(app, id, nonce);
    }
  };

  /** Waits until the Machine's instance reaches `state`, in requests of at most the documented 60 s. */
  const waitFor = async (app: string, id: string, instanceId: string | undefined, state: 'started' | 'stopped', signal?: AbortSignal): Promise<void> => {
    const deadline = Date.now() + settings.waitTimeoutSeconds * 1000;
    for (;;) {
      const seconds = Math.min(LONGEST_WAIT_SECONDS, Math.ceil((deadline - Date.now()) / 1000));
      const query = new URLSearchParams({ ...(instanceId ? { instance_id: instanceId } : {}), state, timeout: String(seconds) });
      const path = `${one(app, id)}/wait?${query}`;
      const answer = await call('wait', app, id, 'GET', path, { accept: [408], timeoutMs: seconds * 1000 + settings.requestTimeoutMs, signal });
      if (answer.status !== 408) return;
      if (Date.now() + settings.pollIntervalMs >= deadline) {
        const advice = `See \`fly machine status ${id} -a ${app}\` and \`fly logs -a ${app}\`, then run the step again.`;
        throw new Error(withAdvice(`${API} GET ${path} answered 408: Fly Machine ${id} of app ${app} did not reach ${state} within ${settings.waitTimeoutSeconds} s`, advice));
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  };

  /** The whole config sent back with the change (the API takes no partial update); a running Machine is waited for until it is started again. */
  const update = async (app: string, machine: Machine, config: MachineConfig, nonce: string, signal?: AbortSignal): Promise<void> => {
    const running = machine.state === 'started';
    const { body } = await call('update', app, machine.id, 'POST', one(app, machine.id), {
      // Setting a whole config is safe to send again; a stopped Machine stays stopped.
      body: { config, ...(machine.instance_id ? { current_version: machine.instance_id } : {}), ...(running ? {} : { skip_launch: true }) },
      schema: machineSchema,
      headers: nonceHeader(nonce),
      repeatable: true,
      signal,
    });
    if (running) await waitFor(app, machine.id, body.instance_id, 'started', signal);
  };

  return { base, one, appOf, call, list, get, nonceHeader, withLease, waitFor, update };
}
