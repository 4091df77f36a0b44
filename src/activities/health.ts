import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { runHttpChecks } from '../providers/health/http-checks.ts';
import { healthBetween } from '../providers/health/window.ts';
import type { MetricsSample } from '../providers/types.ts';
import { judgeHealth } from '../plan/health.ts';
import type { HealthVerdict } from '../contract/index.ts';
import type { ActivityDeps } from './deps.ts';
import { sleepWithHeartbeats } from './heartbeat.ts';
import { runbookFor } from './runbook.ts';

export const HEALTH_NOT_VERIFIED = 'HealthNotVerified';

/** Heartbeat details are JSON, which has no Infinity: the +Inf bucket travels as null. */
type StoredSample = Omit<MetricsSample, 'latencyBuckets'> & { latencyBuckets: [number | null, number][] };
const store = (s: MetricsSample): StoredSample => ({ ...s, latencyBuckets: s.latencyBuckets.map((b) => [Number.isFinite(b.le) ? b.le : null, b.count]) });
const restore = (s: StoredSample): MetricsSample => ({ ...s, latencyBuckets: s.latencyBuckets.map(([le, count]) => ({ le: le ?? Infinity, count })) });

export const createHealthActivities = (deps: ActivityDeps) => ({
  /**
   * Watches health for `windowSeconds` after a change and judges it against the runbook's
   * thresholds; fails (not retried: the operator decides) when health is bad or cannot be measured.
   * Safe to retry: it only reads. A retry after a worker crash resumes the same window from the
   * first scrape kept in its heartbeat, rather than starting the wait again.
   */
  async verifyHealth(input: { system: string; windowSeconds: number }): Promise<HealthVerdict> {
    const runbook = runbookFor(deps, input.system);
    const context = Context.current();
    const metricsRef = runbook.health.metrics;
    let window = null;
    if (metricsRef) {
      const metrics = deps.clients.get('metrics', metricsRef);
      const resumed = context.info.heartbeatDetails as { first?: StoredSample } | undefined;
      const first = resumed?.first ? restore(resumed.first) : await metrics.scrape().catch(() => null);
      if (first) {
        await sleepWithHeartbeats(first.takenAtMs + input.windowSeconds * 1000 - Date.now(), { first: store(first) });
        const second = await metrics.scrape().catch(() => null);
        window = second ? healthBetween(first, second) : null;
      }
    }
    const checks = (await runHttpChecks(runbook.health.checks)).map(({ name, passed, detail }) => ({ name, passed, detail }));
    const verdict = judgeHealth(window, checks, runbook.health.thresholds, runbook.health.minRequests, metricsRef !== undefined);
    if (!verdict.passed) {
      throw ApplicationFailure.nonRetryable(`health not verified: ${verdict.reasons.join('; ')}`, HEALTH_NOT_VERIFIED, verdict);
    }
    return verdict;
  },
});
