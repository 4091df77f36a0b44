/**
 * The verdict on health after a change: checks, the metrics over a window against the runbook's
 * thresholds (absolute, or a multiple of the baseline measured before the first change), and staged
 * thresholds, each judged by its time. Pure, so the rules are tested directly and the workflow can
 * size the verification's timeout. Health that cannot be measured is a failure to verify, never a pass.
 */
import type { HealthVerdict, WindowHealth } from '../contract/index.ts';
import type { Health, HealthCheckSpec, Limit, PhaseVerify, Stage, Thresholds } from '../runbook/schema.ts';

export interface CheckOutcome {
  name: string;
  passed: boolean;
  detail: string;
}

type Metric = 'errorRatePct' | 'p95Ms' | 'successRatePct';
export type Limits = Partial<Record<Metric, Limit>>;

const pct = (n: number) => `${n.toFixed(1)}%`;
const ms = (n: number) => `${Math.round(n)} ms`;

// Judged in this order; error rate and p95 fail above their limit, success rate below it.
const METRICS: { metric: Metric; label: string; value: (n: number) => string; limit: (n: number) => string; worse: 'above' | 'below' }[] = [
  { metric: 'errorRatePct', label: 'error rate', value: pct, limit: (n) => `${n}%`, worse: 'above' },
  { metric: 'successRatePct', label: 'success rate', value: pct, limit: (n) => `${n}%`, worse: 'below' },
  { metric: 'p95Ms', label: 'p95 latency', value: ms, limit: (n) => `${n} ms`, worse: 'above' },
];

/** The limit as a number with how it reads (`300 ms (1.5 × baseline 200 ms)`), or why there is none. */
function resolveLimit(m: (typeof METRICS)[number], limit: Limit, baseline: WindowHealth | null, minRequests: number): { value: number; shown: string } | { problem: string } {
  if (typeof limit === 'number') return { value: limit, shown: m.limit(limit) };
  const cannot = `${m.label} cannot be judged against the baseline`;
  if (!baseline) return { problem: `${cannot}: none was measured before the first change` };
  if (baseline.requests < minRequests) return { problem: `${cannot}: it saw ${baseline.requests} requests, at least ${minRequests} needed` };
  const base = baseline[m.metric];
  if (base === null) return { problem: `${cannot}: it had no latency histogram` };
  const value = limit.timesBaseline * base;
  return { value, shown: `${m.value(value)} (${limit.timesBaseline} × baseline ${m.value(base)})` };
}

/**
 * Why the metrics over `window` break `limits`, one reason each (`error rate 12.5% above 10%`,
 * `p95 latency 420 ms above 300 ms (1.5 × baseline 200 ms)`); empty when they hold or nothing is limited.
 */
export function judgeWindow(window: WindowHealth | null, limits: Limits, minRequests: number, baseline: WindowHealth | null): string[] {
  const limited = METRICS.filter((m) => limits[m.metric] !== undefined);
  if (limited.length === 0) return [];
  if (!window || window.requests < minRequests) return [`health cannot be measured: ${window?.requests ?? 0} requests in the window, at least ${minRequests} needed`];
  const reasons: string[] = [];
  for (const m of limited) {
    const value = window[m.metric];
    if (value === null) {
      reasons.push(`${m.label} cannot be measured: no latency histogram in the window`);
      continue;
    }
    const resolved = resolveLimit(m, limits[m.metric]!, baseline, minRequests);
    if ('problem' in resolved) reasons.push(resolved.problem);
    else if (m.worse === 'above' ? value > resolved.value : value < resolved.value) reasons.push(`${m.label} ${m.value(value)} ${m.worse} ${resolved.shown}`);
  }
  return reasons;
}

const failed = (checks: readonly CheckOutcome[]) => checks.filter((c) => !c.passed).map((c) => `check ${c.name} failed: ${c.detail}`);

/** The verdict of one window: every check, and the metrics against the thresholds. */
export function judgeHealth(
  window: WindowHealth | null,
  checks: CheckOutcome[],
  thresholds: Thresholds,
  minRequests: number,
  metricsConfigured: boolean,
  baseline: WindowHealth | null = null,
): HealthVerdict {
  const reasons = failed(checks);
  if (!metricsConfigured && checks.length === 0) reasons.push('no health checks or metrics in the runbook: health cannot be verified');
  if (metricsConfigured) reasons.push(...judgeWindow(window, thresholds, minRequests, baseline));
  return { passed: reasons.length === 0, reasons, window, checks };
}

/** Why one measurement does not meet `stage` (its limits and its checks); empty when it does. */
export function judgeStage(stage: Stage, window: WindowHealth | null, checks: readonly CheckOutcome[], minRequests: number, baseline: WindowHealth | null): string[] {
  const limits: Limits = { errorRatePct: stage.errorRatePct, p95Ms: stage.p95Ms, successRatePct: stage.successRatePct };
  const own = stage.checks.map((name) => checks.find((c) => c.name === name) ?? { name, passed: false, detail: 'not run' });
  return [...judgeWindow(window, limits, minRequests, baseline), ...failed(own)];
}

/** `stage errors-down missed at 300 s: error rate 4.2% above 1%`. */
export const stageMissed = (stage: Stage, reasons: readonly string[]) => `stage ${stage.name} missed at ${stage.withinSeconds} s: ${reasons.join('; ') || 'not measured'}`;

/** What one verification checks: the runbook's health, with a phase's own checks and stages. */
export interface Verification {
  checks: HealthCheckSpec[];
  /** In the order of their times. */
  stages: Stage[];
  thresholds: Thresholds;
  minRequests: number;
  metrics: boolean;
  stageIntervalSeconds: number;
  stageWindowSeconds: number;
}

/** Whether a phase's `verify:` adds checks or stages of its own (the verification activity is then told the phase). */
export function hasOwnVerification(verify: PhaseVerify | boolean | undefined): verify is PhaseVerify {
  // Runbooks kept in histories from before phases had checks and stages have neither field.
  return typeof verify === 'object' && ((verify.checks?.length ?? 0) > 0 || verify.stages !== undefined);
}

/** The runbook's health with a phase's own checks and stages (the runbook's stages unless the phase has its own). */
export function verificationOf(health: Health, verify?: PhaseVerify | boolean): Verification {
  const own = hasOwnVerification(verify) ? verify : undefined;
  return {
    checks: [...health.checks, ...(own?.checks ?? [])],
    // `?? []` and the defaults below: runbooks kept in histories from before stages existed have none.
    stages: [...(own?.stages ?? health.stages ?? [])].sort((a, b) => a.withinSeconds - b.withinSeconds),
    thresholds: health.thresholds,
    minRequests: health.minRequests,
    metrics: health.metrics !== undefined,
    stageIntervalSeconds: health.stageIntervalSeconds ?? 15,
    stageWindowSeconds: health.stageWindowSeconds ?? 60,
  };
}

/** How long a check may take at most. */
export function checkTimeoutSeconds(check: HealthCheckSpec): number {
  if ('url' in check) return check.timeoutMs !== undefined ? check.timeoutMs / 1000 : (check.timeoutSeconds ?? 2);
  return check.timeoutSeconds;
}

/** The longest a verification can take: its window (or its last stage's time), then its checks (run together). */
export function verificationSeconds(v: Verification, windowSeconds: number): number {
  const measuring = v.stages.length > 0 ? v.stages.at(-1)!.withinSeconds : windowSeconds;
  return measuring + Math.max(0, ...v.checks.map(checkTimeoutSeconds));
}

/** Whether a limit it judges is a multiple of the baseline (the workflow then hands the activity its snapshot's baseline). */
export function usesBaseline(v: Verification): boolean {
  const relative = (limits: Limits) => Object.values(limits).some((l) => typeof l === 'object');
  return v.stages.length > 0 ? v.stages.some((s) => relative({ errorRatePct: s.errorRatePct, p95Ms: s.p95Ms, successRatePct: s.successRatePct })) : v.metrics && relative(v.thresholds);
}

/** The verification in words, for its step: `verify health for 300 s ...` or `... in 3 stages, by 900 s`. */
export function describeVerification(v: Verification, windowSeconds: number): string {
  if (v.stages.length === 0) return `verify health for ${windowSeconds} s against the runbook's thresholds`;
  return `verify health in ${v.stages.length} stage(s), the last by ${v.stages.at(-1)!.withinSeconds} s: ${v.stages.map((s) => `${s.name} by ${s.withinSeconds} s`).join(', ')}`;
}
