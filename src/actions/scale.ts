/**
 * `scale: {target, instances}`: a version or service scaled to a number of instances through a
 * provider of instance scaling (seed 000's `fly scale count 0 -a app-canary`; a Deployment's
 * replicas; the sandbox router's versions). The count found is the snapshot, and the undo
 * scales back to it.
 */
import { z } from 'zod';
import type { TrafficState } from '../contract/index.ts';
import { findValue, lazily, providerChange, unknownName, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

/** Far above any service a rollback scales, far below a typo that would bill a fleet (10000 for 10). */
export const MAX_INSTANCES = 1000;

const schema = lazily(() =>
  z.strictObject({
    scale: z
      .strictObject({
        target: z.string().min(1).max(200).describe('the version, Machine group, Deployment or service to scale, as its provider names it'),
        instances: z.int().min(0, 'must be 0 or more').max(MAX_INSTANCES, `must be at most ${MAX_INSTANCES}`).describe('the number of instances it runs afterwards (0 stops it)'),
      })
      .describe('scale a target to a number of instances; undone by scaling back to the count found'),
    provider: providerField(),
  }),
);
export type ScaleAction = z.output<ReturnType<typeof schema>>;

export interface ScaleChange {
  provider: string;
  target: string;
  instances: number;
}

export interface ScaleActivities {
  scaleTarget(input: ProviderChange & { target: string; instances: number }): Promise<TrafficState>;
}

export const scale: ActionKindModule<'scale', ScaleAction, ScaleChange, ScaleActivities> = {
  kind: 'scale',
  schema,
  capability: 'scaling',
  repeat: { safe: true, why: 'scaling to the count it has changes nothing, and the provider applies one key once' },
  describe: (action) => `scale ${action.scale.target}`,

  async capture(action, ctx) {
    const { target } = action.scale;
    const { instances } = await ctx.client('scaling', action.provider).readState();
    if (!(target in instances)) return ctx.block(unknownName('scale target', target, action.provider, Object.keys(instances)));
    if (findValue(ctx.values, 'instances', (v) => v.provider === action.provider && v.target === target)) return; // read once
    ctx.values.push({ kind: 'instances', provider: action.provider, target, count: instances[target]! });
  },

  plan(action, ctx) {
    const { provider } = action;
    const { target, instances } = action.scale;
    const found = findValue(ctx.live, 'instances', (v) => v.provider === provider && v.target === target);
    if (!found) {
      ctx.unread(`the instances of ${target} were not read from ${provider}`);
      return [];
    }
    const planned = {
      name: ctx.named(`scale ${target}`),
      phase: ctx.phase,
      kind: 'scale',
      target: `instances of ${target} (${provider})`,
      from: `${found.count}`,
      to: `${instances}`,
      changes: found.count !== instances,
      change: { provider, target, instances },
      undo: { provider, target, instances: found.count },
    };
    found.count = instances;
    return [planned];
  },

  async carryOut(change, ctx) {
    const state = await ctx.activities(600).scaleTarget({ ...providerChange(ctx, change.provider), target: change.target, instances: change.instances });
    ctx.note(`- scaled ${change.target} to ${change.instances} instance(s) (${change.provider}); now ${JSON.stringify(state.instances)}`);
    return state;
  },
};
