import type { ProviderChange } from '../actions/kind.ts';
import type { TrafficState } from '../providers/types.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor, trafficOf } from './runbook.ts';

export interface ChangeInput {
  system: string;
  /** Fixed by the workflow (workflow ID and step), so every retry of this change carries the same key. */
  idempotencyKey: string;
  actor: string;
}

export const createTrafficActivities = (deps: ActivityDeps) => {
  const traffic = (system: string) => deps.clients.get('traffic', trafficOf(runbookFor(deps, system)));
  const scaling = (system: string) => deps.clients.get('scaling', trafficOf(runbookFor(deps, system)));
  return {
    /**
     * Sets traffic weights per version. Safe to retry: the idempotency key makes the router apply
     * the change once, and setting weights to the values they have changes nothing.
     */
    async setWeights(input: ChangeInput & { weights: Record<string, number> }): Promise<TrafficState> {
      return withHeartbeats(traffic(input.system).setWeights(input.weights, input));
    },

    /** Scales one version to `count` instances. Safe to retry: same key, same count, one change. */
    async scaleVersion(input: ChangeInput & { version: string; count: number }): Promise<TrafficState> {
      return withHeartbeats(scaling(input.system).scale(input.version, input.count, input));
    },

    /**
     * A scale action: its target scaled through the provider the runbook names. Safe to retry: same
     * key, same count, one change (and scaling to the count there is changes nothing).
     */
    async scaleTarget(input: ProviderChange & { target: string; instances: number }): Promise<TrafficState> {
      const provider = deps.clients.get('scaling', providerRef(runbookFor(deps, input.system), input.provider));
      return withHeartbeats(provider.scale(input.target, input.instances, input));
    },
  };
};
