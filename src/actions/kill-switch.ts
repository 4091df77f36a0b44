/**
 * `kill-switch: <feature>`, `on: true`: the feature switched off at once, without a deploy (seed 002's
 * "Emergency Kill Switch": `redis-cli SET kill_switch:ai_scoring true`). Only a feature its provider
 * lists: Redis reads a misspelt key as "off" as well, so a switch for `grk` would change nothing while
 * the rollback reported success. Undone by the state found.
 */
import { z } from 'zod';
import { featureName } from '../contract/index.ts';
import { findValue, lazily, providerChange, unknownName, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

const schema = lazily(() =>
  z.strictObject({
    'kill-switch': featureName.describe("feature name; one of the kill switches its provider's settings list"),
    on: z.boolean().default(true).describe('true switches the feature off (the kill switch engaged)'),
    provider: providerField(),
  }),
);
export type KillSwitchAction = z.output<ReturnType<typeof schema>>;

export interface KillSwitchChange {
  provider: string;
  feature: string;
  on: boolean;
}

export interface KillSwitchActivities {
  setKillSwitch(input: ProviderChange & { feature: string; on: boolean }): Promise<void>;
}

const word = (on: boolean) => (on ? 'on (feature off)' : 'off');

export const killSwitch: ActionKindModule<'kill-switch', KillSwitchAction, KillSwitchChange, KillSwitchActivities> = {
  kind: 'kill-switch',
  schema,
  capability: 'killSwitches',
  repeat: { safe: true, why: 'SET and DEL leave the key as the first call did' },
  describe: (action) => `kill-switch ${action['kill-switch']}`,

  async capture(action, ctx) {
    const switches = ctx.client('killSwitches', action.provider);
    const feature = action['kill-switch'];
    const known = await switches.listKillSwitches();
    if (!known.includes(feature)) {
      const where = `providers.${action.provider}.settings.killSwitches`;
      return ctx.block(`${unknownName('kill switch', feature, action.provider, known)}${known.length === 0 ? `; list the features that have one under ${where}` : ` (listed under ${where})`}`);
    }
    if (findValue(ctx.values, 'kill-switch', (v) => v.provider === action.provider && v.feature === feature)) return; // read once
    const found = await switches.readKillSwitches([feature]);
    ctx.values.push({ kind: 'kill-switch', provider: action.provider, feature, on: found[feature] ?? false });
  },

  plan(action, ctx) {
    const { provider } = action;
    const feature = action['kill-switch'];
    const found = findValue(ctx.live, 'kill-switch', (v) => v.provider === provider && v.feature === feature);
    if (!found) {
      ctx.unread(`kill switch ${feature} was not read from ${provider}`);
      return [];
    }
    const planned = {
      name: ctx.named(`kill switch ${feature}`),
      phase: ctx.phase,
      kind: 'kill-switch',
      target: `kill switch ${feature} (${provider})`,
      from: word(found.on),
      to: word(action.on),
      changes: found.on !== action.on,
      change: { provider, feature, on: action.on },
      undo: { provider, feature, on: found.on },
    };
    found.on = action.on;
    return [planned];
  },

  carryOut: (change, ctx) => ctx.activities().setKillSwitch({ ...providerChange(ctx, change.provider), feature: change.feature, on: change.on }),
};
