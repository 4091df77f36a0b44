/**
 * When a platform API call is tried again, and how long to wait first: one policy for every provider,
 * whether its requests go through the shared JSON client (http-api.ts) or another transport
 * (Kubernetes' client-node). `decide` judges one failed attempt; `retried` is the one loop that asks it.
 *
 * The rules, by what would be sent again:
 * - any request answered 429 (420 from Statuspage): the request was refused, not applied, so it is
 *   always safe to ask again, after as long as Retry-After says (seconds or an HTTP date) or, where an
 *   API sends that instead (Render), until RateLimit-Reset; a wait longer than `maxRetryAfterMs` is
 *   an error at once rather than a step that hangs.
 * - a repeatable request answered 5xx, or not answered at all: asked again after a backoff doubling
 *   from `backoffMs` (or the Retry-After a 5xx gives, capped). A request that is not repeatable is
 *   never sent twice: its effect is unknown.
 * - a read-decide-write whose write met 409 Conflict (someone changed the object between our read
 *   and our write): run again from a fresh read, at once, up to `conflictAttempts` times, as
 *   client-go's RetryOnConflict does it (k8s.io/client-go/util/retry).
 * - anything else is not tried again.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Attempts in all of one request answered 429 or (where repeatable) 5xx or nothing. */
  attempts: number;
  /** Longest wait one Retry-After (or RateLimit-Reset) may ask for, ms. */
  maxRetryAfterMs: number;
  /** First wait after a failure that names none, ms; doubled at each attempt. */
  backoffMs: number;
  /** Runs in all of a read-decide-write that keeps meeting 409 Conflict. */
  conflictAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, maxRetryAfterMs: 30_000, backoffMs: 500, conflictAttempts: 3 };

/**
 * What would be run again: a request that must not be sent twice (a create, a mutation), one that is
 * safe to send again (a read; a change carrying an idempotency key, or setting a value), or a whole
 * read-decide-write.
 */
export type Repeat = 'request' | 'repeatable request' | 'read-decide-write';

export interface Failure {
  /** The HTTP status; 0 when no answer came. */
  status: number;
  /** A header of the answer, by lower-case name. */
  header?(name: string): string | null | undefined;
}

/** Try again after `waitMs`, or stop; `note` says why it stopped when that is more than the status says. */
export type Verdict = { again: true; waitMs: number } | { again: false; note?: string };

/** How long a Retry-After asks to wait, in ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Render (and other APIs) tell when the limit resets instead of sending Retry-After: seconds from now,
 * or a Unix time in seconds (any value past 2001 is read as one). Null when absent or unreadable.
 */
export function rateLimitResetMs(header: string | null | undefined, now = Date.now()): number | null {
  if (!header || !/^\d+(\.\d+)?$/.test(header.trim())) return null;
  const value = Number(header.trim());
  return value > 1e9 ? Math.max(0, Math.round(value * 1000 - now)) : Math.round(value * 1000);
}

/** The wait the answer itself asks for, if any. */
function askedWait(failure: Failure, now: number): number | null {
  const header = (name: string) => failure.header?.(name);
  return retryAfterMs(header('retry-after'), now) ?? rateLimitResetMs(header('ratelimit-reset') ?? header('x-ratelimit-reset'), now);
}

/** Judges attempt number `attempt` (from 1) of `repeat`, which failed with `failure`. */
export function decide(policy: RetryPolicy, repeat: Repeat, attempt: number, failure: Failure, now = Date.now()): Verdict {
  const { status } = failure;
  const backoff = policy.backoffMs * 2 ** (attempt - 1);
  if (repeat === 'read-decide-write') {
    if (status !== 409) return { again: false };
    // Deciding again on what the other writer left is right; there is nothing to wait for.
    return attempt < policy.conflictAttempts ? { again: true, waitMs: 0 } : { again: false, note: `met a conflict ${attempt} times in a row` };
  }
  const wait = askedWait(failure, now);
  if (status === 429 || status === 420) {
    if (wait !== null && wait > policy.maxRetryAfterMs) return { again: false, note: `Retry-After ${wait} ms is longer than the ${policy.maxRetryAfterMs} ms this waits` };
    return attempt < policy.attempts ? { again: true, waitMs: wait ?? backoff } : { again: false, note: `still rate limited after ${attempt} attempts` };
  }
  // No answer: the change may or may not have been made, so only a repeatable request is sent again.
  if (status === 0 || status >= 500) {
    if (repeat !== 'repeatable request') return { again: false };
    if (attempt < policy.attempts) return { again: true, waitMs: status === 0 ? backoff : Math.min(wait ?? backoff, policy.maxRetryAfterMs) };
    return { again: false, note: `after ${attempt} attempts` };
  }
  return { again: false };
}

/** One attempt's outcome: its value, or a failure for the policy to judge and the error to throw if it is not tried again. */
export type Attempt<T> = { value: T } | { failure: Failure; error(note: string | undefined): Error };

/**
 * Runs `attempt` until it gives a value or the policy stops it, waiting as the policy says between
 * attempts (an abort of `signal` ends a wait). Throws the last attempt's error, with the policy's note.
 */
export async function retried<T>(
  policy: RetryPolicy,
  repeat: Repeat,
  attempt: (n: number) => Promise<Attempt<T>>,
  options: { signal?: AbortSignal; onRetry?(failure: Failure, waitMs: number, n: number): void } = {},
): Promise<T> {
  for (let n = 1; ; n++) {
    const outcome = await attempt(n);
    if ('value' in outcome) return outcome.value;
    const verdict = decide(policy, repeat, n, outcome.failure);
    if (!verdict.again) throw outcome.error(verdict.note);
    options.onRetry?.(outcome.failure, verdict.waitMs, n);
    if (verdict.waitMs > 0) await sleep(verdict.waitMs, undefined, { signal: options.signal });
  }
}
