import { ApplicationFailure } from '@temporalio/common';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { runbookFor } from './runbook.ts';

export const ROLLBACK_ALREADY_RUNNING = 'RollbackAlreadyRunning';

export interface PreflightInput {
  system: string;
  workflowId: string;
  workflowType: string;
  startedAt: string;
  dryRun: boolean;
}

export const createPreflightActivities = (deps: ActivityDeps) => ({
  /**
   * Loads the runbook and refuses a second rollback of the same system while one runs, naming it.
   * Two rollbacks started at the same instant both see each other; the later-started one refuses.
   * Safe to retry: it only reads.
   */
  async preflight(input: PreflightInput): Promise<Runbook> {
    const runbook = runbookFor(deps, input.system);
    if (input.dryRun) return runbook; // a dry run changes nothing, so it neither blocks nor is blocked
    const { client } = deps.temporal;
    const query = `RollbackSystem = '${input.system.replaceAll("'", '')}' AND ExecutionStatus = 'Running'`;
    for await (const other of client.workflow.list({ query })) {
      if (other.workflowId === input.workflowId) continue;
      const otherStart = other.startTime.toISOString();
      if (otherStart > input.startedAt || (otherStart === input.startedAt && other.workflowId > input.workflowId)) continue;
      const status = await client.workflow
        .getHandle(other.workflowId, other.runId)
        .query<{ dryRun?: boolean }>('status')
        .catch(() => null); // cannot tell: count it as a real rollback, the safe side
      if (status?.dryRun) continue;
      throw ApplicationFailure.nonRetryable(
        `another rollback of ${input.system} is running: ${other.workflowId} (${other.type}, started ${otherStart}); ` +
          'wait for it to finish or abort it first',
        ROLLBACK_ALREADY_RUNNING,
      );
    }
    return runbook;
  },
});
