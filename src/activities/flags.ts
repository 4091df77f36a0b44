/**
 * Feature flags and kill switches: the switches a phase or config rollback flips first (seed 000's
 * "Feature Flag Rollback", seed 002's "Emergency Kill Switch").
 */
import type { ProviderChange } from '../actions/kind.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';

export const createFlagActivities = (deps: ActivityDeps) => {
  const client = <C extends 'flags' | 'killSwitches'>(capability: C, input: ProviderChange) =>
    deps.clients.get(capability, providerRef(runbookFor(deps, input.system), input.provider));
  return {
    /** Sets one feature flag. Safe to retry: setting a flag to the value it has changes nothing. */
    async setFlag(input: ProviderChange & { flag: string; enabled: boolean }): Promise<void> {
      await withHeartbeats(client('flags', input).setFlag(input.flag, input.enabled, input));
    },

    /** Engages (on) or clears a kill switch. Safe to retry: SET and DEL leave the key as the first call did. */
    async setKillSwitch(input: ProviderChange & { feature: string; on: boolean }): Promise<void> {
      await withHeartbeats(client('killSwitches', input).setKillSwitch(input.feature, input.on, input));
    },
  };
};
