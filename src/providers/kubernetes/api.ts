/**
 * The Kubernetes API server as the kubernetes provider reaches it. @kubernetes/client-node's typed API
 * classes (AppsV1Api, CoreV1Api) do the transport, TLS and auth; credentials are read at each call;
 * every request goes through `request()`, which keeps the answer's raw JSON, checks it against its
 * wire schema (objects.ts) and retries as the shared policy says (retry-policy.ts); and the reads and
 * the rollout wait every capability needs are here too.
 *
 * Objects are handled as the raw JSON the server sent, not client-node's model classes: those keep
 * only the fields the client's OpenAPI version knows, and a pod template copied back through them
 * would silently lose newer fields (and then no longer match its ReplicaSet). A per-request
 * middleware captures the answer's text; client-node still does the transport, TLS and auth.
 *
 * Retries: client-node 1.4 does not retry. `request()` catches client-node's ApiException, reads its
 * status and headers and asks the shared policy: a 429 is waited out for as long as Retry-After says
 * (the API server's priority and fairness sends it) before asking again, as client-go does. 5xx and
 * lost answers are asked again too: every request here is safe to repeat (a read; a PUT of the Scale
 * carrying the resourceVersion read; patches that set values). A 409 (someone changed the Deployment
 * between our read and write) re-reads and decides again: `changeDeployment`, through the shared
 * `onConflictRetry`, like client-go's RetryOnConflict.
 *
 * Plain http:// servers (kubectl proxy, the test emulator): client-node refuses http:// unless the
 * cluster has skipTLSVerify, which is what makes it pick a plain http.Agent; there is no TLS to
 * verify then, so it is set for http:// servers only, whatever insecureSkipTlsVerify says.
 *
 * API reference:
 *   Patch content types  https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
 *   Conflicts (409)      https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
 *   429 and Retry-After  https://kubernetes.io/docs/concepts/cluster-administration/flow-control/
 *   Rollout progress     https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type * as ClientNode from '@kubernetes/client-node';
import type { Cluster, ConfigurationOptions, KubeConfig, ObservableMiddleware } from '@kubernetes/client-node';
import type { z } from 'zod';
import { ApiError, apiFailure, clause, expectShape, onConflictRetry, parseBody, saidIn, type ApiRequest } from '../http-api.ts';
import { DEFAULT_RETRY_POLICY, retried, type Attempt } from '../retry-policy.ts';
import { secretFromEnv, type ProviderContext } from '../types.ts';
import { deploymentSchema, REVISION, replicaSetList, sameTemplate, selectorString, type Deployment, type ReplicaSet } from './objects.ts';
import type { Settings } from './settings.ts';

/**
 * client-node is loaded on first use, not with the registry: it adds about 77 MB to a process's RSS,
 * which a worker whose runbooks name no Kubernetes should not carry (nor every `rollback` CLI run).
 */
let loading: Promise<typeof ClientNode> | null = null;
const clientNode = () => (loading ??= import('@kubernetes/client-node'));

export const JSON_PATCH = 'application/json-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
const REQUEST_TIMEOUT_MS = 30_000;

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

export type KubernetesApi = ReturnType<typeof kubernetesApi>;

/** The API of the cluster the settings name. Creating it does no I/O: client-node is loaded and credentials read at the first call. */
export function kubernetesApi(settings: Settings, context: ProviderContext) {
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

  function advise(status: number, request: ApiRequest): string {
    const credentials = settings.kubeconfigEnv ? `the user of the kubeconfig named by ${settings.kubeconfigEnv}` : `the token in ${settings.tokenEnv}`;
    if (status === 0) return 'Check the network path to the API server.';
    if (status === 401) return `The API server did not accept ${credentials}: renew it.`;
    if (status === 403) return `RBAC forbids ${credentials} this request: it needs get, patch and update on deployments and deployments/scale, and list on replicasets and pods, in namespace ${namespace}.`;
    if (status === 404) return request.path.includes('/deployments/') ? `Check the runbook's settings: namespace '${namespace}' and the Deployment name.` : "Check the server URL in the runbook's settings.";
    if (status === 409) return 'Someone else changed it between our read and our write.';
    if (status === 429) return 'The API server kept rate limiting past the retries: wait a minute and run the step again.';
    if (status >= 500) return 'The API server failed: run the step again (it reads first, so a change already made is not made twice).';
    return 'The API server refused the request as sent.';
  }

  /**
   * One API call through client-node: the raw answer checked against `schema`; retried as the shared
   * policy says for a repeatable request (every request here is one); anything else an ApiError naming
   * the request, the status, the server's message and what to do.
   */
  async function request<T>(schema: z.ZodType<T>, send: Send, extra: { contentType?: string; signal?: AbortSignal } = {}): Promise<T> {
    const { ApiException, Observable, ResponseContext } = await clientNode();
    const attempt = async (): Promise<Attempt<T>> => {
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
          if (exchange.status !== undefined) throw err;
          const said = (err as Error).message;
          return { failure: { status: 0 }, error: (note) => apiFailure(where(), { status: 0, note, said }, advise(0, exchange)) };
        }
        const status = err.code;
        const body = parseBody(exchange.text ?? '');
        return {
          failure: { status, header: (name) => exchange.headers?.[name] },
          error: (note) => apiFailure(where(), { status, note, said: saidIn(body), body }, advise(status, exchange)),
        };
      }
      return { value: expectShape(schema, parseBody(exchange.text ?? ''), where(), exchange.status ?? 200) };
    };
    return retried(DEFAULT_RETRY_POLICY, 'repeatable request', attempt, {
      signal: extra.signal,
      onRetry: (failure, waitMs) => {
        if (failure.status === 429) log.warn({ waitMs }, 'rate limited by the Kubernetes API server; waiting as Retry-After asks');
      },
    });
  }

  const ref = (name: string) => `deployment/${name} in namespace ${namespace}`;

  /** A read-decide-write of Deployment `name` (or its Scale), run again from a fresh read when its write meets a 409. */
  const changeDeployment = <T>(name: string, change: () => Promise<T>): Promise<T> =>
    onConflictRetry(DEFAULT_RETRY_POLICY, ref(name), change, (attempt) => log.warn({ deployment: name, attempt }, 'conflict writing a Deployment; reading it again'));

  const deploymentOf = (version: string): string => {
    const name = settings.deployments[version];
    if (!name) throw new Error(`version '${version}' names no Deployment in the kubernetes provider's settings (it knows: ${Object.keys(settings.deployments).join(', ')})`);
    return name;
  };
  const apps = async () => (await kubeConfig()).makeApiClient((await clientNode()).AppsV1Api);
  const core = async () => (await kubeConfig()).makeApiClient((await clientNode()).CoreV1Api);

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

  /** Reads the Deployment until `check` says done, streaming its message as it changes; a stalled rollout or the timeout ends it with an error. */
  async function waitFor(name: string, check: (d: Deployment) => { done: boolean; message: string }, options: { onProgress?: (line: string) => void; signal?: AbortSignal }): Promise<Deployment> {
    const deadline = Date.now() + settings.rolloutTimeoutSeconds * 1000;
    let last = '';
    for (;;) {
      const d = await getDeployment(name, options.signal);
      if ((d.metadata.generation ?? 0) <= (d.status?.observedGeneration ?? 0)) {
        const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
        if (progressing?.reason === 'ProgressDeadlineExceeded') {
          throw new Error(`deployment "${name}" exceeded its progress deadline (namespace ${namespace}): ${clause(progressing.message ?? 'no progress')}. See \`kubectl describe deployment/${name} -n ${namespace}\` and its pods' events.`);
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

  return { namespace, log, request, ref, changeDeployment, deploymentOf, apps, core, getDeployment, replicaSetsOf, currentOf, waitFor };
}
