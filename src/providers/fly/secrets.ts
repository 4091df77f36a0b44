/**
 * The fly-machines provider's app secrets (seed 000's `fly secrets set ROUTING_MODE=single -a app`
 * and `fly secrets unset CANARY_ENABLED -a app`): secrets of the app a runbook version names, which
 * Fly keeps without versions and lists by name and digest, never by value. A change writes the secret
 * (or deletes it), then updates each Machine of the app under its lease, naming the secrets version
 * the write made as `min_secrets_version`, so the Machine boots again with it, as `fly secrets set`
 * does; it waits until each running Machine is started again.
 *
 * The value goes to Fly in the write's body and nowhere else: not into a log line, an error, a return
 * value, a Machine's config or a lease. What this file compares and records are digests.
 *
 * Safe to repeat: a secret already as asked is not written again, and a Machine that has loaded it is
 * not updated again (see `pendingMachines`).
 *
 * API reference:
 *   https://fly.io/docs/apps/secrets/ (secrets are injected at boot; `fly secrets set` updates each Machine)
 *   https://fly.io/docs/flyctl/secrets-list/ (name and digest; "deployed" when the Machine's release is newer than the secret)
 *   https://docs.machines.dev/ (OpenAPI: /apps/{app_name}/secrets, /apps/{app_name}/secrets/{secret_name}; update's min_secrets_version)
 *   https://github.com/superfly/fly-go/blob/main/flaps/flaps_secrets.go (the calls flyctl makes, and their answers)
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ApiError, withAdvice } from '../http-api.ts';
import type { AppSecretsClient, ProviderContext, RolloutOptions } from '../types.ts';
import { API, GONE, machineSchema, type FlyApi, type Machine } from './api.ts';
import { lastStart } from './restarts.ts';

/** Metadata a Machine updated by a secret change carries: `<secret> <idempotency key>`, so a retry knows it is done. */
export const SECRET_MARK = 'rollback_app_secret';

const secretSchema = z.looseObject({ name: z.string(), digest: z.string(), updated_at: z.string().nullish() });
const listSchema = z.looseObject({ secrets: z.array(secretSchema).nullish() });
const setSchema = z.looseObject({ digest: z.string().optional(), version: z.number().optional() });
const deleteSchema = z.looseObject({ version: z.number().optional() });
type Listed = z.infer<typeof secretSchema>;

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A first guess at the digest Fly lists: the first 16 hex digits of the value's SHA-256, as the test
 * emulator documents it. Fly does not document its algorithm, so a match means the secret already
 * holds the value, while a mismatch proves nothing: then the write is made and the digest Fly answers
 * with is compared with the one listed before (see `setAppSecret`).
 */
const guessedDigest = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 16);

/** `err` without `value` in its message or body: an API may echo what it refused. */
function withoutValue(err: unknown, value: string): unknown {
  if (!(err instanceof Error) || value === '') return err;
  const inBody = err instanceof ApiError && JSON.stringify(err.body ?? null).includes(value);
  if (!err.message.includes(value) && !inBody) return err;
  const message = err.message.split(value).join('[secret value]');
  return err instanceof ApiError ? new ApiError(message, err.status, null) : new Error(message);
}

/** The app secrets client: the secrets of each version's app, set or unset, and the Machines updated to load them. */
export function flyAppSecrets(api: FlyApi, context: ProviderContext): AppSecretsClient {
  const secretsPath = (app: string) => `/v1/apps/${encodeURIComponent(app)}/secrets`;
  const onePath = (app: string, name: string) => `${secretsPath(app)}/${encodeURIComponent(name)}`;

  /** The secrets as listed; `version` asks for a listing that includes that write (the list may lag behind writes). */
  const list = async (app: string, target: string, version?: number): Promise<Listed[]> => {
    const path = `${secretsPath(app)}${version ? `?version=${version}` : ''}`;
    const answer = await api.call('secrets-list', app, undefined, 'GET', path, { schema: listSchema, accept: [404] });
    if (answer.status === 404) {
      const advice = `Check the app name in settings.apps (\`fly apps list\`) and that the token in use may read its secrets (\`fly secrets list -a ${app}\`).`;
      throw new ApiError(withAdvice(`${API} GET ${path} answered 404: no Fly app '${app}' (version '${target}') is visible to this token`, advice), 404, null);
    }
    return [...(answer.body.secrets ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  };

  const shown = (secrets: Listed[]) => secrets.map(({ name, digest }) => ({ name, digest }));

  const readAppSecrets = async (target: string) => shown(await list(api.appOf(target), target));

  /** Writes `value` (or deletes the secret); returns the digest Fly now lists for it and the secrets version the write made. */
  const write = async (app: string, name: string, value: string | null, options: RolloutOptions): Promise<{ digest: string | null; version?: number }> => {
    if (value === null) {
      // A delete sent again after a lost answer finds the secret gone (404): done.
      const { status, body } = await api.call('secret-delete', app, undefined, 'DELETE', onePath(app, name), { repeatable: true, accept: [404], signal: options.signal });
      return { digest: null, version: status === 404 ? undefined : deleteSchema.safeParse(body).data?.version };
    }
    try {
      // Setting a value is safe to send again; the value travels in this body only.
      const { body } = await api.call('secret-set', app, undefined, 'POST', onePath(app, name), { body: { value }, schema: setSchema, repeatable: true, signal: options.signal });
      return { digest: body.digest ?? null, version: body.version };
    } catch (err) {
      throw withoutValue(err, value);
    }
  };

  /**
   * The Machines that have yet to load the secret as it now is: every live one after a write that
   * changed it. Otherwise (the secret was already as asked: a retry, or someone set it with
   * `fly secrets set --stage`) the ones an interrupted attempt left: those without this change's mark
   * while another has it, and running ones last started before the secret was written (flyctl's "staged").
   * Fly keeps no trace of a deleted secret, so an unset whose worker died between the delete and the
   * first Machine update is not finished by a retry; those Machines drop it at their next update or restart.
   */
  const pendingMachines = (machines: Machine[], mark: string, changed: boolean, writtenAt: number | null): Machine[] => {
    const live = machines.filter((m) => !GONE.has(m.state));
    if (changed) return live;
    const marked = (m: Machine) => m.config.metadata?.[SECRET_MARK] === mark;
    const begun = live.some(marked);
    // A stopped Machine loads the app's secrets when it next starts: only a running one can be behind.
    return live.filter((m) => !marked(m) && (begun || (writtenAt !== null && m.state === 'started' && lastStart(m) < writtenAt)));
  };

  /** Updates the Machine under its lease so it boots with the app's secrets (at least `version`), and waits for it to start. */
  const reload = async (app: string, machine: Machine, mark: string, version: number | undefined, stillPending: (m: Machine) => boolean, options: RolloutOptions) => {
    await api.withLease(app, machine.id, options, async (nonce) => {
      const fresh = await api.get(app, machine.id);
      if (GONE.has(fresh.state) || !stillPending(fresh)) return;
      const running = fresh.state === 'started';
      const config = { ...fresh.config, metadata: { ...fresh.config.metadata, [SECRET_MARK]: mark } };
      const { body } = await api.call('update', app, fresh.id, 'POST', api.one(app, fresh.id), {
        // The whole config again (the API takes no partial update): safe to send twice. A stopped Machine stays stopped and loads the secret when it starts.
        body: { config, ...(fresh.instance_id ? { current_version: fresh.instance_id } : {}), ...(version ? { min_secrets_version: version } : {}), ...(running ? {} : { skip_launch: true }) },
        schema: machineSchema,
        headers: api.nonceHeader(nonce),
        repeatable: true,
        signal: options.signal,
      });
      if (running) await api.waitFor(app, fresh.id, body.instance_id, 'started', options.signal);
    });
  };

  /** Safe to retry: a secret already as asked is not written, a Machine that loaded it is not updated (see pendingMachines). */
  const setAppSecret = async (target: string, name: string, value: string | null, options: RolloutOptions) => {
    if (!SECRET_NAME.test(name)) throw new Error(`${API}: '${name}' cannot be a Fly secret name; it becomes an environment variable, so it takes letters, digits and underscores, not starting with a digit`);
    const app = api.appOf(target);
    const before = await list(app, target);
    const current = before.find((s) => s.name === name);
    let changed = false;
    let written = false;
    let version: number | undefined;
    if (value === null ? current !== undefined : current?.digest !== guessedDigest(value)) {
      const answer = await write(app, name, value, options);
      written = true;
      version = answer.version;
      // After a set, the digest Fly answers with says whether the secret held this value already: the
      // round trip that stands in for Fly's undocumented digest algorithm, made only when the guess missed.
      changed = value === null || answer.digest === null || answer.digest !== current?.digest;
      const what = value === null ? 'unset' : changed ? 'set' : 'already held the value (same digest after setting it)';
      context.logger.info({ app, secret: name, actor: options.actor, version }, `Fly secret ${name} of ${app}: ${what}`);
    }
    const mark = `${name} ${options.idempotencyKey}`;
    const writtenAt = current?.updated_at && value !== null ? Date.parse(current.updated_at) : null;
    const pending = pendingMachines(await api.list(app), mark, changed, Number.isNaN(writtenAt) ? null : writtenAt);
    for (const machine of pending) {
      options.onProgress?.(`${app}: updating Machine ${machine.id} (${machine.region ?? '?'}, ${machine.state}) to load secret ${name}`);
      const stillPending = (fresh: Machine) => changed || fresh.config.metadata?.[SECRET_MARK] !== mark;
      await reload(app, machine, mark, version, stillPending, options);
      context.logger.info({ app, machine: machine.id, secret: name, actor: options.actor }, `Fly Machine ${machine.id} of ${app} updated to load secret ${name}`);
    }
    // Unwritten, the secrets are as first listed; written, listed again at (at least) the version the write made.
    return written ? shown(await list(app, target, version)) : shown(before);
  };

  return { readAppSecrets, appName: api.appOf, setAppSecret };
}
