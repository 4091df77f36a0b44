/**
 * `release: {target, to}`: a target rolled to a named release, the way the seeds name them: a Render
 * or Railway deploy id (`railway rollback <id>`), an image or digest (`fly deploy --image`, Cloud
 * Run's `deploy --image`), a revision (`kubectl rollout undo --to-revision=3`), a git tag of the
 * compose file (seed 003), or `previous`. The snapshot reads what serves now and finds the named
 * release, so a version that does not exist is refused before anything changes, naming the last ten
 * that do; the undo rolls back to what served. Gated by `before-release-<target>`, else
 * `before-release`, when the runbook has either.
 */
import { z } from 'zod';
import { releaseGates, type Release } from '../contract/index.ts';
import type { ReleasesClient } from '../providers/types.ts';
import { findValue, lazily, providerChange, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

/** How many releases a refusal names: enough to spot the one meant, few enough to read at 3 a.m. */
export const RELEASES_LISTED = 10;

const schema = lazily(() =>
  z.strictObject({
    release: z
      .strictObject({
        target: z.string().min(1).max(200).describe('the service, app, Deployment or Compose service, as its provider names it'),
        to: z
          .string()
          .min(1)
          .max(300)
          .refine((to) => !/^\s|\s$/.test(to) && !to.startsWith('-'), 'must be a release name: no surrounding spaces, not starting with "-"')
          .default('previous')
          .describe('"previous" (the release before the one serving), or a deploy id, image reference, digest, revision or git tag as the provider names releases'),
      })
      .describe('roll a target to a named release; undone by rolling back to the release that served'),
    provider: providerField(),
  }),
);
export type ReleaseAction = z.output<ReturnType<typeof schema>>;

export interface ReleaseChange {
  provider: string;
  target: string;
  release: Release;
}

export interface ReleaseActivities {
  rollRelease(input: Omit<ProviderChange, 'provider'> & { provider?: string; target: string; release: Release }): Promise<unknown>;
}

/** A release in a plan or a refusal: "v41 (registry.fly.io/app:v41)", "dep-123 (fix login)". */
export function releaseName(release: Release): string {
  const also = [...(release.aliases ?? []), ...(release.label !== release.id ? [release.label] : [])].filter((name) => name !== release.id);
  return also.length > 0 ? `${release.id} (${also.join(', ')})` : release.id;
}

/**
 * The release `name` means for `target`, or the refusal naming the last ten it has:
 * "release 'v9' of web not found<where>; the last 10 it has: ...". Shared by the action's snapshot and
 * the release section's (src/activities/releases.ts).
 */
export async function findNamedRelease(releases: ReleasesClient, target: string, name: string, where = ''): Promise<{ release: Release } | { problem: string }> {
  const found = await releases.findRelease(target, name);
  if (found) return { release: found };
  const known = (await releases.listReleases(target, RELEASES_LISTED)).map(releaseName);
  return { problem: `release '${name}' of ${target} not found${where}; the last ${RELEASES_LISTED} it has: ${known.join(', ') || 'none'}` };
}

export const release: ActionKindModule<'release', ReleaseAction, ReleaseChange, ReleaseActivities> = {
  kind: 'release',
  schema,
  capability: 'releases',
  repeat: { safe: true, why: 'rolling to the release already serving changes nothing; each provider reads before it rolls' },
  describe: (action) => `release ${action.release.target}`,

  async capture(action, ctx) {
    const { target, to } = action.release;
    const releases = ctx.client('releases', action.provider);
    let value = findValue(ctx.values, 'release', (v) => v.provider === action.provider && v.target === target);
    if (!value) {
      const state = await releases.readRelease(target);
      value = { kind: 'release', provider: action.provider, target, current: state.current, previous: state.previous, named: {} };
      if (state.blocked) ctx.block(`release ${target} (${action.provider}) cannot be rolled now: ${state.blocked}`);
      ctx.values.push(value);
    }
    if (to === 'previous') {
      if (!value.previous) ctx.block(`release ${target} (${action.provider}) has no release before ${value.current ? releaseName(value.current) : 'the one serving'} to roll back to`);
      return;
    }
    if (to in value.named) return; // found once
    const named = await findNamedRelease(releases, target, to, ` on ${action.provider}`);
    if ('problem' in named) return ctx.block(named.problem);
    value.named[to] = named.release;
  },

  plan(action, ctx) {
    const { provider } = action;
    const { target, to } = action.release;
    const found = findValue(ctx.live, 'release', (v) => v.provider === provider && v.target === target);
    const wanted = to === 'previous' ? found?.previous : found?.named[to];
    if (!found || !wanted) {
      ctx.unread(`release ${to} of ${target} was not read from ${provider}`);
      return [];
    }
    if (!found.current) {
      ctx.problem(`release ${target} (${provider}): nothing is deployed, so there is nothing to roll back from or to`);
      return [];
    }
    const gate = ctx.gate(...releaseGates(target));
    const planned = {
      name: ctx.named(`release ${target}`),
      phase: ctx.phase,
      kind: 'release',
      target: `release of ${target} (${provider})`,
      from: releaseName(found.current),
      to: `${releaseName(wanted)}${wanted.fresh ? ' (deployed new)' : ''}`,
      changes: found.current.id !== wanted.id,
      change: { provider, target, release: wanted },
      undo: { provider, target, release: found.current },
      ...(gate ? { gate } : {}),
    };
    found.current = wanted;
    return [planned];
  },

  async carryOut(change, ctx) {
    // A rollout waits for the platform (image pulls, rollout status, operations): minutes.
    const state = await ctx.activities(900).rollRelease({ ...providerChange(ctx, change.provider), target: change.target, release: change.release });
    ctx.note(`- rolled ${change.target} to ${releaseName(change.release)} (${change.provider})`);
    return state;
  },
};
