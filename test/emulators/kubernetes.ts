/**
 * An emulator of the Kubernetes API server calls the kubernetes provider makes, with a small
 * Deployment controller behind it, on the shared HttpEmulator (bearer token, failures on demand):
 *
 *   GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}          read (the controller moves one step after each read)
 *   PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}          application/json-patch+json (add, remove, replace, test),
 *                                                                   application/merge-patch+json, application/strategic-merge-patch+json
 *                                                                   (lists of objects merged by `name`, other lists replaced)
 *   GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale    Scale autoscaling/v1
 *   PUT   /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale    409 when metadata.resourceVersion is stale
 *   PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale    merge or strategic merge patch
 *   GET   /apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=  ReplicaSetList
 *   GET   /api/v1/namespaces/{ns}/pods?labelSelector=               PodList
 *
 * Errors are metav1 Status objects (kind Status, reason, message, code), as the API server sends them.
 *
 * The controller does what the Deployment controller does, one step per read of the Deployment so a
 * client polling it sees the rollout move: it observes the new generation; finds the ReplicaSet whose
 * template equals the Deployment's (ignoring pod-template-hash) or creates one named
 * `{deployment}-{hash}`; gives it the next revision (max of the others + 1), recording a reused
 * ReplicaSet's old revision in deployment.kubernetes.io/revision-history (a rollback); copies the
 * Deployment's annotations to it; then adds new pods, makes them ready, and removes old pods, and
 * keeps status (replicas, updatedReplicas, readyReplicas, availableReplicas, observedGeneration,
 * Progressing and Available conditions) in step. A paused Deployment is observed but not rolled out.
 * Failure modes: failNext (401, 404, 409, 429 with Retry-After, 5xx), a real 404 for an unknown
 * Deployment, a real 409 for a stale resourceVersion (`changeAfterNextScaleRead`), `pause`, and
 * `stallRollouts` (new pods never ready; Progressing turns ProgressDeadlineExceeded).
 *
 * References:
 *   Deployment v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
 *   ReplicaSet v1 apps   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/replica-set-v1/
 *   Pod v1               https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 *   Scale subresource    https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.34/#scale-v1-autoscaling
 *   Status (errors)      https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/
 *   Patches              https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
 *   Label selectors      https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
 *   Revisions, rollback, progress deadline  https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
 *   kubectl rollout undo / status: k8s.io/kubectl pkg/polymorphichelpers/rollback.go, rollout_status.go
 */
import { createHash, randomUUID } from 'node:crypto';
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

type Labels = Record<string, string>;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Labels;
  annotations?: Labels;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }[];
}

export interface PodTemplate {
  metadata?: { labels?: Labels; annotations?: Labels };
  spec: { containers: { name: string; image: string; env?: { name: string; value?: string; valueFrom?: unknown }[] }[]; [field: string]: unknown };
}

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastUpdateTime: string;
  lastTransitionTime: string;
}

export interface DeploymentObject {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  metadata: ObjectMeta;
  spec: {
    replicas: number;
    selector: { matchLabels: Labels };
    template: PodTemplate;
    paused?: boolean;
    progressDeadlineSeconds: number;
    revisionHistoryLimit: number;
    strategy: unknown;
    [field: string]: unknown;
  };
  status: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number; unavailableReplicas?: number; conditions?: Condition[] };
}

export interface ReplicaSetObject {
  apiVersion: 'apps/v1';
  kind: 'ReplicaSet';
  metadata: ObjectMeta;
  spec: { replicas: number; selector: { matchLabels: Labels }; template: PodTemplate };
  status: { replicas: number; readyReplicas?: number; availableReplicas?: number; observedGeneration: number };
}

export interface PodObject {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodTemplate['spec'];
  status: { phase: 'Running'; startTime: string; conditions: { type: 'Ready'; status: 'True' | 'False' }[] };
}

const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
const HASH = 'pod-template-hash';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
/** Deployment annotations the controller does not copy to its ReplicaSets (deployment_util.go skipCopyAnnotation). */
const NOT_COPIED = new Set(['kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, 'deployment.kubernetes.io/desired-replicas', 'deployment.kubernetes.io/max-replicas', 'deprecated.deployment.rollback.to']);

/** A metav1 Status, the body of every API server error. */
export function k8sStatus(code: number, reason: string, message: string, details?: Record<string, unknown>): Reply['body'] {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}
const fail = (code: number, reason: string, message: string, details?: Record<string, unknown>): Reply => ({ status: code, body: k8sStatus(code, reason, message, details) });

const clone = <T>(value: T): T => structuredClone(value);

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map((v) => canonical(v) ?? null);
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])] as const)
      .filter(([, v]) => v !== undefined);
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value === null ? undefined : value;
}

function withoutHash(template: PodTemplate): PodTemplate {
  const copy = clone(template);
  if (copy.metadata?.labels) delete copy.metadata.labels[HASH];
  return copy;
}

const sameTemplate = (a: PodTemplate, b: PodTemplate): boolean => JSON.stringify(canonical(withoutHash(a))) === JSON.stringify(canonical(withoutHash(b)));

/** Like the controller's ComputeHash + SafeEncodeString: a short name-safe hash of the template. */
function templateHash(template: PodTemplate): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...createHash('sha256').update(JSON.stringify(canonical(withoutHash(template)))).digest().subarray(0, 10)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k` (the labelSelector query parameter) into a predicate. */
export function parseSelector(text: string): (labels: Labels | undefined) => boolean {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim()) parts.push(current);
  const tests = parts.map((raw) => {
    const part = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(part))) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      return (l: Labels) => (op === 'in' ? key in l && values.includes(l[key]!) : !(key in l) || !values.includes(l[key]!));
    }
    if ((m = /^([^!=\s]+)\s*!=\s*(\S*)$/.exec(part))) {
      const [, key, value] = m as unknown as [string, string, string];
      return (l: Labels) => l[key] !== value;
    }
    if ((m = /^([^!=\s]+)\s*==?\s*(\S*)$/.exec(part))) {
      const [, key, value] = m as unknown as [string, string, string];
      return (l: Labels) => l[key] === value;
    }
    if ((m = /^!(\S+)$/.exec(part))) {
      const key = m[1]!;
      return (l: Labels) => !(key in l);
    }
    if (/^\S+$/.test(part)) return (l: Labels) => part in l;
    throw new Error(`unable to parse requirement: ${part}`);
  });
  return (labels) => tests.every((t) => t(labels ?? {}));
}

// --- patches ---------------------------------------------------------------------------------

class PatchError extends Error {}

function pointer(path: string): string[] {
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer ${path}`);
  return path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 add, remove, replace and test. */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch is an array of operations');
  const root = { doc: clone(doc) } as Record<string, unknown>;
  for (const op of ops as { op: string; path: string; value?: unknown }[]) {
    const tokens = ['doc', ...pointer(op.path)];
    const last = tokens.pop()!;
    let parent: unknown = root;
    for (const t of tokens) {
      parent = (parent as Record<string, unknown> | undefined)?.[t];
      if (parent === undefined || parent === null || typeof parent !== 'object') throw new PatchError(`${op.op} operation does not apply: doc is missing path: ${op.path}`);
    }
    const container = parent as Record<string, unknown>;
    const exists = Array.isArray(container) ? Number(last) < container.length : Object.hasOwn(container, last);
    switch (op.op) {
      case 'add':
        if (Array.isArray(container)) container.splice(last === '-' ? container.length : Number(last), 0, clone(op.value));
        else container[last] = clone(op.value);
        break;
      case 'replace':
        if (!exists) throw new PatchError(`replace operation does not apply: doc is missing key: ${op.path}`);
        container[last] = clone(op.value);
        break;
      case 'remove':
        if (!exists) throw new PatchError(`remove operation does not apply: doc is missing key: ${op.path}`);
        if (Array.isArray(container)) container.splice(Number(last), 1);
        else delete container[last];
        break;
      case 'test':
        if (JSON.stringify(canonical(container[last])) !== JSON.stringify(canonical(op.value))) throw new PatchError(`testing value ${op.path} failed`);
        break;
      default:
        throw new PatchError(`the emulator does not do JSON patch op '${op.op}'`);
    }
  }
  return root.doc;
}

/** RFC 7386, and (strategic) lists of objects with a `name` merged by name as the pod spec's merge keys do. */
export function mergePatch(target: unknown, patch: unknown, strategic: boolean): unknown {
  if (strategic && Array.isArray(patch) && Array.isArray(target) && patch.every((p) => p && typeof p === 'object' && 'name' in p)) {
    const merged = clone(target) as Record<string, unknown>[];
    for (const item of patch as Record<string, unknown>[]) {
      const at = merged.findIndex((t) => t && typeof t === 'object' && t.name === item.name);
      if (at >= 0) merged[at] = mergePatch(merged[at], item, true) as Record<string, unknown>;
      else merged.push(clone(item));
    }
    return merged;
  }
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const result = (target && typeof target === 'object' && !Array.isArray(target) ? clone(target) : {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value, strategic);
  }
  return result;
}

// --- the emulator ----------------------------------------------------------------------------

export interface DeploymentSetup {
  namespace?: string;
  name: string;
  replicas?: number;
  /** One revision per image, oldest first: the last one serves. */
  images: string[];
  /** The `kubernetes.io/change-cause` annotation recorded with each revision (as `kubectl annotate` would). */
  changeCauses?: string[];
  env?: Record<string, string>;
  annotations?: Labels;
  paused?: boolean;
}

export class KubernetesEmulator extends HttpEmulator {
  readonly deployments = new Map<string, DeploymentObject>();
  readonly replicaSets = new Map<string, ReplicaSetObject>();
  readonly pods = new Map<string, PodObject>();
  /** Deployments whose new pods never become ready, with the reads after which the deadline is exceeded. */
  private readonly stalled = new Map<string, number>();
  private readonly rolloutReads = new Map<string, number>();
  private readonly afterScaleRead = new Map<string, number>();
  private resourceVersion = 1000;
  private clock = Date.parse('2025-03-01T09:00:00Z');

  constructor(token = 'k8s-test-token') {
    super('Kubernetes', token, () => fail(401, 'Unauthorized', 'Unauthorized'));
    const deploymentPath = '/apis/apps/v1/namespaces/:ns/deployments/:name';
    this.route('GET', deploymentPath, (_r, p) => this.withDeployment(p, (d, key) => {
      const reply = { status: 200, body: clone(d) };
      this.step(key);
      return reply;
    }));
    this.route('PATCH', deploymentPath, (r, p) => this.withDeployment(p, (d) => this.patchDeployment(d, r)));
    this.route('GET', `${deploymentPath}/scale`, (_r, p) => this.withDeployment(p, (d, key) => {
      const reply = { status: 200, body: this.scaleOf(d) };
      const replicas = this.afterScaleRead.get(key);
      if (replicas !== undefined) {
        // Someone else scales it right after our read: our write then carries a stale resourceVersion.
        this.afterScaleRead.delete(key);
        this.setReplicas(d, replicas);
      }
      return reply;
    }));
    this.route('PUT', `${deploymentPath}/scale`, (r, p) => this.withDeployment(p, (d) => {
      const body = r.body as { metadata?: { resourceVersion?: string }; spec?: { replicas?: unknown } } | null;
      const stale = body?.metadata?.resourceVersion && body.metadata.resourceVersion !== d.metadata.resourceVersion;
      if (stale) return this.conflict(d);
      return this.writeReplicas(d, body?.spec?.replicas);
    }));
    this.route('PATCH', `${deploymentPath}/scale`, (r, p) => this.withDeployment(p, (d) => {
      const type = String(r.headers['content-type'] ?? '').split(';')[0];
      if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') return fail(415, 'UnsupportedMediaType', `the emulator takes merge patches of a Scale, not ${type}`);
      const patched = mergePatch(this.scaleOf(d), r.body, true) as { spec?: { replicas?: unknown } };
      return this.writeReplicas(d, patched.spec?.replicas);
    }));
    this.route('GET', '/apis/apps/v1/namespaces/:ns/replicasets', (r, p) => {
      const matches = this.selector(r);
      const items = [...this.replicaSets.values()].filter((rs) => rs.metadata.namespace === p.ns && matches(rs.metadata.labels));
      return { status: 200, body: { apiVersion: 'apps/v1', kind: 'ReplicaSetList', metadata: { resourceVersion: String(this.resourceVersion) }, items: clone(items) } };
    });
    this.route('GET', '/api/v1/namespaces/:ns/pods', (r, p) => {
      const matches = this.selector(r);
      const items = [...this.pods.values()].filter((pod) => pod.metadata.namespace === p.ns && matches(pod.metadata.labels));
      return { status: 200, body: { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(this.resourceVersion) }, items: clone(items) } };
    });
  }

  // --- for tests --------------------------------------------------------------------------------

  /** A Deployment with one revision per image, rolled out to the last; returns it. */
  addDeployment(setup: DeploymentSetup): DeploymentObject {
    const namespace = setup.namespace ?? 'default';
    const labels = { app: setup.name };
    const d: DeploymentObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: setup.name,
        namespace,
        uid: randomUUID(),
        resourceVersion: this.nextVersion(),
        generation: 1,
        creationTimestamp: this.now(),
        labels,
        annotations: { ...setup.annotations, ...(setup.changeCauses?.[0] ? { [CHANGE_CAUSE]: setup.changeCauses[0] } : {}) },
      },
      spec: {
        replicas: setup.replicas ?? 2,
        selector: { matchLabels: { ...labels } },
        template: {
          metadata: { labels: { ...labels } },
          spec: { containers: [{ name: setup.name, image: setup.images[0]!, ...(setup.env ? { env: Object.entries(setup.env).map(([name, value]) => ({ name, value })) } : {}) }], restartPolicy: 'Always' },
        },
        progressDeadlineSeconds: 600,
        revisionHistoryLimit: 10,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      },
      status: {},
    };
    this.deployments.set(`${namespace}/${setup.name}`, d);
    this.settle(namespace, setup.name);
    setup.images.slice(1).forEach((image, i) => this.setImage(namespace, setup.name, image, setup.changeCauses?.[i + 1]));
    if (setup.paused) this.pause(namespace, setup.name);
    return d;
  }

  /** A new release, as CI would roll it out (`kubectl set image`), rolled out to the end. */
  setImage(namespace: string, name: string, image: string, changeCause?: string): void {
    const d = this.get(namespace, name);
    if (changeCause) d.metadata.annotations = { ...d.metadata.annotations, [CHANGE_CAUSE]: changeCause };
    d.spec.template.spec.containers[0]!.image = image;
    this.specChanged(d);
    this.settle(namespace, name);
  }

  /** `kubectl rollout pause` (or resume with false). */
  pause(namespace: string, name: string, paused = true): void {
    const d = this.get(namespace, name);
    d.spec.paused = paused;
    this.specChanged(d);
    this.settle(namespace, name);
  }

  /** From now on new pods of this Deployment never become ready; `afterReads` reads into a rollout its Progressing condition says ProgressDeadlineExceeded. */
  stallRollouts(namespace: string, name: string, afterReads = 3): void {
    this.stalled.set(`${namespace}/${name}`, afterReads);
  }

  /** Right after the next read of the Deployment's scale, someone else scales it to `replicas` (so a write based on that read conflicts). */
  changeAfterNextScaleRead(namespace: string, name: string, replicas: number): void {
    this.afterScaleRead.set(`${namespace}/${name}`, replicas);
  }

  /** Runs the controller until the Deployment is rolled out (or 500 steps). */
  settle(namespace: string, name: string): void {
    for (let i = 0; i < 500 && !this.step(`${namespace}/${name}`); i++);
  }

  get(namespace: string, name: string): DeploymentObject {
    const d = this.deployments.get(`${namespace}/${name}`);
    if (!d) throw new Error(`emulator: no deployment ${namespace}/${name}`);
    return d;
  }

  replicaSetsOf(namespace: string, name: string): ReplicaSetObject[] {
    const d = this.get(namespace, name);
    return [...this.replicaSets.values()].filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === d.metadata.uid)).sort((a, b) => revision(a) - revision(b));
  }

  podsOf(rs: ReplicaSetObject): PodObject[] {
    return [...this.pods.values()].filter((pod) => pod.metadata.ownerReferences?.some((o) => o.uid === rs.metadata.uid));
  }

  /** The changes answered (PUT, PATCH, POST, DELETE), failures included. */
  writes(path?: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET' && (!path || path.test(r.path)));
  }

  // --- API ----------------------------------------------------------------------------------------

  private withDeployment(params: Record<string, string>, handle: (d: DeploymentObject, key: string) => Reply): Reply {
    const key = `${params.ns}/${params.name}`;
    const d = this.deployments.get(key);
    if (!d) return fail(404, 'NotFound', `deployments.apps "${params.name}" not found`, { name: params.name, group: 'apps', kind: 'deployments' });
    return handle(d, key);
  }

  private selector(r: RecordedRequest): (labels: Labels | undefined) => boolean {
    return parseSelector(r.query.get('labelSelector') ?? '');
  }

  private conflict(d: DeploymentObject): Reply {
    return fail(409, 'Conflict', `Operation cannot be fulfilled on deployments.apps "${d.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`, { name: d.metadata.name, group: 'apps', kind: 'deployments' });
  }

  private scaleOf(d: DeploymentObject) {
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata.creationTimestamp },
      spec: { replicas: d.spec.replicas },
      status: { replicas: d.status.replicas ?? 0, selector: Object.entries(d.spec.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',') },
    };
  }

  private writeReplicas(d: DeploymentObject, replicas: unknown): Reply {
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      return fail(422, 'Invalid', `Scale.autoscaling "${d.metadata.name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
    }
    this.setReplicas(d, replicas);
    return { status: 200, body: this.scaleOf(d) };
  }

  private setReplicas(d: DeploymentObject, replicas: number): void {
    if (d.spec.replicas === replicas) return;
    d.spec.replicas = replicas;
    this.specChanged(d);
  }

  private patchDeployment(d: DeploymentObject, r: RecordedRequest): Reply {
    const type = String(r.headers['content-type'] ?? '').split(';')[0];
    let patched: DeploymentObject;
    try {
      if (type === 'application/json-patch+json') patched = applyJsonPatch(d, r.body) as DeploymentObject;
      else if (type === 'application/merge-patch+json') patched = mergePatch(d, r.body, false) as DeploymentObject;
      else if (type === 'application/strategic-merge-patch+json') patched = mergePatch(d, r.body, true) as DeploymentObject;
      else return fail(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
    } catch (err) {
      if (err instanceof PatchError) return fail(422, 'Invalid', err.message);
      throw err;
    }
    // A resourceVersion in the patch is a precondition; status and identity are not changed by a patch of the object.
    if (patched.metadata?.resourceVersion !== d.metadata.resourceVersion) return this.conflict(d);
    const templateLabels = patched.spec?.template?.metadata?.labels ?? {};
    const mismatch = Object.entries(d.spec.selector.matchLabels).some(([k, v]) => templateLabels[k] !== v);
    if (mismatch || !patched.spec?.template?.spec?.containers?.length) {
      return fail(422, 'Invalid', `Deployment.apps "${d.metadata.name}" is invalid: spec.template: Invalid value: the template must have containers and labels matching the selector (${JSON.stringify(d.spec.selector.matchLabels)})`);
    }
    const specChanged = JSON.stringify(canonical(patched.spec)) !== JSON.stringify(canonical(d.spec));
    const metaChanged = JSON.stringify(canonical(patched.metadata)) !== JSON.stringify(canonical(d.metadata));
    d.spec = { ...patched.spec, selector: d.spec.selector };
    d.metadata = { ...patched.metadata, name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata.uid, creationTimestamp: d.metadata.creationTimestamp, generation: d.metadata.generation, resourceVersion: d.metadata.resourceVersion };
    if (specChanged) this.specChanged(d);
    else if (metaChanged) d.metadata.resourceVersion = this.nextVersion();
    return { status: 200, body: clone(d) };
  }

  // --- controller ---------------------------------------------------------------------------------

  private specChanged(d: DeploymentObject): void {
    d.metadata.generation = (d.metadata.generation ?? 1) + 1;
    d.metadata.resourceVersion = this.nextVersion();
  }

  /** One step of the Deployment controller; true when the Deployment is fully rolled out. */
  private step(key: string): boolean {
    const d = this.deployments.get(key);
    if (!d) return true;
    const { namespace, name } = d.metadata;
    if ((d.status.observedGeneration ?? 0) < (d.metadata.generation ?? 1)) {
      d.status.observedGeneration = d.metadata.generation;
      if (!d.spec.paused) this.syncRevision(d);
      this.rolloutReads.set(key, 0);
      this.updateStatus(d);
      return false;
    }
    const sets = this.replicaSetsOf(namespace, name);
    const current = d.spec.paused ? sets.find((rs) => rs.metadata.annotations?.[REVISION] === d.metadata.annotations?.[REVISION]) : sets.find((rs) => sameTemplate(rs.spec.template, d.spec.template));
    if (!current) return true;
    const stalled = this.stalled.has(key);
    const pods = this.podsOf(current);
    const olds = d.spec.paused ? [] : sets.filter((rs) => rs !== current && this.podsOf(rs).length > 0);
    const oldPods = olds.flatMap((rs) => this.podsOf(rs).map((pod) => ({ rs, pod })));
    const desired = d.spec.replicas;
    // The default RollingUpdate strategy: maxSurge 25% rounded up, maxUnavailable 25% rounded down.
    const maxSurge = Math.ceil(desired / 4);
    const minAvailable = desired - Math.floor(desired / 4);
    const available = pods.filter(isReady).length + oldPods.filter(({ pod }) => isReady(pod)).length;
    const unreadyNew = pods.find((p) => !isReady(p));
    const unreadyOld = oldPods.find(({ pod }) => !isReady(pod));
    let acted = true;
    // One action per step, in the controller's order: scale old down as far as availability allows, new up within the surge, then pods become ready.
    if (unreadyOld) this.removePod(unreadyOld.rs, unreadyOld.pod);
    else if (oldPods.length > 0 && available > minAvailable) this.removePod(oldPods[0]!.rs, oldPods[0]!.pod);
    else if (pods.length < desired && pods.length + oldPods.length < desired + maxSurge) this.addPod(current);
    else if (pods.length > desired) this.removePod(current, unreadyNew ?? pods[0]!);
    else if (unreadyNew && !stalled) unreadyNew.status.conditions[0]!.status = 'True';
    else acted = false;
    const reads = (this.rolloutReads.get(key) ?? 0) + 1;
    this.rolloutReads.set(key, reads);
    const deadline = this.stalled.get(key);
    const timedOut = deadline !== undefined && reads >= deadline && !acted && (this.podsOf(current).length < desired || this.podsOf(current).some((p) => !isReady(p)));
    this.updateStatus(d, current, timedOut);
    return !acted && !timedOut;
  }

  /** The controller's getNewReplicaSet: reuse or create the ReplicaSet of the template, with the next revision. */
  private syncRevision(d: DeploymentObject): void {
    const { namespace, name } = d.metadata;
    const sets = this.replicaSetsOf(namespace, name);
    let rs = sets.find((s) => sameTemplate(s.spec.template, d.spec.template));
    const next = Math.max(0, ...sets.filter((s) => s !== rs).map(revision)) + 1;
    const copied = Object.fromEntries(Object.entries(d.metadata.annotations ?? {}).filter(([k]) => !NOT_COPIED.has(k)));
    if (rs) {
      const old = revision(rs);
      rs.metadata.annotations = { ...rs.metadata.annotations, ...copied };
      if (old < next) {
        rs.metadata.annotations[REVISION] = String(next);
        // A rollback: the ReplicaSet keeps the revisions it served before.
        if (old > 0) rs.metadata.annotations[REVISION_HISTORY] = [rs.metadata.annotations[REVISION_HISTORY], String(old)].filter(Boolean).join(',');
      }
      rs.metadata.resourceVersion = this.nextVersion();
    } else {
      const hash = templateHash(d.spec.template);
      const template = clone(d.spec.template);
      template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [HASH]: hash } };
      rs = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-${hash}`,
          namespace,
          uid: randomUUID(),
          resourceVersion: this.nextVersion(),
          generation: 1,
          creationTimestamp: this.now(),
          labels: { ...template.metadata.labels },
          annotations: { ...copied, [REVISION]: String(next), 'deployment.kubernetes.io/desired-replicas': String(d.spec.replicas), 'deployment.kubernetes.io/max-replicas': String(d.spec.replicas + 1) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { replicas: 0, selector: { matchLabels: { ...d.spec.selector.matchLabels, [HASH]: hash } }, template },
        status: { replicas: 0, observedGeneration: 1 },
      };
      this.replicaSets.set(`${namespace}/${rs.metadata.name}`, rs);
    }
    d.metadata.annotations = { ...d.metadata.annotations, [REVISION]: rs.metadata.annotations![REVISION]! };
    d.metadata.resourceVersion = this.nextVersion();
    // revisionHistoryLimit: the oldest scaled-down ReplicaSets beyond it are deleted.
    const old = this.replicaSetsOf(namespace, name).filter((s) => s !== rs && this.podsOf(s).length === 0);
    for (const s of old.slice(0, Math.max(0, old.length - d.spec.revisionHistoryLimit))) this.replicaSets.delete(`${namespace}/${s.metadata.name}`);
  }

  private addPod(rs: ReplicaSetObject): void {
    const name = `${rs.metadata.name}-${randomUUID().slice(0, 5)}`;
    const now = this.now();
    this.pods.set(`${rs.metadata.namespace}/${name}`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: rs.metadata.namespace,
        uid: randomUUID(),
        resourceVersion: this.nextVersion(),
        creationTimestamp: now,
        labels: { ...rs.spec.template.metadata?.labels },
        annotations: { ...rs.spec.template.metadata?.annotations },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: clone(rs.spec.template.spec),
      status: { phase: 'Running', startTime: now, conditions: [{ type: 'Ready', status: 'False' }] },
    });
    rs.spec.replicas = this.podsOf(rs).length;
  }

  private removePod(rs: ReplicaSetObject, pod: PodObject): void {
    this.pods.delete(`${pod.metadata.namespace}/${pod.metadata.name}`);
    rs.spec.replicas = this.podsOf(rs).length;
  }

  private updateStatus(d: DeploymentObject, current?: ReplicaSetObject, timedOut = false): void {
    const sets = this.replicaSetsOf(d.metadata.namespace, d.metadata.name);
    const newRS = current ?? sets.find((rs) => sameTemplate(rs.spec.template, d.spec.template));
    const ready = (pods: PodObject[]) => pods.filter(isReady).length;
    for (const rs of sets) {
      const pods = this.podsOf(rs);
      rs.status = { replicas: pods.length, observedGeneration: 1, ...nonZero({ readyReplicas: ready(pods), availableReplicas: ready(pods) }) };
    }
    const all = sets.flatMap((rs) => this.podsOf(rs));
    const updated = newRS ? this.podsOf(newRS).length : 0;
    const available = ready(all);
    const complete = updated === d.spec.replicas && all.length === updated && available === updated;
    const time = this.now();
    const rsName = newRS?.metadata.name ?? d.metadata.name;
    const progressing: Condition = timedOut
      ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.`, lastUpdateTime: time, lastTransitionTime: time }
      : complete
        ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rsName}" has successfully progressed.`, lastUpdateTime: time, lastTransitionTime: time }
        : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.`, lastUpdateTime: time, lastTransitionTime: time };
    const availableCondition: Condition =
      available >= d.spec.replicas - Math.floor(d.spec.replicas / 4)
        ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: time, lastTransitionTime: time }
        : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.', lastUpdateTime: time, lastTransitionTime: time };
    d.status = {
      observedGeneration: d.status.observedGeneration,
      // The API server leaves zero counts out (omitempty), as here.
      ...nonZero({ replicas: all.length, updatedReplicas: updated, readyReplicas: available, availableReplicas: available, unavailableReplicas: Math.max(0, d.spec.replicas - available) }),
      conditions: d.spec.paused ? [availableCondition] : [availableCondition, progressing],
    };
  }

  private nextVersion(): string {
    return String(++this.resourceVersion);
  }

  /** A clock that moves a minute per object made, so creation times order like revisions. */
  private now(): string {
    this.clock += 60_000;
    return new Date(this.clock).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
}

function isReady(pod: PodObject): boolean {
  return pod.status.conditions[0]!.status === 'True';
}

function revision(rs: ReplicaSetObject): number {
  return Number(rs.metadata.annotations?.[REVISION] ?? 0);
}

function nonZero<T extends Record<string, number>>(counts: T): Partial<T> {
  return Object.fromEntries(Object.entries(counts).filter(([, v]) => v !== 0)) as Partial<T>;
}
