/**
 * An emulator of the Fly Machines REST API calls the fly-machines provider makes, with the documented
 * request and response shapes and Machine lifecycle: apps holding Machines (id, name, state, region,
 * instance_id, private_ip, config {image, env, metadata, guest, ...}, image_ref, created_at,
 * updated_at, events newest first), each Machine's config versions, and leases with nonces and expiry.
 *   GET    /v1/apps/{app}/machines                        list (destroyed ones left out)
 *   POST   /v1/apps/{app}/machines                        create {config, region, name, skip_launch}
 *   GET    /v1/apps/{app}/machines/{id}                   get
 *   POST   /v1/apps/{app}/machines/{id}                   update {config, current_version, skip_launch}: a new instance_id and version
 *   POST   /v1/apps/{app}/machines/{id}/stop              stop
 *   DELETE /v1/apps/{app}/machines/{id}?force             destroy (a running Machine needs force)
 *   POST   /v1/apps/{app}/machines/{id}/restart           restart (a started Machine)
 *   GET    /v1/apps/{app}/machines/{id}/wait?instance_id&state&timeout   {ok: true}, 408 after timeout s
 *   GET    /v1/apps/{app}/machines/{id}/versions          [{version, user_config}] newest first
 *   POST   /v1/apps/{app}/machines/{id}/metadata/{key}    {value} -> 204
 *   POST   /v1/apps/{app}/machines/{id}/lease             {ttl, description} -> 201 {status, data: {nonce, expires_at, owner, description, version}}; 409 when held
 *   GET    /v1/apps/{app}/machines/{id}/lease             the lease, 404 when none
 *   DELETE /v1/apps/{app}/machines/{id}/lease             with fly-machine-lease-nonce
 * A leased Machine refuses update, stop, destroy, restart and metadata changes without its nonce in
 * `fly-machine-lease-nonce` (409). Machines boot and stop after `bootMs`, so waits really wait. The
 * bearer token is checked (401 `Authenticate: token validation error`); unknown apps and Machines are
 * 404; 429 with Retry-After and 5xx come from `failNext`.
 * App secrets (`/v1/apps/{app}/secrets`) live in test/emulators/fly-secrets.ts: a Machine loads its
 * app's secrets (their digests, in `loadedSecrets`) each time it boots, and an update may name
 * `min_secrets_version`.
 * References: https://fly.io/docs/machines/api/machines-resource/,
 * https://fly.io/docs/machines/api/working-with-machines-api/, https://docs.machines.dev/ (OpenAPI).
 */
import { randomBytes } from 'node:crypto';
import { FlyAppSecrets } from './fly-secrets.ts';
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export interface EmulatedConfig {
  image: string;
  env?: Record<string, string>;
  metadata?: Record<string, string>;
  guest?: { cpu_kind: string; cpus: number; memory_mb: number };
  [field: string]: unknown;
}

export interface EmulatedEvent {
  id: string;
  type: string;
  status: string;
  source: string;
  timestamp: number;
}

export interface EmulatedLease {
  nonce: string;
  expires_at: number;
  owner: string;
  description: string;
  version: string;
}

export interface EmulatedMachine {
  id: string;
  name: string;
  state: string;
  region: string;
  instance_id: string;
  private_ip: string;
  config: EmulatedConfig;
  image_ref: { registry: string; repository: string; tag: string; digest: string; labels: Record<string, string> };
  created_at: string;
  updated_at: string;
  events: EmulatedEvent[];
  /** Config versions, newest first. */
  versions: { version: string; user_config: EmulatedConfig }[];
  lease: EmulatedLease | null;
  /** Boots of this Machine never finish (it stays `starting`). */
  hangs: boolean;
  /** The app secrets (name -> digest) the Machine loaded when it last booted. */
  loadedSecrets?: Record<string, string>;
  /** The `min_secrets_version` its last update named. */
  minSecretsVersion?: number;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let instanceCounter = 0;
/** ULID-shaped instance ids, like the API's `01HQ73A7BFFDF1B6WMGHFZZ4E7`. */
function instanceId(): string {
  instanceCounter += 1;
  const counter = instanceCounter.toString(32).toUpperCase().padStart(7, '0');
  return `01J${counter}${[...randomBytes(16)].map((b) => CROCKFORD[b & 31]).join('')}`;
}

/** The digest each tag resolved to: one per reference, as a registry answers while the tag stays put. */
const resolvedDigests = new Map<string, string>();

function imageRef(image: string): EmulatedMachine['image_ref'] {
  if (!resolvedDigests.has(image)) resolvedDigests.set(image, `sha256:${hex(32)}`);
  const [name, digest = resolvedDigests.get(image)!] = image.split('@');
  const slash = name!.indexOf('/');
  const registry = slash > 0 && name!.slice(0, slash).includes('.') ? name!.slice(0, slash) : 'registry-1.docker.io';
  const rest = registry === 'registry-1.docker.io' ? name! : name!.slice(slash + 1);
  const [repository, tag = 'latest'] = rest.split(':');
  return { registry, repository: repository!, tag, digest, labels: {} };
}

const copy = <T>(value: T): T => structuredClone(value);

export class FlyMachinesEmulator extends HttpEmulator {
  readonly apps = new Map<string, Map<string, EmulatedMachine>>();
  readonly secrets = new FlyAppSecrets((app) => this.apps.has(app));
  /** Boots of Machines created from now on never finish. */
  newMachinesHang = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    token: string,
    /** Who the token belongs to: the owner of the leases it takes. */
    private readonly owner = 'oncall@clinic.example',
    /** How long a Machine takes to start or stop. */
    private readonly bootMs = 20,
  ) {
    super('Fly Machines', token, () => ({ status: 401, body: { error: 'Authenticate: token validation error' } }));
    const machines = '/v1/apps/:app/machines';
    const machine = `${machines}/:id`;
    this.route('GET', machines, (_r, p) => this.withApp(p, (app) => ({ status: 200, body: [...app.values()].filter((m) => m.state !== 'destroyed').map(shown) })));
    this.route('POST', machines, (r, p) => this.withApp(p, (app) => this.create(app, r)));
    this.route('GET', machine, (_r, p) => this.withMachine(p, (m) => ({ status: 200, body: shown(m) })));
    this.route('POST', machine, (r, p) => this.withMachine(p, (m) => this.leased(m, r) ?? this.update(m, r)));
    this.route('DELETE', machine, (r, p) => this.withMachine(p, (m) => this.leased(m, r) ?? this.destroy(m, r)));
    this.route('POST', `${machine}/stop`, (r, p) => this.withMachine(p, (m) => this.leased(m, r) ?? this.stopMachine(m)));
    this.route('POST', `${machine}/restart`, (r, p) => this.withMachine(p, (m) => this.leased(m, r) ?? this.restart(m)));
    this.route('GET', `${machine}/wait`, (r, p) => this.withMachine(p, (m) => this.wait(m, r)));
    this.route('GET', `${machine}/versions`, (_r, p) => this.withMachine(p, (m) => ({ status: 200, body: copy(m.versions) })));
    this.route('POST', `${machine}/metadata/:key`, (r, p) => this.withMachine(p, (m) => this.leased(m, r) ?? this.setMetadata(m, p.key!, r)));
    this.route('POST', `${machine}/lease`, (r, p) => this.withMachine(p, (m) => this.acquire(m, r)));
    this.route('GET', `${machine}/lease`, (_r, p) => this.withMachine(p, (m) => (activeLease(m) ? { status: 200, body: { status: 'success', data: copy(m.lease) } } : { status: 404, body: { error: 'lease not found' } })));
    this.route('DELETE', `${machine}/lease`, (r, p) => this.withMachine(p, (m) => this.release(m, r)));
    this.secrets.routes(this);
  }

  override async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await super.stop();
  }

  addApp(name: string): Map<string, EmulatedMachine> {
    let app = this.apps.get(name);
    if (!app) this.apps.set(name, (app = new Map()));
    return app;
  }

  /** A Machine as a deploy left it; `history` are the images it ran before, oldest first. */
  addMachine(
    app: string,
    options: { image: string; env?: Record<string, string>; region?: string; state?: 'started' | 'stopped'; createdAt?: string; history?: string[]; metadata?: Record<string, string> },
  ): EmulatedMachine {
    const createdAt = options.createdAt ?? new Date(Date.now() - 3_600_000).toISOString();
    const base = { guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 512 }, metadata: { fly_platform_version: 'v2', fly_process_group: 'app', ...options.metadata }, env: { ...options.env } };
    const versions = [...(options.history ?? []), options.image].map((image) => ({ version: instanceId(), user_config: { ...copy(base), image } })).reverse();
    const startedAt = Date.parse(createdAt) + 5000;
    const machine: EmulatedMachine = {
      id: hex(7),
      name: `machine-${hex(3)}`,
      state: options.state ?? 'started',
      region: options.region ?? 'ams',
      instance_id: versions[0]!.version,
      private_ip: `fdaa:0:1:a7b:${hex(2)}::2`,
      config: copy(versions[0]!.user_config),
      image_ref: imageRef(options.image),
      created_at: createdAt,
      updated_at: createdAt,
      events: [
        { id: hex(8), type: 'start', status: 'started', source: 'flyd', timestamp: startedAt },
        { id: hex(8), type: 'launch', status: 'created', source: 'user', timestamp: Date.parse(createdAt) },
      ],
      versions,
      lease: null,
      hangs: false,
    };
    this.addApp(app).set(machine.id, machine);
    machine.loadedSecrets = this.secrets.digests(app);
    return machine;
  }

  /** The Machines of `app` that are not destroyed, oldest first. */
  machines(app: string): EmulatedMachine[] {
    return [...(this.apps.get(app)?.values() ?? [])].filter((m) => m.state !== 'destroyed');
  }

  /** Someone else (a deploy) takes the Machine's lease. */
  holdLease(machine: EmulatedMachine, owner: string, description: string, ttlSeconds = 300): string {
    machine.lease = { nonce: hex(6), expires_at: Math.floor(Date.now() / 1000) + ttlSeconds, owner, description, version: machine.instance_id };
    return machine.lease.nonce;
  }

  private withApp(params: Record<string, string>, then: (app: Map<string, EmulatedMachine>) => Reply | Promise<Reply>): Reply | Promise<Reply> {
    const app = this.apps.get(params.app!);
    return app ? then(app) : { status: 404, body: { error: 'app not found' } };
  }

  private withMachine(params: Record<string, string>, then: (machine: EmulatedMachine) => Reply | Promise<Reply>): Reply | Promise<Reply> {
    return this.withApp(params, (app) => {
      const machine = app.get(params.id!);
      return machine && machine.state !== 'destroyed' ? then(machine) : { status: 404, body: { error: 'machine not found' } };
    });
  }

  /** The refusal of a change to a Machine leased to someone who did not send its nonce. */
  private leased(machine: EmulatedMachine, request: RecordedRequest): Reply | null {
    if (!activeLease(machine) || request.headers['fly-machine-lease-nonce'] === machine.lease!.nonce) return null;
    return { status: 409, body: { error: `machine ${machine.id} is leased: lease currently held by ${machine.lease!.owner}, expires at ${new Date(machine.lease!.expires_at * 1000).toISOString()}` } };
  }

  private event(machine: EmulatedMachine, type: string, status: string, source = 'user'): void {
    machine.events.unshift({ id: hex(8), type, status, source, timestamp: Date.now() });
    machine.updated_at = new Date().toISOString();
  }

  private later(then: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      then();
    }, this.bootMs);
    this.timers.add(timer);
  }

  private boot(machine: EmulatedMachine, from: string): void {
    machine.state = from;
    const instance = machine.instance_id;
    this.later(() => {
      if (machine.hangs || machine.instance_id !== instance || machine.state !== from) return;
      machine.state = 'started';
      this.event(machine, 'start', 'started', 'flyd');
      const app = [...this.apps].find(([, machines]) => machines.get(machine.id) === machine)?.[0];
      if (app) machine.loadedSecrets = this.secrets.digests(app);
    });
  }

  private create(app: Map<string, EmulatedMachine>, request: RecordedRequest): Reply {
    const body = request.body as { config?: EmulatedConfig; region?: string; name?: string; skip_launch?: boolean } | null;
    if (!body?.config?.image) return { status: 400, body: { error: 'config.image is required' } };
    const config = copy(body.config);
    const now = new Date().toISOString();
    const machine: EmulatedMachine = {
      id: hex(7),
      name: body.name ?? `machine-${hex(3)}`,
      state: 'created',
      region: body.region ?? 'ams',
      instance_id: instanceId(),
      private_ip: `fdaa:0:1:a7b:${hex(2)}::2`,
      config,
      image_ref: imageRef(config.image),
      created_at: now,
      updated_at: now,
      events: [],
      versions: [],
      lease: null,
      hangs: this.newMachinesHang,
    };
    machine.versions.unshift({ version: machine.instance_id, user_config: copy(config) });
    this.event(machine, 'launch', 'created');
    app.set(machine.id, machine);
    if (body.skip_launch) machine.state = 'stopped';
    else this.boot(machine, 'created');
    return { status: 200, body: shown(machine) };
  }

  private update(machine: EmulatedMachine, request: RecordedRequest): Reply {
    const body = request.body as { config?: EmulatedConfig; skip_launch?: boolean; min_secrets_version?: number } | null;
    if (!body?.config?.image) return { status: 400, body: { error: 'config.image is required: send the whole config' } };
    if (body.min_secrets_version !== undefined) machine.minSecretsVersion = body.min_secrets_version;
    machine.config = copy(body.config);
    machine.image_ref = imageRef(body.config.image);
    machine.instance_id = instanceId();
    machine.versions.unshift({ version: machine.instance_id, user_config: copy(body.config) });
    this.event(machine, 'update', 'replacing');
    if (body.skip_launch) machine.state = 'stopped';
    else this.boot(machine, 'replacing');
    return { status: 200, body: shown(machine) };
  }

  private stopMachine(machine: EmulatedMachine): Reply {
    if (machine.state === 'stopped') return { status: 200, body: { ok: true } };
    machine.state = 'stopping';
    this.event(machine, 'stop', 'stopping');
    const instance = machine.instance_id;
    this.later(() => {
      if (machine.instance_id !== instance || machine.state !== 'stopping') return;
      machine.state = 'stopped';
      this.event(machine, 'exit', 'stopped', 'flyd');
    });
    return { status: 200, body: { ok: true } };
  }

  private destroy(machine: EmulatedMachine, request: RecordedRequest): Reply {
    if (['started', 'starting', 'replacing', 'created'].includes(machine.state) && request.query.get('force') !== 'true') {
      return { status: 412, body: { error: `unable to destroy machine ${machine.id}, not currently stopped (state ${machine.state}); stop it first or pass force=true` } };
    }
    machine.state = 'destroyed';
    machine.lease = null;
    this.event(machine, 'destroy', 'destroyed');
    return { status: 200, body: { ok: true } };
  }

  private restart(machine: EmulatedMachine): Reply {
    if (machine.state !== 'started') return { status: 412, body: { error: `unable to restart machine ${machine.id}, not currently started (state ${machine.state})` } };
    this.event(machine, 'restart', 'stopping');
    this.boot(machine, 'starting');
    return { status: 200, body: { ok: true } };
  }

  private async wait(machine: EmulatedMachine, request: RecordedRequest): Promise<Reply> {
    const state = request.query.get('state') ?? 'started';
    const instance = request.query.get('instance_id');
    const timeout = Number(request.query.get('timeout') ?? 60);
    if (!['started', 'stopped', 'suspended', 'destroyed'].includes(state)) return { status: 400, body: { error: `invalid state ${state}` } };
    if (state === 'stopped' && !instance) return { status: 400, body: { error: 'instance_id is required when waiting for stopped' } };
    if (instance && !machine.versions.some((v) => v.version === instance)) return { status: 400, body: { error: `machine ${machine.id} has no instance ${instance}` } };
    const deadline = Date.now() + timeout * 1000;
    while (Date.now() < deadline) {
      if (machine.state === state && (!instance || machine.instance_id === instance || state === 'destroyed')) return { status: 200, body: { ok: true } };
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { status: 408, body: { error: `deadline_exceeded: machine ${machine.id} did not reach ${state} within ${timeout}s` } };
  }

  private setMetadata(machine: EmulatedMachine, key: string, request: RecordedRequest): Reply {
    const value = (request.body as { value?: unknown } | null)?.value;
    if (typeof value !== 'string') return { status: 400, body: { error: 'value must be a string' } };
    machine.config.metadata = { ...machine.config.metadata, [key]: value };
    return { status: 204 };
  }

  private acquire(machine: EmulatedMachine, request: RecordedRequest): Reply {
    if (activeLease(machine)) {
      return { status: 409, body: { error: `lease currently held by ${machine.lease!.owner}, expires at ${new Date(machine.lease!.expires_at * 1000).toISOString()}` } };
    }
    const body = request.body as { ttl?: number; description?: string } | null;
    machine.lease = {
      nonce: hex(6),
      expires_at: Math.floor(Date.now() / 1000) + (body?.ttl ?? 30),
      owner: this.owner,
      description: body?.description ?? '',
      version: machine.instance_id,
    };
    return { status: 201, body: { status: 'success', data: copy(machine.lease) } };
  }

  private release(machine: EmulatedMachine, request: RecordedRequest): Reply {
    if (!activeLease(machine)) return { status: 404, body: { error: 'lease not found' } };
    if (request.headers['fly-machine-lease-nonce'] !== machine.lease!.nonce) return { status: 400, body: { error: 'lease nonce does not match' } };
    machine.lease = null;
    return { status: 200, body: { status: 'success', data: { ok: true } } };
  }
}

function activeLease(machine: EmulatedMachine): boolean {
  return machine.lease !== null && machine.lease.expires_at * 1000 > Date.now();
}

/** The Machine as the API shows it (the lease and test switches are the emulator's own). */
function shown(machine: EmulatedMachine): unknown {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- left out of the answer
  const { versions, lease, hangs, loadedSecrets, minSecretsVersion, ...visible } = machine;
  return copy(visible);
}
