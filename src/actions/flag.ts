/**
 * `flag: <name>`, `enabled: true|false`: a feature flag set in its store (seed 000's feature_flags
 * table, seed 004's flagd file). Undone by setting the value found.
 */
import { z } from 'zod';
import { featureName } from '../contract/index.ts';
import { findValue, lazily, providerChange, show, unknownName, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

const schema = lazily(() =>
  z.strictObject({
    flag: featureName.describe('feature flag name'),
    enabled: z.boolean().describe('the value to set'),
    provider: providerField(),
  }),
);
export type FlagAction = z.output<ReturnType<typeof schema>>;

export interface FlagChange {
  provider: string;
  flag: string;
  enabled: boolean;
}

export interface FlagActivities {
  setFlag(input: ProviderChange & { flag: string; enabled: boolean }): Promise<void>;
}

export const flag: ActionKindModule<'flag', FlagAction, FlagChange, FlagActivities> = {
  kind: 'flag',
  schema,
  capability: 'flags',
  repeat: { safe: true, why: 'setting a flag to the value it has changes nothing' },
  describe: (action) => `flag ${action.flag}`,

  async capture(action, ctx) {
    const all = await ctx.client('flags', action.provider).readFlags();
    if (!(action.flag in all)) return ctx.block(unknownName('flag', action.flag, action.provider, Object.keys(all)));
    if (findValue(ctx.values, 'flag', (v) => v.provider === action.provider && v.flag === action.flag)) return; // read once
    ctx.values.push({ kind: 'flag', provider: action.provider, flag: action.flag, enabled: all[action.flag]! });
  },

  plan(action, ctx) {
    const { provider } = action;
    const found = findValue(ctx.live, 'flag', (v) => v.provider === provider && v.flag === action.flag);
    if (!found) {
      ctx.unread(`flag ${action.flag} was not read from ${provider}`);
      return [];
    }
    const planned = {
      name: ctx.named(`flag ${action.flag}`),
      phase: ctx.phase,
      kind: 'flag',
      target: `flag ${action.flag} (${provider})`,
      from: show(found.enabled),
      to: show(action.enabled),
      changes: found.enabled !== action.enabled,
      change: { provider, flag: action.flag, enabled: action.enabled },
      undo: { provider, flag: action.flag, enabled: found.enabled },
    };
    found.enabled = action.enabled;
    return [planned];
  },

  carryOut: (change, ctx) => ctx.activities().setFlag({ ...providerChange(ctx, change.provider), flag: change.flag, enabled: change.enabled }),
};
