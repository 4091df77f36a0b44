/**
 * A Google Cloud Run service through the Cloud Run Admin API v2: its traffic split between revisions
 * (seed 002's `gcloud run services update-traffic --to-revisions=REV=50,...`), the plain environment
 * variables of its container (`gcloud run services update --update-env-vars`), and its releases
 * (the latest ready revision and the one before it; a rollback routes 100% of traffic to the older one).
 *
 * Every change is a read-modify-write of the whole Service: GET it, change `traffic` or the template's
 * env, PATCH it back with the `etag` read (so a concurrent change by someone else is refused with 409
 * instead of overwritten), follow the long-running Operation the PATCH returns, then wait until the
 * service stops reconciling and check that it serves what was asked. The API takes no idempotency key
 * on services.patch, so each change reads first and sends nothing when the service already is as
 * asked: a retried activity (worker died mid-call) finds its change made and only waits for it.
 *
 * Versions: the runbook names versions (stable, canary); settings map each to a revision selector, a
 * revision name, `LATEST` (the latest ready revision) or `PREVIOUS` (the ready revision created before
 * it). Traffic on a revision that is none of them is an error, never silently dropped.
 *
 * API reference (Cloud Run Admin API v2):
 *   Service resource  https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
 *   services.get      https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/get
 *   services.patch    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 *   revisions.list    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions/list
 *   operations.get    https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.operations/get
 *   TrafficTarget     https://cloud.google.com/run/docs/reference/rest/v2/TrafficTarget
 *   Condition         https://cloud.google.com/run/docs/reference/rest/v2/Condition
 *   etag conflicts    https://google.aip.dev/154 (a stale etag is refused with ABORTED, HTTP 409)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { ApiError, jsonApi, type RequestOptions } from '../http-api.ts';
import {
  secretFromEnv,
  type ProviderClient,
  type ProviderContext,
  type ProviderDefinition,
  type Release,
  type ReleaseState,
  type TrafficState,
} from '../types.ts';

const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
const BY_REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

const revisionSelector = z
  .string()
  .regex(/^(LATEST|PREVIOUS|[a-z][-a-z0-9]*)$/, 'must be LATEST, PREVIOUS or a revision name like my-service-00014-def');

const settingsSchema = z.strictObject({
  project: z
    .string()
    .regex(/^([a-z][-a-z0-9]{4,28}[a-z0-9]|\d+)$/, 'must be a Google Cloud project ID (like medicalcor-prod) or number')
    .describe('Google Cloud project ID or number'),
  location: z
    .string()
    .regex(/^[a-z]+(-[a-z]+)+\d+$/, 'must be a Cloud Run region like europe-west3')
    .describe('Cloud Run region (gcloud --region), e.g. europe-west3'),
  service: z
    .string()
    .regex(/^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$/, 'must be a Cloud Run service name: lowercase letters, digits and hyphens, starting with a letter')
    .describe('Cloud Run service name, e.g. medicalcor-api'),
  baseUrl: z.url().default('https://run.googleapis.com').describe('Cloud Run Admin API endpoint'),
  tokenEnv: envVarName.describe('environment variable holding an OAuth 2 access token (gcloud auth print-access-token), sent as Authorization: Bearer'),
  versions: z
    .record(z.string().min(1), revisionSelector)
    .refine((v) => Object.keys(v).length > 0, 'must name at least one version')
    .default({ stable: 'PREVIOUS', canary: 'LATEST' })
    .describe('runbook version name -> revision: a revision name, LATEST (latest ready revision) or PREVIOUS (the ready revision before it)'),
  pollIntervalMs: z.int().positive().default(2000).describe('how often a running operation or a reconciling service is polled'),
  timeoutMs: z.int().positive().default(600_000).describe('longest wait for a change to finish (operation and reconciliation)'),
  requestTimeoutMs: z.int().positive().default(30_000).describe('timeout of one API request'),
});
type Settings = z.infer<typeof settingsSchema>;

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
  conditions: z.array(condition).optional(),
});
const revisionPage = z.looseObject({ revisions: z.array(revisionSchema).optional(), nextPageToken: z.string().optional() });
const operationSchema = z.looseObject({
  name: z.string(),
  done: z.boolean().optional(),
  error: z.looseObject({ code: z.number().optional(), message: z.string().optional() }).optional(),
});

type Service = z.infer<typeof serviceSchema>;
type Revision = z.infer<typeof revisionSchema>;
type Operation = z.infer<typeof operationSchema>;
type Target = z.infer<typeof trafficTarget>;

/** Fields the API computes; sent back they would be ignored (AIP-203), so the PATCH body leaves them out. */
const OUTPUT_ONLY = [
  'uid', 'generation', 'createTime', 'updateTime', 'deleteTime', 'expireTime', 'creator', 'lastModifier', 'observedGeneration',
  'terminalCondition', 'conditions', 'latestReadyRevision', 'latestCreatedRevision', 'trafficStatuses', 'uri', 'urls', 'satisfiesPzs', 'reconciling',
];

/** Revisions appear as full resource names (`projects/.../revisions/x`) in some fields and bare names in others. */
const shortName = (name: string): string => name.slice(name.lastIndexOf('/') + 1);

const isReady = (revision: Revision): boolean =>
  !revision.deleteTime && (revision.conditions ?? []).some((c) => c.type === 'Ready' && c.state === 'CONDITION_SUCCEEDED');

/** Percent per revision (bare names); an allocation to LATEST counts for the latest ready revision. */
function split(targets: Target[] | undefined, latestReady: string | undefined): Map<string, number> {
  const percents = new Map<string, number>();
  // An empty `traffic` means 100% to the latest ready revision (Service resource reference).
  const entries = targets?.length ? targets : [{ type: LATEST, percent: 100 }];
  for (const target of entries) {
    const percent = target.percent ?? 0;
    if (percent === 0) continue;
    const revision = target.type === LATEST ? (latestReady ?? '(latest ready revision: none yet)') : shortName(target.revision ?? '(unnamed revision)');
    percents.set(revision, (percents.get(revision) ?? 0) + percent);
  }
  return percents;
}

const sameSplit = (a: Map<string, number>, b: Map<string, number>): boolean => a.size === b.size && [...a].every(([revision, percent]) => b.get(revision) === percent);

/** A message from the API without its closing period, so a sentence of ours can follow it. */
const clause = (text: string): string => text.replace(/[.\s]+$/, '');

const shown = (percents: Map<string, number>): string => (percents.size ? [...percents].map(([revision, percent]) => `${revision}=${percent}%`).join(', ') : 'no traffic');

/** The traffic targets for `desired`, keeping the tags (revision URLs) the service had on 0% entries. */
function trafficFor(desired: Map<string, number>, existing: Target[] | undefined): Target[] {
  const targets: Target[] = [...desired].map(([revision, percent]) => ({ type: BY_REVISION, revision, percent }));
  for (const old of existing ?? []) {
    if (!old.tag) continue;
    const revision = old.type === LATEST || !old.revision ? null : shortName(old.revision);
    const untagged = revision === null ? undefined : targets.find((t) => t.revision === revision && !t.tag);
    if (untagged) untagged.tag = old.tag;
    else targets.push(revision === null ? { type: LATEST, percent: 0, tag: old.tag } : { type: BY_REVISION, revision, percent: 0, tag: old.tag });
  }
  return targets;
}

interface Snapshot {
  service: Service;
  /** Oldest first. */
  revisions: Revision[];
  latestReady: string | undefined;
}

function readyBefore(snapshot: Snapshot, revision: string | undefined): Revision | undefined {
  const ready = snapshot.revisions.filter(isReady);
  const index = ready.findIndex((r) => shortName(r.name) === revision);
  return index > 0 ? ready[index - 1] : undefined;
}

function asRelease(revision: Revision): Release {
  const id = shortName(revision.name);
  const image = revision.containers?.[0]?.image;
  return { id, label: `${id} (${image ?? 'no image'}, created ${revision.createTime ?? 'at an unknown time'})`, createdAt: revision.createTime, image };
}

function create(settings: Settings, context: ProviderContext): ProviderClient<'traffic' | 'config' | 'releases'> {
  const servicePath = `/v2/projects/${settings.project}/locations/${settings.location}/services/${settings.service}`;
  const describe = `gcloud run services describe ${settings.service} --project=${settings.project} --region=${settings.location}`;
  const versionNames = Object.keys(settings.versions);

  const advice = (status: number): string => {
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
    headers: () => ({ authorization: `Bearer ${secretFromEnv(context, settings.tokenEnv)}` }),
    timeoutMs: settings.requestTimeoutMs,
  });
  const call = async <T>(schema: z.ZodType<T>, method: string, path: string, options: RequestOptions = {}): Promise<T> => {
    try {
      const response = await api(method, path, options);
      const parsed = schema.safeParse(response.body);
      if (!parsed.success) throw new Error(`Cloud Run ${method} ${path} answered with an unexpected body: ${JSON.stringify(response.body).slice(0, 300)}`);
      return parsed.data;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 0) throw new ApiError(`${err.message}. Check the network path to ${settings.baseUrl}.`, 0, null);
      const google = (err.body as { error?: { message?: unknown } } | null)?.error?.message;
      const said = typeof google === 'string' ? clause(google) : JSON.stringify(err.body).slice(0, 300);
      throw new ApiError(`Cloud Run ${method} ${path} answered ${err.status}: ${said}. ${advice(err.status)}`, err.status, err.body);
    }
  };

  const getService = (signal?: AbortSignal) => call(serviceSchema, 'GET', servicePath, { signal });

  async function snapshot(signal?: AbortSignal): Promise<Snapshot> {
    const service = await getService(signal);
    const revisions: Revision[] = [];
    let pageToken: string | undefined;
    do {
      const query = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : '';
      const page = await call(revisionPage, 'GET', `${servicePath}/revisions${query}`, { signal });
      revisions.push(...(page.revisions ?? []));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    revisions.sort((a, b) => (a.createTime ?? '').localeCompare(b.createTime ?? ''));
    return { service, revisions, latestReady: service.latestReadyRevision ? shortName(service.latestReadyRevision) : undefined };
  }

  /** The revision each version's selector names now, or why it names none. */
  function resolveVersions(snap: Snapshot): Map<string, { revision?: string; why?: string }> {
    const resolved = new Map<string, { revision?: string; why?: string }>();
    for (const [version, selector] of Object.entries(settings.versions)) {
      if (selector === 'LATEST') {
        resolved.set(version, snap.latestReady ? { revision: snap.latestReady } : { why: `service ${settings.service} has no ready revision` });
      } else if (selector === 'PREVIOUS') {
        const previous = readyBefore(snap, snap.latestReady);
        resolved.set(version, previous ? { revision: shortName(previous.name) } : { why: `service ${settings.service} has no ready revision before ${snap.latestReady ?? '(none)'}` });
      } else {
        const named = snap.revisions.find((r) => shortName(r.name) === selector);
        resolved.set(version, named ? { revision: selector } : { why: `service ${settings.service} has no revision named ${selector}` });
      }
    }
    const byRevision = new Map<string, string[]>();
    for (const [version, { revision }] of resolved) if (revision) byRevision.set(revision, [...(byRevision.get(revision) ?? []), version]);
    for (const [revision, versions] of byRevision) {
      if (versions.length > 1) {
        throw new Error(`Cloud Run versions ${versions.join(' and ')} of service ${settings.service} are both revision ${revision} (settings.versions: ${JSON.stringify(settings.versions)}): their weights cannot be told apart; name distinct revisions`);
      }
    }
    return resolved;
  }

  function trafficState(snap: Snapshot): TrafficState {
    const versions = resolveVersions(snap);
    const served = split(snap.service.trafficStatuses?.length ? snap.service.trafficStatuses : snap.service.traffic, snap.latestReady);
    const weights: Record<string, number> = {};
    for (const [version, { revision }] of versions) {
      weights[version] = revision ? (served.get(revision) ?? 0) : 0;
      if (revision) served.delete(revision);
    }
    if (served.size > 0) {
      const known = [...versions].map(([version, { revision }]) => `${version} = ${revision ?? 'none'}`).join(', ');
      throw new Error(
        `Cloud Run service ${settings.service} sends traffic to revisions that are none of the runbook's versions (${known}): ${shown(served)}. ` +
          `Name them in settings.versions, or move their traffic first (gcloud run services update-traffic ${settings.service} --region=${settings.location}); otherwise a change of weights would silently drop it.`,
      );
    }
    // Cloud Run scales instances itself: there is no count to read or set.
    return { weights, instances: {} };
  }

  const deadlineError = (what: string) => new Error(`Cloud Run ${what} did not finish within ${settings.timeoutMs} ms; it may still finish: check ${describe}`);

  async function followOperation(operation: Operation, what: string, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<void> {
    let current = operation;
    while (!current.done) {
      if (Date.now() >= deadline) throw deadlineError(`operation ${current.name} (${what})`);
      await sleep(settings.pollIntervalMs, undefined, { signal });
      current = await call(operationSchema, 'GET', `/v2/${operation.name}`, { signal });
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
  function patch(service: Service, signal?: AbortSignal): Promise<Operation> {
    const body: Record<string, unknown> = { ...service };
    for (const field of OUTPUT_ONLY) delete body[field];
    // Not repeatable: a lost answer may mean the change was made, and a resend would then fail on the
    // etag; the activity's retry reads the service again and finds the change instead.
    return call(operationSchema, 'PATCH', servicePath, { body, signal });
  }

  /** Routes traffic as `desired` (percent per revision) and waits until the service serves it. */
  async function applyTraffic(snap: Snapshot, desired: Map<string, number>, progress: (line: string) => void, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + settings.timeoutMs;
    const what = `traffic ${shown(desired)}`;
    // Compared with `traffic` (what was asked), not the statuses: after a worker died mid-change the
    // PATCH is in and only the waiting is left to do.
    if (!sameSplit(split(snap.service.traffic, snap.latestReady), desired)) {
      const operation = await patch({ ...snap.service, traffic: trafficFor(desired, snap.service.traffic) }, signal);
      progress(`Cloud Run service ${settings.service}: asked for ${what} (operation ${shortName(operation.name)})`);
      await followOperation(operation, what, deadline, progress, signal);
    }
    const service = await settled(what, deadline, progress, signal);
    const latestReady = service.latestReadyRevision ? shortName(service.latestReadyRevision) : undefined;
    const served = split(service.trafficStatuses?.length ? service.trafficStatuses : service.traffic, latestReady);
    if (!sameSplit(served, desired)) {
      throw new Error(`Cloud Run service ${settings.service} serves ${shown(served)}, not the ${shown(desired)} asked; someone may have changed it meanwhile: ${describe}`);
    }
  }

  const logProgress = (line: string) => context.logger.info({ service: settings.service }, line);

  const checkTarget = (target: string) => {
    if (target !== settings.service) throw new Error(`this Cloud Run provider manages service ${settings.service}, not ${target}: add a provider entry for ${target} to the runbook`);
  };

  function releaseState(snap: Snapshot): ReleaseState {
    const latest = snap.revisions.find((r) => shortName(r.name) === snap.latestReady && isReady(r));
    const previous = latest ? readyBefore(snap, snap.latestReady) : undefined;
    const state: ReleaseState = {
      target: settings.service,
      current: latest ? asRelease(latest) : null,
      previous: previous ? asRelease(previous) : null,
      detail: {
        traffic: Object.fromEntries(split(snap.service.trafficStatuses?.length ? snap.service.trafficStatuses : snap.service.traffic, snap.latestReady)),
        latestCreatedRevision: snap.service.latestCreatedRevision ? shortName(snap.service.latestCreatedRevision) : null,
        reconciling: snap.service.reconciling ?? false,
        uri: snap.service.uri ?? null,
      },
    };
    if (!latest) state.blocked = `Cloud Run service ${settings.service} has no ready revision`;
    else if (!previous) state.blocked = `Cloud Run service ${settings.service} has no ready revision before ${shortName(latest.name)}: nothing to roll back to`;
    return state;
  }

  return {
    traffic: {
      readState: async () => trafficState(await snapshot()),

      async setWeights(weights) {
        for (const [version, weight] of Object.entries(weights)) {
          if (!versionNames.includes(version)) throw new Error(`unknown version '${version}' for Cloud Run service ${settings.service}; the runbook's versions are: ${versionNames.join(', ')}`);
          if (!Number.isInteger(weight) || weight < 0 || weight > 100) throw new Error(`Cloud Run takes whole percentages from 0 to 100: ${version}=${weight} is not one`);
        }
        const total = Object.values(weights).reduce((sum, w) => sum + w, 0);
        if (total !== 100) throw new Error(`weights for Cloud Run service ${settings.service} must add up to 100, not ${total}: ${JSON.stringify(weights)}`);

        const snap = await snapshot();
        const versions = resolveVersions(snap);
        const desired = new Map<string, number>();
        for (const [version, weight] of Object.entries(weights)) {
          if (weight === 0) continue;
          const { revision, why } = versions.get(version)!;
          if (!revision) throw new Error(`cannot send ${weight}% to version ${version} (${settings.versions[version]}): ${why}`);
          desired.set(revision, weight);
        }
        await applyTraffic(snap, desired, logProgress);
        return trafficState(await snapshot());
      },
    },

    config: {
      async readConfig() {
        const service = await getService();
        // Only plain values: entries with a valueSource are Secret Manager references, never read here.
        const env = service.template?.containers?.[0]?.env ?? [];
        return Object.fromEntries(env.filter((e) => e.valueSource === undefined).map((e) => [e.name, e.value ?? '']));
      },

      async setConfig(values) {
        const deadline = Date.now() + settings.timeoutMs;
        const service = await getService();
        const [first, ...others] = service.template?.containers ?? [];
        if (!service.template || !first) throw new Error(`Cloud Run service ${settings.service} has no container in its template to set environment variables on`);
        const env = [...(first.env ?? [])];
        let changed = false;
        for (const [name, value] of Object.entries(values)) {
          const index = env.findIndex((e) => e.name === name);
          const existing = env[index];
          if (existing?.valueSource !== undefined) {
            throw new Error(`${name} on Cloud Run service ${settings.service} is a secret reference (valueSource), not a plain value: this provider never changes those; roll the secret's version instead`);
          }
          if (value === null) {
            if (!existing) continue;
            env.splice(index, 1);
          } else if (!existing) env.push({ name, value });
          else if ((existing.value ?? '') !== value) env[index] = { ...existing, value };
          else continue;
          changed = true;
        }
        const what = `environment ${Object.keys(values).join(', ')}`;
        if (changed) {
          // The template is what revisions are made from, so changing its env makes a NEW revision:
          // that is why this is a config change and not a traffic one. Its name is left for Cloud Run
          // to choose: a template still naming the current revision would be refused (409, "revision
          // named ... with different configuration already exists").
          const template = { ...service.template };
          delete template.revision;
          const operation = await patch({ ...service, template: { ...template, containers: [{ ...first, env }, ...others] } });
          logProgress(`Cloud Run service ${settings.service}: ${what} set (operation ${shortName(operation.name)})`);
          await followOperation(operation, what, deadline, logProgress);
        } else if (!service.reconciling) {
          return;
        }
        const after = await settled(what, deadline, logProgress);
        if (after.latestReadyRevision !== after.latestCreatedRevision) {
          throw new Error(`Cloud Run service ${settings.service}: the revision with the new ${what} (${shortName(after.latestCreatedRevision ?? '?')}) did not become ready; ${shortName(after.latestReadyRevision ?? '?')} still serves. See ${describe}`);
        }
        // With traffic pinned to named revisions the new revision serves nothing until traffic moves to it.
        if (!(after.traffic ?? []).some((t) => t.type === LATEST && (t.percent ?? 0) > 0) && (after.traffic?.length ?? 0) > 0) {
          context.logger.warn(
            { service: settings.service, revision: after.latestReadyRevision },
            'the new revision serves no traffic yet: the service routes traffic to named revisions, so the changed configuration takes effect once traffic moves to it',
          );
        }
      },
    },

    releases: {
      async readRelease(target) {
        checkTarget(target);
        return releaseState(await snapshot());
      },

      async rollTo(target, release, options) {
        checkTarget(target);
        const progress = options.onProgress ?? logProgress;
        const snap = await snapshot(options.signal);
        const revision = shortName(release.id);
        const ready = snap.revisions.filter(isReady).map((r) => shortName(r.name));
        if (!ready.includes(revision)) {
          throw new Error(`revision ${revision} is not a ready revision of Cloud Run service ${settings.service} (ready: ${ready.join(', ') || 'none'}): cannot route traffic to it`);
        }
        await applyTraffic(snap, new Map([[revision, 100]]), progress, options.signal);
        return releaseState(await snapshot(options.signal));
      },
    },
  };
}

export const cloudRun: ProviderDefinition<'traffic' | 'config' | 'releases', Settings> = {
  id: 'cloud-run',
  description: 'Google Cloud Run service (Admin API v2): traffic split between revisions, plain env vars of its container (a new revision), and rollback to the previous ready revision',
  capabilities: ['traffic', 'config', 'releases'],
  settingsSchema,
  example: { project: 'medicalcor-prod', location: 'europe-west3', service: 'medicalcor-api', tokenEnv: 'GCP_ACCESS_TOKEN' },
  create,
};
