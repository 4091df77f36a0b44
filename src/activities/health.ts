import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { healthBetween } from '../providers/health/window.ts';
import { judgeHealth, verificationOf } from '../plan/health.ts';
import type { HealthVerdict, WindowHealth } from '../contract/index.ts';
import type { ActivityDeps } from './deps.ts';
import { createCheckRunner } from './health-checks.ts';
import { restore, store, verifyInStages, type Measurer, type StoredSample } from './health-stages.ts';
import { sleepWithHeartbeats, withHeartbeats } from './heartbeat.ts';
import { runbookFor } from './runbook.ts';

export const HEALTH_NOT_VERIFIED = 'HealthNotVerified';

export interface VerifyHealthInput {
  system: string;
  windowSeconds: number;
  /** A phase whose `verify:` has checks or stages of its own; left out otherwise. */
  phase?: number;
  /** The snapshot's baseline, given when a limit is a multiple of it (null: none was measured). */
  baseline?: WindowHealth | null;
}

export const createHealthActivities = (deps: ActivityDeps) => ({
  /**
   * Verifies health after a change: over `windowSeconds`, the metrics against the runbook's
   * thresholds and then every check; or, with stages, measuring until each stage holds by its time
   * (src/activities/health-stages.ts). Fails (not retried: the operator decides) when health is bad
   * or cannot be measured, with the verdict, the values seen and the limits, as the failure's details.
   * Safe to retry: it only reads (the runbook's checks must be read-only). A retry after a worker
   * crash resumes the same window or stages from what its heartbeat kept, rather than starting again.
   */
  async verifyHealth(input: VerifyHealthInput): Promise<HealthVerdict> {
    const runbook = runbookFor(deps, input.system);
    const context = Context.current();
    const verify = input.phase === undefined ? undefined : runbook.phases.find((p) => p.id === input.phase)?.verify;
    const v = verificationOf(runbook.health, verify);
    const metricsRef = runbook.health.metrics;
    const metrics = metricsRef ? deps.clients.get('metrics', metricsRef) : null;
    const measure: Measurer = {
      scrape: () => (metrics ? metrics.scrape().then((sample) => ({ sample }), (err: Error) => ({ problem: err.message })) : Promise.resolve({ problem: 'no metrics in the runbook' })),
      runChecks: createCheckRunner(deps, runbook, context.cancellationSignal),
    };
    const baseline = input.baseline ?? null;
    let verdict: HealthVerdict;
    if (v.stages.length > 0) {
      verdict = await verifyInStages(v, measure, baseline);
    } else {
      const resumed = context.info.heartbeatDetails as { first?: StoredSample; startedAtMs?: number } | undefined;
      const startedAtMs = resumed?.startedAtMs ?? resumed?.first?.takenAtMs ?? Date.now();
      let window = null;
      let first = resumed?.first ? restore(resumed.first) : null;
      if (metrics) {
        first ??= await metrics.scrape().catch(() => null);
        if (first) {
          await sleepWithHeartbeats(first.takenAtMs + input.windowSeconds * 1000 - Date.now(), { first: store(first), startedAtMs });
          const second = await metrics.scrape().catch(() => null);
          window = second ? healthBetween(first, second) : null;
        }
      } else if (v.checks.some((check) => 'logsFrom' in check)) {
        // Nothing else waits out the window here, and a log API holds only what was logged by the
        // time it is read: the lines of a window just begun would be none.
        await sleepWithHeartbeats(startedAtMs + input.windowSeconds * 1000 - Date.now(), { startedAtMs });
      }
      const details = { ...(first ? { first: store(first) } : {}), startedAtMs };
      const checks = await withHeartbeats(measure.runChecks(v.checks, { sinceMs: startedAtMs, untilMs: Date.now() }), () => details);
      verdict = judgeHealth(window, checks, v.thresholds, v.minRequests, v.metrics, baseline);
    }
    if (!verdict.passed) {
      throw ApplicationFailure.nonRetryable(`health not verified: ${verdict.reasons.join('; ')}`, HEALTH_NOT_VERIFIED, verdict);
    }
    return verdict;
  },
});
