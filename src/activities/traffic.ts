import { createClient } from '../providers/index.ts';
import type { TrafficState } from '../providers/types.ts';
import type { ActivityDeps } from './deps.ts';
import { runbookFor } from './runbook.ts';

export const createTrafficActivities = (deps: ActivityDeps) => {
  const clientFor = (system: string) => createClient('traffic', runbookFor(deps, system).traffic, { env: deps.env, logger: deps.logger });
  return {
    /** Reads current weights and instance counts. Safe to retry: it only reads. */
    async readTrafficState(system: string): Promise<TrafficState> {
      return clientFor(system).readState();
    },
  };
};
