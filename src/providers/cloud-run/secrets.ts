/**
 * The cloud-run provider's secrets: the Secret Manager secrets the service's containers load as env
 * vars (`valueSource.secretKeyRef {secret, version}`), each with its versions' states and the version
 * the service is pinned to. A rollback to a version is seed 002's "Secret Rollback": `gcloud secrets
 * versions enable/disable`, then `gcloud run services update --update-secrets NAME=secret:N` so the
 * service loads it (a new revision). Versions are moved by number and state only: no value is read.
 *
 * Env vars are resolved when an instance starts (Cloud Run, "Configure secrets"), so the pin, not the
 * states alone, decides what the service loads; and a version it is pinned to that is disabled makes
 * every new instance fail to start. Hence the order of a change: enable, pin, then disable.
 *
 * API reference:
 *   EnvVar, SecretKeySelector  https://cloud.google.com/run/docs/reference/rest/v2/Container#EnvVar
 *   secrets in Cloud Run       https://cloud.google.com/run/docs/configuring/services/secrets
 *   Secret Manager calls       secret-manager.ts
 */
import { z } from 'zod';
import type { ProviderContext, SecretsClient, SecretVersions, VersionState } from '../types.ts';
import type { CloudRunApi, Container } from './api.ts';
import { changeServing, servingContainers } from './serving.ts';
import { secretRef, type SecretManagerApi, type SecretRef, type SecretVersion } from './secret-manager.ts';
import type { Settings } from './settings.ts';

const keyRef = z.looseObject({ secretKeyRef: z.looseObject({ secret: z.string(), version: z.string().optional() }).optional() });

/** A secret the service's env references: its name as written there, and every version it pins. */
interface Reference {
  name: string;
  ref: SecretRef;
  pins: string[];
}

/** The secretKeyRef of an env entry, if it has one. */
function secretKeyRef(valueSource: unknown): { secret: string; version?: string | undefined } | undefined {
  const parsed = keyRef.safeParse(valueSource);
  return parsed.success ? parsed.data.secretKeyRef : undefined;
}

/**
 * The secrets every container of what serves loads as env vars, by name as written there: the serving
 * revision's containers once traffic is pinned (the template may hold a newer canary's), else the template's.
 */
function references(containers: Container[], project: string): Map<string, Reference> {
  const found = new Map<string, Reference>();
  for (const container of containers) {
    for (const env of container.env ?? []) {
      const key = secretKeyRef(env.valueSource);
      if (!key) continue;
      const reference = found.get(key.secret) ?? { name: key.secret, ref: secretRef(key.secret, project), pins: [] };
      // A reference without a version can only mean the latest one.
      reference.pins.push(key.version ?? 'latest');
      found.set(key.secret, reference);
    }
  }
  return found;
}

/** The containers with every env reference to `name` pinned to version `pin`; null when all already are. */
function pinned(serving: Container[], name: string, pin: number): Container[] | null {
  let changed = false;
  const containers = serving.map((container) => {
    if (!container.env) return container;
    const env = container.env.map((entry) => {
      const key = secretKeyRef(entry.valueSource);
      if (key?.secret !== name || key.version === String(pin)) return entry;
      changed = true;
      const source = entry.valueSource as { secretKeyRef: Record<string, unknown> };
      return { ...entry, valueSource: { ...source, secretKeyRef: { ...source.secretKeyRef, version: String(pin) } } };
    });
    return { ...container, env };
  });
  return changed ? containers : null;
}

const LOADABLE = new Set<string>(['ENABLED', 'DISABLED']);
const listed = (versions: SecretVersion[]) => versions.map((v) => `${v.version} ${v.state}`).join(', ') || 'none';
function newestEnabled(states: Iterable<[number, string]>): number | null {
  const enabled = [...states].filter(([, state]) => state === 'ENABLED').map(([version]) => version);
  return enabled.length > 0 ? Math.max(...enabled) : null;
}

/** The secrets client of the service; it does no I/O until called. */
export function cloudRunSecrets(api: CloudRunApi, secretManager: SecretManagerApi, settings: Settings, context: ProviderContext): SecretsClient {
  /** The version number `pin` names: a number, `latest` or a version alias of the secret. */
  async function resolvePin(reference: Reference, pin: string, versions: SecretVersion[]): Promise<number | null> {
    if (/^\d+$/.test(pin)) return Number(pin);
    // `latest` is "the most recently created SecretVersion" (versions.access), whatever its state: when
    // that one is disabled, the service cannot start new instances, and a rollback should know it.
    if (pin === 'latest') return versions.at(-1)?.version ?? null;
    const aliases = (await secretManager.getSecret(reference.ref))?.versionAliases ?? {};
    const number = aliases[pin];
    if (number === undefined) {
      throw new Error(`Cloud Run service ${settings.service} loads version alias '${pin}' of secret ${reference.name}, which Secret Manager does not have (aliases: ${Object.keys(aliases).join(', ') || 'none'})`);
    }
    return Number(number);
  }

  /** The version the service loads: where its references disagree, the newest (a change pins them all to one). */
  async function pinnedVersion(reference: Reference, versions: SecretVersion[]): Promise<number | null> {
    const numbers = (await Promise.all([...new Set(reference.pins)].map((pin) => resolvePin(reference, pin, versions)))).filter((n) => n !== null);
    return numbers.length > 0 ? Math.max(...numbers) : null;
  }

  async function read(reference: Reference): Promise<SecretVersions> {
    const all = await secretManager.listVersions(reference.ref);
    // DESTROYED versions are left out: their data is gone, so no rollback can go to them.
    const versions = all.filter((v) => LOADABLE.has(v.state)).map((v) => ({ version: v.version, state: v.state as VersionState }));
    return { name: reference.name, versions, current: await pinnedVersion(reference, all) };
  }

  const unknownSecret = (name: string, known: Map<string, Reference>) =>
    new Error(`Cloud Run service ${settings.service} does not load secret ${name}: its env references ${[...known.keys()].join(', ') || 'no secret'} (valueSource.secretKeyRef); nothing was changed`);

  return {
    /**
     * The secrets the service's env references, each read from Secret Manager. One that Secret Manager
     * does not have fails the whole read, naming it: the next revision could not be deployed either.
     */
    async readSecrets() {
      const serving = servingContainers(await api.snapshot());
      const found: SecretVersions[] = [];
      for (const reference of references(serving, settings.project).values()) {
        found.push(await read(reference));
      }
      return found;
    },

    /**
     * Sets the versions' states in Secret Manager and pins the service to the newest version left
     * ENABLED. Safe to retry: a version already in its state is not sent again, and a service already
     * pinned there is not patched (one still reconciling from an earlier attempt is waited for).
     */
    async setVersionStates(name, states, options) {
      const known = references(servingContainers(await api.snapshot()), settings.project);
      const reference = known.get(name);
      if (!reference) throw unknownSecret(name, known);
      const versions = await secretManager.listVersions(reference.ref);
      for (const version of Object.keys(states).map(Number)) {
        const found = versions.find((v) => v.version === version);
        if (!found) throw new Error(`secret ${name} has no version ${version} (versions: ${listed(versions)}); nothing was changed`);
        if (!LOADABLE.has(found.state)) throw new Error(`version ${version} of secret ${name} is ${found.state}: its data is gone, so it can be neither enabled nor disabled; nothing was changed`);
      }
      const after = new Map(versions.map((v) => [v.version, states[v.version] ?? v.state] as [number, string]));
      const pin = newestEnabled(after);
      if (pin === null) throw new Error(`secret ${name} would have no ENABLED version (${JSON.stringify(states)}), so Cloud Run service ${settings.service} could load none; nothing was changed`);

      const before = await pinnedVersion(reference, versions);
      const enabledBefore = newestEnabled(versions.map((v) => [v.version, v.state]));
      if (before !== null && enabledBefore !== null && before < enabledBefore) {
        // The pin follows the newest enabled version; a service pinned below it is moved there on undo.
        context.logger.warn({ service: settings.service, secret: name, pinned: before, newestEnabled: enabledBefore }, 'the service was pinned below the newest enabled version; undoing this change pins the newest enabled one');
      }

      const changed = (version: number, state: VersionState) => states[version] === state && versions.find((v) => v.version === version)!.state !== state;
      for (const { version } of versions) if (changed(version, 'ENABLED')) await secretManager.enableVersion(reference.ref, version);
      // The new revision is made from what serves and takes its traffic and version tags (serving.ts).
      await changeServing(api, settings, { what: `secret ${name} pinned to version ${pin}`, edit: (containers) => pinned(containers, name, pin) }, { idempotencyKey: options.idempotencyKey, progress: api.logProgress });
      for (const { version } of versions) if (changed(version, 'DISABLED')) await secretManager.disableVersion(reference.ref, version);

      // Read back from the service as it is now, so `current` is what it loads, not what was asked.
      const { versions: now, current } = await read(references(servingContainers(await api.snapshot()), settings.project).get(name) ?? reference);
      api.logProgress(`secret ${name}: versions ${now.map((v) => `${v.version} ${v.state}`).join(', ')}; service ${settings.service} loads version ${current}`);
      return { name, versions: now, current };
    },
  };
}
