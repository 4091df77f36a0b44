/**
 * The kubernetes provider's instance counts: each runbook version's Deployment, read and set through
 * its `/scale` subresource (`kubectl scale`), then waited for until that many replicas are ready and
 * available and no surplus pod is left. Kubernetes has no traffic weights between Deployments.
 *
 * API reference:
 *   Scale subresource  https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.34/#scale-v1-autoscaling
 *   Conflicts (409)    https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
 */
import type { ChangeOptions, ScalingClient, TrafficState } from '../types.ts';
import type { KubernetesApi } from './api.ts';
import { scaleSchema, scaleStatus } from './objects.ts';
import type { Settings } from './settings.ts';

/** The scaling client: replicas of each version's Deployment through its /scale subresource. */
export function kubernetesScaling(api: KubernetesApi, settings: Settings): ScalingClient {
  const { namespace, request, apps } = api;

  async function readState(): Promise<TrafficState> {
    const instances = await Promise.all(
      Object.entries(settings.deployments).map(async ([version, name]) => {
        const scale = await request(scaleSchema, async (o) => (await apps()).readNamespacedDeploymentScale({ name, namespace }, o));
        return [version, scale.spec?.replicas ?? 0] as const;
      }),
    );
    return { weights: {}, instances: Object.fromEntries(instances) };
  }

  /** Safe to retry: a Deployment already at `count` is not written again, only waited for. */
  async function scale(version: string, count: number, options: ChangeOptions): Promise<TrafficState> {
    const name = api.deploymentOf(version);
    await api.changeDeployment(name, async () => {
      const scale = await request(scaleSchema, async (o) => (await apps()).readNamespacedDeploymentScale({ name, namespace }, o));
      if ((scale.spec?.replicas ?? 0) === count) return;
      api.log.info({ deployment: name, from: scale.spec?.replicas, to: count, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'scaling deployment');
      // The resourceVersion read makes the write conditional: a change made meanwhile is a 409, read again.
      const body = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name, namespace, resourceVersion: scale.metadata.resourceVersion }, spec: { replicas: count } };
      await request(scaleSchema, async (o) => (await apps()).replaceNamespacedDeploymentScale({ name, namespace, body }, o));
    });
    await api.waitFor(name, (d) => scaleStatus(d, count), {});
    return readState();
  }

  return { readState, scale };
}
