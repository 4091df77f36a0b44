import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { createPreflightCheckActivities } from './preflight-checks.ts';
import { runbookFor } from './runbook.ts';
import { acquireSystemLock, isRunning } from './system-lock.ts';

export interface PreflightInput {
  system: string;
  workflowId: string;
  workflowType: string;
  startedAt: string;
  dryRun: boolean;
}

export const createPreflightActivities = (deps: ActivityDeps) => ({
  ...createPreflightCheckActivities(deps),

  /**
   * Loads the runbook and takes the system's rollback lock, or refuses naming the rollback that
   * holds it (src/workflows/rollback-lock.ts). A dry run changes nothing, so it takes no lock.
   * Safe to retry: loading only reads, and the lock is given again to the rollback that holds it.
   */
  async preflight(input: PreflightInput): Promise<Runbook> {
    const runbook = runbookFor(deps, input.system);
    if (input.dryRun) return runbook;
    await acquireSystemLock(deps.temporal.client, {
      system: input.system,
      workflowId: input.workflowId,
      workflowType: input.workflowType,
      startedAt: input.startedAt,
    });
    return runbook;
  },

  /** Whether a lock's holder still runs (read from the server, not the lagging visibility store). Safe to retry: it only reads. */
  async rollbackRunning(input: { workflowId: string }): Promise<boolean> {
    return isRunning(deps.temporal.client, input.workflowId);
  },
});
