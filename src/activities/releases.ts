/**
 * Releases of the targets a runbook's release section names (Compose services, Fly apps, Deployments,
 * Railway and Render services): read before anything changes, and each rolled to a release, waiting
 * until the platform reports it up. Progress lines from the platform (compose output, rollout status,
 * operation polls) go into heartbeats, so the UI's pending activity shows what it waits for.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { Release, ReleaseState, Snapshot } from '../contract/index.ts';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { findNamedRelease } from '../actions/release.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';

function releaseOf(runbook: Runbook): NonNullable<Runbook['release']> {
  if (!runbook.release) throw ApplicationFailure.nonRetryable(`the ${runbook.system} runbook has no release section: nothing here rolls targets back to a previous release`, 'InvalidRunbook');
  return runbook.release;
}

/** What the release section rolls each target to: its previous release, or the one it names. */
export function releaseTargets(section: NonNullable<Runbook['release']>): { target: string; to: string }[] {
  return section.targets.map((t) => (typeof t === 'string' ? { target: t, to: 'previous' } : t));
}

export const createReleaseActivities = (deps: ActivityDeps) => {
  // A release action names a provider under providers:; the release section has its own.
  const client = (system: string, provider?: string) => {
    const runbook = runbookFor(deps, system);
    return deps.clients.get('releases', provider === undefined ? releaseOf(runbook) : providerRef(runbook, provider));
  };
  return {
    /** The current and previous release of every target, in the runbook's order. Safe to retry: it only reads. */
    async captureReleases(input: { system: string }): Promise<Snapshot & { releases: ReleaseState[] }> {
      const runbook = runbookFor(deps, input.system);
      const releases = client(input.system);
      const states: ReleaseState[] = [];
      for (const { target, to } of releaseTargets(releaseOf(runbook))) {
        const state = await withHeartbeats(releases.readRelease(target));
        if (to !== 'previous') {
          // A named release takes the place of "previous"; one that does not exist blocks, naming those that do.
          const named = await withHeartbeats(findNamedRelease(releases, target, to));
          states.push('release' in named ? { ...state, previous: named.release } : { ...state, previous: null, blocked: named.problem });
        } else states.push(state);
      }
      return { takenAt: new Date().toISOString(), baseline: null, releases: states };
    },

    /**
     * Rolls `target` to `release` and waits until it is up. Safe to retry: rolling to the release
     * already serving changes nothing (each provider reads before it writes, or the platform honours
     * the idempotency key).
     */
    async rollRelease(input: { system: string; provider?: string; target: string; release: Release; idempotencyKey: string; actor: string }): Promise<ReleaseState> {
      const context = Context.current();
      let progress: string[] = [];
      return withHeartbeats(
        client(input.system, input.provider).rollTo(input.target, input.release, {
          idempotencyKey: input.idempotencyKey,
          actor: input.actor,
          signal: context.cancellationSignal,
          onProgress: (line) => (progress = [...progress, line].slice(-5)),
        }),
        () => ({ target: input.target, to: input.release.label, progress }),
      );
    },
  };
};
