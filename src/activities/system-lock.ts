/**
 * Taking and checking a system's rollback lock (src/workflows/rollback-lock.ts explains the lock).
 * The lock is a workflow under a fixed ID per system; starting it is the atomic step, because the
 * server refuses a second start of a running workflow ID. Everything here reads the server's
 * executions (strongly consistent), never the visibility store, which lags.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { lockWorkflowId, TASK_QUEUE, type LockHolder } from '../contract/index.ts';

export const ROLLBACK_ALREADY_RUNNING = 'RollbackAlreadyRunning';

/** Rounds of start / find the holder ended / take over before giving up (each round is one race lost). */
const ATTEMPTS = 5;

/**
 * Takes `holder.system`'s lock for `holder`, or refuses naming the rollback that holds it.
 * Safe to retry: a holder that already has the lock (an earlier attempt took it) gets it again.
 */
export async function acquireSystemLock(client: Client, holder: LockHolder): Promise<void> {
  const lockId = lockWorkflowId(holder.system);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      await client.workflow.start('rollbackLock', {
        taskQueue: TASK_QUEUE,
        workflowId: lockId,
        args: [holder],
        memo: { holder },
        staticSummary: `rollback lock of ${holder.system}: held by ${holder.workflowId} (${holder.workflowType})`,
      });
      return;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const lock = await client.workflow.getHandle(lockId).describe().catch(notFoundAsNull);
    if (lock?.status.name !== 'RUNNING') continue; // it ended between our start and this look: start again
    const held = lock.memo?.holder as LockHolder | undefined;
    if (!held) throw new Error(`${lockId} runs without naming its holder; terminate it if no rollback of ${holder.system} runs`);
    if (held.workflowId === holder.workflowId) return; // ours, from an attempt whose answer was lost
    if (await isRunning(client, held.workflowId)) {
      throw ApplicationFailure.nonRetryable(
        `another rollback of ${holder.system} is running: ${held.workflowId} (${held.workflowType}, started ${held.startedAt}); ` +
          'wait for it to finish or abort it first',
        ROLLBACK_ALREADY_RUNNING,
      );
    }
    // The holder ended without releasing (terminated, timed out): end that lock run, by its run id
    // so a lock someone else just took is never touched, and start again.
    await client.workflow
      .getHandle(lockId, lock.runId)
      .terminate(`${held.workflowId} ended without releasing the lock; taken over by ${holder.workflowId}`)
      .catch(notFoundAsNull);
  }
  throw new Error(`could not take the rollback lock of ${holder.system} in ${ATTEMPTS} attempts (other rollbacks kept taking it)`);
}

/** The rollback holding `system`'s lock, if the lock runs and its holder still runs. */
export async function runningHolder(client: Client, system: string): Promise<LockHolder | null> {
  const lock = await client.workflow.getHandle(lockWorkflowId(system)).describe().catch(notFoundAsNull);
  const holder = lock?.status.name === 'RUNNING' ? (lock.memo?.holder as LockHolder | undefined) : undefined;
  return holder && (await isRunning(client, holder.workflowId)) ? holder : null;
}

/** Whether the latest run of `workflowId` is running (a reset or retried run counts as the same rollback). */
export async function isRunning(client: Client, workflowId: string): Promise<boolean> {
  const description = await client.workflow.getHandle(workflowId).describe().catch(notFoundAsNull);
  return description?.status.name === 'RUNNING';
}

function notFoundAsNull(err: unknown): null {
  if (err instanceof WorkflowNotFoundError) return null;
  throw err;
}
