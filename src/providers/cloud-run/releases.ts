/**
 * The cloud-run provider's releases: the service's revisions. The current release is the revision
 * that serves (all traffic, or the largest share), the previous one the ready revision created before
 * it. A rollback names a release as seed 002 does: a revision (`--to-revisions=REV=100`), a traffic tag,
 * the image a revision runs (the reference it was deployed with, or its digest), or an image no
 * revision runs yet, which rolling to deploys (`gcloud run deploy --image`).
 *
 * Rolling to a revision routes 100% of traffic to it under a version's traffic tag (traffic.ts): its
 * own version's when it is one, else the tag of the version serving now, whose place it takes; so
 * rolling back to what served before puts the tags back as they were, and the traffic capability
 * still reads every served revision as a version. Rolling to the revision already serving everything
 * sends nothing. Rolling to a fresh image deploys a revision from the template with that image and
 * pins 100% to it by tag the same way (serving.ts); a retry finds the revision running the image and
 * only routes to it.
 *
 * API reference:
 *   revisions.list  https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions/list
 *   Revision        https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions
 *                   (containers[].image as deployed; containerStatuses[].imageDigest as resolved)
 *   TrafficTarget   https://cloud.google.com/run/docs/reference/rest/v2/TrafficTarget
 *   deploy --image  https://cloud.google.com/sdk/gcloud/reference/run/deploy
 */
import { isPinnedImage, parseImageReference, SHA256_DIGEST } from '../image-reference.ts';
import type { Release, ReleaseState, ReleasesClient, RolloutOptions } from '../types.ts';
import { isReady, readyBefore, shortName, type CloudRunApi, type Revision, type Snapshot } from './api.ts';
import { deployRevision } from './serving.ts';
import type { Settings } from './settings.ts';
import { applyTraffic, askedSplit, LATEST, pinnedTraffic, resolveVersions, servedSplit, versionRevisions } from './traffic.ts';

/** The traffic tags that name `revision`: on a target of it, or on a LATEST target while it is the latest ready. */
function tagsOf(snap: Snapshot, revision: string): string[] {
  const names = (snap.service.traffic ?? []).filter((t) => (t.type === LATEST ? snap.latestReady === revision : !!t.revision && shortName(t.revision) === revision));
  return names.flatMap((t) => (t.tag ? [t.tag] : []));
}

function asRelease(snap: Snapshot, revision: Revision): Release {
  const id = shortName(revision.name);
  const image = revision.containers?.[0]?.image;
  const aliases = tagsOf(snap, id);
  const label = `${id} (${image ?? 'no image'}, created ${revision.createTime ?? 'at an unknown time'}${isReady(revision) ? '' : ', not ready'})`;
  return { id, label, createdAt: revision.createTime, image, ...(aliases.length > 0 ? { aliases } : {}) };
}

/** Whether `name` names the image revision `r` runs: the reference it was deployed with, its digest, or its repository at that digest. */
function runsImage(r: Revision, name: string): boolean {
  const image = r.containers?.[0]?.image;
  if (!image) return false;
  if (name === image) return true;
  const deployed = parseImageReference(image);
  const digest = r.containerStatuses?.[0]?.imageDigest ?? deployed?.digest;
  if (!digest) return false;
  const named = parseImageReference(name);
  return name === digest || (named?.digest === digest && named.name === deployed?.name);
}

/** Of the revisions running an image, the one to roll to: ready, serving now if one does, else the newest. */
function pick(snap: Snapshot, revisions: Revision[]): Revision | undefined {
  const served = askedSplit(snap);
  const ready = revisions.filter(isReady).reverse();
  return ready.find((r) => served.has(shortName(r.name))) ?? ready[0];
}

/** The releases client of the service; targets other than the settings' service are refused. */
export function cloudRunReleases(api: CloudRunApi, settings: Settings): ReleasesClient {
  const { logProgress } = api;

  const checkTarget = (target: string) => {
    if (target !== settings.service) throw new Error(`this Cloud Run provider manages service ${settings.service}, not ${target}: add a provider entry for ${target} to the runbook`);
  };

  /** The ready revision serving the largest share (the newer one of equal shares), else the latest ready. */
  function servingRevision(snap: Snapshot): Revision | undefined {
    const served = servedSplit(snap.service, snap.latestReady);
    const ready = snap.revisions.filter(isReady).reverse();
    let best: Revision | undefined;
    for (const r of ready) if ((served.get(shortName(r.name)) ?? 0) > (best ? (served.get(shortName(best.name)) ?? 0) : 0)) best = r;
    return best ?? ready.find((r) => shortName(r.name) === snap.latestReady);
  }

  function releaseState(snap: Snapshot): ReleaseState {
    const current = servingRevision(snap);
    const previous = current ? readyBefore(snap, shortName(current.name)) : undefined;
    const state: ReleaseState = {
      target: settings.service,
      current: current ? asRelease(snap, current) : null,
      previous: previous ? asRelease(snap, previous) : null,
      detail: {
        traffic: Object.fromEntries(servedSplit(snap.service, snap.latestReady)),
        latestCreatedRevision: snap.service.latestCreatedRevision ? shortName(snap.service.latestCreatedRevision) : null,
        reconciling: snap.service.reconciling ?? false,
        uri: snap.service.uri ?? null,
      },
    };
    if (!current) state.blocked = `Cloud Run service ${settings.service} has no ready revision`;
    else if (!previous) state.blocked = `Cloud Run service ${settings.service} has no ready revision before ${shortName(current.name)}: nothing to roll back to`;
    return state;
  }

  /** The version whose revision has the largest share of the traffic asked for (the first in settings order of equal ones): the one a new release takes the place of. */
  function servingVersion(snap: Snapshot, versions = versionRevisions(resolveVersions(settings, snap))): string {
    const asked = askedSplit(snap);
    let best: string | undefined;
    for (const [version, revision] of versions) if (best === undefined || (asked.get(revision) ?? 0) > (asked.get(versions.get(best)!) ?? 0)) best = version;
    return best ?? Object.keys(settings.versions)[0]!;
  }

  /** 100% of traffic to ready revision `revision` under a version's tag (see the file's comment); nothing sent when it serves it all already. */
  async function routeTo(snap: Snapshot, revision: string, options: RolloutOptions, progress: (line: string) => void): Promise<void> {
    const versions = versionRevisions(resolveVersions(settings, snap));
    versions.set([...versions].find(([, r]) => r === revision)?.[0] ?? servingVersion(snap, versions), revision);
    const percents = new Map([[revision, 100]]);
    await applyTraffic(api, settings, snap, { percents, targets: pinnedTraffic(settings, percents, versions, snap.service.traffic) }, progress, options.signal);
  }

  return {
    async readRelease(target) {
      checkTarget(target);
      return releaseState(await api.snapshot());
    },

    async listReleases(target, limit) {
      checkTarget(target);
      const snap = await api.snapshot();
      return snap.revisions.filter(isReady).reverse().slice(0, limit).map((r) => asRelease(snap, r));
    },

    async findRelease(target, name) {
      checkTarget(target);
      const snap = await api.snapshot();
      const bare = name.startsWith('projects/') ? shortName(name) : name;
      const byName = snap.revisions.find((r) => shortName(r.name) === bare);
      if (byName) return asRelease(snap, byName);
      const tagged = snap.service.traffic?.find((t) => t.tag === name);
      const taggedRevision = tagged && (tagged.type === LATEST ? snap.latestReady : tagged.revision && shortName(tagged.revision));
      const byTag = taggedRevision ? snap.revisions.find((r) => shortName(r.name) === taggedRevision) : undefined;
      if (byTag) return asRelease(snap, byTag);
      const running = snap.revisions.filter((r) => runsImage(r, name));
      const byImage = pick(snap, running) ?? running.at(-1);
      if (byImage) return asRelease(snap, byImage);
      // A bare digest names no repository to pull it from: only a revision that ran it can be meant.
      if (isPinnedImage(name) && !SHA256_DIGEST.test(name)) return { id: name, label: name, image: name, fresh: true };
      return null;
    },

    /** The revision's Ready condition (what `gcloud run revisions describe` shows), with its message when it is not met. */
    async releaseReadiness(target, release) {
      checkTarget(target);
      const snap = await api.snapshot();
      const revision = snap.revisions.find((r) => shortName(r.name) === shortName(release.id));
      if (!revision) return { ready: false, detail: `Cloud Run service ${settings.service} has no revision ${shortName(release.id)}` };
      if (revision.deleteTime) return { ready: false, detail: `revision ${shortName(revision.name)} is being deleted` };
      if (isReady(revision)) return { ready: true, detail: 'its Ready condition is CONDITION_SUCCEEDED' };
      const condition = revision.conditions?.find((c) => c.type === 'Ready');
      return { ready: false, detail: `its Ready condition is ${condition?.state ?? 'missing'}${condition?.message ? ` (${condition.message})` : ''}` };
    },

    /** Safe to retry: traffic already all on the revision is not patched again, and a fresh image already deployed is only routed to. */
    async rollTo(target, release, options) {
      checkTarget(target);
      const progress = options.onProgress ?? logProgress;
      const snap = await api.snapshot(options.signal);
      const ready = snap.revisions.filter(isReady).map((r) => shortName(r.name));
      if (release.fresh) {
        const image = release.image ?? release.id;
        const running = snap.revisions.filter((r) => runsImage(r, image));
        const deployed = pick(snap, running);
        if (deployed) {
          progress(`Cloud Run service ${settings.service}: revision ${shortName(deployed.name)} runs ${image} already; routing to it`);
          await routeTo(snap, shortName(deployed.name), options, progress);
        } else {
          const failed = running.filter((r) => !r.deleteTime).at(-1);
          if (failed) {
            const why = failed.conditions?.find((c) => c.type === 'Ready')?.message ?? 'no reason given';
            throw new Error(`Cloud Run service ${settings.service}: revision ${shortName(failed.name)} with ${image} did not become ready (${why}); nothing was sent. See ${api.describe}`);
          }
          await deployRevision(api, settings, { image, version: servingVersion(snap) }, { idempotencyKey: options.idempotencyKey, progress, signal: options.signal });
        }
        return releaseState(await api.snapshot(options.signal));
      }
      const revision = shortName(release.id);
      if (!ready.includes(revision)) {
        throw new Error(`revision ${revision} is not a ready revision of Cloud Run service ${settings.service} (ready: ${ready.join(', ') || 'none'}): cannot route traffic to it`);
      }
      await routeTo(snap, revision, options, progress);
      return releaseState(await api.snapshot(options.signal));
    },
  };
}
