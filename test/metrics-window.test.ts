import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { healthBetween, quantileFromBuckets } from '../src/providers/health/window.ts';
import type { MetricsSample } from '../src/providers/types.ts';

const sample = (takenAtMs: number, requestsByStatus: Record<string, number>, buckets: [number, number][]): MetricsSample => ({
  takenAtMs,
  requestsByStatus,
  latencyBuckets: buckets.map(([le, count]) => ({ le, count })),
  gauges: {},
});

describe('health over a window (pure arithmetic)', () => {
  test('p95 is interpolated linearly inside its bucket, as histogram_quantile does', () => {
    // 100 observations: 50 under 0.1 s, 40 in (0.1, 0.5], 10 in (0.5, 1]: rank 95 is halfway into the last bucket.
    const buckets = [
      { le: 0.1, count: 50 },
      { le: 0.5, count: 90 },
      { le: 1, count: 100 },
      { le: Infinity, count: 100 },
    ];
    assert.equal(quantileFromBuckets(0.95, buckets), 0.75);
    assert.equal(quantileFromBuckets(0.5, buckets), 0.1);
  });

  test('a quantile in the +Inf bucket answers the highest finite bound', () => {
    assert.equal(quantileFromBuckets(0.95, [{ le: 1, count: 10 }, { le: Infinity, count: 100 }]), 1);
  });

  test('an empty histogram has no p95, and a window with no requests is not healthy by default', () => {
    const before = sample(0, { '200': 10 }, [[0.1, 10], [Infinity, 10]]);
    const health = healthBetween(before, { ...before, takenAtMs: 5000 });
    assert.deepEqual(health, { seconds: 5, requests: 0, errors: 0, errorRatePct: 0, successRatePct: 0, p95Ms: null });
  });

  test('rates come from the difference between scrapes, and a counter reset counts from zero', () => {
    const before = sample(0, { '200': 1000, '500': 50 }, [[0.1, 1000], [0.5, 1050], [Infinity, 1050]]);
    const after = sample(10_000, { '200': 1090, '500': 60, '404': 5 }, [[0.1, 1090], [0.5, 1155], [Infinity, 1155]]);
    const health = healthBetween(before, after);
    assert.equal(health.requests, 105);
    assert.equal(health.errors, 10);
    assert.equal(health.errorRatePct.toFixed(3), ((100 * 10) / 105).toFixed(3));
    assert.equal(health.successRatePct.toFixed(3), ((100 * 90) / 105).toFixed(3));
    // Window buckets: 90 under 0.1 s, 15 in (0.1, 0.5]; rank 99.75 is 9.75/15 of the way into the second.
    assert.equal(health.p95Ms?.toFixed(3), (100 + (400 * 9.75) / 15).toFixed(3));
    const restarted = healthBetween(after, sample(20_000, { '200': 7 }, [[0.1, 7], [0.5, 7], [Infinity, 7]]));
    assert.equal(restarted.requests, 7);
  });
});

describe('Prometheus text parsing', () => {
  test('buckets of several labelled series are summed, and `match` keeps only the chosen series', async () => {
    const { sampleFromText } = await import('../src/providers/health/prometheus.ts');
    const text = [
      '# HELP req Requests',
      '# TYPE req counter',
      'req{version="stable",status="200"} 90',
      'req{version="canary",status="200"} 8',
      'req{version="canary",status="500"} 2',
      '# TYPE lat histogram',
      'lat_bucket{le="0.1",version="stable"} 80',
      'lat_bucket{le="+Inf",version="stable"} 90',
      'lat_sum{version="stable"} 5',
      'lat_count{version="stable"} 90',
      'lat_bucket{le="0.1",version="canary"} 1',
      'lat_bucket{le="+Inf",version="canary"} 10',
      'lat_sum{version="canary"} 9',
      'lat_count{version="canary"} 10',
      '',
    ].join('\n');
    const settings = { url: 'http://unused', requestsMetric: 'req_total', latencyMetric: 'lat', statusLabel: 'status', timeoutMs: 1 };
    const all = sampleFromText(text, { ...settings, match: {} }, 0);
    assert.deepEqual(all.requestsByStatus, { '200': 98, '500': 2 });
    assert.deepEqual(all.latencyBuckets, [{ le: 0.1, count: 81 }, { le: Infinity, count: 100 }]);
    const canary = sampleFromText(text, { ...settings, match: { version: 'canary' } }, 0);
    assert.deepEqual(canary.requestsByStatus, { '200': 8, '500': 2 });
    assert.deepEqual(canary.latencyBuckets, [{ le: 0.1, count: 1 }, { le: Infinity, count: 10 }]);
  });
});
