/**
 * Who may start watching: before a watchdog does anything, it checks that it is the only one of its
 * system and that any state it carries is its own.
 */
import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import { watchdogWorkflowId } from '../contract/index.ts';
import { activities } from './activities.ts';
import { INVALID_INPUT } from './input.ts';

/**
 * Ends the watchdog at once when it must not watch:
 * - `carried` (rule streaks, what it follows) is trusted as the watchdog's own state, so it is accepted
 *   only from the run before this one, never typed into the UI's Start Workflow form;
 * - one watchdog per system, whatever starts it: two would double every alert and race for every
 *   rollback. The fixed ID makes the server refuse a second start; one started under any other ID
 *   stops here, naming the one that watches. (A run continued from an earlier one was let in when it
 *   started; histories from before this rule replay without it.)
 */
export async function admitWatchdog(input: { system: string; carried?: unknown }): Promise<void> {
  const { workflowId, continuedFromExecutionRunId } = workflowInfo();
  if (input.carried !== undefined && !continuedFromExecutionRunId) {
    throw ApplicationFailure.nonRetryable(
      "invalid rollbackWatchdog input:\n  carried: is the watchdog's own state, handed from one run to the next when it continues as new; leave it out to start a watchdog",
      INVALID_INPUT,
    );
  }
  if (workflowId !== watchdogWorkflowId(input.system) && !continuedFromExecutionRunId && patched('one-watchdog-per-system')) {
    await refuseSecondWatchdog(input.system, workflowId);
  }
}

/** Ends a watchdog started under another ID than its system's, naming the one that watches (or should). */
async function refuseSecondWatchdog(system: string, workflowId: string): Promise<never> {
  const own = watchdogWorkflowId(system);
  const running = await activities(`is ${own} watching?`).rollbackRunning({ workflowId: own });
  const why = running
    ? `${own} is already watching ${system}; one watchdog per system (a second would double every alert and race for every rollback), so ${workflowId} stops without watching`
    : `a watchdog of ${system} runs only under the workflow ID ${own}, so that there is one per system whatever starts it; start it with that ID (rollback watch start --system ${system}); ${workflowId} stops without watching`;
  throw ApplicationFailure.nonRetryable(why, 'WatchdogAlreadyRunning');
}

