/**
 * Staged verification (seed 000: "error rate < 1% within 5 minutes, p95 back to baseline within 10,
 * success rate > 99% within 15"): every `stageIntervalSeconds`, and at each stage's time, the
 * metrics over the last `stageWindowSeconds` and the checks the waiting stages name are measured. A
 * stage holds from the first measurement that meets it, at or before its time; verification ends
 * when every stage holds, or fails at the first stage whose time comes without it, naming the stage,
 * the values seen and the limits. The checks no stage names run once, after the last stage holds.
 */
import { Context } from '@temporalio/activity';
import type { HealthVerdict, StageOutcome, WindowHealth } from '../contract/index.ts';
import { judgeStage, stageMissed, type CheckOutcome, type Verification } from '../plan/health.ts';
import type { HealthCheckSpec } from '../runbook/schema.ts';
import { healthBetween } from '../providers/health/window.ts';
import type { MetricsSample } from '../providers/types.ts';
import type { MeasuredSpan } from './health-checks.ts';
import { sleepWithHeartbeats, withHeartbeats } from './heartbeat.ts';

/** Heartbeat details are JSON, which has no Infinity: the +Inf bucket travels as null. */
export type StoredSample = Omit<MetricsSample, 'latencyBuckets'> & { latencyBuckets: [number | null, number][] };
export const store = (s: MetricsSample): StoredSample => ({ ...s, latencyBuckets: s.latencyBuckets.map((b) => [Number.isFinite(b.le) ? b.le : null, b.count]) });
export const restore = (s: StoredSample): MetricsSample => ({ ...s, latencyBuckets: s.latencyBuckets.map(([le, count]) => ({ le: le ?? Infinity, count })) });

/** What a measurement reads: a scrape of the metrics (or why it failed), and the checks. */
export interface Measurer {
  scrape(): Promise<{ sample: MetricsSample } | { problem: string }>;
  runChecks(checks: readonly HealthCheckSpec[], span: MeasuredSpan): Promise<CheckOutcome[]>;
}

/** Kept in the heartbeat, so a retry after a worker crash goes on with the same clock and stages. */
interface StagedProgress {
  startedAtMs: number;
  samples: StoredSample[];
  met: Record<string, number>;
}

export async function verifyInStages(v: Verification, measure: Measurer, baseline: WindowHealth | null): Promise<HealthVerdict> {
  const resumed = Context.current().info.heartbeatDetails as StagedProgress | undefined;
  const startedAtMs = resumed?.startedAtMs ?? Date.now();
  const samples = (resumed?.samples ?? []).map(restore);
  const outcomes: StageOutcome[] = v.stages.map((s) => ({ name: s.name, withinSeconds: s.withinSeconds, outcome: 'not_reached', atSeconds: null, reasons: [] }));
  for (const outcome of outcomes) {
    const at = resumed?.met[outcome.name];
    if (at !== undefined) Object.assign(outcome, { outcome: 'met', atSeconds: at });
  }
  const progress = (): StagedProgress => ({
    startedAtMs,
    samples: samples.map(store),
    met: Object.fromEntries(outcomes.filter((o) => o.outcome === 'met').map((o) => [o.name, o.atSeconds!])),
  });
  const pending = () => v.stages.filter((_, i) => outcomes[i]!.outcome === 'not_reached');
  const elapsed = (at: number) => Math.round((at - startedAtMs) / 100) / 10;
  const interval = v.stageIntervalSeconds * 1000;
  const span = v.stageWindowSeconds * 1000;

  let scrapeProblem: string | null = null;
  const scrape = async () => {
    if (!v.metrics) return;
    const got = await measure.scrape();
    scrapeProblem = 'problem' in got ? got.problem : null;
    if ('sample' in got) samples.push(got.sample);
  };
  if (samples.length === 0) await scrape();

  let window: WindowHealth | null = null;
  let checks: CheckOutcome[] = [];
  let lastAt = Date.now();
  while (pending().length > 0) {
    const deadline = startedAtMs + pending()[0]!.withinSeconds * 1000;
    await sleepWithHeartbeats(Math.min(lastAt + interval, deadline) - Date.now(), progress());
    const before = samples.length;
    await scrape();
    const now = Date.now();
    lastAt = now;
    // The window: from the last sample at least stageWindowSeconds old (else the first) to this one.
    const latest = samples.length > before ? samples.at(-1)! : null;
    const from = [...samples].reverse().find((s) => s.takenAtMs <= now - span) ?? samples[0];
    window = latest && from && from !== latest ? healthBetween(from, latest) : null;
    const named = new Set(pending().flatMap((s) => s.checks));
    checks = await withHeartbeats(measure.runChecks(v.checks.filter((c) => named.has(c.name)), { sinceMs: Math.max(startedAtMs, now - span), untilMs: now }), progress);
    for (const stage of pending()) {
      const outcome = outcomes[v.stages.indexOf(stage)]!;
      const limitsMetrics = stage.errorRatePct !== undefined || stage.p95Ms !== undefined || stage.successRatePct !== undefined;
      const unread = scrapeProblem && limitsMetrics ? [`health cannot be measured: the metrics could not be read: ${scrapeProblem}`] : null;
      outcome.reasons = unread ? [...unread, ...judgeStage({ ...stage, errorRatePct: undefined, p95Ms: undefined, successRatePct: undefined }, window, checks, v.minRequests, baseline)] : judgeStage(stage, window, checks, v.minRequests, baseline);
      if (outcome.reasons.length === 0) Object.assign(outcome, { outcome: 'met', atSeconds: elapsed(now) });
    }
    const missed = pending().filter((s) => startedAtMs + s.withinSeconds * 1000 <= now);
    if (missed.length > 0) {
      for (const stage of missed) Object.assign(outcomes[v.stages.indexOf(stage)]!, { outcome: 'missed', atSeconds: stage.withinSeconds });
      const first = missed[0]!;
      return { passed: false, reasons: [stageMissed(first, outcomes[v.stages.indexOf(first)]!.reasons)], window, checks, stages: outcomes };
    }
    // Only samples a later window can start from are kept (and travel in heartbeats).
    let oldest = samples.length - 1;
    while (oldest > 0 && samples[oldest]!.takenAtMs > now + interval - span) oldest--;
    if (oldest > 0) samples.splice(0, oldest);
  }

  const named = new Set(v.stages.flatMap((s) => s.checks));
  const rest = v.checks.filter((c) => !named.has(c.name));
  const restChecks = rest.length > 0 ? await withHeartbeats(measure.runChecks(rest, { sinceMs: startedAtMs, untilMs: Date.now() }), progress) : [];
  const reasons = restChecks.filter((c) => !c.passed).map((c) => `check ${c.name} failed: ${c.detail}`);
  return { passed: reasons.length === 0, reasons, window, checks: [...checks, ...restChecks], stages: outcomes };
}
