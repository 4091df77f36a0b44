/**
 * `restart: <version> | all`: a rolling restart so services load the config and secrets now current
 * (seed 000's `fly apps restart`). Undone by restarting again after the set's other undos, so the
 * replicas load the values put back.
 */
import { z } from 'zod';
import type { ReplicaBoot } from '../contract/index.ts';
import { lazily, providerChange, unknownName, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

const schema = lazily(() =>
  z.strictObject({
    restart: z.string().min(1).describe('the version or service to restart, or "all"'),
    provider: providerField(),
  }),
);
export type RestartAction = z.output<ReturnType<typeof schema>>;

export interface RestartChange {
  provider: string;
  target: string;
}

export interface RestartActivities {
  restartService(input: ProviderChange & { target: string }): Promise<ReplicaBoot[]>;
}

export const restart: ActionKindModule<'restart', RestartAction, RestartChange, RestartActivities> = {
  kind: 'restart',
  schema,
  capability: 'restarts',
  repeat: { safe: 'provider', why: 'where the provider honours the idempotency key a repeat is answered, not restarted again; with one that does not, a retry is refused for a person to decide' },
  undoLast: true,
  describe: (action) => `restart ${action.restart}`,

  async capture(action, ctx) {
    const restarts = ctx.client('restarts', action.provider);
    const targets = await restarts.targets();
    if (action.restart !== 'all' && !targets.includes(action.restart)) return ctx.block(unknownName('restart target', action.restart, action.provider, [...targets, 'all']));
    for (const target of action.restart === 'all' ? targets : [action.restart]) {
      if (ctx.values.some((v) => v.kind === 'restart' && v.provider === action.provider && v.target === target)) continue; // read once
      const replicas = (await restarts.readReplicas(target)).map(({ replica, pid, startedAt, config, secretVersions }) => ({ replica, pid, startedAt, config, secretVersions }));
      ctx.values.push({ kind: 'restart', provider: action.provider, target, replicas });
    }
  },

  plan(action, ctx) {
    const { provider } = action;
    const found = ctx.live.filter((v): v is Extract<typeof v, { kind: 'restart' }> => v.kind === 'restart' && v.provider === provider && (action.restart === 'all' || v.target === action.restart));
    if (found.length === 0) {
      ctx.unread(`restart target ${action.restart} was not read from ${provider}`);
      return [];
    }
    return found.map(({ target, replicas }) => ({
      name: ctx.named(`restart ${target}`),
      phase: ctx.phase,
      kind: 'restart',
      target: `restart ${target} (${provider})`,
      from: `${replicas.length} replica(s) started ${replicas.map((r) => r.startedAt).sort()[0] ?? 'never'}`,
      to: 'restarted, loading the config and secrets then current',
      changes: true,
      change: { provider, target },
      // Compensation restarts again, after the phase's other undos, so replicas load the restored values.
      undo: { provider, target },
    }));
  },

  async carryOut(change, ctx) {
    const replicas = await ctx.activities(300).restartService({ ...providerChange(ctx, change.provider), target: change.target });
    const loaded = replicas.map((r) => `${change.target}#${r.replica}: ${Object.entries(r.secretVersions).map(([s, v]) => `${s} v${v}`).join(', ') || 'no secrets'}`);
    ctx.note(`- restarted ${change.target}: ${replicas.length} replica(s) up (${loaded.join('; ')})`);
    return replicas;
  },
};
