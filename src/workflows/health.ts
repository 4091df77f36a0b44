/**
 * Verifying health after a change: the runbook's checks, and its metrics over a window or in stages,
 * judged against its thresholds (src/activities/health.ts does the measuring). A verdict that fails
 * (bad, or not measurable) is a failed step: a person decides. The verdict, with the values it saw,
 * is kept on the board for status and the report.
 */
import { ActivityFailure, ApplicationFailure, patched } from '@temporalio/workflow';
import type { HealthVerdict } from '../contract/index.ts';
import type { Health } from '../runbook/schema.ts';
import { describeVerification, hasOwnVerification, usesBaseline, verificationOf, verificationSeconds } from '../plan/health.ts';
import { activities, watching } from './activities.ts';
import type { Rollback } from './rollback.ts';

/**
 * One verification step named `verify:<after>`, after a change set. `phase`: the phase just undone,
 * whose `verify:` may add checks and stages. The activity is told the phase only when it has its own
 * checks or stages, and the baseline only when a limit is relative to it, so the activity's input
 * (and the history) of every other verification stays as it was.
 */
export async function verifyHealth(rollback: Rollback, system: string, after: string, windowSeconds: number, phase: number | null = null): Promise<void> {
  const runbook = rollback.runbook;
  const verify = phase === null ? undefined : runbook.phases.find((p) => p.id === phase)?.verify;
  const v = verificationOf(runbook.health, verify);
  const input = {
    system,
    windowSeconds,
    ...(phase !== null && hasOwnVerification(verify) ? { phase } : {}),
    ...(usesBaseline(v) ? { baseline: rollback.board.view.snapshot?.baseline ?? null } : {}),
  };
  const staged = v.stages.length > 0;
  await rollback.step({
    name: `verify:${after}`,
    kind: 'verify',
    description: describeVerification(v, windowSeconds),
    run: async () => {
      try {
        const summary = staged ? `verify health of ${system} in ${v.stages.length} stage(s)` : `verify health of ${system} for ${windowSeconds} s`;
        rollback.board.setHealthAfter(await activities(summary, watching(verificationSeconds(v, windowSeconds))).verifyHealth(input));
      } catch (err) {
        if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'HealthNotVerified') {
          rollback.board.setHealthAfter(err.cause.details?.[0] as HealthVerdict);
        }
        throw err;
      }
    },
  });
}

/** dataRestore verifies the service's health after a restore in runs started after this existed. */
const RESTORE_HEALTH_PATCH = 'verify-health-after-restore';
/** Its baseline's length (dataRestore's input has no baselineSeconds; the other rollbacks' default). */
const RESTORE_BASELINE_SECONDS = 5;

/** Whether the runbook says how to judge the service's health at all (checks, metrics or stages). */
function declaresHealth(health: Health): boolean {
  return health.checks.length > 0 || health.metrics !== undefined || (health.stages ?? []).length > 0;
}

/**
 * Before a dataRestore changes anything: the baseline its health verification is judged against, when
 * the runbook's limits are relative to one; kept as the rollback's snapshot.
 */
export async function baselineBeforeRestore(rollback: Rollback, system: string): Promise<void> {
  const health = rollback.runbook.health;
  if (!declaresHealth(health) || !usesBaseline(verificationOf(health)) || !patched(RESTORE_HEALTH_PATCH)) return;
  const baseline = await activities(`health baseline of ${system}`, watching(RESTORE_BASELINE_SECONDS)).measureBaseline({ system, seconds: RESTORE_BASELINE_SECONDS });
  rollback.board.setSnapshot({ takenAt: new Date().toISOString(), baseline });
}

/**
 * After a dataRestore: the service's health, verified as after any other rollback, when the runbook
 * declares how (a restore that leaves the service failing is a failed step: a person decides, and
 * compensation swaps back). Runbooks without health and histories from before are left as they were.
 */
export async function verifyHealthAfterRestore(rollback: Rollback, system: string, after: string): Promise<void> {
  const health = rollback.runbook.health;
  if (!declaresHealth(health) || !patched(RESTORE_HEALTH_PATCH)) return;
  await verifyHealth(rollback, system, after, health.windowSeconds);
}
