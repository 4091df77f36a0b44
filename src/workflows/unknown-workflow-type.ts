/**
 * What runs when someone starts a workflow type no worker registers: a typo in the Temporal UI's
 * Workflow Type field (`fullRollbak`). Without it the SDK fails the workflow *task*, which the server
 * retries for ever, leaving a Running workflow that does nothing until someone terminates it. As the
 * bundle's default export, the SDK runs it for every unknown type instead, and the workflow fails at
 * once, naming the types there are.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { didYouMean, ROLLBACK_WORKFLOWS, SUPPORT_WORKFLOWS, WATCH_WORKFLOWS } from '../contract/index.ts';

/** The types a person starts (the internal lock is left out: nobody starts it by hand). */
const STARTABLE = [...ROLLBACK_WORKFLOWS, ...WATCH_WORKFLOWS, ...SUPPORT_WORKFLOWS];

export async function unknownWorkflowType(): Promise<never> {
  const { workflowType } = workflowInfo();
  throw ApplicationFailure.nonRetryable(
    `unknown workflow type '${workflowType}'${didYouMean(workflowType, STARTABLE)}; the workflow types on this task queue are: ${STARTABLE.join(', ')}`,
    'UnknownWorkflowType',
  );
}
