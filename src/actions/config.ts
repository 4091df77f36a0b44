/**
 * `config: {KEY: value}` (null unsets): configuration values set through their provider (seed 000's
 * `fly secrets set USE_LANGGRAPH=false`, seed 002's `gcloud run services update --update-env-vars`).
 * Undone by setting every key back to the value found.
 */
import { z } from 'zod';
import { configKey } from '../contract/index.ts';
import { findValue, lazily, providerChange, show, unknownName, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

const schema = lazily(() =>
  z.strictObject({
    config: z
      .record(configKey, z.string().nullable())
      .refine((c) => Object.keys(c).length > 0, 'must set at least one key')
      .describe('values to set; null unsets a key'),
    provider: providerField(),
  }),
);
export type ConfigAction = z.output<ReturnType<typeof schema>>;

export interface ConfigChange {
  provider: string;
  values: Record<string, string | null>;
}

export interface ConfigActivities {
  setConfig(input: ProviderChange & { values: Record<string, string | null> }): Promise<void>;
}

export const config: ActionKindModule<'config', ConfigAction, ConfigChange, ConfigActivities> = {
  kind: 'config',
  schema,
  capability: 'config',
  repeat: { safe: true, why: 'the same key applies once, and setting what is there changes nothing' },
  describe: (action) => `config ${Object.keys(action.config).join(', ')}`,

  async capture(action, ctx) {
    const all = await ctx.client('config', action.provider).readConfig();
    const missing = Object.keys(action.config).filter((key) => !(key in all));
    for (const key of missing) ctx.block(unknownName('config key', key, action.provider, Object.keys(all)));
    // One entry per provider, holding every key any action touches.
    const found = Object.fromEntries(Object.keys(action.config).map((k) => [k, all[k] ?? null]));
    const entry = findValue(ctx.values, 'config', (v) => v.provider === action.provider);
    if (entry) Object.assign(entry.values, found);
    else if (missing.length === 0) ctx.values.push({ kind: 'config', provider: action.provider, values: found });
  },

  plan(action, ctx) {
    const { provider } = action;
    const found = findValue(ctx.live, 'config', (v) => v.provider === provider);
    if (!found) {
      ctx.unread(`config was not read from ${provider}`);
      return [];
    }
    const keys = Object.keys(action.config);
    const before = Object.fromEntries(keys.map((k) => [k, found.values[k] ?? null]));
    const planned = {
      name: ctx.named(`config ${keys.join(', ')}`),
      phase: ctx.phase,
      kind: 'config',
      target: `config ${keys.join(', ')} (${provider})`,
      from: keys.map((k) => `${k}=${show(before[k])}`).join(', '),
      to: keys.map((k) => `${k}=${show(action.config[k])}`).join(', '),
      changes: keys.some((k) => before[k] !== action.config[k]),
      change: { provider, values: action.config },
      undo: { provider, values: before },
    };
    Object.assign(found.values, action.config);
    return [planned];
  },

  carryOut: (change, ctx) => ctx.activities().setConfig({ ...providerChange(ctx, change.provider), values: change.values }),
};
