import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/**
 * Failure types an activity raises that end the workflow as they are: the operator should read the
 * activity's own message ("unknown system 'x'; known systems: ..."), not "Activity task failed".
 */
const SURFACED = new Set(['UnknownSystem', 'InvalidInput', 'RollbackAlreadyRunning']);

export function surfaceKnownFailure(err: unknown, types: ReadonlySet<string> = SURFACED): never {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && (types.has(err.cause.type ?? '') || SURFACED.has(err.cause.type ?? ''))) {
    throw ApplicationFailure.create({ message: err.cause.message, type: err.cause.type ?? undefined, nonRetryable: true, cause: err });
  }
  throw err;
}
