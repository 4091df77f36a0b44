/**
 * The cloud-run provider's releases: the latest ready revision and the ready one created before it;
 * rolling back routes 100% of traffic to the older one (`gcloud run services update-traffic
 * --to-revisions=REV=100`), followed until the service serves it. Rolling to the revision already
 * serving everything sends nothing.
 *
 * API reference: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions/list
 */
import type { Release, ReleaseState, ReleasesClient } from '../types.ts';
import { isReady, readyBefore, shortName, type CloudRunApi, type Revision, type Snapshot } from './api.ts';
import type { Settings } from './settings.ts';
import { applyTraffic, servedSplit } from './traffic.ts';

function asRelease(revision: Revision): Release {
  const id = shortName(revision.name);
  const image = revision.containers?.[0]?.image;
  return { id, label: `${id} (${image ?? 'no image'}, created ${revision.createTime ?? 'at an unknown time'})`, createdAt: revision.createTime, image };
}

/** The releases client of the service; targets other than the settings' service are refused. */
export function cloudRunReleases(api: CloudRunApi, settings: Settings): ReleasesClient {
  const { logProgress } = api;

  const checkTarget = (target: string) => {
    if (target !== settings.service) throw new Error(`this Cloud Run provider manages service ${settings.service}, not ${target}: add a provider entry for ${target} to the runbook`);
  };

  function releaseState(snap: Snapshot): ReleaseState {
    const latest = snap.revisions.find((r) => shortName(r.name) === snap.latestReady && isReady(r));
    const previous = latest ? readyBefore(snap, snap.latestReady) : undefined;
    const state: ReleaseState = {
      target: settings.service,
      current: latest ? asRelease(latest) : null,
      previous: previous ? asRelease(previous) : null,
      detail: {
        traffic: Object.fromEntries(servedSplit(snap.service, snap.latestReady)),
        latestCreatedRevision: snap.service.latestCreatedRevision ? shortName(snap.service.latestCreatedRevision) : null,
        reconciling: snap.service.reconciling ?? false,
        uri: snap.service.uri ?? null,
      },
    };
    if (!latest) state.blocked = `Cloud Run service ${settings.service} has no ready revision`;
    else if (!previous) state.blocked = `Cloud Run service ${settings.service} has no ready revision before ${shortName(latest.name)}: nothing to roll back to`;
    return state;
  }

  return {
    async readRelease(target) {
      checkTarget(target);
      return releaseState(await api.snapshot());
    },

    /** Safe to retry: traffic already all on the revision is not patched again, only waited for. */
    async rollTo(target, release, options) {
      checkTarget(target);
      const progress = options.onProgress ?? logProgress;
      const snap = await api.snapshot(options.signal);
      const revision = shortName(release.id);
      const ready = snap.revisions.filter(isReady).map((r) => shortName(r.name));
      if (!ready.includes(revision)) {
        throw new Error(`revision ${revision} is not a ready revision of Cloud Run service ${settings.service} (ready: ${ready.join(', ') || 'none'}): cannot route traffic to it`);
      }
      await applyTraffic(api, settings, snap, new Map([[revision, 100]]), progress, options.signal);
      return releaseState(await api.snapshot(options.signal));
    },
  };
}
