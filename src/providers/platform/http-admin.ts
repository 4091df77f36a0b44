/**
 * Config, versioned secrets and restarts through a small HTTP admin API (the sandbox's; the shape of
 * a platform's: `fly secrets set` plus `fly apps restart`, or GCP Secret Manager versions that are
 * ENABLED or DISABLED, a service loading the latest enabled one when it starts):
 *   GET /admin/config, PUT /admin/config {set, unset}
 *   GET /admin/secrets, PUT /admin/secrets/<name>/versions/<n> {state}
 *   GET /admin/replicas, POST /admin/restart {version}
 * Every change carries an Idempotency-Key, so a retried activity applies it once (a restart too).
 * Secret values never cross this API: only version numbers and states.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { adminApi } from '../admin-api.ts';
import type { ProviderDefinition, ReplicaInfo, SecretVersions, VersionState } from '../types.ts';

const settingsSchema = z.strictObject({
  url: z.url(),
  adminTokenEnv: envVarName.optional(),
  timeoutMs: z.int().positive().default(30_000).describe('a rolling restart answers when every replica is back'),
});
type Settings = z.infer<typeof settingsSchema>;

const configSchema = z.object({ config: z.record(z.string(), z.string()) });
const secretsSchema = z.object({
  secrets: z.record(z.string(), z.object({ versions: z.array(z.object({ version: z.int(), state: z.enum(['ENABLED', 'DISABLED']) })) })),
});
const replicaSchema = z.looseObject({
  version: z.string(),
  replica: z.union([z.int(), z.string()]),
  pid: z.int().optional(),
  startedAt: z.string(),
  config: z.record(z.string(), z.string()),
  secretVersions: z.record(z.string(), z.int()),
});
const replicasSchema = z.object({ replicas: z.record(z.string(), z.array(replicaSchema)) });

/** The version a service starting now loads: the highest ENABLED one. */
export function currentVersion(versions: SecretVersions['versions']): number | null {
  const enabled = versions.filter((v) => v.state === 'ENABLED').map((v) => v.version);
  return enabled.length > 0 ? Math.max(...enabled) : null;
}

export const httpAdmin: ProviderDefinition<'config' | 'secrets' | 'restarts', Settings> = {
  id: 'http-admin',
  description: 'config, versioned secrets (ENABLED/DISABLED versions) and rolling restarts through an HTTP admin API (the sandbox\'s); idempotency keys on every change',
  capabilities: ['config', 'secrets', 'restarts'],
  settingsSchema,
  example: { url: 'http://127.0.0.1:18080' },
  create(settings, context) {
    const api = adminApi(settings, context, 'admin API');

    const readSecrets = async (): Promise<SecretVersions[]> => {
      const { secrets } = await api.read(secretsSchema, '/admin/secrets');
      return Object.entries(secrets).map(([name, { versions }]) => ({ name, versions, current: currentVersion(versions) }));
    };
    const readAllReplicas = async () => (await api.read(replicasSchema, '/admin/replicas')).replicas;

    return {
      config: {
        async readConfig() {
          return (await api.read(configSchema, '/admin/config')).config;
        },
        async setConfig(values, options) {
          const set = Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== null));
          const unset = Object.entries(values).filter(([, value]) => value === null).map(([key]) => key);
          await api.change(z.unknown(), 'PUT', '/admin/config', { set, unset }, options);
        },
      },
      secrets: {
        readSecrets,
        async setVersionStates(name, states: Record<number, VersionState>, options) {
          // One request per version, each with its own key derived from the change's, so a retry of the
          // whole change replays the versions already set and applies only the rest.
          for (const [version, state] of Object.entries(states)) {
            await api.change(z.unknown(), 'PUT', `/admin/secrets/${encodeURIComponent(name)}/versions/${version}`, { state }, { ...options, idempotencyKey: `${options.idempotencyKey}:v${version}` });
          }
          const secret = (await readSecrets()).find((s) => s.name === name);
          if (!secret) throw new Error(`secret ${name} vanished from the admin API`);
          return secret;
        },
      },
      restarts: {
        targets: async () => Object.keys(await readAllReplicas()),
        readReplicas: async (target) => ((await readAllReplicas())[target] ?? []) as ReplicaInfo[],
        async restart(target, options) {
          await api.change(z.unknown(), 'POST', '/admin/restart', { version: target }, options);
          return ((await readAllReplicas())[target] ?? []) as ReplicaInfo[];
        },
      },
    };
  },
};
