/**
 * `cloudsql-clone`: seed 002's database recovery without touching the original. The instance is
 * cloned as it was at a point in time (`gcloud sql instances clone --point-in-time`), the operation
 * waited for, the runbook's smoke queries run on the clone (through the runbook database that reaches
 * it), the service pointed at the clone through its config provider (Cloud Run: an env var holding
 * the instance connection name), and the original kept, labelled with what replaced it. The undo
 * points the service back at the original and labels the clone; no instance is ever deleted.
 */
import { z } from 'zod';
import { configKey } from '../contract/index.ts';
import { findValue, lazily, providerChange, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

/** Cloud SQL instance names: lowercase letters, digits and hyphens, starting with a letter, at most 98 characters. */
const instanceName = z.string().regex(/^[a-z][a-z0-9-]{0,97}$/, 'must be a Cloud SQL instance name: lowercase letters, digits and "-", starting with a letter');

const schema = lazily(() =>
  z.strictObject({
    'cloudsql-clone': z
      .strictObject({
        instance: instanceName.describe('the instance to recover; it is kept as it is'),
        pointInTime: z
          .union([z.iso.datetime({ offset: true }), z.strictObject({ minutesAgo: z.int().min(1).max(60 * 24 * 35) })])
          .describe('an RFC 3339 time, or minutes before the rollback reads the instance (fixed then, so every retry clones the same moment)'),
        clone: instanceName.optional().describe('the new instance; by default <instance>-pitr-<yyyymmddhhmm of the point in time>'),
        database: z.string().min(1).describe('the runbook database (under databases:) that reaches the clone: its smoke queries run there before the service moves'),
        pointService: z
          .strictObject({
            provider: z.string().min(1).describe('a config provider under providers: (Cloud Run)'),
            key: configKey.describe('the config value that names the instance the service connects to, e.g. INSTANCE_CONNECTION_NAME'),
          })
          .describe('where the service is told which instance to use'),
      })
      .describe('clone a Cloud SQL instance to a point in time, verify the clone, and point the service at it; the original is kept'),
    provider: providerField(),
  }),
);
export type CloudSqlCloneAction = z.output<ReturnType<typeof schema>>;

export interface CloudSqlCloneChange {
  provider: string;
  direction: 'to-clone' | 'back';
  instance: string;
  clone: string;
  pointInTime: string;
  database: string;
  /** The config value set: the clone's connection name forward, what it was (null: unset) back. */
  config: { provider: string; key: string; value: string | null };
}

export interface CloudSqlCloneActivities {
  cloneDatabaseInstance(input: ProviderChange & { instance: string; clone: string; pointInTime: string }): Promise<{ name: string; state: string; connectionName: string }>;
  labelDatabaseInstance(input: ProviderChange & { instance: string; labels: Record<string, string> }): Promise<unknown>;
  smokeTestLive(input: { system: string; database: string }): Promise<void>;
  setConfig(input: ProviderChange & { values: Record<string, string | null> }): Promise<void>;
}

/** `2026-12-06T03:05:00Z` -> `202612060305`, for the clone's default name. */
const stamp = (iso: string) => new Date(iso).toISOString().slice(0, 16).replace(/[-T:]/g, '');

export const cloudSqlClone: ActionKindModule<'cloudsql-clone', CloudSqlCloneAction, CloudSqlCloneChange, CloudSqlCloneActivities> = {
  kind: 'cloudsql-clone',
  schema,
  capability: 'databaseClones',
  repeat: { safe: true, why: 'a clone that exists (or is being made) is waited for, not made again; labels and config set as they are change nothing' },
  describe: (action) => `cloudsql-clone ${action['cloudsql-clone'].instance}`,

  async capture(action, ctx) {
    const spec = action['cloudsql-clone'];
    const where = `cloudsql-clone ${spec.instance} (${action.provider})`;
    const clones = ctx.client('databaseClones', action.provider);
    const original = await clones.readInstance(spec.instance);
    if (!original) return ctx.block(`${where}: instance ${spec.instance} not found`);
    const window = await clones.recoveryWindow(spec.instance);
    const pointInTime = typeof spec.pointInTime === 'string' ? new Date(spec.pointInTime).toISOString() : new Date(Date.now() - spec.pointInTime.minutesAgo * 60_000).toISOString();
    // Compared as instants, not strings: the API drops a zero fraction ("...:34Z") and may give nanoseconds.
    const at = Date.parse(pointInTime);
    if (at < Date.parse(window.earliest) || at > Date.parse(window.latest)) {
      ctx.block(`${where}: ${pointInTime} is outside the instance's recovery window (${window.earliest} to ${window.latest})`);
    }
    const clone = spec.clone ?? `${spec.instance}-pitr-${stamp(pointInTime)}`;
    if (await clones.readInstance(clone)) return ctx.block(`${where}: instance ${clone} already exists; name another clone (clone: ...)`);
    const config = await ctx.client('config', spec.pointService.provider).readConfig();
    ctx.values.push({
      kind: 'cloudsql-clone',
      provider: action.provider,
      instance: spec.instance,
      connectionName: original.connectionName,
      clone,
      pointInTime,
      service: { provider: spec.pointService.provider, key: spec.pointService.key, value: config[spec.pointService.key] ?? null },
    });
  },

  plan(action, ctx) {
    const spec = action['cloudsql-clone'];
    const found = findValue(ctx.live, 'cloudsql-clone', (v) => v.provider === action.provider && v.instance === spec.instance);
    if (!found) {
      ctx.unread(`instance ${spec.instance} was not read from ${action.provider}`);
      return [];
    }
    // The clone's connection name is the original's with the instance part replaced (project:region:instance).
    const cloneConnection = [...found.connectionName.split(':').slice(0, -1), found.clone].join(':');
    const base = { provider: action.provider, instance: spec.instance, clone: found.clone, pointInTime: found.pointInTime, database: spec.database };
    const key = found.service.key;
    return [
      {
        name: ctx.named(`cloudsql-clone ${spec.instance}`),
        phase: ctx.phase,
        kind: 'cloudsql-clone',
        target: `instance ${spec.instance} (${action.provider}), service ${key} (${found.service.provider})`,
        from: `${key}=${found.service.value ?? 'unset'}`,
        to: `clone ${found.clone} at ${found.pointInTime}, ${key}=${cloneConnection}`,
        changes: true,
        change: { ...base, direction: 'to-clone', config: { provider: found.service.provider, key, value: cloneConnection } },
        undo: { ...base, direction: 'back', config: { provider: found.service.provider, key, value: found.service.value } },
      },
    ];
  },

  async carryOut(change, ctx) {
    const setService = (value: string | null) => ctx.activities().setConfig({ system: ctx.system, provider: change.config.provider, idempotencyKey: `${ctx.key}/config`, actor: ctx.actor, values: { [change.config.key]: value } });
    const label = (instance: string, labels: Record<string, string>, step: string) => ctx.activities().labelDatabaseInstance({ ...providerChange(ctx, change.provider), idempotencyKey: `${ctx.key}/${step}`, instance, labels });
    if (change.direction === 'back') {
      await setService(change.config.value);
      await label(change.clone, { 'rollback-undone': 'true' }, 'label-clone');
      // The original serves again: its replaced-by label emptied (labels are merged, never removed).
      await label(change.instance, { 'replaced-by': '' }, 'label-original');
      ctx.note(`- ${change.config.key} back to ${change.config.value ?? 'unset'}; clone ${change.clone} kept, labelled rollback-undone (delete it when no longer needed)`);
      return;
    }
    // Cloning copies the whole instance: allow an hour, with heartbeats carrying the operation's progress.
    const made = await ctx.activities(3600).cloneDatabaseInstance({ ...providerChange(ctx, change.provider), idempotencyKey: `${ctx.forwardKey}/clone`, instance: change.instance, clone: change.clone, pointInTime: change.pointInTime });
    try {
      await ctx.activities(300).smokeTestLive({ system: ctx.system, database: change.database });
    } catch (err) {
      // The service never moved, so this step has nothing to undo; the clone is marked so nobody takes it for a good copy.
      await label(change.clone, { 'rollback-check-failed': 'true' }, 'label-clone');
      ctx.note(`- clone ${change.clone} failed its smoke queries on ${change.database}; kept, labelled rollback-check-failed (delete it when no longer needed)`);
      throw err;
    }
    await setService(change.config.value);
    await label(change.instance, { 'replaced-by': change.clone }, 'label-original');
    ctx.note(`- cloned ${change.instance} at ${change.pointInTime} to ${made.name} (${made.state}); smoke queries passed on ${change.database}; ${change.config.key}=${change.config.value}; ${change.instance} kept, labelled replaced-by=${change.clone}`);
  },
};
