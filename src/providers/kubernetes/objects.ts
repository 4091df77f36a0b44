/**
 * Deployments, ReplicaSets, Pods and Scales as the kubernetes provider reads them off the wire, and
 * what kubectl computes from them (k8s.io/kubectl pkg/polymorphichelpers rollout_status.go,
 * pkg/util/deployment):
 * - a release is a ReplicaSet the Deployment controls; its id is its `deployment.kubernetes.io/revision`
 *   annotation. The current one carries the Deployment's revision, the previous one the highest below.
 * - two pod templates are the same when they are equal but for the `pod-template-hash` label the
 *   controller adds, with nil and empty alike (kubectl's equalIgnoreHash).
 * - a rollout is done when the controller observed the generation, every replica is updated, no old
 *   replica is left and every updated one is available (`kubectl rollout status`).
 *
 * API reference:
 *   Deployment v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
 *   ReplicaSet v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/replica-set-v1/
 *   Pod v1               https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 *   Scale subresource    https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.34/#scale-v1-autoscaling
 */
import { z } from 'zod';
import type { Release } from '../types.ts';

/** Annotations kubectl and the Deployment controller use (k8s.io/kubectl/pkg/util/deployment). */
export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const HASH_LABEL = 'pod-template-hash';

// Loose objects: what is read is checked, everything else is kept as the server sent it.
const meta = z.looseObject({
  name: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z.array(z.looseObject({ uid: z.string(), controller: z.boolean().optional() })).optional(),
});
const envVar = z.looseObject({ name: z.string(), value: z.string().optional() });
const container = z.looseObject({ name: z.string(), image: z.string().optional(), env: z.array(envVar).optional() });
const podTemplate = z.looseObject({ metadata: meta.optional(), spec: z.looseObject({ containers: z.array(container).optional() }).optional() });
const labelSelector = z.looseObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(z.looseObject({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() })).optional(),
});
export const deploymentSchema = z.looseObject({
  metadata: meta,
  spec: z.looseObject({ replicas: z.number().optional(), paused: z.boolean().optional(), selector: labelSelector, template: podTemplate }),
  status: z
    .looseObject({
      observedGeneration: z.number().optional(),
      replicas: z.number().optional(),
      updatedReplicas: z.number().optional(),
      readyReplicas: z.number().optional(),
      availableReplicas: z.number().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string().optional(), reason: z.string().optional(), message: z.string().optional() })).optional(),
    })
    .optional(),
});
export type Deployment = z.infer<typeof deploymentSchema>;
export const replicaSetSchema = z.looseObject({ metadata: meta, spec: z.looseObject({ template: podTemplate }) });
export type ReplicaSet = z.infer<typeof replicaSetSchema>;
export const replicaSetList = z.looseObject({ items: z.array(replicaSetSchema) });
const podSchema = z.looseObject({
  metadata: meta,
  spec: z.looseObject({ containers: z.array(container).optional() }).optional(),
  status: z.looseObject({ startTime: z.string().optional() }).optional(),
});
export const podList = z.looseObject({ items: z.array(podSchema) });
export const scaleSchema = z.looseObject({ metadata: meta, spec: z.looseObject({ replicas: z.number().optional() }).optional() });
export type PodTemplate = z.infer<typeof podTemplate>;

/** A label selector in the query-parameter form the API takes (metav1.LabelSelectorAsSelector). */
export function selectorString(selector: Deployment['spec']['selector']): string {
  const requirements: [string, string][] = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => [k, `${k}=${v}`]);
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const list = `(${[...values].sort().join(',')})`;
    const text = operator === 'In' ? `${key} in ${list}` : operator === 'NotIn' ? `${key} notin ${list}` : operator === 'Exists' ? key : operator === 'DoesNotExist' ? `!${key}` : null;
    if (text === null) throw new Error(`unknown label selector operator '${operator}' on key ${key}`);
    requirements.push([key, text]);
  }
  return requirements.sort(([a], [b]) => a.localeCompare(b)).map(([, text]) => text).join(',');
}

/**
 * The value with null, empty objects and empty arrays dropped and keys sorted: Go's Semantic.DeepEqual,
 * which kubectl's template comparison uses, treats nil and empty alike.
 */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(canonical);
    return items.length === 0 ? undefined : items.map((v) => (v === undefined ? null : v));
  }
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])] as const)
      .filter(([, v]) => v !== undefined);
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value === null ? undefined : value;
}

/** The template without the `pod-template-hash` label the controller adds to a ReplicaSet's copy. */
export function withoutHash(template: PodTemplate): PodTemplate {
  const labels = { ...template.metadata?.labels };
  delete labels[HASH_LABEL];
  return { ...template, metadata: { ...template.metadata, labels } };
}

/** kubectl's equalIgnoreHash. */
export function sameTemplate(a: PodTemplate, b: PodTemplate): boolean {
  return JSON.stringify(canonical(withoutHash(a))) === JSON.stringify(canonical(withoutHash(b)));
}

export const revisionOf = (rs: ReplicaSet): number => Number.parseInt(rs.metadata.annotations?.[REVISION] ?? '0', 10) || 0;
/** The revisions a ReplicaSet had before a rollback renumbered it (the controller's revision-history). */
export const earlierRevisionsOf = (rs: ReplicaSet): string[] => (rs.metadata.annotations?.[REVISION_HISTORY] ?? '').split(',').filter((r) => /^\d+$/.test(r));
export const imagesOf = (template: PodTemplate): string[] => (template.spec?.containers ?? []).map((c) => c.image ?? `${c.name} (no image)`);

/**
 * A ReplicaSet as a release: its revision, its images as the label, and the revisions it had before
 * a rollback renumbered it as aliases (`revision 1` is still the template revision 1 ran).
 */
export function releaseOf(rs: ReplicaSet): Release {
  const images = imagesOf(rs.spec.template);
  const earlier = earlierRevisionsOf(rs);
  return {
    id: String(revisionOf(rs)),
    label: images.join(', ') || '(no containers)',
    ...(rs.metadata.creationTimestamp ? { createdAt: rs.metadata.creationTimestamp } : {}),
    ...(images.length === 1 ? { image: images[0] } : {}),
    ...(earlier.length > 0 ? { aliases: earlier.map((r) => `revision ${r}`) } : {}),
  };
}

/** What kubectl rollout status prints for a Deployment, and whether the rollout is done (rollout_status.go). */
export function rolloutStatus(d: Deployment): { done: boolean; message: string } {
  const name = d.metadata.name ?? '';
  const status = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const desired = d.spec.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const replicas = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < desired) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${desired} new replicas have been updated...` };
  if (replicas > updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...` };
  if (available < updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...` };
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/** Whether a scale to `count` has settled: observed, no surplus pods, `count` ready and available. */
export function scaleStatus(d: Deployment, count: number): { done: boolean; message: string } {
  const name = d.metadata.name ?? '';
  const status = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const replicas = status.replicas ?? 0;
  const ready = Math.min(status.readyReplicas ?? 0, status.availableReplicas ?? 0);
  if (replicas > count) return { done: false, message: `Waiting for deployment "${name}" to scale to ${count}: ${replicas - count} replicas are pending termination...` };
  if (ready < count) return { done: false, message: `Waiting for deployment "${name}" to scale to ${count}: ${ready} of ${count} replicas are ready and available...` };
  return { done: true, message: `deployment "${name}" scaled to ${count}` };
}
