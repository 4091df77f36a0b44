import { Context } from '@temporalio/activity';

/**
 * Heartbeats every second while `work` runs, so a worker that dies mid-call is noticed within the
 * heartbeat timeout (not the whole start-to-close timeout) and the call is retried elsewhere.
 * `details` is read at each beat: the server keeps only the newest heartbeat, so progress is sent
 * through it rather than by separate heartbeat calls the timer would overwrite.
 */
export async function withHeartbeats<T>(work: Promise<T>, details?: () => unknown): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(details?.()), 1000);
  try {
    return await Promise.race([work, context.cancelled]);
  } finally {
    clearInterval(timer);
  }
}

export const sleepWithHeartbeats = async (ms: number, details?: unknown): Promise<void> => {
  const context = Context.current();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    context.heartbeat(details);
    await Promise.race([context.sleep(Math.min(1000, deadline - Date.now())), context.cancelled]);
  }
};
