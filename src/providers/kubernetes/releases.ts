/**
 * The kubernetes provider's releases: the ReplicaSet revisions a Deployment keeps, and `kubectl rollout
 * undo` to one of them, done as kubectl does it (k8s.io/kubectl pkg/polymorphichelpers rollback.go):
 * - rolling back copies the ReplicaSet's pod template (without its `pod-template-hash` label) into the
 *   Deployment with a JSON patch that also sets the annotations as kubectl does (the Deployment keeps
 *   its own revision/last-applied annotations and takes the ReplicaSet's others). The controller then
 *   reuses that ReplicaSet and gives it the next revision, recording its old one in
 *   `deployment.kubernetes.io/revision-history`, which is how a retried roll finds it again.
 * - a paused Deployment is refused, with kubectl's reason.
 * - the roll is then waited for as `kubectl rollout status` waits.
 *
 * API reference:
 *   Rollback, progress   https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
 *   Patch content types  https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
 */
import type { Release, ReleaseState, ReleasesClient, RolloutOptions } from '../types.ts';
import { JSON_PATCH, type KubernetesApi } from './api.ts';
import { deploymentSchema, releaseOf, REVISION, REVISION_HISTORY, revisionOf, rolloutStatus, sameTemplate, withoutHash } from './objects.ts';

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

  /** Safe to retry: a Deployment already running the release's template is not patched again, only waited for. */
  async function rollTo(target: string, release: Release, options: RolloutOptions): Promise<ReleaseState> {
    const name = api.deploymentOf(target);
    await api.changeDeployment(name, async () => {
      const d = await api.getDeployment(name, options.signal);
      if (d.spec.paused) throw new Error(pausedReason(name));
      const sets = await api.replicaSetsOf(d, options.signal);
      // After a rollback the controller renumbers the ReplicaSet and keeps its old revision in revision-history.
      const rs =
        sets.find((s) => s.metadata.annotations?.[REVISION] === release.id) ??
        sets.find((s) => (s.metadata.annotations?.[REVISION_HISTORY] ?? '').split(',').includes(release.id));
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

  return { readRelease, rollTo };
}
