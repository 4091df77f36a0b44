/**
 * For changes a second call would apply again (a command that is not idempotent, a provider action
 * that honours no idempotency key): a retry after an attempt that ended without an answer (a worker
 * that died mid-call) is refused, and a person decides whether to run it again or go on.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

export const NOT_SAFE_TO_REPEAT = 'NotSafeToRepeat';

export function refuseUnsafeRepeat(what: string, repeatable: boolean): void {
  const { attempt } = Context.current().info;
  if (repeatable || attempt <= 1) return;
  throw ApplicationFailure.nonRetryable(
    `${what} may already have run: attempt ${attempt - 1} ended without an answer (the worker may have died). ` +
      'Check its effect, then decide retry (run it again) or skip',
    NOT_SAFE_TO_REPEAT,
  );
}
