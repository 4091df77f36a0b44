/**
 * Health over a window from two scrapes of cumulative counters, the way Prometheus computes
 * `rate()` and `histogram_quantile()`: differences between the scrapes, a counter that went down is
 * taken as restarted from zero, and a quantile is interpolated linearly inside its bucket.
 */
import type { WindowHealth } from '../../contract/index.ts';
import type { MetricsSample } from '../types.ts';

export type { WindowHealth } from '../../contract/index.ts';

function increase(before: number, after: number): number {
  return after >= before ? after - before : after; // a reset restarts the counter from zero
}

/** The q-quantile (0..1) of a cumulative histogram, in the histogram's unit. */
export function quantileFromBuckets(q: number, buckets: readonly { le: number; count: number }[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      // Prometheus answers with the highest finite bound when the quantile falls in +Inf.
      if (le === Infinity) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

export function healthBetween(before: MetricsSample, after: MetricsSample): WindowHealth {
  const statuses = new Set([...Object.keys(before.requestsByStatus), ...Object.keys(after.requestsByStatus)]);
  let requests = 0;
  let errors = 0;
  let successes = 0;
  for (const status of statuses) {
    const n = increase(before.requestsByStatus[status] ?? 0, after.requestsByStatus[status] ?? 0);
    requests += n;
    const code = Number(status);
    if (code >= 500) errors += n;
    else if (code >= 200 && code < 400) successes += n;
  }
  const beforeBuckets = new Map(before.latencyBuckets.map((b) => [b.le, b.count]));
  const windowBuckets = after.latencyBuckets.map(({ le, count }) => ({ le, count: increase(beforeBuckets.get(le) ?? 0, count) }));
  const p95 = quantileFromBuckets(0.95, windowBuckets);
  return {
    seconds: (after.takenAtMs - before.takenAtMs) / 1000,
    requests,
    errors,
    errorRatePct: requests ? (100 * errors) / requests : 0,
    successRatePct: requests ? (100 * successes) / requests : 0,
    p95Ms: p95 === null ? null : p95 * 1000,
  };
}
