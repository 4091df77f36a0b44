import { healthBetween } from '../providers/health/window.ts';
import { PROVIDERS } from '../providers/index.ts';
import type { Snapshot, TrafficState, WindowHealth } from '../contract/index.ts';
import type { ActivityDeps } from './deps.ts';
import { sleepWithHeartbeats, withHeartbeats } from './heartbeat.ts';
import { onlyScales } from '../runbook/provider-check.ts';
import { runbookFor, trafficOf } from './runbook.ts';

/** Each version's percentage of the instances (largest remainder, so they sum to 100); all 0 when none runs. */
export function sharesOf(instances: Record<string, number>): Record<string, number> {
  const total = Object.values(instances).reduce((a, b) => a + b, 0);
  if (total === 0) return Object.fromEntries(Object.keys(instances).map((v) => [v, 0]));
  const exact = Object.entries(instances).map(([v, n]) => ({ v, share: (n * 100) / total }));
  const shares = Object.fromEntries(exact.map(({ v, share }) => [v, Math.floor(share)]));
  let left = 100 - Object.values(shares).reduce((a, b) => a + b, 0);
  for (const { v } of [...exact].sort((a, b) => (b.share % 1) - (a.share % 1))) if (left-- > 0) shares[v]! += 1;
  return shares;
}

export const createSnapshotActivities = (deps: ActivityDeps) => {
  /** Health over `seconds` before any change, for the report; null when it cannot be measured. */
  async function baselineOf(system: string, seconds: number): Promise<WindowHealth | null> {
    const runbook = runbookFor(deps, system);
    if (!runbook.health.metrics || seconds <= 0) return null;
    const metrics = deps.clients.get('metrics', runbook.health.metrics);
    try {
      const first = await metrics.scrape();
      await sleepWithHeartbeats(seconds * 1000);
      return healthBetween(first, await metrics.scrape());
    } catch (err) {
      // A baseline is for the report; a rollback must not wait on a broken metrics endpoint to start.
      deps.logger.warn({ system, error: (err as Error).message }, 'health baseline not measured');
      return null;
    }
  }

  return {
    /**
     * Records what compensation restores (weights and instance counts) and a health baseline over
     * `baselineSeconds`. Safe to retry: it only reads; a retry takes a fresh snapshot before any change.
     */
    async captureSnapshot(input: { system: string; baselineSeconds: number }): Promise<Snapshot & { traffic: TrafficState }> {
      const runbook = runbookFor(deps, input.system);
      const ref = trafficOf(runbook);
      const baseline = () => baselineOf(input.system, input.baselineSeconds);
      if (onlyScales(runbook)) {
        // No split to read (Fly): traffic follows the instances, so each version's weight is its share of them.
        const { instances } = await withHeartbeats(deps.clients.get('scaling', ref).readState());
        return { takenAt: new Date().toISOString(), traffic: { weights: sharesOf(instances), instances, splits: false }, baseline: await baseline() };
      }
      const traffic = await withHeartbeats(deps.clients.get('traffic', ref).readState());
      // Plans leave instance counts alone where the provider does not scale versions (Cloud Run scales itself).
      const scales = PROVIDERS.get(ref.provider)?.capabilities.includes('scaling') ?? false;
      return { takenAt: new Date().toISOString(), traffic: scales ? traffic : { ...traffic, scales: false }, baseline: await baseline() };
    },

    /** Health over `seconds` before a phase or config rollback changes anything. Safe to retry: it only reads. */
    async measureBaseline(input: { system: string; seconds: number }): Promise<WindowHealth | null> {
      return baselineOf(input.system, input.seconds);
    },
  };
};
