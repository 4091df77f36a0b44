import { createClient } from '../providers/index.ts';
import { healthBetween } from '../providers/health/window.ts';
import type { Snapshot } from '../contract/index.ts';
import type { ActivityDeps } from './deps.ts';
import { sleepWithHeartbeats, withHeartbeats } from './heartbeat.ts';
import { runbookFor } from './runbook.ts';

export const createSnapshotActivities = (deps: ActivityDeps) => ({
  /**
   * Records what compensation restores (weights and instance counts) and a health baseline over
   * `baselineSeconds`. Safe to retry: it only reads; a retry takes a fresh snapshot before any change.
   */
  async captureSnapshot(input: { system: string; baselineSeconds: number }): Promise<Snapshot> {
    const runbook = runbookFor(deps, input.system);
    const context = { env: deps.env, logger: deps.logger };
    const traffic = await withHeartbeats(createClient('traffic', runbook.traffic, context).readState());
    let baseline: Snapshot['baseline'] = null;
    if (runbook.health.metrics && input.baselineSeconds > 0) {
      const metrics = createClient('metrics', runbook.health.metrics, context);
      try {
        const first = await metrics.scrape();
        await sleepWithHeartbeats(input.baselineSeconds * 1000);
        baseline = healthBetween(first, await metrics.scrape());
      } catch (err) {
        // A baseline is for the report; a rollback must not wait on a broken metrics endpoint to start.
        deps.logger.warn({ system: input.system, error: (err as Error).message }, 'health baseline not measured');
      }
    }
    return { takenAt: new Date().toISOString(), traffic, baseline };
  },
});
