/**
 * The app's settings as a platform holds them (Fly secrets, GCP Secret Manager): config as string
 * key/values, and secrets with numbered versions, each ENABLED or DISABLED. A replica loads both when
 * it starts, so a change reaches running replicas only when they restart, as with `fly secrets set`
 * followed by `fly apps restart`. Secret values are random, made at start, and leave this store only
 * into a replica's environment: no answer, change-log entry or error message carries one.
 */
import { randomBytes } from 'node:crypto';
import { badRequest, HttpError } from './http.ts';

/** Seed 000's phase switches as they stand once all five phases have shipped. */
export const SEED_CONFIG: Readonly<Record<string, string>> = {
  DISABLE_HMAC_VERIFICATION: 'false', // phase 1: security foundation
  USE_LANGGRAPH: 'true', // phase 2: LangGraph extraction
  DUAL_LANE_ROUTING_ENABLED: 'true', // phase 3: dual-lane routing
  ROUTING_MODE: 'dual-lane',
  ENABLE_RAG: 'true', // phase 4: RAG and memory
  ENABLE_MEMORY: 'true',
  GROK_ENABLED: 'true', // phase 5: Grok integration
  LLM_PROVIDER: 'grok',
  USE_DELTA_ENTITIES: 'true', // seed 004 stage 10: validation of the delta entity system
  ENTITY_SYSTEM: 'delta', // seed 004 stage 11: cutover
};

/** How many versions each secret starts with, all ENABLED; XAI_API_KEY's version 2 is the freshly rotated one. */
export const SEED_SECRETS: Readonly<Record<string, number>> = { XAI_API_KEY: 2, OPENAI_API_KEY: 1, WEBHOOK_HMAC_SECRET: 2 };

export type SecretState = 'ENABLED' | 'DISABLED';

export interface SecretVersion {
  version: number;
  state: SecretState;
  createdAt: string;
}

export interface SecretView {
  versions: SecretVersion[];
  /** The version a replica starting now loads: the highest ENABLED one. */
  latest: number | null;
}

/** A secret change as the change log records it (state null: the version did not exist yet). */
export interface SecretChange {
  name: string;
  version: number;
  state: SecretState | null;
  latest: number | null;
}

/** What a replica starting now loads. */
export interface Boot {
  config: Record<string, string>;
  /** Each secret's latest ENABLED value; a secret with no version enabled is absent (here and in secretVersions). */
  secrets: Record<string, string>;
  secretVersions: Record<string, number>;
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const MAX_VALUE = 4096;
const CONFIG_SHAPE = 'expected {"set": {"KEY": "value"}, "unset": ["KEY"]}';
const fakeSecret = () => `fake-${randomBytes(24).toString('base64url')}`;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

type StoredVersion = SecretVersion & { value: string };
const latestEnabled = (versions: StoredVersion[]) => versions.filter((v) => v.state === 'ENABLED').at(-1);

export class Platform {
  private readonly config = new Map(Object.entries(SEED_CONFIG));
  private readonly secrets = new Map<string, StoredVersion[]>();

  constructor() {
    const createdAt = new Date().toISOString();
    for (const [name, count] of Object.entries(SEED_SECRETS)) {
      this.secrets.set(name, Array.from({ length: count }, (_, i) => ({ version: i + 1, state: 'ENABLED' as const, createdAt, value: fakeSecret() })));
    }
  }

  configView(): Record<string, string> {
    return Object.fromEntries(this.config);
  }

  secretsView(): Record<string, SecretView> {
    return Object.fromEntries([...this.secrets].map(([name, versions]) => [name, view(versions)]));
  }

  /** What a replica starting now loads: all config, and each secret's latest ENABLED version. */
  boot(): Boot {
    const secrets: Record<string, string> = {};
    const secretVersions: Record<string, number> = {};
    for (const [name, versions] of this.secrets) {
      const latest = latestEnabled(versions);
      if (!latest) continue;
      secrets[name] = latest.value;
      secretVersions[name] = latest.version;
    }
    return { config: this.configView(), secrets, secretVersions };
  }

  /**
   * Applies `{set?: {KEY: value}, unset?: [KEY]}` all or nothing. Before and after name only the keys
   * whose value changes (null: absent), so setting what is already there leaves both empty.
   */
  updateConfig(body: unknown): { before: Record<string, string | null>; after: Record<string, string | null> } {
    if (!isObject(body)) throw badRequest(CONFIG_SHAPE);
    const { set = {}, unset = [], ...rest } = body;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw badRequest(`unknown field "${extra}"; ${CONFIG_SHAPE}`);
    if (!isObject(set)) throw badRequest(`set must be an object; ${CONFIG_SHAPE}`);
    if (!Array.isArray(unset) || !unset.every((k) => typeof k === 'string')) throw badRequest(`unset must be a list of keys; ${CONFIG_SHAPE}`);
    for (const [key, value] of Object.entries(set)) {
      this.checkConfigKey(key);
      if (typeof value !== 'string' || value.length > MAX_VALUE) throw badRequest(`set.${key} must be a string of at most ${MAX_VALUE} characters`);
      if (unset.includes(key)) throw badRequest(`${key} is both set and unset`);
    }
    for (const key of unset as string[]) this.checkConfigKey(key);

    const before: Record<string, string | null> = {};
    const after: Record<string, string | null> = {};
    const next = [...Object.entries(set as Record<string, string>), ...(unset as string[]).map((key) => [key, null] as const)];
    for (const [key, value] of next) {
      const current = this.config.get(key) ?? null;
      if (current === value) continue;
      before[key] = current;
      after[key] = value;
      if (value === null) this.config.delete(key);
      else this.config.set(key, value);
    }
    return { before, after };
  }

  /** Adds an ENABLED version holding `{value}`; it becomes the latest. */
  addSecretVersion(name: string, body: unknown): { before: SecretChange; after: SecretChange } {
    const versions = this.versionsOf(name);
    const value = isObject(body) ? body.value : undefined;
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_VALUE) {
      throw badRequest(`expected {"value": "<the new secret value>"}: a non-empty string of at most ${MAX_VALUE} characters`);
    }
    const version = (versions.at(-1)?.version ?? 0) + 1;
    const before = { name, version, state: null, latest: latestEnabled(versions)?.version ?? null };
    versions.push({ version, state: 'ENABLED', createdAt: new Date().toISOString(), value });
    return { before, after: { name, version, state: 'ENABLED', latest: version } };
  }

  /** Enables or disables one version; disabling the latest makes the previous ENABLED one latest. */
  setSecretVersionState(name: string, versionText: string, body: unknown): { before: SecretChange; after: SecretChange } {
    const versions = this.versionsOf(name);
    const stored = versions.find((v) => String(v.version) === versionText);
    if (!stored) throw new HttpError(404, `secret ${name} has no version ${versionText}; its versions are: ${versions.map((v) => v.version).join(', ')}`);
    const state = isObject(body) ? body.state : undefined;
    if (state !== 'ENABLED' && state !== 'DISABLED') throw badRequest('state must be "ENABLED" or "DISABLED"');
    const snapshot = (): SecretChange => ({ name, version: stored.version, state: stored.state, latest: latestEnabled(versions)?.version ?? null });
    const before = snapshot();
    stored.state = state;
    return { before, after: snapshot() };
  }

  private versionsOf(name: string): StoredVersion[] {
    const versions = this.secrets.get(name);
    if (!versions) throw new HttpError(404, `unknown secret ${JSON.stringify(name)}; known secrets: ${[...this.secrets.keys()].join(', ')}`);
    return versions;
  }

  private checkConfigKey(key: string): void {
    if (!ENV_NAME.test(key)) throw badRequest(`config key ${JSON.stringify(key)} must be an environment variable name (A-Z, 0-9 and _)`);
    // The replica's environment is its config: NODE_OPTIONS and friends would change how it starts.
    if (key.startsWith('NODE_')) throw badRequest(`config key ${key} is refused: NODE_* variables change how the replica's Node starts`);
    if (this.secrets.has(key)) throw badRequest(`${key} is a secret; change it through /admin/secrets/${key}/versions`);
  }
}

function view(versions: StoredVersion[]): SecretView {
  return { versions: versions.map(({ version, state, createdAt }) => ({ version, state, createdAt })), latest: latestEnabled(versions)?.version ?? null };
}
