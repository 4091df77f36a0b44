import { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * What each running activity last sent as heartbeat details, so that a beat sent on its behalf
 * repeats them. The server keeps only the newest heartbeat, and a retry resumes from its details (a
 * verification window, a watch loop): a beat without them would erase that checkpoint.
 */
const lastDetails = new WeakMap<Context, () => unknown>();

const detailsOf = (context: Context): unknown => (lastDetails.has(context) ? lastDetails.get(context)!() : context.info.heartbeatDetails);

/** Sends a heartbeat with `details`, and keeps them for the beats sent on the activity's behalf. */
export function heartbeat(details: unknown, context = Context.current()): void {
  lastDetails.set(context, () => details);
  context.heartbeat(details);
}

/**
 * Every activity of the worker heartbeats from its start to its end, whatever it awaits, so a live
 * worker is never taken for a dead one: an activity whose wait outlasts the heartbeat timeout (a
 * writer's `railway down`, a check of a large restore, a slow provider) would otherwise be timed out
 * by the server while it still works, and retried beside itself. The beat repeats the details the
 * activity last sent (or the previous attempt's, until it sends its own). It beats five times per
 * heartbeat timeout: the SDK sends at most one per 80% of it, so none is missed and few cross into
 * the core. Local activities cannot heartbeat and are left alone.
 */
export const keepAliveHeartbeats: ActivityInterceptorsFactory = (context) => ({
  inbound: {
    async execute(input, next) {
      const timeoutMs = context.info.heartbeatTimeoutMs;
      if (context.info.isLocal || !timeoutMs) return next(input);
      const timer = setInterval(() => context.heartbeat(detailsOf(context)), Math.max(200, timeoutMs / 5));
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  },
});

/**
 * Waits for `work` while the activity's heartbeats (keepAliveHeartbeats) carry `details`, read at each
 * beat, and ends the wait when the activity is cancelled (which a heartbeat's answer brings).
 */
export async function withHeartbeats<T>(work: Promise<T>, details?: () => unknown): Promise<T> {
  const context = Context.current();
  if (details) lastDetails.set(context, details);
  return Promise.race([work, context.cancelled]);
}

export const sleepWithHeartbeats = async (ms: number, details?: unknown): Promise<void> => {
  const context = Context.current();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    heartbeat(details, context);
    await Promise.race([context.sleep(Math.min(1000, deadline - Date.now())), context.cancelled]);
  }
};
