/**
 * Fly.io apps through the Fly Machines REST API: what seeds 000 and 001 do by hand with `fly scale
 * count`, `fly deploy --image`, `fly secrets set` and `fly apps restart`. Runbook versions (stable,
 * canary) map to Fly apps (seed 000 runs the canary as an app of its own).
 *
 *   scaling   instances = the app's Machines in state `started`; no weights (Fly has none between
 *             apps). There is no scale endpoint: a scale-up creates Machines from the config of one
 *             the app has, a scale-down stops then destroys the newest ones.
 *   releases  the image the app's Machines run (`config.image`) and the one before it (the Machine's
 *             config versions); a rollback updates each Machine to the image and waits for it.
 *   config    the env vars of the Machines' config (`config.env`, never secrets); a change updates
 *             each Machine, which reboots it with the new env.
 *   restarts  each started Machine restarted, waiting until it is started again.
 *
 * Every change to an existing Machine is made under its lease (POST .../lease, the nonce sent as
 * `fly-machine-lease-nonce`, DELETE .../lease after), so a deploy or another rollback touching the same
 * Machine is refused rather than raced. A lease held by anyone else stops the change with an error
 * saying so; a lease our own earlier attempt left behind (same idempotency key in its description) is
 * taken over, so a retry after a worker died mid-change goes on.
 *
 * The API takes no idempotency key, so every change reads the Machines first and only touches those
 * not yet as asked: a retry with the same key finds the work done and sends nothing. Machines a
 * scale-up creates carry the key in `config.metadata`, and count on a retry even before they start.
 * A restart leaves a mark in the Machine's metadata (the key and the time of its last start) before
 * restarting it, so a retry skips the Machines that started again since.
 *
 * Rate limits: 1 request per second per action per Machine (per app for creates), bursts up to 3
 * (Get Machine 5/s, bursts up to 10): each client paces its calls with a token bucket per action and
 * Machine; a 429 is retried after its Retry-After by the shared HTTP client.
 *
 * API reference:
 *   https://fly.io/docs/machines/api/working-with-machines-api/ (base URL, bearer token, status codes, rate limits)
 *   https://fly.io/docs/machines/api/machines-resource/ (list, create, get, update, stop, delete, wait, leases, metadata)
 *   https://fly.io/docs/machines/api/apps-resource/ (secrets: set with flyctl; Machines must be updated to load them)
 *   https://docs.machines.dev/ (OpenAPI: /restart, /versions `[{version, user_config}]`, /events, Lease)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { ApiError, jsonApi, type ApiResponse, type RequestOptions } from '../http-api.ts';
import {
  secretFromEnv,
  type ChangeOptions,
  type ProviderClient,
  type ProviderContext,
  type ProviderDefinition,
  type Release,
  type ReleaseState,
  type ReplicaInfo,
  type TrafficState,
} from '../types.ts';

const API = 'Fly Machines API';
/** Metadata a scale-up stamps on the Machines it creates: the change's idempotency key. */
export const SCALE_KEY = 'rollback_scale_key';
/** Metadata a restart leaves before restarting a Machine: `<key>@<timestamp of its last start>`. */
export const RESTART_MARK = 'rollback_restart';
const OUR_METADATA = [SCALE_KEY, RESTART_MARK];
/** The documented wait endpoint blocks for at most 60 s per request. */
const LONGEST_WAIT_SECONDS = 60;

const appName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a Fly app name: lowercase letters, digits and hyphens');

const settingsSchema = z
  .strictObject({
    apps: z
      .record(z.string().min(1), appName)
      .refine((apps) => Object.keys(apps).length > 0, 'must map at least one version to a Fly app')
      .describe('runbook version name -> Fly app name, e.g. { stable: clinic-app, canary: clinic-app-canary }'),
    baseUrl: z.url().default('https://api.machines.dev').describe('Machines API endpoint (http://_api.internal:4280 inside the Fly WireGuard network)'),
    tokenEnv: envVarName.describe('environment variable holding a Fly.io API token (fly tokens create deploy), sent as Authorization: Bearer'),
    region: z
      .string()
      .regex(/^[a-z]{3}$/, 'must be a Fly region code like ams or ord')
      .optional()
      .describe('region for Machines a scale-up creates (default: the region of the Machine whose config is copied)'),
    configVersion: z
      .string()
      .min(1)
      .optional()
      .describe('the version whose app `config` reads and changes (needed when `apps` names more than one)'),
    pollIntervalMs: z.int().positive().default(1000).describe('pause before asking again when a wait for a Machine state timed out and time remains'),
    requestTimeoutMs: z.int().positive().default(15_000).describe('timeout of one API request (a wait request gets its wait on top)'),
    waitTimeoutSeconds: z.int().positive().max(3600).default(60).describe('longest wait for a Machine to reach started (or stopped) after a change'),
  })
  .refine((s) => s.configVersion === undefined || s.configVersion in s.apps, { message: 'must be one of the versions in apps', path: ['configVersion'] });
type Settings = z.infer<typeof settingsSchema>;

// Loose objects: an update sends back the whole config (the API takes no partial update), so fields
// this file does not know are kept as they were.
const stringMap = z.record(z.string(), z.string());
const machineConfig = z.looseObject({ image: z.string(), env: stringMap.nullish(), metadata: stringMap.nullish(), mounts: z.array(z.unknown()).nullish() });
type MachineConfig = z.infer<typeof machineConfig>;
const machineEvent = z.looseObject({ type: z.string().optional(), status: z.string().optional(), timestamp: z.number().optional() });
const machineSchema = z.looseObject({
  id: z.string(),
  state: z.string(),
  region: z.string().optional(),
  instance_id: z.string().optional(),
  config: machineConfig,
  created_at: z.string().optional(),
  updated_at: z.string().optional(),
  events: z.array(machineEvent).nullish(),
});
type Machine = z.infer<typeof machineSchema>;
const leaseSchema = z.object({
  data: z.looseObject({ nonce: z.string(), expires_at: z.number().optional(), owner: z.string().optional(), description: z.string().optional() }),
});
const versionsSchema = z.array(z.looseObject({ version: z.string(), user_config: z.looseObject({ image: z.string().optional() }).nullish() }));

/** States of a Machine that is gone or going: not counted, not changed. */
const GONE = new Set(['destroyed', 'destroying']);
/** States of a Machine on its way up (a scale-up's Machines on a retry). */
const COMING_UP = new Set(['created', 'starting', 'replacing', 'updating']);

type Action = 'list' | 'create' | 'get' | 'update' | 'stop' | 'destroy' | 'restart' | 'wait' | 'lease' | 'lease-get' | 'lease-release' | 'metadata' | 'versions';

/**
 * Paces calls per action and Machine (or app) to the documented limit: a bucket of 3 refilled at
 * 1 per second (Get Machine: 10 at 5 per second), so bursts stay within the burst limit and a run of
 * calls settles to the sustained one.
 */
class RateLimits {
  private readonly buckets = new Map<string, { tokens: number; at: number; turn: Promise<void> }>();

  take(action: Action, id: string): Promise<void> {
    const [perSecond, burst] = action === 'get' ? [5, 10] : [1, 3];
    const key = `${action} ${id}`;
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { tokens: burst, at: Date.now(), turn: Promise.resolve() }));
    const b = bucket;
    const refill = () => {
      const now = Date.now();
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    };
    const mine = b.turn.then(async () => {
      refill();
      if (b.tokens < 1) {
        await sleep(Math.ceil(((1 - b.tokens) / perSecond) * 1000));
        refill();
      }
      b.tokens -= 1;
    });
    b.turn = mine;
    return mine;
  }
}

const newest = (a: Machine, b: Machine) => (b.created_at ?? '').localeCompare(a.created_at ?? '') || b.id.localeCompare(a.id);
const lastUpdated = (a: Machine, b: Machine) => (b.updated_at ?? '').localeCompare(a.updated_at ?? '') || newest(a, b);

/** When the Machine last reached started, from its events (Fly's clock, ms); 0 when none says. */
function lastStart(machine: Machine): number {
  return Math.max(0, ...(machine.events ?? []).filter((e) => e.type === 'start' && e.status === 'started').map((e) => e.timestamp ?? 0));
}

function withoutOurMetadata(metadata: MachineConfig['metadata']): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata ?? {}).filter(([key]) => !OUR_METADATA.includes(key)));
}

function applyEnv(env: MachineConfig['env'], values: Record<string, string | null>): Record<string, string> {
  const next = { ...(env ?? {}) };
  for (const [name, value] of Object.entries(values)) {
    if (value === null) delete next[name];
    else next[name] = value;
  }
  return next;
}

const sameEnv = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/** The value most of `items` have (ties: the first met), with how many have each. */
function mostCommon<T>(items: T[]): { value: T; counts: Map<T, number> } {
  const counts = new Map<T, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  let best = items[0] as T;
  for (const [value, count] of counts) if (count > (counts.get(best) ?? 0)) best = value;
  return { value: best, counts };
}

function create(settings: Settings, context: ProviderContext): ProviderClient<'scaling' | 'releases' | 'config' | 'restarts'> {
  const limits = new RateLimits();
  const leaseTtlSeconds = settings.waitTimeoutSeconds * 2 + 30;
  const base = (app: string) => `/v1/apps/${encodeURIComponent(app)}/machines`;
  const one = (app: string, id: string) => `${base(app)}/${encodeURIComponent(id)}`;

  const appOf = (version: string): string => {
    const app = settings.apps[version];
    if (!app) throw new Error(`${API}: no Fly app for version '${version}'; settings.apps names: ${Object.keys(settings.apps).join(', ')}`);
    return app;
  };

  /** What an on-call engineer can do about an answer, added to the shared client's error. */
  const hint = (err: ApiError, app: string, machine: string | undefined): string | null => {
    if (err.status === 401) return `The token in ${settings.tokenEnv} was refused (expired, revoked or not for this organization); make one with \`fly tokens create deploy -a ${app}\` and set ${settings.tokenEnv}`;
    if (err.status === 404 && !machine) return `No Fly app '${app}' is visible to this token; check the app name in settings.apps (\`fly apps list\`)`;
    if (err.status === 404) return `Machine ${machine} of app ${app} is not there (destroyed by someone else?); see \`fly machine list -a ${app}\` and run the step again`;
    if (err.status === 409 && machine) return `Machine ${machine} of app ${app} is leased by someone else: someone else is changing it (a deploy, a scale, another rollback); wait for them, then run the step again`;
    if (err.status >= 500) return `Fly.io's side failed; see https://status.flyio.net and run the step again (it reads the Machines first, so done work is not repeated)`;
    return null;
  };

  const call = async <T = unknown>(
    action: Action,
    app: string,
    machine: string | undefined,
    method: string,
    path: string,
    request: RequestOptions & { timeoutMs?: number } = {},
  ): Promise<ApiResponse<T>> => {
    // The token is read at each call, so a rotated secret is picked up and none is kept in the client.
    const token = secretFromEnv(context, settings.tokenEnv);
    await limits.take(action, machine ?? app);
    const api = jsonApi({ baseUrl: settings.baseUrl, what: API, headers: { authorization: `Bearer ${token}` }, timeoutMs: request.timeoutMs ?? settings.requestTimeoutMs });
    try {
      return await api<T>(method, path, request);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const extra = hint(err, app, machine);
      throw extra ? new ApiError(`${err.message}. ${extra}`, err.status, err.body) : err;
    }
  };

  const parse = <S extends z.ZodType>(schema: S, body: unknown, where: string): z.infer<S> => {
    const result = schema.safeParse(body);
    if (!result.success) throw new Error(`${API} ${where} answered with a body this client does not understand: ${z.prettifyError(result.error).slice(0, 300)}`);
    return result.data;
  };

  const list = async (app: string): Promise<Machine[]> => {
    const { body } = await call('list', app, undefined, 'GET', base(app));
    return parse(z.array(machineSchema), body, `GET ${base(app)}`).filter((m) => !GONE.has(m.state));
  };

  const get = async (app: string, id: string): Promise<Machine> => parse(machineSchema, (await call('get', app, id, 'GET', one(app, id))).body, `GET ${one(app, id)}`);

  const nonceHeader = (nonce: string) => ({ 'fly-machine-lease-nonce': nonce });

  /** The lease's description names the change, so a retry of it recognises the lease as its own. */
  const leaseDescription = (options: ChangeOptions) => `rollback-runbooks ${options.idempotencyKey}`;

  const acquireLease = async (app: string, id: string, options: ChangeOptions): Promise<string> => {
    const path = `${one(app, id)}/lease`;
    const description = leaseDescription(options);
    for (let attempt = 1; ; attempt++) {
      const created = await call('lease', app, id, 'POST', path, { body: { ttl: leaseTtlSeconds, description }, accept: [409] });
      if (created.status !== 409) return parse(leaseSchema, created.body, `POST ${path}`).data.nonce;
      const held = await call('lease-get', app, id, 'GET', path, { accept: [404] });
      if (held.status === 404 && attempt < 2) continue; // released between the two calls: ask again
      const lease = held.status === 404 ? null : parse(leaseSchema, held.body, `GET ${path}`).data;
      // Our own lease, left by an attempt of this same change that died before releasing it.
      if (lease?.description === description) return lease.nonce;
      const until = lease?.expires_at ? ` until ${new Date(lease.expires_at * 1000).toISOString()}` : '';
      throw new ApiError(
        `${API} POST ${path} answered 409: Machine ${id} of app ${app} is leased by ${lease?.owner || 'someone else'}${until}${lease?.description ? ` ("${lease.description}")` : ''}: someone else is changing it (a deploy, a scale, another rollback). Wait for them to finish, or if nobody is, clear it with \`fly machine leases clear ${id} -a ${app}\`; then run this step again`,
        409,
        created.body,
      );
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
        throw new Error(
          `${API} GET ${path} answered 408: Fly Machine ${id} of app ${app} did not reach ${state} within ${settings.waitTimeoutSeconds} s; see \`fly machine status ${id} -a ${app}\` and \`fly logs -a ${app}\`, then run the step again`,
        );
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  };

  /** The whole config sent back with the change (the API takes no partial update). */
  const update = async (app: string, machine: Machine, config: MachineConfig, nonce: string, signal?: AbortSignal): Promise<void> => {
    const running = machine.state === 'started';
    const path = one(app, machine.id);
    const { body } = await call('update', app, machine.id, 'POST', path, {
      // Setting a whole config is safe to send again; a stopped Machine stays stopped.
      body: { config, ...(machine.instance_id ? { current_version: machine.instance_id } : {}), ...(running ? {} : { skip_launch: true }) },
      headers: nonceHeader(nonce),
      repeatable: true,
      signal,
    });
    if (running) await waitFor(app, machine.id, parse(machineSchema, body, `POST ${path}`).instance_id, 'started', signal);
  };

  const readState = async (): Promise<TrafficState> => {
    const instances: Record<string, number> = {};
    for (const [version, app] of Object.entries(settings.apps)) instances[version] = (await list(app)).filter((m) => m.state === 'started').length;
    return { weights: {}, instances };
  };

  /** Creates `missing` Machines from the config of one the app has; their ids and instances, to wait for. */
  const scaleUp = async (version: string, app: string, live: Machine[], missing: number, count: number, options: ChangeOptions): Promise<{ id: string; instanceId?: string }[]> => {
    const template = live.filter((m) => m.state === 'started').sort(newest)[0] ?? [...live].sort(newest)[0];
    if (!template) {
      throw new Error(
        `${API}: app ${app} (version ${version}) has no Machines to copy a config from, so it cannot be scaled to ${count}; deploy it once (\`fly deploy -a ${app}\`) or scale it with \`fly scale count ${count} -a ${app}\`, then run this step again`,
      );
    }
    if (template.config.mounts?.length) {
      throw new Error(
        `${API}: the Machines of app ${app} (version ${version}) mount volumes, and a copy of Machine ${template.id} would need volumes of its own; scale it with \`fly scale count ${count} -a ${app}\` (it creates them)`,
      );
    }
    const created: { id: string; instanceId?: string }[] = [];
    for (let i = 0; i < missing; i++) {
      const { body } = await call('create', app, undefined, 'POST', base(app), {
        body: {
          config: { ...template.config, metadata: { ...withoutOurMetadata(template.config.metadata), [SCALE_KEY]: options.idempotencyKey } },
          region: settings.region ?? template.region,
        },
      });
      const machine = parse(machineSchema, body, `POST ${base(app)}`);
      context.logger.info({ app, machine: machine.id, template: template.id, actor: options.actor }, `created Fly Machine ${machine.id} in ${app} from ${template.id}'s config`);
      created.push({ id: machine.id, instanceId: machine.instance_id });
    }
    return created;
  };

  const scale = async (version: string, count: number, options: ChangeOptions): Promise<TrafficState> => {
    if (!Number.isInteger(count) || count < 0) throw new Error(`${API}: cannot scale version '${version}' to ${count} Machines; the count must be a whole number, 0 or more`);
    const app = appOf(version);
    const live = await list(app);
    const started = live.filter((m) => m.state === 'started');
    // A retry of this same change counts the Machines it created that are still on their way up.
    const comingUp = live.filter((m) => COMING_UP.has(m.state) && m.config.metadata?.[SCALE_KEY] === options.idempotencyKey);
    const have = started.length + comingUp.length;
    const created = count > have ? await scaleUp(version, app, live, count - have, count, options) : [];
    for (const m of [...comingUp.map((c) => ({ id: c.id, instanceId: c.instance_id })), ...created]) await waitFor(app, m.id, m.instanceId, 'started');
    if (count < started.length) {
      let remaining = live.length;
      for (const machine of [...started].sort(newest).slice(0, started.length - count)) {
        // The last Machine is kept, stopped: it is the config a later scale-up copies.
        const keep = remaining === 1;
        await withLease(app, machine.id, options, async (nonce) => {
          const stopPath = `${one(app, machine.id)}/stop`;
          await call('stop', app, machine.id, 'POST', stopPath, { headers: nonceHeader(nonce), repeatable: true });
          await waitFor(app, machine.id, machine.instance_id, 'stopped');
          if (keep) return;
          // Sent again after a lost answer, a destroy that was made finds the Machine gone (404): done.
          await call('destroy', app, machine.id, 'DELETE', one(app, machine.id), { headers: nonceHeader(nonce), repeatable: true, accept: [404] });
          return 'destroyed';
        });
        if (!keep) remaining -= 1;
        context.logger.info({ app, machine: machine.id, actor: options.actor }, keep ? `stopped Fly Machine ${machine.id}, kept as ${app}'s last Machine` : `stopped and destroyed Fly Machine ${machine.id} of ${app}`);
      }
    }
    return readState();
  };

  const readRelease = async (target: string): Promise<ReleaseState> => {
    const app = appOf(target);
    const live = await list(app);
    const machines = live.map((m) => ({ id: m.id, state: m.state, region: m.region, image: m.config.image }));
    if (live.length === 0) return { target, current: null, previous: null, detail: { app, machines } };
    const started = live.filter((m) => m.state === 'started');
    const serving = started.length > 0 ? started : live;
    const { value: image, counts } = mostCommon(serving.map((m) => m.config.image));
    const reference = serving.filter((m) => m.config.image === image).sort(lastUpdated)[0]!;
    const versionsPath = `${one(app, reference.id)}/versions`;
    const versions = parse(versionsSchema, (await call('versions', app, reference.id, 'GET', versionsPath)).body, `GET ${versionsPath}`);
    // The reference does not state the list's order; the Machine's own instance is its newest version,
    // so where it stands says which way is older (newest first when it is not listed).
    const at = versions.findIndex((v) => v.version === reference.instance_id);
    const older = at === versions.length - 1 && at > 0 ? versions.slice(0, at).reverse() : versions.slice(at + 1);
    const previousImage = older.map((v) => v.user_config?.image).find((i): i is string => !!i && i !== image);
    const release = (ref: string, createdAt?: string): Release => ({ id: ref, label: ref, image: ref, ...(createdAt ? { createdAt } : {}) });
    return {
      target,
      current: release(image, reference.updated_at),
      previous: previousImage ? release(previousImage) : null,
      detail: {
        app,
        machines,
        ...(counts.size > 1 ? { mixedImages: Object.fromEntries(counts), note: `the Machines of ${app} run different images; current is the one most run` } : {}),
      },
    };
  };

  const rollTo = async (target: string, release: Release, options: ChangeOptions & { onProgress?(line: string): void; signal?: AbortSignal }): Promise<ReleaseState> => {
    const app = appOf(target);
    const image = release.image ?? release.id;
    for (const machine of (await list(app)).filter((m) => m.config.image !== image)) {
      options.onProgress?.(`${app}: Machine ${machine.id} (${machine.region ?? '?'}, ${machine.state}) ${machine.config.image} -> ${image}`);
      await withLease(app, machine.id, options, async (nonce) => {
        const fresh = await get(app, machine.id);
        if (fresh.config.image === image || GONE.has(fresh.state)) return;
        await update(app, fresh, { ...fresh.config, image }, nonce, options.signal);
        context.logger.info({ app, machine: machine.id, image, actor: options.actor }, `Fly Machine ${machine.id} of ${app} now runs ${image}`);
      });
    }
    return readRelease(target);
  };

  const configApp = (): string => {
    if (settings.configVersion) return appOf(settings.configVersion);
    const versions = Object.keys(settings.apps);
    if (versions.length === 1) return appOf(versions[0]!);
    throw new Error(`${API}: settings name several apps (${versions.join(', ')}); set configVersion to say whose env vars config reads and changes`);
  };

  const readConfig = async (): Promise<Record<string, string>> => {
    const app = configApp();
    const live = await list(app);
    const names = new Set(live.flatMap((m) => Object.keys(m.config.env ?? {})));
    const config: Record<string, string> = {};
    const differing: string[] = [];
    for (const name of [...names].sort()) {
      // Machines mid-change may disagree: the value most of them have is the app's.
      const { value, counts } = mostCommon(live.map((m) => m.config.env?.[name] ?? null));
      if (counts.size > 1) differing.push(name);
      if (value !== null) config[name] = value;
    }
    if (differing.length > 0) context.logger.warn({ app, differing }, `the Machines of ${app} differ on ${differing.join(', ')}; read the value most of them have`);
    return config;
  };

  const setConfig = async (values: Record<string, string | null>, options: ChangeOptions): Promise<void> => {
    const app = configApp();
    for (const machine of await list(app)) {
      const env = machine.config.env ?? {};
      if (sameEnv(applyEnv(env, values), env)) continue;
      await withLease(app, machine.id, options, async (nonce) => {
        const fresh = await get(app, machine.id);
        const next = applyEnv(fresh.config.env, values);
        if (GONE.has(fresh.state) || sameEnv(next, fresh.config.env ?? {})) return;
        await update(app, fresh, { ...fresh.config, env: next }, nonce);
        context.logger.info({ app, machine: machine.id, names: Object.keys(values), actor: options.actor }, `updated the env of Fly Machine ${machine.id} of ${app}`);
      });
    }
  };

  const replicaOf = (version: string, machine: Machine): ReplicaInfo => {
    const started = lastStart(machine);
    return {
      version,
      replica: machine.id,
      startedAt: started > 0 ? new Date(started).toISOString() : (machine.updated_at ?? machine.created_at ?? ''),
      config: { ...(machine.config.env ?? {}) },
      secretVersions: {},
    };
  };

  const readReplicas = async (target: string): Promise<ReplicaInfo[]> =>
    (await list(appOf(target))).filter((m) => m.state === 'started').map((m) => replicaOf(target, m));

  /** Whether this change already restarted the Machine: its mark names the key and a start came after. */
  const restartedUnder = (machine: Machine, key: string): boolean => {
    const mark = machine.config.metadata?.[RESTART_MARK];
    const at = mark?.lastIndexOf('@') ?? -1;
    return !!mark && at > 0 && mark.slice(0, at) === key && lastStart(machine) > Number(mark.slice(at + 1));
  };

  const restart = async (target: string, options: ChangeOptions): Promise<ReplicaInfo[]> => {
    const app = appOf(target);
    for (const machine of (await list(app)).filter((m) => m.state === 'started')) {
      if (restartedUnder(machine, options.idempotencyKey)) continue;
      await withLease(app, machine.id, options, async (nonce) => {
        const fresh = await get(app, machine.id);
        if (fresh.state !== 'started' || restartedUnder(fresh, options.idempotencyKey)) return;
        // Marked first: a retry after the restart sees a start newer than the mark and skips it.
        await call('metadata', app, machine.id, 'POST', `${one(app, machine.id)}/metadata/${RESTART_MARK}`, {
          body: { value: `${options.idempotencyKey}@${lastStart(fresh)}` },
          headers: nonceHeader(nonce),
          repeatable: true,
        });
        await call('restart', app, machine.id, 'POST', `${one(app, machine.id)}/restart`, { headers: nonceHeader(nonce) });
        await waitFor(app, machine.id, fresh.instance_id, 'started');
        context.logger.info({ app, machine: machine.id, actor: options.actor }, `restarted Fly Machine ${machine.id} of ${app}`);
      });
    }
    return readReplicas(target);
  };

  return {
    scaling: { readState, scale },
    releases: { readRelease, rollTo },
    config: { readConfig, setConfig },
    restarts: { targets: async () => Object.keys(settings.apps), readReplicas, restart },
  };
}

export const flyMachines: ProviderDefinition<'scaling' | 'releases' | 'config' | 'restarts', Settings> = {
  id: 'fly-machines',
  description: 'Fly.io apps through the Machines API: Machine counts per app, the image they run (roll back to the one before), their env vars and restarts; changes under Machine leases, read first so a retry repeats nothing',
  capabilities: ['scaling', 'releases', 'config', 'restarts'],
  settingsSchema,
  example: { apps: { stable: 'clinic-app', canary: 'clinic-app-canary' }, tokenEnv: 'FLY_API_TOKEN', configVersion: 'stable' },
  create,
};
