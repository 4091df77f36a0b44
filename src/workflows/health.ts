/**
 * Verifying health after a change: the runbook's HTTP checks and metrics over a window, judged
 * against its thresholds. A verdict that fails (bad, or not measurable) is a failed step: a person
 * decides. The verdict, with the values it saw, is kept on the board for status and the report.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { HealthVerdict } from '../contract/index.ts';
import { activities, watching } from './activities.ts';
import type { Rollback } from './rollback.ts';

export async function verifyHealth(rollback: Rollback, system: string, after: string, windowSeconds: number): Promise<void> {
  await rollback.step({
    name: `verify:${after}`,
    kind: 'verify',
    description: `verify health for ${windowSeconds} s against the runbook's thresholds`,
    run: async () => {
      try {
        rollback.board.setHealthAfter(await activities(`verify health of ${system} for ${windowSeconds} s`, watching(windowSeconds)).verifyHealth({ system, windowSeconds }));
      } catch (err) {
        if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'HealthNotVerified') {
          rollback.board.setHealthAfter(err.cause.details?.[0] as HealthVerdict);
        }
        throw err;
      }
    },
  });
}
