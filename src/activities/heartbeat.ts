import { Context } from '@temporalio/activity';
import { setTimeout as delay } from 'node:timers/promises';
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
 * `work`, or the activity's cancellation (a CancelledFailure), whichever comes first, leaving nothing
 * behind once `work` settles. Racing `context.cancelled` instead (as the SDK's `context.sleep` does)
 * leaves a reaction with its closures, and sleep's timer, on that promise until the activity ends: a
 * watch loop waiting every interval for a day kept one per interval, 15,744 timers and their closures
 * on a worker watching 1,000 systems (a heap snapshot taken during `bench:watch`).
 */
export function untilCancelled<T>(work: Promise<T>, context = Context.current()): Promise<T> {
  const signal = context.cancellationSignal;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
  });
}

/** `context.sleep` without what it leaves behind (see untilCancelled): rejects with the CancelledFailure when cancelled. */
export async function sleepUntilCancelled(ms: number, context = Context.current()): Promise<void> {
  const signal = context.cancellationSignal;
  try {
    await delay(Math.max(0, ms), undefined, { signal });
  } catch (err) {
    throw signal.aborted ? (signal.reason as Error) : err;
  }
}

/**
 * Waits for `work` while the activity's heartbeats (keepAliveHeartbeats) carry `details`, read at each
 * beat, and ends the wait when the activity is cancelled (which a heartbeat's answer brings).
 */
export async function withHeartbeats<T>(work: Promise<T>, details?: () => unknown): Promise<T> {
  const context = Context.current();
  if (details) lastDetails.set(context, details);
  return untilCancelled(work, context);
}

export const sleepWithHeartbeats = async (ms: number, details?: unknown): Promise<void> => {
  const context = Context.current();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    heartbeat(details, context);
    await sleepUntilCancelled(Math.min(1000, deadline - Date.now()), context);
  }
};
