/**
 * The Cloud Run Admin API v2 as the cloud-run provider uses it: one client (the token read at each
 * request), the Service, Revision and Operation resources as it reads them, and the read-modify-write
 * every change is: GET the whole Service (and its revisions), PATCH it back with the `etag` read (so a
 * concurrent change by someone else is refused with 409 instead of overwritten), follow the
 * long-running Operation the PATCH returns, then wait until the service stops reconciling.
 *
 * API reference (Cloud Run Admin API v2):
 *   Service resource  https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
 *   services.get      https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/get
 *   services.patch    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 *   revisions.list    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions/list
 *   Revision resource https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions (containerStatuses.imageDigest)
 *   operations.get    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.operations/get
 *   Condition         https://cloud.google.com/run/docs/reference/rest/v2/Condition
 *   etag conflicts    https://google.aip.dev/154 (a stale etag is refused with ABORTED, HTTP 409)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { bearerToken, clause, jsonApi } from '../http-api.ts';
import type { ProviderContext } from '../types.ts';
import type { Settings } from './settings.ts';

// Loose objects: the PATCH sends back the whole resource, so fields this file does not know are kept.
const condition = z.looseObject({ type: z.string().optional(), state: z.string().optional(), message: z.string().optional() });
const envVar = z.looseObject({ name: z.string(), value: z.string().optional(), valueSource: z.unknown().optional() });
const container = z.looseObject({ image: z.string().optional(), env: z.array(envVar).optional() });
const trafficTarget = z.looseObject({ type: z.string().optional(), revision: z.string().optional(), percent: z.number().optional(), tag: z.string().optional() });
const serviceSchema = z.looseObject({
  name: z.string(),
  etag: z.string().optional(),
  reconciling: z.boolean().optional(),
  template: z.looseObject({ revision: z.string().optional(), containers: z.array(container).optional() }).optional(),
  traffic: z.array(trafficTarget).optional(),
  trafficStatuses: z.array(trafficTarget).optional(),
  latestReadyRevision: z.string().optional(),
  latestCreatedRevision: z.string().optional(),
  terminalCondition: condition.optional(),
  uri: z.string().optional(),
});
const revisionSchema = z.looseObject({
  name: z.string(),
  createTime: z.string().optional(),
  deleteTime: z.string().optional(),
  containers: z.array(container).optional(),
  // The digest each container's image resolved to when the revision was made, whether a tag or a digest was given.
  containerStatuses: z.array(z.looseObject({ name: z.string().optional(), imageDigest: z.string().optional() })).optional(),
  conditions: z.array(condition).optional(),
});
const revisionPage = z.looseObject({ revisions: z.array(revisionSchema).optional(), nextPageToken: z.string().optional() });
const operationSchema = z.looseObject({
  name: z.string(),
  done: z.boolean().optional(),
  error: z.looseObject({ code: z.number().optional(), message: z.string().optional() }).optional(),
});

export type Service = z.infer<typeof serviceSchema>;
export type Revision = z.infer<typeof revisionSchema>;
export type Operation = z.infer<typeof operationSchema>;
export type Target = z.infer<typeof trafficTarget>;
export type Container = z.infer<typeof container>;

/** Fields the API computes; sent back they would be ignored (AIP-203), so the PATCH body leaves them out. */
const OUTPUT_ONLY = [
  'uid', 'generation', 'createTime', 'updateTime', 'deleteTime', 'expireTime', 'creator', 'lastModifier', 'observedGeneration',
  'terminalCondition', 'conditions', 'latestReadyRevision', 'latestCreatedRevision', 'trafficStatuses', 'uri', 'urls', 'satisfiesPzs', 'reconciling',
];

/** Revisions appear as full resource names (`projects/.../revisions/x`) in some fields and bare names in others. */
export const shortName = (name: string): string => name.slice(name.lastIndexOf('/') + 1);

export const isReady = (revision: Revision): boolean =>
  !revision.deleteTime && (revision.conditions ?? []).some((c) => c.type === 'Ready' && c.state === 'CONDITION_SUCCEEDED');

/** A service with its revisions, as one read sees them. */
export interface Snapshot {
  service: Service;
  /** Oldest first. */
  revisions: Revision[];
  latestReady: string | undefined;
}

/** The ready revision created before `revision`. */
export function readyBefore(snapshot: Snapshot, revision: string | undefined): Revision | undefined {
  const ready = snapshot.revisions.filter(isReady);
  const index = ready.findIndex((r) => shortName(r.name) === revision);
  return index > 0 ? ready[index - 1] : undefined;
}

export type CloudRunApi = ReturnType<typeof cloudRunApi>;

/** The API for the service the settings name. Creating it does no I/O. */
export function cloudRunApi(settings: Settings, context: ProviderContext) {
  const servicePath = `/v2/projects/${settings.project}/locations/${settings.location}/services/${settings.service}`;
  /** How the engineer looks at the service, named in errors. */
  const describe = `gcloud run services describe ${settings.service} --project=${settings.project} --region=${settings.location}`;

  const advice = (status: number): string => {
    if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
    if (status === 401) return `The access token in ${settings.tokenEnv} was refused (expired? access tokens last about an hour): put a fresh one there (gcloud auth print-access-token) and run the step again.`;
    if (status === 403) return `The token's account may not do this: it needs run.services.get, run.services.update, run.revisions.list and run.operations.get (roles/run.developer) on project ${settings.project}.`;
    if (status === 404) return `Check the runbook's settings: project '${settings.project}', location '${settings.location}', service '${settings.service}'.`;
    if (status === 409 || status === 412) return `Someone else changed service ${settings.service} since it was read (its etag no longer matches): look at what changed (${describe}) before running this step again.`;
    if (status === 429) return 'Cloud Run kept rate limiting past the retries: wait a minute and run the step again.';
    if (status >= 500) return 'Cloud Run had a server error: run the step again (it reads the service first, so a change already made is not made twice).';
    return 'Cloud Run refused the request as sent.';
  };

  // The token is read at each request, so a refreshed environment variable is picked up and create() stays free of I/O.
  const api = jsonApi({
    baseUrl: settings.baseUrl,
    what: 'Cloud Run',
    headers: bearerToken(context, settings.tokenEnv),
    timeoutMs: settings.requestTimeoutMs,
    advise: advice,
  });

  const getService = async (signal?: AbortSignal) => (await api('GET', servicePath, { schema: serviceSchema, signal })).body;

  async function snapshot(signal?: AbortSignal): Promise<Snapshot> {
    const service = await getService(signal);
    const revisions: Revision[] = [];
    let pageToken: string | undefined;
    do {
      const query = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : '';
      const { body: page } = await api('GET', `${servicePath}/revisions${query}`, { schema: revisionPage, signal });
      revisions.push(...(page.revisions ?? []));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    revisions.sort((a, b) => (a.createTime ?? '').localeCompare(b.createTime ?? ''));
    return { service, revisions, latestReady: service.latestReadyRevision ? shortName(service.latestReadyRevision) : undefined };
  }

  /** Progress of a change, to the worker's log when the caller streams it nowhere else. */
  const logProgress = (line: string) => context.logger.info({ service: settings.service }, line);

  const deadlineError = (what: string) => new Error(`Cloud Run ${what} did not finish within ${settings.timeoutMs} ms; it may still finish: check ${describe}`);

  /** Polls the long-running operation until done; its error, or the deadline, is an error naming it. */
  async function followOperation(operation: Operation, what: string, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<void> {
    let current = operation;
    while (!current.done) {
      if (Date.now() >= deadline) throw deadlineError(`operation ${current.name} (${what})`);
      await sleep(settings.pollIntervalMs, undefined, { signal });
      current = (await api('GET', `/v2/${operation.name}`, { schema: operationSchema, signal })).body;
      progress(`Cloud Run operation ${shortName(operation.name)} (${what}): ${current.done ? 'done' : 'running'}`);
    }
    if (current.error) {
      throw new Error(`Cloud Run operation ${operation.name} (${what}) failed: ${clause(current.error.message ?? 'no message')} (code ${current.error.code ?? '?'}). See what the service serves now: ${describe}`);
    }
  }

  /** The service once it stops reconciling, which must have reached its serving state. */
  async function settled(what: string, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<Service> {
    for (;;) {
      const service = await getService(signal);
      if (!service.reconciling) {
        const terminal = service.terminalCondition;
        if (terminal && terminal.state !== 'CONDITION_SUCCEEDED') {
          throw new Error(`Cloud Run service ${settings.service} did not reach its serving state after ${what}: ${terminal.state ?? 'unknown state'}: ${clause(terminal.message ?? 'no message')}. See ${describe}`);
        }
        return service;
      }
      if (Date.now() >= deadline) throw deadlineError(`service ${settings.service} (${what}: still reconciling)`);
      progress(`Cloud Run service ${settings.service} is reconciling (${what})`);
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  }

  /** PATCHes the whole service back with the etag read, returning the long-running operation. */
  async function patch(service: Service, signal?: AbortSignal): Promise<Operation> {
    const body: Record<string, unknown> = { ...service };
    for (const field of OUTPUT_ONLY) delete body[field];
    // Not repeatable: a lost answer may mean the change was made, and a resend would then fail on the
    // etag; the activity's retry reads the service again and finds the change instead.
    return (await api('PATCH', servicePath, { body, schema: operationSchema, signal })).body;
  }

  return { describe, logProgress, getService, snapshot, followOperation, settled, patch };
}
