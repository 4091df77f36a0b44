import type { TrafficState } from '../providers/types.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { runbookFor, trafficOf } from './runbook.ts';

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
  };
};
