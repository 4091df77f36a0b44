/**
 * Activity proxies for workflows: bounded retries everywhere, heartbeats on anything that waits,
 * and a per-call summary the Temporal UI shows in the event history and timeline.
 */
import { proxyActivities, uuid4, type ActivityOptions } from '@temporalio/workflow';
import type { DatabaseRef } from '../activities/database-target.ts';
import { FAILURE_TYPES } from '../contract/index.ts';
import type { RollbackActivities } from '../activities/index.ts';

/** Refusals that a retry would only repeat. */
const NON_RETRYABLE = Object.keys(FAILURE_TYPES);

export const quick: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  // Activities heartbeat every second while they wait, so a dead worker is noticed in 5 s.
  heartbeatTimeout: '5 seconds',
  retry: { maximumAttempts: 4, initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Options for an activity that watches for `seconds` (verification windows, baselines). */
export function watching(seconds: number): ActivityOptions {
  return { ...quick, startToCloseTimeout: `${Math.ceil(seconds) + 120} seconds` };
}

/** Activities whose calls show `summary` in the UI. */
export function activities(summary: string, options: ActivityOptions = quick) {
  return proxyActivities<RollbackActivities>({ ...options, summary });
}

export const { publishReport } = proxyActivities<RollbackActivities>(quick);

/**
 * A notification may wait out a rate limit: Slack's and Statuspage's 429s carry Retry-After, waited
 * out up to 30 s per attempt by the provider's retry policy (src/providers/retry-policy.ts), which
 * can outlast a quick activity's 2 minutes; timed out there, the whole notification would be retried
 * and could be posted twice.
 */
export const { notify } = proxyActivities<RollbackActivities>(watching(240));

/** A short random id (8 hex digits) for names a run creates, e.g. the safety dump's backup id. */
export function shortId(): string {
  return uuid4().replaceAll('-', '').slice(0, 8);
}

/** Dumps `ref` as `backupId` (a safety dump of `of`) and verifies the dump against its manifest. */
export async function takeSafetyDump(ref: DatabaseRef, backupId: string, of: string, jobs: number) {
  await activities(`safety dump of ${of}`, watching(3600)).backupDatabase({ ...ref, backupId, kind: 'safety-dump', jobs });
  return activities(`verify safety dump ${backupId}`, watching(600)).verifyBackup({ ...ref, backupId });
}
