import { ApplicationFailure } from '@temporalio/common';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';

export const UNKNOWN_SYSTEM = 'UnknownSystem';

/** Finds a system's runbook or fails, naming the known systems; used by every capability's activities. */
export function runbookFor(deps: ActivityDeps, system: string): Runbook {
  const runbook = deps.runbooks.get(system);
  if (!runbook) {
    const known = [...deps.runbooks.keys()].sort().join(', ');
    // A retry would look in the same runbooks and refuse again.
    throw ApplicationFailure.nonRetryable(`unknown system '${system}'; known systems: ${known}`, UNKNOWN_SYSTEM);
  }
  return runbook;
}
