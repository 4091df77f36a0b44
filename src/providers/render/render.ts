/**
 * Render service rollbacks through the Render REST API (seed 001's "Render Rollback": the service's
 * deploys, "Rollback to this deploy", wait for it to go live). Each runbook target names a service
 * (`srv-...`); its releases are its deploys: the one `live` now and the one that was live before it
 * (now `deactivated`), labelled with their commit or image.
 *
 * Rolling back is POST /v1/services/{id}/rollback {deployId}: Render answers with a NEW deploy
 * (trigger `rollback`) made from the old deploy's build, which this provider follows until it is
 * `live` (build_failed, update_failed, pre_deploy_failed, canceled or deactivated end it with an
 * error). Unlike the dashboard, the API's rollback leaves auto-deploy on, so the next push to the
 * branch deploys the bad commit again: when the service's autoDeploy is `yes`, rollTo says so in a
 * progress line and in the state it returns, and tells the engineer to turn it off.
 *
 * A rollback may also name a deploy (`dep-...`, the dashboard's "Rollback to this deploy" on any of
 * them): `findRelease` looks it up, `listReleases` names the recent deploys that went live, and
 * `rollTo` sends the same rollback with that deploy's id.
 *
 * The rollback endpoint takes no idempotency key, so a retried rollTo reads first: the target deploy
 * live, or live through a rollback deploy of the same build, means done; a rollback deploy of that
 * build still under way (an earlier attempt whose worker died) is followed instead of sent again.
 *
 * API reference (https://api-docs.render.com/reference):
 *   Roll back deploy   https://api-docs.render.com/reference/rollback-deploy   POST /services/{serviceId}/rollback
 *   List deploys       https://api-docs.render.com/reference/list-deploys      GET /services/{serviceId}/deploys
 *   Retrieve deploy    https://api-docs.render.com/reference/retrieve-deploy   GET /services/{serviceId}/deploys/{deployId}
 *   Retrieve service   https://api-docs.render.com/reference/retrieve-service  GET /services/{serviceId} (autoDeploy)
 *   Pagination         https://api-docs.render.com/reference/pagination        [{cursor, deploy}], limit <= 100
 *   Rate limiting      https://api-docs.render.com/reference/rate-limiting
 *   Rollbacks          https://render.com/docs/rollbacks  (the API rollback does not disable autodeploy)
 *   Deploy statuses and triggers: the OpenAPI schema (deployStatus, Deploy.trigger), as generated in
 *   github.com/render-oss/cli pkg/client/types_gen.go.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { ApiError, bearerToken, jsonApi } from '../http-api.ts';
import type { ProviderClient, ProviderContext, ProviderDefinition, Release, ReleaseState, RolloutOptions } from '../types.ts';

const settingsSchema = z.strictObject({
  services: z
    .record(z.string().min(1), z.string().regex(/^srv-[a-z0-9]+$/, 'must be a Render service id like srv-cmeq3ls2fijc73b1ue3g (in the service\'s dashboard URL)'))
    .refine((services) => Object.keys(services).length > 0, 'must name at least one service')
    .describe('target name (as the runbook names it) -> its Render service id (srv-...)'),
  baseUrl: z.url().default('https://api.render.com/v1').describe('the Render REST API base URL'),
  tokenEnv: envVarName.describe('environment variable holding a Render API key (sent as Authorization: Bearer)'),
  pollIntervalMs: z.int().positive().default(5000).describe('how often the rollback deploy is polled'),
  timeoutSeconds: z.int().positive().default(600).describe('longest wait for the rollback deploy to go live'),
  requestTimeoutMs: z.int().positive().default(10_000).describe('timeout of one API request'),
});
type Settings = z.infer<typeof settingsSchema>;

const deploySchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  trigger: z.string().optional(),
  createdAt: z.string().optional(),
  finishedAt: z.string().nullable().optional(),
  commit: z.looseObject({ id: z.string().optional(), message: z.string().optional() }).nullable().optional(),
  image: z.looseObject({ ref: z.string().optional(), sha: z.string().optional() }).nullable().optional(),
});
type Deploy = z.infer<typeof deploySchema>;
const deployListSchema = z.array(z.object({ cursor: z.string(), deploy: deploySchema }));
const serviceSchema = z.looseObject({ id: z.string(), name: z.string().optional(), autoDeploy: z.string() });

/** On its way to live or to failure. */
const UNDER_WAY = new Set(['created', 'queued', 'build_in_progress', 'update_in_progress', 'pre_deploy_in_progress']);
/** Render only rolls back to a deploy that went live: the live one, or one since replaced. */
const WENT_LIVE = new Set(['live', 'deactivated']);

/** Render deploy ids: any other name is none of them, and is not sent to ask. */
const DEPLOY_ID = /^dep-[a-z0-9]+$/;

const PAGE = 20;
/** Enough history to find the deploy before the live one behind a run of failed ones. */
const MAX_PAGES = 10;

const time = (d: Deploy) => Date.parse(d.createdAt ?? '') || 0;

/**
 * Whether `d` serves the build of `target`: it is `target`, or a later deploy Render made by rolling
 * back to it. A rollback deploy records its trigger (`rollback`) and the commit (or image digest) of
 * the build it reuses, but not which deploy it came from; the same build is the rule.
 */
function servesBuildOf(d: Deploy, target: Deploy): boolean {
  if (d.id === target.id) return true;
  if (d.trigger !== 'rollback' || time(d) <= time(target)) return false;
  if (d.image?.sha || target.image?.sha) return d.image?.sha === target.image?.sha;
  return !!d.commit?.id && d.commit.id === target.commit?.id;
}

function releaseOf(d: Deploy): Release {
  const commit = d.commit?.id;
  const message = d.commit?.message?.split('\n')[0];
  const image = d.image?.ref ? `${d.image.ref}${d.image.sha ? `@${d.image.sha}` : ''}` : undefined;
  const label = commit ? `${commit.slice(0, 7)}${message ? ` ${message}` : ''}` : (image ?? `deploy ${d.id}`);
  return { id: d.id, label, ...(d.createdAt ? { createdAt: d.createdAt } : {}), ...(image ? { image } : {}) };
}

/** What to do about a failed request, for the engineer reading the error. */
function advice(status: number, settings: Settings): string | undefined {
  if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
  if (status === 401 || status === 403) return `The API key in ${settings.tokenEnv} was refused: check it is a current Render API key (Account Settings > API Keys) of a member of the service's workspace.`;
  if (status === 404) return "No such service or deploy for this API key: check the service id in the runbook's services setting, and that the deploy belongs to that service.";
  if (status === 409) return "Render refused it as conflicting with the service's state (another deploy may be under way): check the service's events in the dashboard, then retry.";
  if (status === 429) return 'Rate limited (Render allows 30 changes and 400 reads a minute per user): wait and retry.';
  if (status >= 500) return "Render failed: see https://status.render.com, and check the service's events in the dashboard before retrying.";
  return undefined;
}

function create(settings: Settings, context: ProviderContext): ProviderClient<'releases'> {
  const log = (line: string) => context.logger.info(line);

  function serviceOf(target: string): string {
    const id = settings.services[target];
    if (!id) throw new Error(`Render: no service named '${target}' in the runbook's services setting (known: ${Object.keys(settings.services).join(', ')})`);
    return id;
  }

  // The key is read at each request, so a rotated key is picked up and `create` does no I/O.
  const api = jsonApi({
    baseUrl: settings.baseUrl,
    what: 'Render API',
    headers: bearerToken(context, settings.tokenEnv),
    timeoutMs: settings.requestTimeoutMs,
    advise: (status) => advice(status, settings),
  });

  const service = async (id: string, signal?: AbortSignal) => (await api('GET', `/services/${id}`, { schema: serviceSchema, signal })).body;
  const deploy = async (id: string, deployId: string, signal?: AbortSignal) => (await api('GET', `/services/${id}/deploys/${encodeURIComponent(deployId)}`, { schema: deploySchema, signal })).body;

  /** The service's deploys, newest first, read page by page (cursor of the last one) until `enough`. */
  async function deploys(id: string, enough: (deploys: Deploy[]) => boolean, signal?: AbortSignal): Promise<Deploy[]> {
    const found: Deploy[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const { body: list } = await api('GET', `/services/${id}/deploys?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { schema: deployListSchema, signal });
      found.push(...list.map((item) => item.deploy));
      if (list.length < PAGE || enough(found)) break;
      cursor = list.at(-1)!.cursor;
    }
    return found.sort((a, b) => time(b) - time(a));
  }

  const liveOf = (list: Deploy[]) => list.find((d) => d.status === 'live');
  const previousOf = (list: Deploy[], live: Deploy | undefined) => list.find((d) => d.status === 'deactivated' && (!live || time(d) < time(live)));

  function autoDeployWarning(target: string, id: string): string {
    return `Render service ${target} (${id}) still has auto-deploy on: Render's rollback does not turn it off, so the next push to its branch deploys the bad commit again. Turn it off now (dashboard: Settings > Build & Deploy > Auto-Deploy: Off, or PATCH /v1/services/${id} {"autoDeploy": "no"}) until the fix is merged`;
  }

  async function readState(target: string, signal?: AbortSignal): Promise<ReleaseState> {
    const id = serviceOf(target);
    const { autoDeploy } = await service(id, signal);
    const list = await deploys(id, (ds) => previousOf(ds, liveOf(ds)) !== undefined, signal);
    const live = liveOf(list);
    const previous = previousOf(list, live);
    const underWay = list.filter((d) => UNDER_WAY.has(d.status) && (!live || time(d) > time(live)));
    return {
      target,
      current: live ? releaseOf(live) : null,
      previous: previous ? releaseOf(previous) : null,
      detail: {
        serviceId: id,
        autoDeploy,
        ...(live?.trigger ? { trigger: live.trigger } : {}),
        ...(underWay.length > 0 ? { underWay: underWay.map((d) => ({ id: d.id, status: d.status })) } : {}),
      },
    };
  }

  /** Follows deploy `deployId` until live; any other end is an error naming its status. */
  async function untilLive(target: string, id: string, deployId: string, wanted: Deploy, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<Deploy> {
    let last = '';
    for (;;) {
      const d = await deploy(id, deployId, signal);
      if (d.status !== last) progress(`Render service ${target}: deploy ${deployId} (rollback to ${wanted.id}) is ${d.status}`);
      last = d.status;
      if (d.status === 'live') return d;
      if (!UNDER_WAY.has(d.status)) {
        throw new Error(`Render service ${target}: deploy ${deployId} (rollback to ${wanted.id}) ended ${d.status}, so the rollback did not take; see the deploy's logs in the service's events in the Render dashboard`);
      }
      if (Date.now() >= deadline) {
        throw new Error(`Render service ${target}: deploy ${deployId} (rollback to ${wanted.id}) is still ${d.status} after ${settings.timeoutSeconds}s; it may yet go live: check the service's events in the Render dashboard before retrying`);
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  }

  return {
    releases: {
      readRelease: (target) => readState(target),

      /** The deploys that went live (what Render rolls back to), newest first, the live one included. */
      async listReleases(target, limit) {
        const wentLive = (ds: Deploy[]) => ds.filter((d) => WENT_LIVE.has(d.status));
        return wentLive(await deploys(serviceOf(target), (ds) => wentLive(ds).length >= limit))
          .slice(0, limit)
          .map(releaseOf);
      },

      /** Deploy `name` of the target's service, or null: Render answers 404 for a deploy it has not, or one of another service. */
      async findRelease(target, name) {
        const id = serviceOf(target);
        if (!DEPLOY_ID.test(name)) return null;
        try {
          return releaseOf(await deploy(id, name));
        } catch (err) {
          if (err instanceof ApiError && err.status === 404) return null;
          throw err;
        }
      },

      async rollTo(target, release, options: RolloutOptions) {
        const id = serviceOf(target);
        const progress = options.onProgress ?? log;
        const { signal } = options;
        const deadline = Date.now() + settings.timeoutSeconds * 1000;
        const { autoDeploy } = await service(id, signal);
        const list = await deploys(id, (ds) => liveOf(ds) !== undefined, signal);
        const wanted = await deploy(id, release.id, signal);
        const live = liveOf(list);

        let rolling: Deploy | undefined;
        if (live && servesBuildOf(live, wanted)) {
          progress(`Render service ${target}: ${live.id === wanted.id ? `deploy ${wanted.id}` : `deploy ${live.id}, a rollback to ${wanted.id},`} is already live; nothing sent`);
        } else {
          // An earlier attempt (a worker that died mid-call) may have started it: follow that one, send nothing.
          rolling = list.find((d) => UNDER_WAY.has(d.status) && (!live || time(d) > time(live)) && servesBuildOf(d, wanted));
          if (rolling) {
            progress(`Render service ${target}: deploy ${rolling.id}, a rollback to ${wanted.id}, is already under way; waiting for it`);
          } else {
            if (!WENT_LIVE.has(wanted.status)) {
              throw new Error(`Render service ${target}: deploy ${wanted.id} ended ${wanted.status} and never went live, and Render only rolls back to a deploy that went live; nothing was sent`);
            }
            rolling = (await api('POST', `/services/${id}/rollback`, { body: { deployId: wanted.id }, schema: deploySchema, signal })).body;
            progress(`Render service ${target}: rollback to deploy ${wanted.id} sent (new deploy ${rolling.id})`);
          }
        }

        const warning = autoDeploy === 'yes' ? autoDeployWarning(target, id) : undefined;
        if (warning) progress(warning);
        if (rolling) await untilLive(target, id, rolling.id, wanted, deadline, progress, signal);
        const after = await readState(target, signal);
        return { ...after, detail: { ...after.detail, ...(rolling ? { rollbackDeploy: rolling.id } : {}), ...(warning ? { warning } : {}) } };
      },
    },
  };
}

export const render: ProviderDefinition<'releases', Settings> = {
  id: 'render',
  description: 'Render services (REST API): the live and previous deploy of each, and rollback to one, warning when auto-deploy would push the bad commit again',
  capabilities: ['releases'],
  settingsSchema,
  example: { services: { api: 'srv-cmeq3ls2fijc73b1ue3g' }, tokenEnv: 'RENDER_API_KEY' },
  create,
};
