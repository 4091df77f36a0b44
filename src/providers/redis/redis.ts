/**
 * Redis, for two things the seeds do with it: emergency kill switches (seed 002: `redis-cli SET
 * "kill_switch:ai_scoring" "true"`, instant effect, since the service reads the key on each request)
 * and keyspace backups restored with their TTLs (seed 004 stage 9: `session:*:agentic_state`).
 * One connection per worker, opened on first use.
 */
import { createClient, RESP_TYPES } from 'redis';
import { z } from 'zod';
import { envVarName, featureName } from '../../contract/index.ts';
import { backupKeyspace, countKeys, listKeyspaceBackups, restoreKeyspace, undoKeyspaceRestore, verifyKeyspaceBackup, verifyKeyspaceRestore, type KeyspaceClientLike } from '../keyspace/redis-keyspace.ts';
import { secretFromEnv, type ProviderDefinition } from '../types.ts';

const settingsSchema = z
  .strictObject({
    url: z.url().optional().describe('redis://host:port/db without a password; use urlEnv when it has one'),
    urlEnv: envVarName.optional().describe('environment variable holding the URL (with its password)'),
    killSwitchPrefix: z.string().min(1).default('kill_switch:').describe('a feature is switched off while <prefix><feature> is "true"'),
    killSwitches: z
      .array(featureName)
      .default([])
      .describe('the features that have a kill switch (the service reads <prefix><feature>); a rollback may engage only these, since Redis cannot tell a misspelt feature from one never switched'),
  })
  .refine((s) => (s.url === undefined) !== (s.urlEnv === undefined), { message: 'give url or urlEnv (not both)' });
type Settings = z.infer<typeof settingsSchema>;

/** Values a service takes as "switched off" (what seed 002 writes, and what people type). */
const ON = new Set(['true', '1']);

export const redisProvider: ProviderDefinition<'killSwitches' | 'keyspace', Settings> = {
  id: 'redis',
  description: 'kill switches as Redis keys (<prefix><feature> = "true"), and keyspace backups (DUMP/PTTL) restored with their TTLs',
  capabilities: ['killSwitches', 'keyspace'],
  settingsSchema,
  example: { url: 'redis://127.0.0.1:6379', killSwitchPrefix: 'kill_switch:', killSwitches: ['ai_scoring', 'grok'] },
  declaredTargets: (settings) => ({ killSwitches: settings.killSwitches }),
  create(settings, context) {
    const url = settings.urlEnv ? secretFromEnv(context, settings.urlEnv) : settings.url!;
    // DUMP payloads are binary: blob strings come back as Buffers.
    const client = createClient({ url, socket: { connectTimeout: 5000, reconnectStrategy: (retries) => (retries > 5 ? false : 200 * retries) } }).withTypeMapping({
      [RESP_TYPES.BLOB_STRING]: Buffer,
    });
    client.on('error', (err: Error) => context.logger.warn({ error: err }, 'redis connection error'));
    let connecting: Promise<unknown> | null = null;
    const connected = async () => {
      if (!client.isOpen) connecting ??= client.connect().finally(() => (connecting = null));
      if (connecting) await connecting;
      return client;
    };
    // The keyspace functions take the plain client and map DUMP payloads to Buffers themselves.
    const forKeyspace = async () => (await connected()) as unknown as KeyspaceClientLike;
    const key = (feature: string) => `${settings.killSwitchPrefix}${feature}`;
    return {
      killSwitches: {
        listKillSwitches: async () => [...settings.killSwitches],
        async readKillSwitches(features) {
          const redis = await connected();
          const values = await Promise.all(features.map((f) => redis.get(key(f))));
          return Object.fromEntries(features.map((f, i) => [f, ON.has(values[i]?.toString() ?? '')]));
        },
        async setKillSwitch(feature, on) {
          // SET and DEL are idempotent: a retried call leaves the key as the first one did.
          const redis = await connected();
          if (on) await redis.set(key(feature), 'true');
          else await redis.del(key(feature));
        },
      },
      keyspace: {
        countKeys: async (pattern) => countKeys(await forKeyspace(), pattern),
        backup: async (options) => backupKeyspace(await forKeyspace(), options),
        listBackups: (dir) => listKeyspaceBackups(dir),
        verifyBackup: (dir, id) => verifyKeyspaceBackup(dir, id),
        restore: async (options) => restoreKeyspace(await forKeyspace(), options),
        verifyRestore: async (options) => verifyKeyspaceRestore(await forKeyspace(), options),
        undoRestore: async (options) => undoKeyspaceRestore(await forKeyspace(), options),
      },
      close: async () => {
        if (client.isOpen) await client.close();
      },
    };
  },
};
