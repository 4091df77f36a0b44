/**
 * Judging a runbook's preflight checks inside the workflow (pure): how long they may take, the one
 * refusal that names every failed check, and the blockers a dry run lists instead of refusing.
 */
import type { Blocker, PreflightResult } from '../contract/index.ts';
import type { PreflightCheckSpec } from '../runbook/schema.ts';

/** Time to connect or start before a check's own timeout starts counting. */
const MARGIN_SECONDS = 30;

/** Seconds the checks may take together: they run at once, so the slowest one's timeout and a margin. */
export function preflightSeconds(checks: readonly PreflightCheckSpec[]): number {
  const each = checks.map((check) => {
    if ('sql' in check) return check.sql.timeoutSeconds;
    if ('url' in check) return check.timeoutSeconds ?? (check.timeoutMs !== undefined ? check.timeoutMs / 1000 : 2);
    if ('command' in check) return check.timeoutSeconds;
    return 60; // a platform API answering what its releases are
  });
  return Math.ceil(Math.max(0, ...each)) + MARGIN_SECONDS;
}

const line = (result: PreflightResult) => `${result.name} (${result.kind}): ${result.detail}`;

/** The refusal of a real run: every failed check, the value it saw and what was expected, in the runbook's order. */
export function preflightRefusal(system: string, results: readonly PreflightResult[]): string {
  const failed = results.filter((r) => !r.passed);
  return `preflight refused the rollback of ${system}; nothing was changed. ${failed.length} of ${results.length} check(s) failed:\n${failed.map((r) => `- ${line(r)}`).join('\n')}`;
}

/** What a dry run lists instead: each failed check as a blocker (the check's own message says what clears it). */
export function preflightBlockers(results: readonly PreflightResult[]): Blocker[] {
  return results.filter((r) => !r.passed).map((r) => ({ problem: `preflight check ${line(r)}`, fix: null }));
}
