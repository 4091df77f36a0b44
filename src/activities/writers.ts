/**
 * Stopping and resuming writers around a database swap, the way the runbook's `stopWriters` says.
 */
import { databaseTarget, type DatabaseRef } from './database-target.ts';
import type { ActivityDeps } from './deps.ts';
import { providerRef, trafficOf } from './runbook.ts';

export const createWriterActivities = (deps: ActivityDeps) => {
  const target = (ref: DatabaseRef) => databaseTarget(deps, ref);
  return {
    /**
     * Stops writes the way the runbook says (a maintenance flag, or the writing version scaled to 0;
     * `terminate-connections` leaves it to the swap) and returns what resumeWriters puts back.
     * Safe to retry: setting the flag or count it already has changes nothing.
     */
    async stopWriters(input: DatabaseRef & { idempotencyKey: string; actor: string }): Promise<{ method: string; previous: number | boolean | null }> {
      const { runbook, config } = target(input);
      const how = config.stopWriters;
      if (how.method === 'maintenance-flag') {
        const flags = deps.clients.get('flags', providerRef(runbook, how.provider));
        const previous = (await flags.readFlags())[how.flag] ?? false;
        await flags.setFlag(how.flag, true, input);
        return { method: how.method, previous };
      }
      if (how.method === 'scale-to-zero') {
        const scaling = deps.clients.get('scaling', trafficOf(runbook));
        const previous = (await scaling.readState()).instances[how.version] ?? 0;
        await scaling.scale(how.version, 0, input);
        return { method: how.method, previous };
      }
      return { method: how.method, previous: null };
    },

    /** Puts back what stopWriters changed. Safe to retry, for the same reason. */
    async resumeWriters(input: DatabaseRef & { previous: number | boolean | null; idempotencyKey: string; actor: string }): Promise<void> {
      const { runbook, config } = target(input);
      const how = config.stopWriters;
      if (how.method === 'maintenance-flag') {
        await deps.clients.get('flags', providerRef(runbook, how.provider)).setFlag(how.flag, input.previous === true, input);
      } else if (how.method === 'scale-to-zero') {
        await deps.clients.get('scaling', trafficOf(runbook)).scale(how.version, Number(input.previous ?? 0), input);
      }
    },
  };
};
