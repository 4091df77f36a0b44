/**
 * Kubernetes Deployments through the API server, with @kubernetes/client-node's typed API classes
 * (AppsV1Api, CoreV1Api): instance counts per version through the `/scale` subresource, releases
 * (the ReplicaSet revisions a Deployment keeps, and `kubectl rollout undo` to one of them), and
 * `kubectl rollout restart`. Each runbook version names a Deployment (`{ stable: 'web', canary:
 * 'web-canary' }`). Done the way kubectl does it (k8s.io/kubectl pkg/polymorphichelpers, pkg/util/deployment).
 *
 * The provider in files:
 *   settings.ts  the runbook settings
 *   api.ts       the API server: client-node loaded on first use, credentials, requests, retries
 *                (shared policy; a 409 re-reads, as client-go's RetryOnConflict), the rollout wait
 *   objects.ts   Deployments, ReplicaSets, Pods and Scales on the wire, and kubectl's rules about them
 *   scaling.ts, releases.ts, restarts.ts   the capabilities
 *
 * API reference:
 *   Deployment v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
 *   ReplicaSet v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/replica-set-v1/
 *   Pod v1               https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 *   Scale subresource    https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.34/#scale-v1-autoscaling
 *   Rollback, progress   https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
 */
import type { ProviderClient, ProviderContext, ProviderDefinition } from '../types.ts';
import { kubernetesApi } from './api.ts';
import { kubernetesReleases } from './releases.ts';
import { kubernetesRestarts } from './restarts.ts';
import { kubernetesScaling } from './scaling.ts';
import { settingsSchema, type Settings } from './settings.ts';

function create(settings: Settings, context: ProviderContext): ProviderClient<'scaling' | 'releases' | 'restarts'> {
  const api = kubernetesApi(settings, context);
  return { scaling: kubernetesScaling(api, settings), releases: kubernetesReleases(api), restarts: kubernetesRestarts(api, settings) };
}

export const kubernetes: ProviderDefinition<'scaling' | 'releases' | 'restarts', Settings> = {
  id: 'kubernetes',
  description: 'Kubernetes Deployments through the API server (client-node): replicas via /scale, rollbacks to a ReplicaSet revision and rollout restarts as kubectl does them, waiting like kubectl rollout status',
  capabilities: ['scaling', 'releases', 'restarts'],
  settingsSchema,
  example: { server: 'https://kubernetes.example.internal:6443', tokenEnv: 'K8S_TOKEN', namespace: 'prod', deployments: { stable: 'web', canary: 'web-canary' } },
  create,
};
