/**
 * An emulator of the Cloud Run Admin API v2 calls the cloud-run provider makes: services.get,
 * services.patch (returning a long-running Operation), revisions.list (paged), operations.get. It
 * keeps services and their revisions as the API shows them: full resource names for revisions in
 * `latestReadyRevision`/`latestCreatedRevision` and bare names in `traffic`, `generation` as an int64
 * string, an `etag` that changes with every change of the desired state (a PATCH carrying an older
 * one is refused with 409 ABORTED, as AIP-154 prescribes), `reconciling` true from a PATCH until its
 * Operation is done (a couple of polls), then `trafficStatuses` brought in line with `traffic`. A PATCH
 * whose template differs from the service's makes a new revision, ready once the Operation is done,
 * named as the template names it (`<service>-<suffix>`, and then the same request's traffic may route
 * to it) or else numbered as Cloud Run does (`api-00004-jkl`). Each revision's `containerStatuses`
 * carry the digest its image resolved to. A traffic tag may be on one target only.
 * A LATEST traffic target's status names no revision, as the API's does. Env entries that reference
 * Secret Manager (`valueSource.secretKeyRef {secret, version}`) are kept in the revision as given; with
 * `secretAccess` set, a new revision naming a version no instance could load fails its Operation, as
 * Cloud Run resolves such env vars when an instance starts.
 *
 * Failure modes: a wrong bearer token (401 UNAUTHENTICATED), an unknown service (404 NOT_FOUND), a
 * concurrent change between a read and a PATCH (`beforeNextPatch`, 409 ABORTED), an Operation that
 * finishes with `error: {code, message}` (`failNextOperation`), and any reply queued with `failNext`
 * (429 with Retry-After, 503).
 *
 * Reference (Cloud Run Admin API v2):
 *   Service resource  https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
 *   services.get      https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/get
 *   services.patch    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 *   revisions.list    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions/list
 *   Revision resource https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions
 *   operations.get    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.operations/get
 *   TrafficTarget     https://cloud.google.com/run/docs/reference/rest/v2/TrafficTarget
 *   Condition         https://cloud.google.com/run/docs/reference/rest/v2/Condition
 *   errors            https://cloud.google.com/apis/design/errors (the `{error: {code, message, status}}` body)
 */
import { createHash, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { HttpEmulator, type Reply } from './http-emulator.ts';

export const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
export const BY_REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

export interface EnvVar {
  name: string;
  value?: string;
  valueSource?: { secretKeyRef: { secret: string; version?: string } };
}

export interface Container {
  image: string;
  env?: EnvVar[];
  [field: string]: unknown;
}

export interface TrafficTarget {
  type: string;
  revision?: string;
  percent?: number;
  tag?: string;
}

interface Condition {
  type: string;
  state: 'CONDITION_PENDING' | 'CONDITION_RECONCILING' | 'CONDITION_FAILED' | 'CONDITION_SUCCEEDED';
  message?: string;
  lastTransitionTime: string;
}

interface RevisionRecord {
  name: string;
  uid: string;
  generation: string;
  createTime: string;
  updateTime: string;
  service: string;
  containers: Container[];
  /** The digest each container's image resolved to when the revision was made. */
  containerStatuses: { name: string; imageDigest: string }[];
  conditions: Condition[];
  reconciling: boolean;
  observedGeneration: string;
  etag: string;
}

interface ServiceRecord {
  id: string;
  uid: string;
  createTime: string;
  updateTime: string;
  generation: number;
  observedGeneration: number;
  etag: string;
  template: { revision?: string; containers: Container[]; [field: string]: unknown };
  traffic: TrafficTarget[];
  trafficStatuses: TrafficTarget[];
  latestReadyRevision: string;
  latestCreatedRevision: string;
  reconciling: boolean;
  terminalCondition: Condition;
  /** Revisions made so far, for the next revision's number. */
  made: number;
}

interface OperationRecord {
  name: string;
  service: string;
  pollsLeft: number;
  done: boolean;
  error?: { code: number; message: string };
  newRevision?: string;
}

export interface RevisionSpec {
  image: string;
  env?: EnvVar[];
  /** Whether it reached Ready (default true). */
  ready?: boolean;
}

/** The `{error: {code, message, status}}` body Google APIs answer with. */
export function googleError(code: number, status: string, message: string): Reply {
  return { status: code, body: { error: { code, message, status } } };
}

const SUFFIXES = ['abc', 'def', 'ghi', 'jkl', 'mno', 'pqr', 'stu', 'vwx', 'yza', 'bcd'];
const now = () => new Date().toISOString();
const shortName = (name: string) => name.slice(name.lastIndexOf('/') + 1);
/** The digest an image resolves to: the one it is pinned to, else one made up from the reference (stable per reference). */
const digestOf = (image: string) => /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1] ?? `sha256:${createHash('sha256').update(image).digest('hex')}`;
const newEtag = () => `"${Buffer.from(randomUUID()).toString('base64url').slice(0, 16)}"`;

export class CloudRunEmulator extends HttpEmulator {
  readonly services = new Map<string, ServiceRecord>();
  readonly revisions = new Map<string, RevisionRecord>();
  readonly operations = new Map<string, OperationRecord>();
  /** How many polls (of the operation or the service) an operation takes to finish. */
  pollsUntilDone = 2;
  /** Page size of revisions.list when the request names none; small, so paging is exercised. */
  revisionsPageSize = 2;
  private nextOperationError: { code: number; message: string } | null = null;
  private beforePatch: (() => void) | null = null;
  /** Why an instance could not load `version` of `secret` (null: it can), e.g. SecretManagerEmulator.problem. */
  secretAccess: ((secret: string, version: string) => string | null) | null = null;
  /** Revision creation times go forward from here, a minute apart, so their order is plain. */
  private clock = Date.parse('2024-12-05T12:00:00Z');

  constructor(
    token: string,
    readonly project = 'medicalcor-prod',
    readonly location = 'europe-west3',
  ) {
    super('Cloud Run', token, () =>
      googleError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      ),
    );
    const base = '/v2/projects/:project/locations/:location';
    this.route('GET', `${base}/services/:service`, (_req, p) => this.withService(p, (svc) => {
      this.tick(svc.id);
      return { status: 200, body: this.serviceJson(svc) };
    }));
    this.route('GET', `${base}/services/:service/revisions`, (req, p) => this.withService(p, (svc) => this.listRevisions(svc, req.query)));
    this.route('PATCH', `${base}/services/:service`, (req, p) => this.withService(p, (svc) => this.patch(svc, req.body)));
    this.route('GET', `${base}/operations/:operation`, (_req, p) => {
      const name = `projects/${p.project}/locations/${p.location}/operations/${p.operation}`;
      const operation = this.operations.get(name);
      if (!operation) return googleError(404, 'NOT_FOUND', `Operation '${name}' was not found.`);
      if (!operation.done && --operation.pollsLeft <= 0) this.finish(operation);
      return { status: 200, body: this.operationJson(operation) };
    });
  }

  serviceName(id: string): string {
    return `projects/${this.project}/locations/${this.location}/services/${id}`;
  }

  /** Creates a service with revisions made in the order given (oldest first); their bare names are returned. */
  addService(id: string, revisions: RevisionSpec[], traffic: TrafficTarget[] = [{ type: LATEST, percent: 100 }]): string[] {
    const svc: ServiceRecord = {
      id,
      uid: randomUUID(),
      createTime: new Date(this.clock).toISOString(),
      updateTime: now(),
      generation: 0,
      observedGeneration: 0,
      etag: newEtag(),
      template: { containers: [] },
      traffic,
      trafficStatuses: [],
      latestReadyRevision: '',
      latestCreatedRevision: '',
      reconciling: false,
      terminalCondition: { type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: now() },
      made: 0,
    };
    this.services.set(id, svc);
    const names = revisions.map((spec) => this.deploy(id, spec));
    svc.traffic = traffic;
    svc.trafficStatuses = this.statusesFor(svc);
    return names;
  }

  /**
   * Someone deploys a new revision (`gcloud run deploy`): it is ready at once (unless `ready: false`),
   * becomes the template, and takes the LATEST share of traffic. Returns its bare name.
   */
  deploy(id: string, spec: RevisionSpec): string {
    const svc = this.services.get(id)!;
    const containers = [{ image: spec.image, ...(spec.env ? { env: spec.env } : {}) }];
    const name = this.makeRevision(svc, containers, spec.ready ?? true);
    svc.template = { containers: structuredClone(containers) };
    svc.generation++;
    svc.observedGeneration = svc.generation;
    svc.etag = newEtag();
    svc.updateTime = now();
    svc.latestCreatedRevision = name;
    if (spec.ready ?? true) svc.latestReadyRevision = name;
    svc.trafficStatuses = this.statusesFor(svc);
    return shortName(name);
  }

  /** The next PATCH's operation finishes with this error, as when the new traffic or revision cannot serve. */
  failNextOperation(error: { code: number; message: string }): void {
    this.nextOperationError = error;
  }

  /** Runs `change` just before the next PATCH is handled: a concurrent change by someone else. */
  beforeNextPatch(change: () => void): void {
    this.beforePatch = change;
  }

  /** The service as services.get answers it. */
  service(id: string): Record<string, unknown> {
    return this.serviceJson(this.services.get(id)!);
  }

  private withService(p: Record<string, string>, handle: (svc: ServiceRecord) => Reply): Reply {
    const svc = p.project === this.project && p.location === this.location ? this.services.get(p.service!) : undefined;
    if (!svc) return googleError(404, 'NOT_FOUND', `Resource 'projects/${p.project}/locations/${p.location}/services/${p.service}' was not found`);
    return handle(svc);
  }

  /** A new revision, named `named` when the template names it, else as Cloud Run names them (`<service>-00004-jkl`). */
  private makeRevision(svc: ServiceRecord, containers: Container[], ready: boolean, named?: string): string {
    svc.made++;
    const name = `${this.serviceName(svc.id)}/revisions/${named ?? `${svc.id}-${String(svc.made).padStart(5, '0')}-${SUFFIXES[(svc.made - 1) % SUFFIXES.length]}`}`;
    this.clock += 60_000;
    const createTime = new Date(this.clock).toISOString();
    this.revisions.set(name, {
      name,
      uid: randomUUID(),
      generation: '1',
      createTime,
      updateTime: createTime,
      service: this.serviceName(svc.id),
      containers: structuredClone(containers),
      containerStatuses: containers.map((c, i) => ({ name: String(c.name ?? `container-${i}`), imageDigest: digestOf(c.image) })),
      conditions: [{ type: 'Ready', state: ready ? 'CONDITION_SUCCEEDED' : 'CONDITION_RECONCILING', lastTransitionTime: createTime }],
      reconciling: !ready,
      observedGeneration: '1',
      etag: newEtag(),
    });
    return name;
  }

  private revisionsOf(svc: ServiceRecord): RevisionRecord[] {
    return [...this.revisions.values()].filter((r) => r.service === this.serviceName(svc.id));
  }

  private listRevisions(svc: ServiceRecord, query: URLSearchParams): Reply {
    // Newest first, as `gcloud run revisions list` shows them; clients must not rely on the order.
    const all = this.revisionsOf(svc).sort((a, b) => b.createTime.localeCompare(a.createTime));
    const size = Number(query.get('pageSize')) || this.revisionsPageSize;
    const token = query.get('pageToken');
    const from = token ? Number(Buffer.from(token, 'base64url').toString()) : 0;
    if (token && !Number.isInteger(from)) return googleError(400, 'INVALID_ARGUMENT', `Invalid page token: ${token}`);
    const page = all.slice(from, from + size);
    const next = from + size < all.length ? Buffer.from(String(from + size)).toString('base64url') : undefined;
    return { status: 200, body: { revisions: page, ...(next ? { nextPageToken: next } : {}) } };
  }

  private patch(svc: ServiceRecord, body: unknown): Reply {
    if (this.beforePatch) {
      const change = this.beforePatch;
      this.beforePatch = null;
      change();
    }
    const asked = (body ?? {}) as { etag?: string; template?: ServiceRecord['template']; traffic?: TrafficTarget[] };
    if (asked.etag && asked.etag !== svc.etag) {
      return googleError(409, 'ABORTED', `The etag ${asked.etag} of Service '${this.serviceName(svc.id)}' does not match its current etag ${svc.etag}: it was modified since it was read.`);
    }
    const traffic = asked.traffic?.length ? asked.traffic : [{ type: LATEST, percent: 100 }];
    const template = asked.template ?? svc.template;
    const changesTemplate = !isDeepStrictEqual(template, svc.template);
    if (changesTemplate && template.revision && !template.revision.startsWith(`${svc.id}-`)) {
      return googleError(400, 'INVALID_ARGUMENT', `Revision name '${template.revision}' must be prefixed by the service name '${svc.id}-'.`);
    }
    // The request's traffic may name the revision its template names: the one this request makes.
    const known = new Set([...this.revisionsOf(svc).map((r) => shortName(r.name)), ...(changesTemplate && template.revision ? [template.revision] : [])]);
    const tags = traffic.flatMap((t) => (t.tag ? [t.tag] : []));
    const twice = tags.find((tag, i) => tags.indexOf(tag) !== i);
    if (twice) return googleError(400, 'INVALID_ARGUMENT', `Traffic tag '${twice}' is used by more than one traffic target.`);
    for (const target of traffic) {
      if (target.type !== LATEST && target.type !== BY_REVISION) return googleError(400, 'INVALID_ARGUMENT', `Invalid traffic target type: ${target.type}`);
      if (target.type === BY_REVISION && !known.has(shortName(target.revision ?? ''))) {
        return googleError(400, 'INVALID_ARGUMENT', `Revision '${target.revision}' of traffic target does not exist.`);
      }
    }
    const total = traffic.reduce((sum, t) => sum + (t.percent ?? 0), 0);
    if (total !== 100) return googleError(400, 'INVALID_ARGUMENT', `Traffic percentages must add up to 100, got ${total}.`);

    let newRevision: string | undefined;
    let secretError: { code: number; message: string } | null = null;
    if (changesTemplate) {
      const named = template.revision ? `${this.serviceName(svc.id)}/revisions/${template.revision}` : undefined;
      if (named && this.revisions.has(named)) {
        return googleError(409, 'ALREADY_EXISTS', `Revision named '${template.revision}' with different configuration already exists.`);
      }
      newRevision = this.makeRevision(svc, template.containers, false, template.revision);
      secretError = this.secretProblem(template.containers, newRevision);
      svc.template = structuredClone(template);
      svc.latestCreatedRevision = newRevision;
    }
    svc.traffic = structuredClone(traffic);
    svc.generation++;
    svc.etag = newEtag();
    svc.updateTime = now();
    svc.reconciling = true;
    svc.terminalCondition = { type: 'Ready', state: 'CONDITION_RECONCILING', lastTransitionTime: now() };
    const error = this.nextOperationError ?? secretError;
    const operation: OperationRecord = {
      name: `projects/${this.project}/locations/${this.location}/operations/${randomUUID()}`,
      service: svc.id,
      pollsLeft: this.pollsUntilDone,
      done: false,
      ...(error ? { error } : {}),
      newRevision,
    };
    this.nextOperationError = null;
    this.operations.set(operation.name, operation);
    return { status: 200, body: this.operationJson(operation) };
  }

  /** The error of a revision whose env names a secret version `secretAccess` says cannot be loaded. */
  private secretProblem(containers: Container[], revision: string): { code: number; message: string } | null {
    for (const [i, container] of containers.entries()) {
      for (const [j, env] of (container.env ?? []).entries()) {
        const ref = env.valueSource?.secretKeyRef;
        const problem = ref && this.secretAccess?.(ref.secret, ref.version ?? 'latest');
        if (problem) return { code: 9, message: `Revision '${shortName(revision)}' is not ready and cannot serve traffic. spec.template.containers[${i}].env[${j}].value_source.secret_key_ref: ${problem}.` };
      }
    }
    return null;
  }

  /** A read of the service moves its running operations along too, as time would. */
  private tick(id: string): void {
    for (const operation of this.operations.values()) {
      if (operation.service === id && !operation.done && --operation.pollsLeft <= 0) this.finish(operation);
    }
  }

  private finish(operation: OperationRecord): void {
    const svc = this.services.get(operation.service)!;
    operation.done = true;
    svc.reconciling = false;
    const revision = operation.newRevision ? this.revisions.get(operation.newRevision) : undefined;
    if (operation.error) {
      // A failed reconciliation leaves the statuses, observed generation and latest ready revision as
      // they were (the last serving state); `traffic` keeps what was asked (Service.reconciling).
      svc.terminalCondition = { type: 'Ready', state: 'CONDITION_FAILED', message: operation.error.message, lastTransitionTime: now() };
      if (revision) {
        revision.conditions = [{ type: 'Ready', state: 'CONDITION_FAILED', message: operation.error.message, lastTransitionTime: now() }];
        revision.reconciling = false;
      }
      return;
    }
    if (revision) {
      revision.conditions = [{ type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: now() }];
      revision.reconciling = false;
      svc.latestReadyRevision = revision.name;
    }
    svc.observedGeneration = svc.generation;
    svc.trafficStatuses = this.statusesFor(svc);
    svc.terminalCondition = { type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: now() };
  }

  private statusesFor(svc: ServiceRecord): TrafficTarget[] {
    return svc.traffic.map((t) => (t.type === LATEST ? { type: LATEST, percent: t.percent ?? 0, ...(t.tag ? { tag: t.tag } : {}) } : { ...t }));
  }

  private serviceJson(svc: ServiceRecord): Record<string, unknown> {
    return structuredClone({
      name: this.serviceName(svc.id),
      uid: svc.uid,
      generation: String(svc.generation),
      createTime: svc.createTime,
      updateTime: svc.updateTime,
      creator: 'deployer@medicalcor-prod.iam.gserviceaccount.com',
      lastModifier: 'deployer@medicalcor-prod.iam.gserviceaccount.com',
      ingress: 'INGRESS_TRAFFIC_ALL',
      launchStage: 'GA',
      template: svc.template,
      traffic: svc.traffic,
      observedGeneration: String(svc.observedGeneration),
      terminalCondition: svc.terminalCondition,
      conditions: [{ type: 'RoutesReady', state: svc.reconciling ? 'CONDITION_RECONCILING' : svc.terminalCondition.state, lastTransitionTime: svc.updateTime }],
      latestReadyRevision: svc.latestReadyRevision,
      latestCreatedRevision: svc.latestCreatedRevision,
      trafficStatuses: svc.trafficStatuses,
      uri: `https://${svc.id}-abcdefghij-ey.a.run.app`,
      reconciling: svc.reconciling,
      etag: svc.etag,
    });
  }

  private operationJson(operation: OperationRecord): Record<string, unknown> {
    const service = { '@type': 'type.googleapis.com/google.cloud.run.v2.Service', ...this.serviceJson(this.services.get(operation.service)!) };
    return {
      name: operation.name,
      metadata: service,
      done: operation.done,
      ...(operation.done ? (operation.error ? { error: operation.error } : { response: service }) : {}),
    };
  }
}
