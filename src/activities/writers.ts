/**
 * Stopping and resuming writers around a database swap, the way the runbook's `stopWriters` says.
 */
import { createClient } from '../providers/index.ts';
import { databaseTarget, fail, type DatabaseRef } from './database-target.ts';
import type { ActivityDeps } from './deps.ts';

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
      const context = { env: deps.env, logger: deps.logger };
      if (how.method === 'maintenance-flag') {
        if (!runbook.flags) throw fail(`stopWriters uses flag ${how.flag} but the runbook has no flags provider`, 'InvalidRunbook');
        const flags = createClient('flags', runbook.flags, context);
        try {
          const previous = (await flags.readFlags())[how.flag] ?? false;
          await flags.setFlag(how.flag, true, input);
          return { method: how.method, previous };
        } finally {
          await flags.close();
        }
      }
      if (how.method === 'scale-to-zero') {
        const traffic = createClient('traffic', runbook.traffic, context);
        const previous = (await traffic.readState()).instances[how.version] ?? 0;
        await traffic.scale(how.version, 0, input);
        return { method: how.method, previous };
      }
      return { method: how.method, previous: null };
    },

    /** Puts back what stopWriters changed. Safe to retry, for the same reason. */
    async resumeWriters(input: DatabaseRef & { previous: number | boolean | null; idempotencyKey: string; actor: string }): Promise<void> {
      const { runbook, config } = target(input);
      const how = config.stopWriters;
      const context = { env: deps.env, logger: deps.logger };
      if (how.method === 'maintenance-flag' && runbook.flags) {
        const flags = createClient('flags', runbook.flags, context);
        try {
          await flags.setFlag(how.flag, input.previous === true, input);
        } finally {
          await flags.close();
        }
      } else if (how.method === 'scale-to-zero') {
        await createClient('traffic', runbook.traffic, context).scale(how.version, Number(input.previous ?? 0), input);
      }
    },
  };
};
