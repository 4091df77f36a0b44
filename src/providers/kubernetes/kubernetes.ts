/**
 * Kubernetes Deployments through the API server, with @kubernetes/client-node's typed API classes
 * (AppsV1Api, CoreV1Api): instance counts per version through the `/scale` subresource, releases
 * (the ReplicaSet revisions a Deployment keeps, and `kubectl rollout undo` to one of them), and
 * `kubectl rollout restart`. Each runbook version names a Deployment (`{ stable: 'web', canary:
 * 'web-canary' }`).
 *
 * Done the way kubectl does it (k8s.io/kubectl pkg/polymorphichelpers rollback.go, rollout_status.go,
 * objectrestarter.go; pkg/util/deployment):
 * - a release is a ReplicaSet the Deployment controls; its id is its `deployment.kubernetes.io/revision`
 *   annotation. The current one carries the Deployment's revision, the previous one the highest below.
 * - rolling back copies the ReplicaSet's pod template (without its `pod-template-hash` label) into the
 *   Deployment with a JSON patch that also sets the annotations as kubectl does (the Deployment keeps
 *   its own revision/last-applied annotations and takes the ReplicaSet's others). The controller then
 *   reuses that ReplicaSet and gives it the next revision, recording its old one in
 *   `deployment.kubernetes.io/revision-history`, which is how a retried roll finds it again.
 * - a paused Deployment is refused, with kubectl's reason.
 * - waiting is `kubectl rollout status`: the controller observed the generation, every replica is
 *   updated, no old replica is left, every updated one is available; a Progressing condition with
 *   reason ProgressDeadlineExceeded fails the wait.
 * - a restart sets the pod template annotation `kubectl.kubernetes.io/restartedAt` with a strategic
 *   merge patch, and records the idempotency key in a second template annotation, so a repeat with the
 *   same key finds its restart made and only waits for it.
 *
 * Objects are handled as the raw JSON the server sent, not client-node's model classes: those keep
 * only the fields the client's OpenAPI version knows, and a pod template copied back through them
 * would silently lose newer fields (and then no longer match its ReplicaSet). A per-request
 * middleware captures the answer's text; client-node still does the transport, TLS and auth.
 *
 * Rate limits: client-node 1.4 does not retry. Every call goes through `request()`, which catches
 * client-node's ApiException, reads its status and headers, and on 429 waits as long as Retry-After
 * says (the API server's priority and fairness sends it) before asking again, as client-go does. 5xx
 * and lost answers are asked again too: every request here is safe to repeat (a read; a PUT of the
 * Scale carrying the resourceVersion read; patches that set values). A 409 (someone changed the
 * Deployment between our read and write) re-reads and decides again, like client-go's RetryOnConflict.
 *
 * Plain http:// servers (kubectl proxy, the test emulator): client-node refuses http:// unless the
 * cluster has skipTLSVerify, which is what makes it pick a plain http.Agent; there is no TLS to
 * verify then, so it is set for http:// servers only, whatever insecureSkipTlsVerify says.
 *
 * API reference:
 *   Deployment v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
 *   ReplicaSet v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/replica-set-v1/
 *   Pod v1               https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 *   Scale subresource    https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.34/#scale-v1-autoscaling
 *   Patch content types  https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
 *   Conflicts (409)      https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
 *   429 and Retry-After  https://kubernetes.io/docs/concepts/cluster-administration/flow-control/
 *   Rollback, progress   https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type * as ClientNode from '@kubernetes/client-node';
import type { Cluster, ConfigurationOptions, KubeConfig, ObservableMiddleware } from '@kubernetes/client-node';
import { z } from 'zod';
import { envVarName, redactCredentials } from '../../contract/index.ts';
import { ApiError, retryAfterMs } from '../http-api.ts';

/**
 * client-node is loaded on first use, not with the registry: it adds about 77 MB to a process's RSS,
 * which a worker whose runbooks name no Kubernetes should not carry (nor every `rollback` CLI run).
 */
let loading: Promise<typeof ClientNode> | null = null;
const clientNode = () => (loading ??= import('@kubernetes/client-node'));
const JSON_PATCH = 'application/json-patch+json';
const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
import {
  secretFromEnv,
  type ChangeOptions,
  type ProviderContext,
  type ProviderDefinition,
  type Release,
  type ReleaseState,
  type ReplicaInfo,
  type RolloutOptions,
  type TrafficState,
} from '../types.ts';

/** Annotations kubectl and the Deployment controller use (k8s.io/kubectl/pkg/util/deployment). */
const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
const HASH_LABEL = 'pod-template-hash';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
/** Where a restart records its idempotency key: on the pod template, next to restartedAt. */
export const RESTART_KEY = 'rollback-runbooks/restart-idempotency-key';
/** The Deployment's own annotations a rollback keeps rather than take from the ReplicaSet (kubectl's annotationsToSkip). */
const KEPT_ON_ROLLBACK = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  REVISION_HISTORY,
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

const MAX_ATTEMPTS = 5;
const MAX_RETRY_AFTER_MS = 30_000;
const BACKOFF_MS = 500;
const REQUEST_TIMEOUT_MS = 30_000;
const CONFLICT_ATTEMPTS = 3;

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const settingsSchema = z
  .strictObject({
    server: z.url({ protocol: /^https?$/ }).optional().describe('API server URL, e.g. https://10.0.0.1:6443 (with tokenEnv); or give kubeconfigEnv instead'),
    tokenEnv: envVarName.optional().describe('environment variable holding a bearer token for server (a service account token)'),
    kubeconfigEnv: envVarName.optional().describe('environment variable holding the path of a kubeconfig file, instead of server and tokenEnv'),
    context: z.string().min(1).optional().describe("the kubeconfig context to use; default the kubeconfig's current-context"),
    namespace: z.string().max(63).regex(dnsLabel, 'must be a namespace name (lowercase letters, digits and hyphens)').describe('namespace of the Deployments'),
    deployments: z
      .record(z.string().min(1), z.string().max(253).regex(dnsSubdomain, 'must be a Deployment name (lowercase letters, digits, hyphens and dots)'))
      .refine((d) => Object.keys(d).length > 0, 'must name at least one Deployment')
      .describe("runbook version name -> Deployment name, e.g. { stable: 'web', canary: 'web-canary' }"),
    caDataEnv: envVarName.optional().describe("environment variable holding the API server's CA certificate (PEM, or base64 PEM as in a kubeconfig's certificate-authority-data)"),
    insecureSkipTlsVerify: z.boolean().default(false).describe("do not verify the API server's TLS certificate (like kubectl --insecure-skip-tls-verify); never in production"),
    rolloutTimeoutSeconds: z.int().positive().default(600).describe('longest wait for a rollout or a scale to finish, like kubectl rollout status --timeout'),
    pollIntervalMs: z.int().positive().default(2000).describe('how often a rollout or scale in progress is read'),
  })
  .superRefine((s, ctx) => {
    if (s.kubeconfigEnv) {
      for (const field of ['server', 'tokenEnv'] as const) {
        if (s[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'give either kubeconfigEnv, or server with tokenEnv, not both' });
      }
      return;
    }
    if (!s.server) ctx.addIssue({ code: 'custom', path: ['server'], message: 'required (with tokenEnv) unless kubeconfigEnv is given' });
    if (!s.tokenEnv) ctx.addIssue({ code: 'custom', path: ['tokenEnv'], message: 'required (with server) unless kubeconfigEnv is given' });
    if (s.context) ctx.addIssue({ code: 'custom', path: ['context'], message: 'names a kubeconfig context: give kubeconfigEnv too' });
  });
type Settings = z.infer<typeof settingsSchema>;

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
const deploymentSchema = z.looseObject({
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
type Deployment = z.infer<typeof deploymentSchema>;
const replicaSetSchema = z.looseObject({ metadata: meta, spec: z.looseObject({ template: podTemplate }) });
type ReplicaSet = z.infer<typeof replicaSetSchema>;
const replicaSetList = z.looseObject({ items: z.array(replicaSetSchema) });
const podSchema = z.looseObject({
  metadata: meta,
  spec: z.looseObject({ containers: z.array(container).optional() }).optional(),
  status: z.looseObject({ startTime: z.string().optional() }).optional(),
});
const podList = z.looseObject({ items: z.array(podSchema) });
const scaleSchema = z.looseObject({ metadata: meta, spec: z.looseObject({ replicas: z.number().optional() }).optional() });
const statusBody = z.looseObject({ message: z.string() });

/** A label selector in the query-parameter form the API takes (metav1.LabelSelectorAsSelector). */
export function selectorString(selector: z.infer<typeof labelSelector>): string {
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
function withoutHash(template: z.infer<typeof podTemplate>): z.infer<typeof podTemplate> {
  const labels = { ...template.metadata?.labels };
  delete labels[HASH_LABEL];
  return { ...template, metadata: { ...template.metadata, labels } };
}

/** kubectl's equalIgnoreHash. */
export function sameTemplate(a: z.infer<typeof podTemplate>, b: z.infer<typeof podTemplate>): boolean {
  return JSON.stringify(canonical(withoutHash(a))) === JSON.stringify(canonical(withoutHash(b)));
}

const revisionOf = (rs: ReplicaSet): number => Number.parseInt(rs.metadata.annotations?.[REVISION] ?? '0', 10) || 0;
const imagesOf = (template: z.infer<typeof podTemplate>): string[] => (template.spec?.containers ?? []).map((c) => c.image ?? `${c.name} (no image)`);

function releaseOf(rs: ReplicaSet): Release {
  const images = imagesOf(rs.spec.template);
  return {
    id: String(revisionOf(rs)),
    label: images.join(', ') || '(no containers)',
    ...(rs.metadata.creationTimestamp ? { createdAt: rs.metadata.creationTimestamp } : {}),
    ...(images.length === 1 ? { image: images[0] } : {}),
  };
}

/** RFC 3339 in UTC without fractions, as kubectl writes restartedAt. */
const rfc3339 = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

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
function scaleStatus(d: Deployment, count: number): { done: boolean; message: string } {
  const name = d.metadata.name ?? '';
  const status = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const replicas = status.replicas ?? 0;
  const ready = Math.min(status.readyReplicas ?? 0, status.availableReplicas ?? 0);
  if (replicas > count) return { done: false, message: `Waiting for deployment "${name}" to scale to ${count}: ${replicas - count} replicas are pending termination...` };
  if (ready < count) return { done: false, message: `Waiting for deployment "${name}" to scale to ${count}: ${ready} of ${count} replicas are ready and available...` };
  return { done: true, message: `deployment "${name}" scaled to ${count}` };
}

interface Exchange {
  /** Set once client-node is about to send: an error before that (settings, credentials) is not a lost answer. */
  sent: boolean;
  method: string;
  path: string;
  status?: number;
  headers?: Record<string, string>;
  text?: string;
}

/** One client-node call: fills `options` in, returns what client-node returns (ignored: the raw text is used). */
type Send = (options: ConfigurationOptions) => Promise<unknown>;

function create(settings: Settings, context: ProviderContext) {
  const { namespace } = settings;
  const log = context.logger.child({ provider: 'kubernetes', namespace });

  /** Credentials are read when a call is made, never in create(), so a refreshed token or kubeconfig is picked up. */
  async function kubeConfig(): Promise<KubeConfig> {
    const kc = new (await clientNode()).KubeConfig();
    const caFromEnv = () => {
      if (!settings.caDataEnv) return undefined;
      const value = secretFromEnv(context, settings.caDataEnv).trim();
      return value.startsWith('-----BEGIN') ? Buffer.from(value).toString('base64') : value;
    };
    if (settings.kubeconfigEnv) {
      const path = secretFromEnv(context, settings.kubeconfigEnv);
      try {
        kc.loadFromFile(path);
      } catch (err) {
        // A YAML error quotes the file's text, which may hold credentials: only a file system error is shown.
        const code = (err as NodeJS.ErrnoException).code;
        throw new Error(`cannot load the kubeconfig ${path} named by ${settings.kubeconfigEnv}: ${code ? (err as Error).message : 'it is not a valid kubeconfig file'}`);
      }
      if (settings.context) {
        if (!kc.getContextObject(settings.context)) {
          throw new Error(`the kubeconfig ${path} has no context '${settings.context}' (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
        }
        kc.setCurrentContext(settings.context);
      }
      const current = kc.getCurrentCluster();
      if (!current) throw new Error(`the kubeconfig ${path} names no cluster for context '${kc.getCurrentContext()}'`);
      const caData = caFromEnv();
      const cluster: Cluster = {
        ...current,
        ...(caData ? { caData, caFile: undefined } : {}),
        skipTLSVerify: current.skipTLSVerify || settings.insecureSkipTlsVerify || current.server.startsWith('http:'),
      };
      kc.clusters = kc.clusters.map((c) => (c.name === current.name ? cluster : c));
      return kc;
    }
    const server = settings.server!;
    kc.loadFromClusterAndUser(
      { name: 'runbook-cluster', server, caData: caFromEnv(), skipTLSVerify: settings.insecureSkipTlsVerify || server.startsWith('http:') },
      { name: 'runbook-user', token: secretFromEnv(context, settings.tokenEnv!) },
    );
    return kc;
  }

  function advice(status: number, path: string): string {
    const credentials = settings.kubeconfigEnv ? `the user of the kubeconfig named by ${settings.kubeconfigEnv}` : `the token in ${settings.tokenEnv}`;
    if (status === 401) return `The API server did not accept ${credentials}: renew it.`;
    if (status === 403) return `RBAC forbids ${credentials} this request: it needs get, patch and update on deployments and deployments/scale, and list on replicasets and pods, in namespace ${namespace}.`;
    if (status === 404) return path.includes('/deployments/') ? `Check the runbook's settings: namespace '${namespace}' and the Deployment name.` : 'Check the server URL in the runbook\'s settings.';
    if (status === 409) return 'Someone else changed it between our read and our write.';
    if (status === 429) return 'The API server kept rate limiting past the retries: wait a minute and run the step again.';
    if (status >= 500) return 'The API server failed: run the step again (it reads first, so a change already made is not made twice).';
    return 'The API server refused the request as sent.';
  }

  /**
   * One API call through client-node: the raw answer parsed with `schema`; 429 waited out per
   * Retry-After, 5xx and lost answers asked again (every request here is safe to repeat), anything
   * else an ApiError naming the request, the status, the server's message and what to do.
   */
  async function request<T>(schema: z.ZodType<T>, send: Send, extra: { contentType?: string; signal?: AbortSignal } = {}): Promise<T> {
    const { ApiException, Observable, ResponseContext } = await clientNode();
    for (let attempt = 1; ; attempt++) {
      const exchange: Exchange = { sent: false, method: '?', path: '?' };
      const capture: ObservableMiddleware = {
        pre: (ctx) => {
          const url = new URL(ctx.getUrl());
          exchange.method = String(ctx.getHttpMethod());
          exchange.path = url.pathname + url.search;
          exchange.sent = true;
          if (extra.contentType) ctx.setHeaderParam('Content-Type', extra.contentType);
          const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
          ctx.setSignal(extra.signal ? AbortSignal.any([extra.signal, timeout]) : timeout);
          return new Observable(Promise.resolve(ctx));
        },
        post: (response) =>
          new Observable(
            response.body.text().then((text) => {
              Object.assign(exchange, { status: response.httpStatusCode, headers: response.headers, text });
              // The body can be read once: hand client-node a copy to parse (or to put into its ApiException).
              return new ResponseContext(response.httpStatusCode, response.headers, { text: async () => text, binary: async () => Buffer.from(text) });
            }),
          ),
      };
      const where = () => `Kubernetes ${exchange.method} ${exchange.path}`;
      try {
        await send({ middleware: [capture], middlewareMergeStrategy: 'append' });
      } catch (err) {
        if (!(err instanceof ApiException)) {
          if (extra.signal?.aborted || !exchange.sent) throw err;
          const code = String((err as NodeJS.ErrnoException).code ?? '');
          if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS/.test(code)) {
            // Asking again cannot make an untrusted certificate trusted.
            throw new ApiError(
              `${where()}: the API server's TLS certificate is not trusted (${code}). Give its CA certificate in the variable named by caDataEnv (or as certificate-authority-data in the kubeconfig); insecureSkipTlsVerify only for a throwaway cluster.`,
              0,
              null,
            );
          }
          if (exchange.status === undefined) {
            if (attempt < MAX_ATTEMPTS) {
              await sleep(BACKOFF_MS * 2 ** (attempt - 1));
              continue;
            }
            throw new ApiError(`${where()}: no answer after ${attempt} attempts (${(err as Error).message}). Check the network path to the API server.`, 0, null);
          }
          throw err;
        }
        const status = err.code;
        const wait = retryAfterMs(exchange.headers?.['retry-after'] ?? null);
        if (status === 429 && attempt < MAX_ATTEMPTS && (wait ?? 0) <= MAX_RETRY_AFTER_MS) {
          log.warn({ request: where(), waitMs: wait }, 'rate limited by the Kubernetes API server; waiting as Retry-After asks');
          await sleep(wait ?? BACKOFF_MS * 2 ** (attempt - 1), undefined, { signal: extra.signal });
          continue;
        }
        if (status >= 500 && attempt < MAX_ATTEMPTS) {
          await sleep(Math.min(wait ?? BACKOFF_MS * 2 ** (attempt - 1), MAX_RETRY_AFTER_MS), undefined, { signal: extra.signal });
          continue;
        }
        const body = parseJson(exchange.text ?? '');
        const parsedStatus = statusBody.safeParse(body);
        const said = (parsedStatus.success ? parsedStatus.data.message : (exchange.text ?? '').slice(0, 300) || '(empty body)').replace(/[.\s]+$/, '');
        const gaveUp = status === 429 ? (attempt >= MAX_ATTEMPTS ? ` (still rate limited after ${attempt} attempts)` : ` (Retry-After ${wait} ms is longer than the ${MAX_RETRY_AFTER_MS} ms this waits)`) : status >= 500 ? ` (after ${attempt} attempts)` : '';
        throw new ApiError(`${where()} answered ${status}${gaveUp}: ${said}. ${advice(status, exchange.path)}`, status, body);
      }
      const parsed = schema.safeParse(parseJson(exchange.text ?? ''));
      if (!parsed.success) throw new Error(`${where()} answered with an unexpected body: ${(exchange.text ?? '').slice(0, 300)}`);
      return parsed.data;
    }
  }

  /** A read-decide-write run again from a fresh read when the write meets a 409, like client-go's RetryOnConflict. */
  async function onConflictRetry<T>(what: string, change: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await change();
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 409) throw err;
        if (attempt >= CONFLICT_ATTEMPTS) {
          throw new ApiError(`${err.message} ${what} met a conflict ${attempt} times in a row: another client keeps changing it; find out who before running this step again.`, 409, err.body);
        }
        log.warn({ what, attempt }, 'conflict writing a Deployment; reading it again');
      }
    }
  }

  const deploymentOf = (version: string): string => {
    const name = settings.deployments[version];
    if (!name) throw new Error(`version '${version}' names no Deployment in the kubernetes provider's settings (it knows: ${Object.keys(settings.deployments).join(', ')})`);
    return name;
  };
  const apps = async () => (await kubeConfig()).makeApiClient((await clientNode()).AppsV1Api);
  const core = async () => (await kubeConfig()).makeApiClient((await clientNode()).CoreV1Api);
  const ref = (name: string) => `deployment/${name} in namespace ${namespace}`;

  const getDeployment = (name: string, signal?: AbortSignal) =>
    request(deploymentSchema, async (o) => (await apps()).readNamespacedDeployment({ name, namespace }, o), { signal });

  /** The ReplicaSets the Deployment controls: listed by its selector, kept when their controller reference is it (deploymentutil.listReplicaSets). */
  async function replicaSetsOf(d: Deployment, signal?: AbortSignal): Promise<ReplicaSet[]> {
    const labelSelector = selectorString(d.spec.selector);
    const list = await request(replicaSetList, async (o) => (await apps()).listNamespacedReplicaSet({ namespace, labelSelector }, o), { signal });
    return list.items.filter((rs) => rs.metadata.ownerReferences?.some((r) => r.controller && r.uid === d.metadata.uid));
  }

  /** The ReplicaSet serving now: the one with the Deployment's revision (or, before the controller wrote it, the one with its template). */
  function currentOf(d: Deployment, sets: ReplicaSet[]): ReplicaSet | null {
    const revision = d.metadata.annotations?.[REVISION];
    return (revision ? sets.find((rs) => rs.metadata.annotations?.[REVISION] === revision) : undefined) ?? sets.find((rs) => sameTemplate(rs.spec.template, d.spec.template)) ?? null;
  }

  function pausedReason(name: string): string {
    return `${ref(name)} is paused (spec.paused): kubectl refuses to roll back or restart a paused deployment ("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"). Resume it with \`kubectl rollout resume deployment/${name} -n ${namespace}\`, then run this step again.`;
  }

  async function waitFor(name: string, check: (d: Deployment) => { done: boolean; message: string }, options: { onProgress?: (line: string) => void; signal?: AbortSignal }): Promise<Deployment> {
    const deadline = Date.now() + settings.rolloutTimeoutSeconds * 1000;
    let last = '';
    for (;;) {
      const d = await getDeployment(name, options.signal);
      if ((d.metadata.generation ?? 0) <= (d.status?.observedGeneration ?? 0)) {
        const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
        if (progressing?.reason === 'ProgressDeadlineExceeded') {
          throw new Error(`deployment "${name}" exceeded its progress deadline (namespace ${namespace}): ${(progressing.message ?? 'no progress').replace(/[.\s]+$/, '')}. See \`kubectl describe deployment/${name} -n ${namespace}\` and its pods' events.`);
        }
      }
      const { done, message } = check(d);
      if (message !== last) {
        options.onProgress?.(message);
        last = message;
      }
      if (done) return d;
      if (Date.now() >= deadline) {
        throw new Error(`${ref(name)} did not finish within ${settings.rolloutTimeoutSeconds} s (rolloutTimeoutSeconds, like kubectl rollout status --timeout); last status: ${message}`);
      }
      await sleep(settings.pollIntervalMs, undefined, { signal: options.signal });
    }
  }

  async function readRelease(target: string): Promise<ReleaseState> {
    const name = deploymentOf(target);
    const d = await getDeployment(name);
    const sets = await replicaSetsOf(d);
    const current = currentOf(d, sets);
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

  async function readState(): Promise<TrafficState> {
    const instances = await Promise.all(
      Object.entries(settings.deployments).map(async ([version, name]) => {
        const scale = await request(scaleSchema, async (o) => (await apps()).readNamespacedDeploymentScale({ name, namespace }, o));
        return [version, scale.spec?.replicas ?? 0] as const;
      }),
    );
    return { weights: {}, instances: Object.fromEntries(instances) };
  }

  async function readReplicas(target: string): Promise<ReplicaInfo[]> {
    const name = deploymentOf(target);
    const d = await getDeployment(name);
    const current = currentOf(d, await replicaSetsOf(d));
    if (!current) return [];
    const hash = current.metadata.labels?.[HASH_LABEL] ?? current.spec.template.metadata?.labels?.[HASH_LABEL];
    const labelSelector = [selectorString(d.spec.selector), ...(hash ? [`${HASH_LABEL}=${hash}`] : [])].filter(Boolean).join(',');
    const pods = await request(podList, async (o) => (await core()).listNamespacedPod({ namespace, labelSelector }, o));
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

  return {
    scaling: {
      readState,
      async scale(version: string, count: number, options: ChangeOptions): Promise<TrafficState> {
        const name = deploymentOf(version);
        await onConflictRetry(ref(name), async () => {
          const scale = await request(scaleSchema, async (o) => (await apps()).readNamespacedDeploymentScale({ name, namespace }, o));
          if ((scale.spec?.replicas ?? 0) === count) return;
          log.info({ deployment: name, from: scale.spec?.replicas, to: count, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'scaling deployment');
          // The resourceVersion read makes the write conditional: a change made meanwhile is a 409, read again.
          const body = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name, namespace, resourceVersion: scale.metadata.resourceVersion }, spec: { replicas: count } };
          await request(scaleSchema, async (o) => (await apps()).replaceNamespacedDeploymentScale({ name, namespace, body }, o));
        });
        await waitFor(name, (d) => scaleStatus(d, count), {});
        return readState();
      },
    },
    releases: {
      readRelease,
      async rollTo(target: string, release: Release, options: RolloutOptions): Promise<ReleaseState> {
        const name = deploymentOf(target);
        await onConflictRetry(ref(name), async () => {
          const d = await getDeployment(name, options.signal);
          if (d.spec.paused) throw new Error(pausedReason(name));
          const sets = await replicaSetsOf(d, options.signal);
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
          log.info({ deployment: name, toRevision: release.id, label: release.label, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'rolling deployment back');
          options.onProgress?.(`rolling deployment "${name}" back to revision ${rs.metadata.annotations?.[REVISION]} (${releaseOf(rs).label})`);
          // kubectl's patch: replace the template, set the annotations ("add" sets a member whether or not it exists).
          const body = [
            { op: 'replace', path: '/spec/template', value: withoutHash(rs.spec.template) },
            { op: 'add', path: '/metadata/annotations', value: annotations },
          ];
          await request(deploymentSchema, async (o) => (await apps()).patchNamespacedDeployment({ name, namespace, body }, o), { contentType: JSON_PATCH, signal: options.signal });
        });
        await waitFor(name, rolloutStatus, options);
        return readRelease(target);
      },
    },
    restarts: {
      targets: async () => Object.keys(settings.deployments),
      readReplicas,
      async restart(target: string, options: ChangeOptions & { onProgress?: (line: string) => void; signal?: AbortSignal }): Promise<ReplicaInfo[]> {
        const name = deploymentOf(target);
        const restartedAt = rfc3339(new Date());
        await onConflictRetry(ref(name), async () => {
          const d = await getDeployment(name);
          if (d.spec.paused) throw new Error(`${ref(name)} is paused (spec.paused): kubectl refuses too ("can't restart paused deployment (run rollout resume first)"). Resume it with \`kubectl rollout resume deployment/${name} -n ${namespace}\`, then run this step again.`);
          if (d.spec.template.metadata?.annotations?.[RESTART_KEY] === options.idempotencyKey) return;
          log.info({ deployment: name, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'restarting deployment');
          const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: restartedAt, [RESTART_KEY]: options.idempotencyKey } } } } };
          await request(deploymentSchema, async (o) => (await apps()).patchNamespacedDeployment({ name, namespace, body }, o), { contentType: STRATEGIC_MERGE_PATCH });
        });
        await waitFor(name, rolloutStatus, options);
        return readReplicas(target);
      },
    },
  };
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export const kubernetes: ProviderDefinition<'scaling' | 'releases' | 'restarts', Settings> = {
  id: 'kubernetes',
  description: 'Kubernetes Deployments through the API server (client-node): replicas via /scale, rollbacks to a ReplicaSet revision and rollout restarts as kubectl does them, waiting like kubectl rollout status',
  capabilities: ['scaling', 'releases', 'restarts'],
  settingsSchema,
  example: { server: 'https://kubernetes.example.internal:6443', tokenEnv: 'K8S_TOKEN', namespace: 'prod', deployments: { stable: 'web', canary: 'web-canary' } },
  create,
};
