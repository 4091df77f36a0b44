/**
 * The verdict on health after a change, against the runbook's thresholds. Pure, so the rules are
 * tested directly. Health that cannot be measured is a failure to verify, never a pass.
 */
import type { HealthVerdict, WindowHealth } from '../contract/index.ts';
import type { Thresholds } from '../runbook/schema.ts';

const pct = (n: number) => `${n.toFixed(1)}%`;

export function judgeHealth(
  window: WindowHealth | null,
  checks: { name: string; passed: boolean; detail: string }[],
  thresholds: Thresholds,
  minRequests: number,
  metricsConfigured: boolean,
): HealthVerdict {
  const reasons: string[] = checks.filter((c) => !c.passed).map((c) => `check ${c.name} failed: ${c.detail}`);
  if (!metricsConfigured && checks.length === 0) reasons.push('no health checks or metrics in the runbook: health cannot be verified');
  if (metricsConfigured) {
    if (!window || window.requests < minRequests) {
      reasons.push(`health cannot be measured: ${window?.requests ?? 0} requests in the window, at least ${minRequests} needed`);
    } else {
      if (window.errorRatePct > thresholds.errorRatePct) reasons.push(`error rate ${pct(window.errorRatePct)} above ${thresholds.errorRatePct}%`);
      if (window.successRatePct < thresholds.successRatePct) reasons.push(`success rate ${pct(window.successRatePct)} below ${thresholds.successRatePct}%`);
      if (window.p95Ms === null) reasons.push('p95 latency cannot be measured: no latency histogram in the window');
      else if (window.p95Ms > thresholds.p95Ms) reasons.push(`p95 latency ${Math.round(window.p95Ms)} ms above ${thresholds.p95Ms} ms`);
    }
  }
  return { passed: reasons.length === 0, reasons, window, checks };
}
