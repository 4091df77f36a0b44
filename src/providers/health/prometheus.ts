/**
 * Metrics from a Prometheus text endpoint (/metrics). One scrape reads the request counter by status
 * and the latency histogram's cumulative buckets, summed over every series that matches `match`;
 * health over a window is the difference between two scrapes (see window.ts).
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { z } from 'zod';
import { GAUGE_SELECTOR } from '../../contract/index.ts';
import type { MetricsSample, ProviderClient, ProviderDefinition } from '../types.ts';

const settingsSchema = z.strictObject({
  url: z.url(),
  requestsMetric: z.string().min(1).describe('counter of requests, labelled by status code'),
  latencyMetric: z.string().min(1).describe('histogram of request duration in seconds'),
  statusLabel: z.string().default('status'),
  match: z.record(z.string(), z.string()).default({}).describe('only series with these label values count'),
  timeoutMs: z.int().positive().default(5000),
});
type Settings = z.infer<typeof settingsSchema>;

function matches(labels: Record<string, string> | undefined, match: Record<string, string>): boolean {
  return Object.entries(match).every(([key, value]) => labels?.[key] === value);
}

/** `name{a="x",b="y"}` into its name and labels (the runbook schema has checked its form). */
export function parseSelector(selector: string): { name: string; labels: Record<string, string> } {
  const match = GAUGE_SELECTOR.exec(selector.trim());
  if (!match) throw new Error(`not a series selector: ${selector}`);
  const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  return { name: match[1]!, labels };
}

/** Parses one exposition into a sample; exported for tests that feed it text directly. */
export function sampleFromText(text: string, settings: Settings, takenAtMs: number, gaugeSelectors: readonly string[] = []): MetricsSample {
  // parse-prometheus-text-format folds every series of a histogram into one, dropping labels other
  // than `le`, so two versions' buckets would overwrite each other. Declared untyped, each
  // `<name>_bucket` line comes through as a plain sample with all its labels, which is what we sum.
  const untyped = text.replaceAll(`# TYPE ${settings.latencyMetric} histogram`, `# TYPE ${settings.latencyMetric} untyped`);
  const requestsByStatus: Record<string, number> = {};
  const buckets = new Map<number, number>();
  // prom-client and most exporters name the counter family without `_total`; accept either spelling.
  const requestsName = settings.requestsMetric.replace(/_total$/, '');
  const wanted = gaugeSelectors.map((selector) => ({ selector, ...parseSelector(selector) }));
  const gauges: Record<string, number | null> = Object.fromEntries(gaugeSelectors.map((s) => [s, null]));
  const families = parsePrometheusTextFormat(untyped);
  for (const family of families) {
    for (const gauge of wanted.filter((g) => g.name === family.name)) {
      for (const metric of family.metrics) {
        if (!('value' in metric) || !matches(metric.labels, gauge.labels)) continue;
        const value = Number(metric.value);
        // Several series (one per replica): the worst one is what a breach rule is about.
        if (Number.isFinite(value)) gauges[gauge.selector] = Math.max(gauges[gauge.selector] ?? -Infinity, value);
      }
    }
  }
  for (const family of families) {
    const isRequests = family.name === requestsName || family.name === settings.requestsMetric;
    const isBuckets = family.name === `${settings.latencyMetric}_bucket`;
    if (!isRequests && !isBuckets) continue;
    for (const metric of family.metrics) {
      if (!('value' in metric) || !matches(metric.labels, settings.match)) continue;
      const value = Number(metric.value);
      if (isRequests) {
        const status = metric.labels?.[settings.statusLabel] ?? 'unknown';
        requestsByStatus[status] = (requestsByStatus[status] ?? 0) + value;
      } else {
        const le = metric.labels?.le;
        if (le === undefined) continue;
        const bound = le === '+Inf' ? Infinity : Number(le);
        buckets.set(bound, (buckets.get(bound) ?? 0) + value);
      }
    }
  }
  const latencyBuckets = [...buckets.entries()].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count }));
  return { takenAtMs, requestsByStatus, latencyBuckets, gauges };
}

function create(settings: Settings): ProviderClient<'metrics'> {
  return {
    metrics: {
      async scrape(gauges = []) {
        const response = await fetch(settings.url, { signal: AbortSignal.timeout(settings.timeoutMs) });
        if (!response.ok) throw new Error(`metrics endpoint ${settings.url} answered ${response.status}`);
        return sampleFromText(await response.text(), settings, Date.now(), gauges);
      },
    },
  };
}

export const prometheus: ProviderDefinition<'metrics', Settings> = {
  id: 'prometheus',
  description: 'request counter by status and latency histogram from a Prometheus text endpoint; health over a window from two scrapes',
  capabilities: ['metrics'],
  settingsSchema,
  example: { url: 'http://127.0.0.1:18080/metrics', requestsMetric: 'http_requests_total', latencyMetric: 'http_request_duration_seconds' },
  create,
};
