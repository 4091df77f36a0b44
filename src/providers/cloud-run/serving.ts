/**
 * Template changes (env, image) made where the service's traffic goes. A change of the template makes
 * a new revision, and Cloud Run routes traffic to a new revision only through a LATEST target: with
 * traffic pinned to revisions (after a traffic shift or a rollback) it got 0%, so the changed config
 * served nowhere, and, being the latest, it became the `LATEST` version, which left the serving
 * revision none of the runbook's versions and the provider's next read refused the service. Here the
 * new revision takes over the traffic and version tags of the revision it replaces instead:
 *
 *  - traffic floating to LATEST (as a service is before anything pinned it): the template is PATCHed
 *    and Cloud Run names the new revision, which LATEST then serves (`gcloud run services update`);
 *  - one revision serving everything: the new revision is made from THAT revision's containers (the
 *    template may hold a newer canary's), named here, and the same PATCH moves the old revision's
 *    traffic and version tags to it, so no moment passes where it serves nothing;
 *  - traffic split between revisions: a config change is refused, since one new revision would serve
 *    one share only.
 * A deploy of an image (`deployRevision`, seed 002's `gcloud run deploy --image`) makes its revision
 * from the template and gives it 100% under the tag of the version it takes the place of.
 *
 * API reference:
 *   services.patch    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 *   RevisionTemplate  https://cloud.google.com/run/docs/reference/rest/v2/RevisionTemplate (revision: a name
 *                     given in the request, `<service>-<suffix>`; the request's traffic may name it)
 *   TrafficTarget     https://cloud.google.com/run/docs/reference/rest/v2/TrafficTarget
 */
import { createHash } from 'node:crypto';
import { shortName, type CloudRunApi, type Container, type Revision, type Snapshot, type Target } from './api.ts';
import type { Settings } from './settings.ts';
import { askedSplit, LATEST, pinnedTraffic, resolveVersions, sameSplit, servedSplit, splitText, versionRevisions } from './traffic.ts';

/** Where the service's traffic goes, as a template change sees it. */
export type Serving =
  | { kind: 'latest' }
  | { kind: 'revision'; revision: Revision }
  | { kind: 'split'; percents: Map<string, number> };

/** Where the traffic the service was last asked for goes (the statuses lag behind a PATCH still rolling out). */
export function serving(snap: Snapshot): Serving {
  if (!(snap.service.traffic ?? []).some((t) => t.type !== LATEST && (t.percent ?? 0) > 0)) return { kind: 'latest' };
  const percents = askedSplit(snap);
  if (percents.size > 1) return { kind: 'split', percents };
  const [only] = percents.keys();
  const revision = snap.revisions.find((r) => shortName(r.name) === only);
  if (!revision) throw new Error(`Cloud Run service ${shortName(snap.service.name)} routes its traffic to revision ${only}, which its revisions list does not show`);
  return { kind: 'revision', revision };
}

/** The containers of what serves: the template while traffic floats to LATEST, else the serving revision's (in a split, the largest share's). */
export function servingContainers(snap: Snapshot): Container[] {
  const now = serving(snap);
  if (now.kind === 'latest') return snap.service.template?.containers ?? [];
  if (now.kind === 'revision') return now.revision.containers ?? [];
  const [largest] = [...now.percents].sort((a, b) => b[1] - a[1])[0] ?? [];
  return snap.revisions.find((r) => shortName(r.name) === largest)?.containers ?? [];
}

/**
 * A revision name of this provider's (`<service>-rb-<8 hex>`) from the change's idempotency key: a
 * retry whose first PATCH never arrived sends the same name again. A name already taken (the first
 * attempt's revision, since moved off by someone) is passed over for the next in the same sequence.
 */
export function revisionName(settings: Settings, snap: Snapshot, idempotencyKey: string): string {
  const taken = new Set(snap.revisions.map((r) => shortName(r.name)));
  for (let attempt = 0; ; attempt++) {
    const name = `${settings.service}-rb-${createHash('sha256').update(`${idempotencyKey}#${attempt}`).digest('hex').slice(0, 8)}`;
    if (!taken.has(name)) return name;
  }
}

export interface ChangeOptions {
  idempotencyKey: string;
  progress: (line: string) => void;
  signal?: AbortSignal;
}

/** The service as it is once a change still rolling out (an earlier attempt's) has finished; its failure is this change's error. */
async function settledSnapshot(api: CloudRunApi, what: string, deadline: number, options: ChangeOptions): Promise<Snapshot> {
  const snap = await api.snapshot(options.signal);
  if (!snap.service.reconciling) return snap;
  await api.settled(what, deadline, options.progress, options.signal);
  return api.snapshot(options.signal);
}

/** PATCHes `template` (and `traffic`, when given), follows the operation, and checks the new revision is ready and serves `percents` (when given). */
async function deployTemplate(
  api: CloudRunApi,
  settings: Settings,
  snap: Snapshot,
  change: { what: string; template: NonNullable<Snapshot['service']['template']>; traffic?: Target[]; percents?: Map<string, number> },
  deadline: number,
  options: ChangeOptions,
): Promise<void> {
  const { what } = change;
  const { progress } = options;
  const operation = await api.patch({ ...snap.service, template: change.template, ...(change.traffic ? { traffic: change.traffic } : {}) }, options.signal);
  progress(`Cloud Run service ${settings.service}: ${what} (operation ${shortName(operation.name)})`);
  await api.followOperation(operation, what, deadline, progress, options.signal);
  const after = await api.settled(what, deadline, progress, options.signal);
  const latestReady = after.latestReadyRevision ? shortName(after.latestReadyRevision) : undefined;
  if (after.latestReadyRevision !== after.latestCreatedRevision) {
    throw new Error(`Cloud Run service ${settings.service}: the revision with ${what} (${shortName(after.latestCreatedRevision ?? '?')}) did not become ready; ${latestReady ?? '?'} is the latest that is. See ${api.describe}`);
  }
  const served = servedSplit(after, latestReady);
  if (change.percents && !sameSplit(served, change.percents)) {
    throw new Error(`Cloud Run service ${settings.service} serves ${splitText(served)}, not the ${splitText(change.percents)} asked with ${what}; someone may have changed it meanwhile: ${api.describe}`);
  }
}

/**
 * Changes the containers of what serves (`edit` gets a copy of them; it returns null when they already
 * are as asked) and waits until the new revision serves in the old one's place. Safe to retry: an
 * earlier attempt's revision serves by then, with the values already, so nothing is sent again; one
 * still rolling out is waited for, and one that failed is reported.
 */
export async function changeServing(
  api: CloudRunApi,
  settings: Settings,
  change: { what: string; edit(containers: Container[]): Container[] | null },
  options: ChangeOptions,
): Promise<void> {
  const { what } = change;
  const deadline = Date.now() + settings.timeoutMs;
  const snap = await settledSnapshot(api, what, deadline, options);
  const now = serving(snap);
  if (now.kind === 'split') {
    throw new Error(
      `Cloud Run service ${settings.service} splits its traffic (${splitText(now.percents)}): ${what} would make one new revision, serving one share only. ` +
        'Send all traffic to one version first (a rollback\'s traffic steps do), then change it',
    );
  }
  const template = snap.service.template;
  if (!template) throw new Error(`Cloud Run service ${settings.service} has no template to change ${what} in`);
  const containers = change.edit(structuredClone(now.kind === 'revision' ? (now.revision.containers ?? []) : (template.containers ?? [])));
  if (!containers) {
    // Already as asked (an earlier attempt's revision serves): only a failure of it is left to report.
    await api.settled(what, deadline, options.progress, options.signal);
    return;
  }

  if (now.kind === 'latest') {
    // Cloud Run names the revision: a template still naming the current revision would be refused
    // (409, "revision named ... with different configuration already exists").
    const unnamed = { ...template, containers };
    delete unnamed.revision;
    return deployTemplate(api, settings, snap, { what, template: unnamed }, deadline, options);
  }
  const old = shortName(now.revision.name);
  const name = revisionName(settings, snap, options.idempotencyKey);
  const versions = new Map([...versionRevisions(resolveVersions(settings, snap))].map(([version, revision]) => [version, revision === old ? name : revision]));
  const percents = new Map([[name, 100]]);
  const traffic = pinnedTraffic(settings, percents, versions, snap.service.traffic);
  await deployTemplate(api, settings, snap, { what: `${what} (revision ${name}, in place of ${old})`, template: { ...template, revision: name, containers }, traffic, percents }, deadline, options);
}

/**
 * Deploys `image` as a new revision made from the template (`gcloud run deploy --image`) and routes
 * 100% of traffic to it under `version`'s tag, the other versions kept where they are at 0%; returns
 * the revision's name. Not repeatable by itself: callers look for a revision running the image first.
 */
export async function deployRevision(api: CloudRunApi, settings: Settings, change: { image: string; version: string }, options: ChangeOptions): Promise<string> {
  const what = `image ${change.image}`;
  const deadline = Date.now() + settings.timeoutMs;
  const snap = await settledSnapshot(api, what, deadline, options);
  const template = snap.service.template;
  const [first, ...others] = template?.containers ?? [];
  if (!template || !first) throw new Error(`Cloud Run service ${settings.service} has no container in its template to deploy ${change.image} with`);
  const name = revisionName(settings, snap, options.idempotencyKey);
  const versions = versionRevisions(resolveVersions(settings, snap)).set(change.version, name);
  const percents = new Map([[name, 100]]);
  const traffic = pinnedTraffic(settings, percents, versions, snap.service.traffic);
  const containers = [{ ...first, image: change.image }, ...others];
  await deployTemplate(api, settings, snap, { what: `${what} (revision ${name}, tagged ${change.version})`, template: { ...template, revision: name, containers }, traffic, percents }, deadline, options);
  return name;
}
