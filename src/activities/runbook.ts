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

/** The runbook's traffic block, which fullRollback and scale-to-zero writers need; a clear refusal when it has none. */
export function trafficOf(runbook: Runbook): NonNullable<Runbook['traffic']> {
  if (!runbook.traffic) {
    throw ApplicationFailure.nonRetryable(`the ${runbook.system} runbook has no traffic section: nothing routes traffic between versions here`, 'InvalidRunbook');
  }
  return runbook.traffic;
}

/** The provider the runbook names `name` under providers: (the loader has checked it exists and filled defaults in). */
export function providerRef(runbook: Runbook, name: string | undefined): { provider: string; settings: Record<string, unknown> } {
  const ref = name === undefined ? undefined : runbook.providers[name];
  if (!ref) throw ApplicationFailure.nonRetryable(`the ${runbook.system} runbook has no provider named '${name}' under providers:`, 'InvalidRunbook');
  return ref;
}
