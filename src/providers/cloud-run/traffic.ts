/**
 * The cloud-run provider's traffic: the service's split between revisions, read per runbook version
 * and set as seed 002 does by hand (`gcloud run services update-traffic --to-revisions=REV=50,...`).
 *
 * Versions are traffic tags. Every change of the split writes each runbook version (stable, canary) as
 * a traffic target tagged with its name, 0% where it gets nothing, so a version stays the revision it
 * was when Cloud Run's latest revision moves on: a config change or a deploy makes a new revision that
 * takes over its version's tag and traffic (serving.ts), and the next read still finds every served
 * revision a version (by hand: `gcloud run services update-traffic --to-tags=stable=100`). A version
 * no target is tagged with yet (a service this provider has not changed) is the revision its selector
 * in settings.versions names: a revision name, `LATEST` (the latest ready revision) or `PREVIOUS` (the
 * ready revision created before it). So is every version while traffic floats to LATEST untagged:
 * someone routed to the latest revision since (`--to-latest`), and the tags tell of an older split.
 *
 * Traffic on a revision that is none of the versions is an error, never silently dropped. The API
 * takes no idempotency key on services.patch, so a change reads first and sends nothing when the
 * service already routes as asked: a retried activity finds its change made and only waits for it.
 *
 * API reference:
 *   TrafficTarget  https://cloud.google.com/run/docs/reference/rest/v2/TrafficTarget
 *   traffic tags   https://cloud.google.com/run/docs/rollouts-rollbacks-traffic-migration#tags
 */
import type { TrafficClient, TrafficState } from '../types.ts';
import { readyBefore, shortName, type CloudRunApi, type Service, type Snapshot, type Target } from './api.ts';
import type { Settings } from './settings.ts';

export const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
export const BY_REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

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

export const sameSplit = (a: Map<string, number>, b: Map<string, number>): boolean => a.size === b.size && [...a].every(([revision, percent]) => b.get(revision) === percent);

export const splitText = (percents: Map<string, number>): string => (percents.size ? [...percents].map(([revision, percent]) => `${revision}=${percent}%`).join(', ') : 'no traffic');

/** What the service serves now (the statuses, else what was asked), percent per revision. */
export const servedSplit = (service: Service, latestReady: string | undefined) => split(service.trafficStatuses?.length ? service.trafficStatuses : service.traffic, latestReady);

/** What the service was last asked to serve, percent per revision: what a change compares with, as a PATCH whose operation still runs is in it. */
export const askedSplit = (snap: Snapshot) => split(snap.service.traffic, snap.latestReady);

/** Whether some traffic goes to LATEST under no version's tag (see the file's comment): then the selectors say which revision each version is. */
function floats(traffic: Target[] | undefined, versionNames: string[]): boolean {
  if (!traffic?.length) return true;
  return traffic.some((t) => t.type === LATEST && (t.percent ?? 0) > 0 && !(t.tag && versionNames.includes(t.tag)));
}

export type Versions = Map<string, { revision?: string; why?: string }>;

/** The revision each runbook version is now, or why it is none: where its tag points, else what its selector names. */
export function resolveVersions(settings: Settings, snap: Snapshot): Versions {
  const names = Object.keys(settings.versions);
  const byTag = !floats(snap.service.traffic, names);
  const resolved: Versions = new Map();
  for (const [version, selector] of Object.entries(settings.versions)) {
    const tagged = byTag ? snap.service.traffic?.find((t) => t.tag === version) : undefined;
    if (tagged) {
      const revision = tagged.type === LATEST ? snap.latestReady : tagged.revision && shortName(tagged.revision);
      resolved.set(version, revision ? { revision } : { why: `its traffic tag ${version} names no revision` });
    } else if (selector === 'LATEST') {
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

/** Version name -> revision, for the versions that are one. */
export const versionRevisions = (versions: Versions): Map<string, string> =>
  new Map([...versions].flatMap(([version, { revision }]) => (revision ? [[version, revision] as const] : [])));

/**
 * The traffic targets that route `percents` (per revision) and pin each version of `versions` by its
 * tag (0% where it gets nothing). Tags that are no version's (revision URLs people use) stay on their
 * revisions; a version's tag found elsewhere is dropped, as it moves with its version.
 */
export function pinnedTraffic(settings: Settings, percents: Map<string, number>, versions: Map<string, string>, existing: Target[] | undefined): Target[] {
  const targets: Target[] = [...versions].map(([version, revision]) => ({ type: BY_REVISION, revision, percent: percents.get(revision) ?? 0, tag: version }));
  const pinned = new Set(versions.values());
  for (const [revision, percent] of percents) if (!pinned.has(revision)) targets.push({ type: BY_REVISION, revision, percent });
  for (const old of existing ?? []) {
    if (!old.tag || Object.hasOwn(settings.versions, old.tag)) continue;
    const revision = old.type === LATEST || !old.revision ? null : shortName(old.revision);
    const untagged = revision === null ? undefined : targets.find((t) => t.revision === revision && !t.tag);
    if (untagged) untagged.tag = old.tag;
    else targets.push(revision === null ? { type: LATEST, percent: 0, tag: old.tag } : { type: BY_REVISION, revision, percent: 0, tag: old.tag });
  }
  return targets;
}

/**
 * Routes traffic as `desired` (percent per revision) with `targets` (the same split, its tags) and
 * waits until the service serves it. Only a different split is sent: tags are written with it.
 */
export async function applyTraffic(
  api: CloudRunApi,
  settings: Settings,
  snap: Snapshot,
  desired: { percents: Map<string, number>; targets: Target[] },
  progress: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + settings.timeoutMs;
  const what = `traffic ${splitText(desired.percents)}`;
  // Compared with `traffic` (what was asked), not the statuses: after a worker died mid-change the
  // PATCH is in and only the waiting is left to do.
  if (!sameSplit(askedSplit(snap), desired.percents)) {
    const operation = await api.patch({ ...snap.service, traffic: desired.targets }, signal);
    progress(`Cloud Run service ${settings.service}: asked for ${what} (operation ${shortName(operation.name)})`);
    await api.followOperation(operation, what, deadline, progress, signal);
  }
  const service = await api.settled(what, deadline, progress, signal);
  const served = servedSplit(service, service.latestReadyRevision ? shortName(service.latestReadyRevision) : undefined);
  if (!sameSplit(served, desired.percents)) {
    throw new Error(`Cloud Run service ${settings.service} serves ${splitText(served)}, not the ${splitText(desired.percents)} asked; someone may have changed it meanwhile: ${api.describe}`);
  }
}

/** The traffic client: weights per runbook version; traffic on a revision that is none of them is an error. */
export function cloudRunTraffic(api: CloudRunApi, settings: Settings): TrafficClient {
  const versionNames = Object.keys(settings.versions);
  const { logProgress } = api;

  function trafficState(snap: Snapshot): TrafficState {
    const versions = resolveVersions(settings, snap);
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
      const versions = resolveVersions(settings, snap);
      const percents = new Map<string, number>();
      for (const [version, weight] of Object.entries(weights)) {
        if (weight === 0) continue;
        const { revision, why } = versions.get(version)!;
        if (!revision) throw new Error(`cannot send ${weight}% to version ${version} (${settings.versions[version]}): ${why}`);
        percents.set(revision, weight);
      }
      const targets = pinnedTraffic(settings, percents, versionRevisions(versions), snap.service.traffic);
      await applyTraffic(api, settings, snap, { percents, targets }, logProgress);
      return trafficState(await api.snapshot());
    },
  };
}
