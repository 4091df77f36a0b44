/**
 * The cloud-run provider's traffic: the service's split between revisions, read per runbook version
 * and set as seed 002 does by hand (`gcloud run services update-traffic --to-revisions=REV=50,...`).
 *
 * Versions: the runbook names versions (stable, canary); settings map each to a revision name,
 * `LATEST` (the latest ready revision) or `PREVIOUS` (the ready revision created before it). Traffic
 * on a revision that is none of them is an error, never silently dropped. The API takes no
 * idempotency key on services.patch, so a change reads first and sends nothing when the service
 * already routes as asked: a retried activity finds its change made and only waits for it.
 *
 * API reference: https://cloud.google.com/run/docs/reference/rest/v2/TrafficTarget
 */
import type { TrafficClient, TrafficState } from '../types.ts';
import { readyBefore, shortName, type CloudRunApi, type Snapshot, type Target } from './api.ts';
import type { Settings } from './settings.ts';

export const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
const BY_REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

/** Percent per revision (bare names); an allocation to LATEST counts for the latest ready revision. */
export function split(targets: Target[] | undefined, latestReady: string | undefined): Map<string, number> {
  const percents = new Map<string, number>();
  // An empty `traffic` means 100% to the latest ready revision (Service resource reference).
  const entries = targets?.length ? targets : [{ type: LATEST, percent: 100 }];
  for (const target of entries) {
    const percent = target.percent ?? 0;
    if (percent === 0) continue;
    const revision = target.type === LATEST ? (latestReady ?? '(latest ready revision: none yet)') : shortName(target.revision ?? '(unnamed revision)');
    percents.set(revision, (percents.get(revision) ?? 0) + percent);
  }
  return percents;
}

const sameSplit = (a: Map<string, number>, b: Map<string, number>): boolean => a.size === b.size && [...a].every(([revision, percent]) => b.get(revision) === percent);

const splitText = (percents: Map<string, number>): string => (percents.size ? [...percents].map(([revision, percent]) => `${revision}=${percent}%`).join(', ') : 'no traffic');

/** The traffic targets for `desired`, keeping the tags (revision URLs) the service had on 0% entries. */
function trafficFor(desired: Map<string, number>, existing: Target[] | undefined): Target[] {
  const targets: Target[] = [...desired].map(([revision, percent]) => ({ type: BY_REVISION, revision, percent }));
  for (const old of existing ?? []) {
    if (!old.tag) continue;
    const revision = old.type === LATEST || !old.revision ? null : shortName(old.revision);
    const untagged = revision === null ? undefined : targets.find((t) => t.revision === revision && !t.tag);
    if (untagged) untagged.tag = old.tag;
    else targets.push(revision === null ? { type: LATEST, percent: 0, tag: old.tag } : { type: BY_REVISION, revision, percent: 0, tag: old.tag });
  }
  return targets;
}

/** What the service serves now (the statuses, else what was asked), percent per revision. */
export const servedSplit = (service: Snapshot['service'], latestReady: string | undefined) => split(service.trafficStatuses?.length ? service.trafficStatuses : service.traffic, latestReady);

/** Routes traffic as `desired` (percent per revision) and waits until the service serves it. */
export async function applyTraffic(api: CloudRunApi, settings: Settings, snap: Snapshot, desired: Map<string, number>, progress: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + settings.timeoutMs;
  const what = `traffic ${splitText(desired)}`;
  // Compared with `traffic` (what was asked), not the statuses: after a worker died mid-change the
  // PATCH is in and only the waiting is left to do.
  if (!sameSplit(split(snap.service.traffic, snap.latestReady), desired)) {
    const operation = await api.patch({ ...snap.service, traffic: trafficFor(desired, snap.service.traffic) }, signal);
    progress(`Cloud Run service ${settings.service}: asked for ${what} (operation ${shortName(operation.name)})`);
    await api.followOperation(operation, what, deadline, progress, signal);
  }
  const service = await api.settled(what, deadline, progress, signal);
  const latestReady = service.latestReadyRevision ? shortName(service.latestReadyRevision) : undefined;
  const served = servedSplit(service, latestReady);
  if (!sameSplit(served, desired)) {
    throw new Error(`Cloud Run service ${settings.service} serves ${splitText(served)}, not the ${splitText(desired)} asked; someone may have changed it meanwhile: ${api.describe}`);
  }
}

/** The traffic client: weights per runbook version; traffic on a revision that is none of them is an error. */
export function cloudRunTraffic(api: CloudRunApi, settings: Settings): TrafficClient {
  const versionNames = Object.keys(settings.versions);
  const { logProgress } = api;

  /** The revision each version's selector names now, or why it names none. */
  function resolveVersions(snap: Snapshot): Map<string, { revision?: string; why?: string }> {
    const resolved = new Map<string, { revision?: string; why?: string }>();
    for (const [version, selector] of Object.entries(settings.versions)) {
      if (selector === 'LATEST') {
        resolved.set(version, snap.latestReady ? { revision: snap.latestReady } : { why: `service ${settings.service} has no ready revision` });
      } else if (selector === 'PREVIOUS') {
        const previous = readyBefore(snap, snap.latestReady);
        resolved.set(version, previous ? { revision: shortName(previous.name) } : { why: `service ${settings.service} has no ready revision before ${snap.latestReady ?? '(none)'}` });
      } else {
        const named = snap.revisions.find((r) => shortName(r.name) === selector);
        resolved.set(version, named ? { revision: selector } : { why: `service ${settings.service} has no revision named ${selector}` });
      }
    }
    const byRevision = new Map<string, string[]>();
    for (const [version, { revision }] of resolved) if (revision) byRevision.set(revision, [...(byRevision.get(revision) ?? []), version]);
    for (const [revision, versions] of byRevision) {
      if (versions.length > 1) {
        throw new Error(`Cloud Run versions ${versions.join(' and ')} of service ${settings.service} are both revision ${revision} (settings.versions: ${JSON.stringify(settings.versions)}): their weights cannot be told apart; name distinct revisions`);
      }
    }
    return resolved;
  }

  function trafficState(snap: Snapshot): TrafficState {
    const versions = resolveVersions(snap);
    const served = servedSplit(snap.service, snap.latestReady);
    const weights: Record<string, number> = {};
    for (const [version, { revision }] of versions) {
      weights[version] = revision ? (served.get(revision) ?? 0) : 0;
      if (revision) served.delete(revision);
    }
    if (served.size > 0) {
      const known = [...versions].map(([version, { revision }]) => `${version} = ${revision ?? 'none'}`).join(', ');
      throw new Error(
        `Cloud Run service ${settings.service} sends traffic to revisions that are none of the runbook's versions (${known}): ${splitText(served)}. ` +
          `Name them in settings.versions, or move their traffic first (gcloud run services update-traffic ${settings.service} --region=${settings.location}); otherwise a change of weights would silently drop it.`,
      );
    }
    // Cloud Run scales instances itself: there is no count to read or set.
    return { weights, instances: {} };
  }

  return {
    readState: async () => trafficState(await api.snapshot()),

    /** Safe to retry: a service already routing as asked is not patched again, only waited for. */
    async setWeights(weights) {
      for (const [version, weight] of Object.entries(weights)) {
        if (!versionNames.includes(version)) throw new Error(`unknown version '${version}' for Cloud Run service ${settings.service}; the runbook's versions are: ${versionNames.join(', ')}`);
        if (!Number.isInteger(weight) || weight < 0 || weight > 100) throw new Error(`Cloud Run takes whole percentages from 0 to 100: ${version}=${weight} is not one`);
      }
      const total = Object.values(weights).reduce((sum, w) => sum + w, 0);
      if (total !== 100) throw new Error(`weights for Cloud Run service ${settings.service} must add up to 100, not ${total}: ${JSON.stringify(weights)}`);

      const snap = await api.snapshot();
      const versions = resolveVersions(snap);
      const desired = new Map<string, number>();
      for (const [version, weight] of Object.entries(weights)) {
        if (weight === 0) continue;
        const { revision, why } = versions.get(version)!;
        if (!revision) throw new Error(`cannot send ${weight}% to version ${version} (${settings.versions[version]}): ${why}`);
        desired.set(revision, weight);
      }
      await applyTraffic(api, settings, snap, desired, logProgress);
      return trafficState(await api.snapshot());
    },
  };
}
