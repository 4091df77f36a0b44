/**
 * The app secrets part of the Fly Machines API emulator (test/emulators/fly-machines.ts), as fly-go's
 * flaps client calls it and flyctl's `fly secrets list/set/unset` use it:
 *   GET    /v1/apps/{app}/secrets?version=N       {secrets: [{name, digest, created_at, updated_at}]}; never a value
 *   POST   /v1/apps/{app}/secrets/{name}  {value}  {name, digest, created_at, updated_at, version}
 *   DELETE /v1/apps/{app}/secrets/{name}           {version}; 404 when the app has no such secret
 * Every set or delete bumps the app's secrets `version`, which a Machine update can name as
 * `min_secrets_version` so the Machine boots with at least that version's secrets.
 *
 * Like Fly's vault, it keeps no value: only each secret's digest, and it takes the value out of the
 * request it logs ("Secret values are never logged"), so a test searching every logged request for
 * a value finds only what the provider sent somewhere else. The digest is the first 16 hex digits of
 * the value's SHA-256: the emulator's own choice, because Fly does not document how it computes its
 * digests. A test can give another function (`digestOf`) to stand for an algorithm a client does not know.
 *
 * References:
 *   https://fly.io/docs/apps/secrets/ (secrets are injected at boot; setting them updates each Machine)
 *   https://fly.io/docs/flyctl/secrets-list/ ("name, a digest of its value"; deployed = secret updated before the Machine's release)
 *   https://docs.machines.dev/ (OpenAPI: /apps/{app_name}/secrets, /apps/{app_name}/secrets/{secret_name}; min_secrets_version)
 *   https://github.com/superfly/fly-go/blob/main/flaps/flaps_secrets.go and secrets_types.go (request and answer shapes)
 */
import { createHash } from 'node:crypto';
import type { HttpEmulator, RecordedRequest, Reply } from './http-emulator.ts';

export interface EmulatedSecret {
  name: string;
  digest: string;
  created_at: string;
  updated_at: string;
}

/** What the emulator puts in a logged request in place of a secret's value. */
export const REDACTED = '[value not logged]';

export const sha256Digest = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 16);

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class FlyAppSecrets {
  private readonly byApp = new Map<string, Map<string, EmulatedSecret>>();
  private readonly versions = new Map<string, number>();

  constructor(
    /** Whether the emulator knows the app (an unknown one is 404, as for Machines). */
    private readonly hasApp: (app: string) => boolean,
    /** How a value becomes its listed digest. */
    public digestOf: (value: string) => string = sha256Digest,
  ) {}

  /** Adds the secrets routes to the emulator. */
  routes(emulator: HttpEmulator): void {
    emulator.route('GET', '/v1/apps/:app/secrets', (_r, p) => this.withApp(p.app!, (app) => ({ status: 200, body: { secrets: this.list(app) } })));
    emulator.route('POST', '/v1/apps/:app/secrets/:name', (r, p) => this.withApp(p.app!, (app) => this.set(app, p.name!, r)));
    emulator.route('DELETE', '/v1/apps/:app/secrets/:name', (_r, p) => this.withApp(p.app!, (app) => this.unset(app, p.name!)));
  }

  /** A secret as someone set it earlier (`fly secrets set`), by default a day ago, before any Machine booted. */
  seed(app: string, name: string, value: string, updatedAt = new Date(Date.now() - 86_400_000).toISOString()): EmulatedSecret {
    const secret = { name, digest: this.digestOf(value), created_at: updatedAt, updated_at: updatedAt };
    this.secretsOf(app).set(name, secret);
    this.versions.set(app, this.version(app) + 1);
    return { ...secret };
  }

  /** The app's secrets as `GET .../secrets` lists them, by name. */
  list(app: string): EmulatedSecret[] {
    return [...this.secretsOf(app).values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => ({ ...s }));
  }

  /** What a Machine booting now loads: each secret's digest by name. */
  digests(app: string): Record<string, string> {
    return Object.fromEntries(this.list(app).map((s) => [s.name, s.digest]));
  }

  /** The app's secrets version: bumped by every set and delete. */
  version(app: string): number {
    return this.versions.get(app) ?? 0;
  }

  private secretsOf(app: string): Map<string, EmulatedSecret> {
    let secrets = this.byApp.get(app);
    if (!secrets) this.byApp.set(app, (secrets = new Map()));
    return secrets;
  }

  private withApp(app: string, then: (app: string) => Reply): Reply {
    return this.hasApp(app) ? then(app) : { status: 404, body: { error: 'app not found' } };
  }

  private set(app: string, name: string, request: RecordedRequest): Reply {
    const value = (request.body as { value?: unknown } | null)?.value;
    // The logged request keeps the shape of what was sent, never the value.
    if (request.body && typeof request.body === 'object') request.body = { ...request.body, value: REDACTED };
    if (!SECRET_NAME.test(name)) return { status: 400, body: { error: `invalid secret name ${JSON.stringify(name)}: must be a valid environment variable name` } };
    if (typeof value !== 'string') return { status: 400, body: { error: 'value must be a string' } };
    const now = new Date().toISOString();
    const existing = this.secretsOf(app).get(name);
    const secret = { name, digest: this.digestOf(value), created_at: existing?.created_at ?? now, updated_at: now };
    this.secretsOf(app).set(name, secret);
    this.versions.set(app, this.version(app) + 1);
    return { status: 200, body: { ...secret, version: this.version(app) } };
  }

  private unset(app: string, name: string): Reply {
    if (!this.secretsOf(app).delete(name)) return { status: 404, body: { error: `secret ${name} not found` } };
    this.versions.set(app, this.version(app) + 1);
    return { status: 200, body: { version: this.version(app) } };
  }
}
