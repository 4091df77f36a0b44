/**
 * The kubernetes provider's restarts: `kubectl rollout restart` of a version's Deployment, and the pods
 * of its current ReplicaSet with the config they started with (k8s.io/kubectl pkg/polymorphichelpers
 * objectrestarter.go). A restart sets the pod template annotation `kubectl.kubernetes.io/restartedAt`
 * with a strategic merge patch, and records the idempotency key in a second template annotation, so a
 * repeat with the same key finds its restart made and only waits for it.
 *
 * API reference:
 *   Pod v1               https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 *   Patch content types  https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
 */
import { redactCredentials } from '../../contract/index.ts';
import type { ChangeOptions, ReplicaInfo, RestartClient } from '../types.ts';
import { STRATEGIC_MERGE_PATCH, type KubernetesApi } from './api.ts';
import { deploymentSchema, HASH_LABEL, podList, rolloutStatus, selectorString } from './objects.ts';
import type { Settings } from './settings.ts';

const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
/** Where a restart records its idempotency key: on the pod template, next to restartedAt. */
export const RESTART_KEY = 'rollback-runbooks/restart-idempotency-key';

/** RFC 3339 in UTC without fractions, as kubectl writes restartedAt. */
const rfc3339 = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The restarts client: each version's Deployment, restarted once per idempotency key. */
export function kubernetesRestarts(api: KubernetesApi, settings: Settings): RestartClient {
  const { namespace, ref } = api;

  async function readReplicas(target: string): Promise<ReplicaInfo[]> {
    const name = api.deploymentOf(target);
    const d = await api.getDeployment(name);
    const current = api.currentOf(d, await api.replicaSetsOf(d));
    if (!current) return [];
    const hash = current.metadata.labels?.[HASH_LABEL] ?? current.spec.template.metadata?.labels?.[HASH_LABEL];
    const labelSelector = [selectorString(d.spec.selector), ...(hash ? [`${HASH_LABEL}=${hash}`] : [])].filter(Boolean).join(',');
    const pods = await api.request(podList, async (o) => (await api.core()).listNamespacedPod({ namespace, labelSelector }, o));
    return pods.items
      .filter((pod) => pod.metadata.ownerReferences?.some((r) => r.controller && r.uid === current.metadata.uid))
      .map((pod) => ({
        version: target,
        replica: pod.metadata.name ?? '?',
        startedAt: pod.status?.startTime ?? pod.metadata.creationTimestamp ?? '',
        // Literal env values only (valueFrom, e.g. secretKeyRef, is never resolved), with URL credentials masked.
        config: Object.fromEntries((pod.spec?.containers ?? []).flatMap((c) => (c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, redactCredentials(e.value!)]))),
        secretVersions: {},
      }));
  }

  /** Safe to retry: the template carrying this idempotency key already is restarted; the retry only waits. */
  async function restart(target: string, options: ChangeOptions & { onProgress?: (line: string) => void; signal?: AbortSignal }): Promise<ReplicaInfo[]> {
    const name = api.deploymentOf(target);
    const restartedAt = rfc3339(new Date());
    await api.changeDeployment(name, async () => {
      const d = await api.getDeployment(name);
      if (d.spec.paused) throw new Error(`${ref(name)} is paused (spec.paused): kubectl refuses too ("can't restart paused deployment (run rollout resume first)"). Resume it with \`kubectl rollout resume deployment/${name} -n ${namespace}\`, then run this step again.`);
      if (d.spec.template.metadata?.annotations?.[RESTART_KEY] === options.idempotencyKey) return;
      api.log.info({ deployment: name, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'restarting deployment');
      const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: restartedAt, [RESTART_KEY]: options.idempotencyKey } } } } };
      await api.request(deploymentSchema, async (o) => (await api.apps()).patchNamespacedDeployment({ name, namespace, body }, o), { contentType: STRATEGIC_MERGE_PATCH });
    });
    await api.waitFor(name, rolloutStatus, options);
    return readReplicas(target);
  }

  return { targets: async () => Object.keys(settings.deployments), readReplicas, restart };
}
