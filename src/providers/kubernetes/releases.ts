/**
 * The kubernetes provider's releases: the ReplicaSet revisions a Deployment keeps, and `kubectl rollout
 * undo` to one of them, done as kubectl does it (k8s.io/kubectl pkg/polymorphichelpers rollback.go):
 * - rolling back copies the ReplicaSet's pod template (without its `pod-template-hash` label) into the
 *   Deployment with a JSON patch that also sets the annotations as kubectl does (the Deployment keeps
 *   its own revision/last-applied annotations and takes the ReplicaSet's others). The controller then
 *   reuses that ReplicaSet and gives it the next revision, recording its old one in
 *   `deployment.kubernetes.io/revision-history`, which is how a retried roll finds it again.
 * - a release is named by its revision (`3`, `revision 3`, as `--to-revision=3`; an earlier number of
 *   a renumbered ReplicaSet too), or by an image one of its containers runs (or a digest it is pinned
 *   to). An image reference with a tag or digest that no ReplicaSet runs is a fresh release: rolling
 *   to it sets the container's image, as `kubectl set image` does.
 * - a paused Deployment is refused, with kubectl's reason.
 * - the roll is then waited for as `kubectl rollout status` waits.
 *
 * API reference:
 *   Rollback, progress   https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
 *   Revisions            https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_undo/
 *   Setting an image     https://kubernetes.io/docs/reference/kubectl/generated/kubectl_set/kubectl_set_image/
 *   Patch content types  https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
 */
import { isPinnedImage, namesImage, parseImageReference } from '../image-reference.ts';
import type { Release, ReleaseState, ReleasesClient, RolloutOptions } from '../types.ts';
import { JSON_PATCH, STRATEGIC_MERGE_PATCH, type KubernetesApi } from './api.ts';
import { deploymentSchema, earlierRevisionsOf, imagesOf, releaseOf, REVISION, REVISION_HISTORY, revisionOf, rolloutStatus, sameTemplate, withoutHash, type Deployment, type ReplicaSet } from './objects.ts';

/** What `kubectl rollout history` shows for each revision; set on a fresh release so its ReplicaSet says where it came from. */
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
/** A revision as people write it: `3`, `revision 3`, `revision-3`. */
const REVISION_NAME = /^(?:revision[ -]?)?([1-9][0-9]*)$/i;

/** The Deployment's own annotations a rollback keeps rather than take from the ReplicaSet (kubectl's annotationsToSkip). */
const KEPT_ON_ROLLBACK = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  REVISION_HISTORY,
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

/** The releases client: each version's Deployment's revisions, and rolling back to one as kubectl does. */
export function kubernetesReleases(api: KubernetesApi): ReleasesClient {
  const { namespace, ref } = api;

  function pausedReason(name: string): string {
    return `${ref(name)} is paused (spec.paused): kubectl refuses to roll back or restart a paused deployment ("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"). Resume it with \`kubectl rollout resume deployment/${name} -n ${namespace}\`, then run this step again.`;
  }

  async function readRelease(target: string): Promise<ReleaseState> {
    const name = api.deploymentOf(target);
    const d = await api.getDeployment(name);
    const sets = await api.replicaSetsOf(d);
    const current = api.currentOf(d, sets);
    const below = current ? revisionOf(current) : Number.POSITIVE_INFINITY;
    const previous = sets.filter((rs) => revisionOf(rs) > 0 && revisionOf(rs) < below).sort((a, b) => revisionOf(b) - revisionOf(a))[0] ?? null;
    const blocked = d.spec.paused
      ? pausedReason(name)
      : previous
        ? undefined
        : `${ref(name)} has no earlier revision to roll back to (kubectl: no rollout history found); \`kubectl rollout history deployment/${name} -n ${namespace}\` lists what is kept.`;
    return {
      target,
      current: current ? releaseOf(current) : null,
      previous: previous ? releaseOf(previous) : null,
      ...(blocked ? { blocked } : {}),
      detail: {
        deployment: name,
        namespace,
        revision: d.metadata.annotations?.[REVISION] ?? null,
        paused: d.spec.paused ?? false,
        replicas: d.spec.replicas ?? 1,
        updatedReplicas: d.status?.updatedReplicas ?? 0,
        readyReplicas: d.status?.readyReplicas ?? 0,
        availableReplicas: d.status?.availableReplicas ?? 0,
        progressing: d.status?.conditions?.find((c) => c.type === 'Progressing')?.reason ?? null,
      },
    };
  }

  /** The Deployment's ReplicaSets that carry a revision, newest first. */
  async function revisions(d: Deployment, signal?: AbortSignal): Promise<ReplicaSet[]> {
    return (await api.replicaSetsOf(d, signal)).filter((rs) => revisionOf(rs) > 0).sort((a, b) => revisionOf(b) - revisionOf(a));
  }

  async function listReleases(target: string, limit: number): Promise<Release[]> {
    const d = await api.getDeployment(api.deploymentOf(target));
    return (await revisions(d)).slice(0, Math.max(0, limit)).map(releaseOf);
  }

  /**
   * The container a fresh image is for: the only one, or the one running another tag of the same
   * repository; anything else is refused, as `kubectl set image` needs the container named.
   */
  function containerFor(d: Deployment, image: string): { name: string; image?: string } {
    const name = d.metadata.name ?? '?';
    const containers = d.spec.template.spec?.containers ?? [];
    if (containers.length === 1) return containers[0]!;
    const repository = parseImageReference(image)?.name;
    const same = containers.filter((c) => c.image !== undefined && parseImageReference(c.image)?.name === repository);
    if (same.length === 1) return same[0]!;
    const listed = containers.map((c) => `${c.name}=${c.image ?? '?'}`).join(', ') || 'none';
    throw new Error(
      `${ref(name)} runs ${containers.length} containers (${listed}) and ${same.length === 0 ? 'none runs' : 'more than one runs'} repository ${repository}, so which one ${image} is for is not clear; name a revision instead, or set it with \`kubectl set image deployment/${name} <container>=${image} -n ${namespace}\``,
    );
  }

  /** A revision (or an earlier number of a renumbered one), an image a ReplicaSet runs, or a pinned image as a fresh release. */
  async function findRelease(target: string, name: string): Promise<Release | null> {
    const d = await api.getDeployment(api.deploymentOf(target));
    const kept = await revisions(d);
    const revision = REVISION_NAME.exec(name)?.[1];
    if (revision !== undefined) {
      const rs = kept.find((s) => String(revisionOf(s)) === revision) ?? kept.find((s) => earlierRevisionsOf(s).includes(revision));
      return rs ? releaseOf(rs) : null;
    }
    const running = kept.find((rs) => imagesOf(rs.spec.template).some((image) => namesImage(name, image)));
    if (running) return releaseOf(running);
    if (!isPinnedImage(name)) return null;
    containerFor(d, name); // refused now, in the snapshot, rather than when the rollback gets there
    return { id: name, label: name, image: name, fresh: true };
  }

  /** A fresh image set on its container, as `kubectl set image` does; nothing is patched when it is already there. */
  async function setImage(name: string, image: string, options: RolloutOptions): Promise<void> {
    await api.changeDeployment(name, async () => {
      const d = await api.getDeployment(name, options.signal);
      if (d.spec.paused) throw new Error(pausedReason(name));
      const container = containerFor(d, image);
      if (container.image === image) {
        options.onProgress?.(`deployment "${name}" already runs ${image} in container ${container.name}; nothing to patch`);
        return;
      }
      api.log.info({ deployment: name, container: container.name, image, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'setting a new image');
      options.onProgress?.(`deployment "${name}": container ${container.name} ${container.image ?? '?'} -> ${image}`);
      // Containers merge by name in a strategic merge patch; the change-cause is copied to the new ReplicaSet.
      const body = {
        metadata: { annotations: { [CHANGE_CAUSE]: `rollback-runbooks: set image ${container.name}=${image} (${options.actor})` } },
        spec: { template: { spec: { containers: [{ name: container.name, image }] } } },
      };
      await api.request(deploymentSchema, async (o) => (await api.apps()).patchNamespacedDeployment({ name, namespace, body }, o), { contentType: STRATEGIC_MERGE_PATCH, signal: options.signal });
    });
  }

  /**
   * Safe to retry: a Deployment already running the release's template (or, for a fresh release, its
   * image) is not patched again, only waited for.
   */
  async function rollTo(target: string, release: Release, options: RolloutOptions): Promise<ReleaseState> {
    const name = api.deploymentOf(target);
    if (release.fresh) {
      await setImage(name, release.image ?? release.id, options);
      await api.waitFor(name, rolloutStatus, options);
      return readRelease(target);
    }
    await api.changeDeployment(name, async () => {
      const d = await api.getDeployment(name, options.signal);
      if (d.spec.paused) throw new Error(pausedReason(name));
      const sets = await api.replicaSetsOf(d, options.signal);
      // After a rollback the controller renumbers the ReplicaSet and keeps its old revision in revision-history.
      const rs =
        sets.find((s) => s.metadata.annotations?.[REVISION] === release.id) ??
        sets.find((s) => earlierRevisionsOf(s).includes(release.id));
      if (!rs) {
        throw new Error(`${ref(name)} has no ReplicaSet for revision ${release.id} (${release.label}): \`kubectl rollout history deployment/${name} -n ${namespace}\` lists the revisions kept (revisionHistoryLimit may have pruned it).`);
      }
      if (sameTemplate(rs.spec.template, d.spec.template)) {
        options.onProgress?.(`deployment "${name}" already runs the template of revision ${release.id} (${release.label}); nothing to patch`);
        return;
      }
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (KEPT_ON_ROLLBACK.has(k)) annotations[k] = v;
      for (const [k, v] of Object.entries(rs.metadata.annotations ?? {})) if (!KEPT_ON_ROLLBACK.has(k)) annotations[k] = v;
      api.log.info({ deployment: name, toRevision: release.id, label: release.label, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'rolling deployment back');
      options.onProgress?.(`rolling deployment "${name}" back to revision ${rs.metadata.annotations?.[REVISION]} (${releaseOf(rs).label})`);
      // kubectl's patch: replace the template, set the annotations ("add" sets a member whether or not it exists).
      const body = [
        { op: 'replace', path: '/spec/template', value: withoutHash(rs.spec.template) },
        { op: 'add', path: '/metadata/annotations', value: annotations },
      ];
      await api.request(deploymentSchema, async (o) => (await api.apps()).patchNamespacedDeployment({ name, namespace, body }, o), { contentType: JSON_PATCH, signal: options.signal });
    });
    await api.waitFor(name, rolloutStatus, options);
    return readRelease(target);
  }

  return { readRelease, listReleases, findRelease, rollTo };
}
