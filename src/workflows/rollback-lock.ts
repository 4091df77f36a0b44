/**
 * rollbackLock: one rollback of a system at a time, exactly (DESIGN.md, "Public contract").
 *
 * A rollback takes its system's lock in preflight by starting this workflow under the system's
 * fixed ID, `rollback-lock:<system>` (src/activities/system-lock.ts). Temporal runs at most one
 * workflow per ID, so of any number of rollbacks started in the same instant exactly one gets the
 * lock and the others are refused, naming it. Dry runs change nothing and take no lock; watchdogs
 * and drills take none either, so they never block the rollbacks they start.
 *
 *   hold -> until the holder signals `release` as it ends -> done
 *
 * A holder that ends without releasing (terminated from the UI, timed out) cannot signal. The next
 * rollback that finds the lock held asks the server at once whether the holder still runs, and takes
 * the lock over if not; meanwhile the lock asks the same every few minutes and lets go by itself, so
 * the UI does not show a stale lock for long.
 */
import { condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import type { LockHolder } from '../contract/index.ts';
import { activities } from './activities.ts';
import { releaseLockSignal } from '../contract/messages.ts';


/** How often the lock checks that its holder still runs. */
const HOLDER_CHECK_INTERVAL = '5 minutes';

/** Past this many events the lock continues as new (a rollback can wait days at a gate). */
const MAX_HISTORY_EVENTS = 2_000;

export async function rollbackLock(holder: LockHolder): Promise<string> {
  let released = false;
  setHandler(releaseLockSignal, (request) => {
    const from = (request as { workflowId?: unknown } | null)?.workflowId;
    if (from === holder.workflowId) released = true;
  });
  for (;;) {
    if (await condition(() => released, HOLDER_CHECK_INTERVAL)) return `released by ${holder.workflowId}`;
    const running = await activities(`does ${holder.workflowId} still run?`).rollbackRunning({ workflowId: holder.workflowId });
    if (!running) return `${holder.workflowId} ended without releasing the lock; let go`;
    if (workflowInfo().historyLength > MAX_HISTORY_EVENTS && !released) await continueAsNew<typeof rollbackLock>(holder);
  }
}
