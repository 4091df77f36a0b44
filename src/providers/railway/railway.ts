/**
 * Railway service rollbacks through Railway's public GraphQL API (seed 001's "Railway Rollback":
 * Deployments tab, pick the last known good deployment, roll back to it, wait for "Deployment
 * successful"). Each runbook target names a service in one environment; its releases are the
 * service's deployments there: the one live now (the newest SUCCESS) and the one before it.
 *
 * Rolling back is `deploymentRollback(id)` (the default) or, for services deployed from an image tag,
 * `deploymentRedeploy(id, usePreviousImageTag: true)`. Either makes a NEW deployment carrying the old
 * one's image (and, for a rollback, its variables), which this provider finds in the deployment list
 * and follows until it is SUCCESS (FAILED, CRASHED or REMOVED end it with an error). Railway refuses to
 * roll back to a deployment whose `canRollback` is false (older than the plan's image retention):
 * `readRelease` says so in `blocked`, and `rollTo` refuses before sending anything.
 *
 * GraphQL answers errors in a 200 (`{"errors": [...]}`): those are errors here too, naming the
 * operation. Queries are reads, so a 5xx or lost answer is asked again; the mutations are not (a
 * retried activity reads the deployments first and finds the rollback it already started, below).
 *
 * API reference:
 *   Endpoint, tokens, rate limits  https://docs.railway.com/integrations/api (was /reference/public-api)
 *   Deployments (list, get, rollback, redeploy; canRollback)
 *                                  https://docs.railway.com/integrations/api/manage-deployments
 *   Rollback makes a new deployment with the old image and variables
 *                                  https://docs.railway.com/pricing/plans#image-retention-policy
 *   Deployment statuses            https://docs.railway.com/deployments/reference
 *   GraphQL schema (introspection; also src/gql/schema.json of github.com/railwayapp/cli):
 *     deployments(input: DeploymentListInput!, first, after): QueryDeploymentsConnection!
 *     deployment(id: String!): Deployment!   (id status createdAt canRollback canRedeploy serviceId
 *                                             environmentId staticUrl meta: DeploymentMeta (JSON))
 *     deploymentRollback(id: String!): Boolean!
 *     deploymentRedeploy(id: String!, usePreviousImageTag: Boolean): Deployment!
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { ApiError, jsonApi } from '../http-api.ts';
import {
  secretFromEnv,
  type ProviderClient,
  type ProviderContext,
  type ProviderDefinition,
  type Release,
  type ReleaseState,
  type RolloutOptions,
} from '../types.ts';

export const RAILWAY_API = 'https://backboard.railway.com/graphql/v2';

const railwayId = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a Railway id, a UUID like 8107edff-4b8e-44fc-b43a-04566e847a2a (Cmd/Ctrl+K in the project copies it)');

const serviceRef = z.strictObject({
  serviceId: railwayId.describe('the Railway service id'),
  environmentId: railwayId.describe('the Railway environment id (production, staging, ...)'),
});

const settingsSchema = z.strictObject({
  services: z
    .record(z.string().min(1), serviceRef)
    .refine((services) => Object.keys(services).length > 0, 'must name at least one service')
    .describe('target name (as the runbook names it) -> its Railway service and environment'),
  baseUrl: z.url().default(RAILWAY_API).describe('the Railway public GraphQL API endpoint'),
  tokenEnv: envVarName.describe('environment variable holding a Railway account or workspace token (sent as Authorization: Bearer)'),
  method: z
    .enum(['rollback', 'redeploy-previous-image'])
    .default('rollback')
    .describe('rollback: deploymentRollback (the old image and variables); redeploy-previous-image: deploymentRedeploy with usePreviousImageTag, for services deployed from an image tag'),
  pollIntervalMs: z.int().positive().default(5000).describe('how often the new deployment is polled'),
  timeoutSeconds: z.int().positive().default(600).describe('longest wait for the new deployment to reach SUCCESS'),
  requestTimeoutMs: z.int().positive().default(10_000).describe('timeout of one API request'),
});
type Settings = z.infer<typeof settingsSchema>;
type ServiceRef = z.infer<typeof serviceRef>;

const deploymentSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  createdAt: z.string(),
  canRollback: z.boolean(),
  canRedeploy: z.boolean(),
  serviceId: z.string().nullable(),
  environmentId: z.string(),
  staticUrl: z.string().nullable().optional(),
  meta: z.record(z.string(), z.unknown()).nullable().optional(),
});
type Deployment = z.infer<typeof deploymentSchema>;

const connectionSchema = z.object({
  edges: z.array(z.object({ node: deploymentSchema })),
  pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable().optional() }),
});

const FIELDS = 'id status createdAt canRollback canRedeploy serviceId environmentId staticUrl meta';
const DEPLOYMENTS = `query deployments($input: DeploymentListInput!, $first: Int, $after: String) {
  deployments(input: $input, first: $first, after: $after) { edges { node { ${FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;
const DEPLOYMENT = `query deployment($id: String!) { deployment(id: $id) { ${FIELDS} } }`;
// The schema types deploymentRollback as Boolean!: asking for fields of it (as one docs example does) is a GraphQL error.
const ROLLBACK = 'mutation deploymentRollback($id: String!) { deploymentRollback(id: $id) }';
const REDEPLOY = `mutation deploymentRedeploy($id: String!, $usePreviousImageTag: Boolean) {
  deploymentRedeploy(id: $id, usePreviousImageTag: $usePreviousImageTag) { ${FIELDS} }
}`;

/** What serves: SUCCESS, or SLEEPING (a serverless service's live deployment, asleep until a request comes). */
const LIVE = new Set(['SUCCESS', 'SLEEPING']);
/** On its way to SUCCESS or failure. */
const UNDER_WAY = new Set(['INITIALIZING', 'QUEUED', 'WAITING', 'NEEDS_APPROVAL', 'BUILDING', 'DEPLOYING']);
/** A deployment that once served and may be rolled back to (REMOVED ones too, within the image retention). */
const WAS_LIVE = new Set(['SUCCESS', 'SLEEPING', 'REMOVED']);

const PAGE = 20;
/** Enough history to find the deployment before the live one behind a run of failed ones. */
const MAX_PAGES = 5;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

const newer = (a: Deployment, b: Deployment) => Date.parse(a.createdAt) > Date.parse(b.createdAt);

/**
 * Whether deployment `d` runs the build of `target`: it is `target`, or a later deployment made from
 * it. Railway records no documented link from a rollback's deployment to the one it restored, and
 * takes no idempotency key, so this is the rule a retried rollTo uses to find its own rollback:
 * the later deployment carries `target`'s image digest (a rollback or a redeploy with the previous
 * image reuses that image; a new build makes a new one), and, when its meta says why it was made
 * (`reason`), that reason is a rollback or a redeploy, so a fresh deploy that happened to rebuild an
 * identical image (same commit, only variables changed) is not mistaken for one. Without a digest
 * an image reference pinned by digest (`...@sha256:...`) counts; a tag does not, as a tag moves.
 * When neither is recorded nothing matches and a retry sends the rollback again: a second deployment
 * of the same image, the same end state.
 */
function runsBuildOf(d: Deployment, target: Deployment): boolean {
  if (d.id === target.id) return true;
  if (!newer(d, target)) return false;
  const reason = text(d.meta?.reason);
  if (reason !== undefined && reason !== 'rollback' && reason !== 'redeploy') return false;
  const digest = text(d.meta?.imageDigest);
  const targetDigest = text(target.meta?.imageDigest);
  if (digest && targetDigest) return digest === targetDigest;
  const image = text(d.meta?.image);
  return image !== undefined && image.includes('@sha256:') && image === text(target.meta?.image);
}

function releaseOf(d: Deployment): Release {
  const commit = text(d.meta?.commitHash);
  const message = text(d.meta?.commitMessage)?.split('\n')[0];
  const image = text(d.meta?.image) ?? text(d.meta?.imageDigest);
  const label = commit ? `${commit.slice(0, 7)}${message ? ` ${message}` : ''}` : (image ?? `deployment ${d.id}`);
  return { id: d.id, label, createdAt: d.createdAt, ...(image ? { image } : {}) };
}

function hint(status: number, settings: Settings): string {
  if (status === 401 || status === 403) {
    return `the token in ${settings.tokenEnv} was refused: check it is a current Railway account or workspace token with access to this project (project tokens use the Project-Access-Token header, not Bearer)`;
  }
  if (status === 404) return `no GraphQL endpoint at ${settings.baseUrl}: check baseUrl (Railway's is ${RAILWAY_API})`;
  if (status === 409) return 'Railway refused it as conflicting with the service\'s state (another deployment may be under way): check the service\'s deployments in the dashboard, then retry';
  if (status === 429) return 'rate limited (Railway allows 1000 requests an hour on Hobby, 10000 on Pro): wait and retry';
  if (status >= 500) return 'Railway failed: see https://status.railway.com, and check the service\'s deployments in the dashboard before retrying';
  return '';
}

function create(settings: Settings, context: ProviderContext): ProviderClient<'releases'> {
  const endpoint = new URL(settings.baseUrl);
  const origin = endpoint.origin;
  const path = `${endpoint.pathname}${endpoint.search}`;
  const log = (line: string) => context.logger.info(line);

  function serviceOf(target: string): ServiceRef {
    const service = settings.services[target];
    if (!service) throw new Error(`Railway: no service named '${target}' in the runbook's services setting (known: ${Object.keys(settings.services).join(', ')})`);
    return service;
  }

  /** One GraphQL operation; HTTP errors and GraphQL `errors` both name the operation and what to do. */
  async function graphql<T>(operation: string, query: string, variables: Record<string, unknown>, options: { mutation?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    // The token is read at call time, so a rotated token is picked up and `create` does no I/O.
    const api = jsonApi({
      baseUrl: origin,
      what: `Railway ${operation}`,
      headers: { authorization: `Bearer ${secretFromEnv(context, settings.tokenEnv)}` },
      timeoutMs: settings.requestTimeoutMs,
      advise: (status) => hint(status, settings),
    });
    type Answer = { data?: Record<string, unknown> | null; errors?: { message?: string }[] } | null;
    // Queries only read, so they are safe to ask again; a mutation whose answer was lost is not resent.
    const { body } = await api<Answer>('POST', path, { body: { query, variables }, repeatable: !options.mutation, signal: options.signal });
    const errors = body?.errors ?? [];
    if (errors.length > 0) {
      const messages = errors.map((e) => e.message ?? JSON.stringify(e)).join('; ');
      const advice = /not authori[sz]ed/i.test(messages) ? ` (${hint(401, settings)})` : '';
      throw new ApiError(`Railway ${operation} POST ${path} answered with GraphQL errors: ${messages}${advice}`, 200, body);
    }
    const data = body?.data?.[operation];
    if (data === undefined || data === null) throw new ApiError(`Railway ${operation} POST ${path} answered without data: ${JSON.stringify(body).slice(0, 300)}`, 200, body);
    return data as T;
  }

  /** The service's deployments in its environment, newest first, read until `enough` says so (or MAX_PAGES). */
  async function history(service: ServiceRef, enough: (deployments: Deployment[]) => boolean, signal?: AbortSignal): Promise<Deployment[]> {
    const deployments: Deployment[] = [];
    let after: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const answer = connectionSchema.parse(
        await graphql('deployments', DEPLOYMENTS, { input: { serviceId: service.serviceId, environmentId: service.environmentId }, first: PAGE, ...(after ? { after } : {}) }, { signal }),
      );
      deployments.push(...answer.edges.map((e) => e.node));
      if (!answer.pageInfo.hasNextPage || !answer.pageInfo.endCursor || enough(deployments)) break;
      after = answer.pageInfo.endCursor;
    }
    // Newest first whatever order the API keeps, as everything below depends on it.
    return deployments.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  }

  const liveOf = (deployments: Deployment[]) => deployments.find((d) => LIVE.has(d.status));

  function previousOf(deployments: Deployment[], live: Deployment | undefined): Deployment | undefined {
    return deployments.find((d) => d !== live && WAS_LIVE.has(d.status) && (!live || newer(live, d)));
  }

  /** Why Railway would refuse to restore `d` with the configured method, or null. */
  function refusal(d: Deployment): string | null {
    if (settings.method === 'rollback' && !d.canRollback) {
      return `deployment ${d.id} has canRollback false (older than the plan's image retention, or not restorable)`;
    }
    if (settings.method === 'redeploy-previous-image' && !d.canRedeploy) return `deployment ${d.id} has canRedeploy false`;
    return null;
  }

  function stateOf(target: string, service: ServiceRef, deployments: Deployment[]): ReleaseState {
    const live = liveOf(deployments);
    const previous = previousOf(deployments, live);
    const blocked = previous ? refusal(previous) : null;
    const underWay = deployments.filter((d) => UNDER_WAY.has(d.status) && (!live || newer(d, live)));
    return {
      target,
      current: live ? releaseOf(live) : null,
      previous: previous ? releaseOf(previous) : null,
      ...(blocked ? { blocked: `Railway will not ${settings.method === 'rollback' ? 'roll back' : 'redeploy'} to it: ${blocked}` } : {}),
      detail: {
        serviceId: service.serviceId,
        environmentId: service.environmentId,
        method: settings.method,
        ...(live ? { status: live.status, url: live.staticUrl ?? null } : {}),
        ...(underWay.length > 0 ? { underWay: underWay.map((d) => ({ id: d.id, status: d.status })) } : {}),
      },
    };
  }

  async function readState(target: string, service: ServiceRef, signal?: AbortSignal): Promise<ReleaseState> {
    const deployments = await history(service, (ds) => previousOf(ds, liveOf(ds)) !== undefined, signal);
    return stateOf(target, service, deployments);
  }

  /** After a deploymentRollback (which answers only true): the deployment it made, found in the list. */
  async function newDeployment(target: string, service: ServiceRef, known: Set<string>, wanted: Deployment, deadline: number, signal?: AbortSignal): Promise<Deployment> {
    for (;;) {
      const fresh = (await history(service, () => true, signal)).filter((d) => !known.has(d.id));
      // Someone may push meanwhile: the deployment carrying the wanted build is ours; else the first made since.
      const ours = fresh.find((d) => runsBuildOf(d, wanted)) ?? fresh.at(-1);
      if (ours) return ours;
      if (Date.now() >= deadline) {
        throw new Error(`Railway service ${target}: no new deployment appeared within ${settings.timeoutSeconds}s of the rollback to deployment ${wanted.id}; check the service's deployments in the Railway dashboard`);
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  }

  /** Follows deployment `id` until it serves; any other end is an error naming its status. */
  async function untilLive(target: string, id: string, wanted: Deployment, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<Deployment> {
    let last = '';
    for (;;) {
      const d = deploymentSchema.parse(await graphql('deployment', DEPLOYMENT, { id }, { signal }));
      if (d.status !== last) progress(`Railway service ${target}: deployment ${id} (from ${wanted.id}) is ${d.status}`);
      last = d.status;
      if (LIVE.has(d.status)) return d;
      if (!UNDER_WAY.has(d.status)) {
        throw new Error(
          `Railway service ${target}: deployment ${id} (rolling back to ${wanted.id}) ended ${d.status}, so the rollback did not take; see its build and deploy logs in the Railway dashboard`,
        );
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `Railway service ${target}: deployment ${id} (rolling back to ${wanted.id}) is still ${d.status} after ${settings.timeoutSeconds}s; it may yet finish: check it in the Railway dashboard before retrying`,
        );
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  }

  return {
    releases: {
      async readRelease(target) {
        return readState(target, serviceOf(target));
      },

      async rollTo(target, release, options: RolloutOptions) {
        const service = serviceOf(target);
        const progress = options.onProgress ?? log;
        const { signal } = options;
        const deadline = Date.now() + settings.timeoutSeconds * 1000;
        const deployments = await history(service, (ds) => liveOf(ds) !== undefined, signal);
        const wanted = deploymentSchema.parse(await graphql('deployment', DEPLOYMENT, { id: release.id }, { signal }));
        if (wanted.serviceId !== service.serviceId || wanted.environmentId !== service.environmentId) {
          throw new Error(
            `Railway deployment ${wanted.id} belongs to service ${wanted.serviceId} in environment ${wanted.environmentId}, not to ${target} (service ${service.serviceId} in environment ${service.environmentId}): refusing to roll ${target} to it`,
          );
        }

        const live = liveOf(deployments);
        if (live && runsBuildOf(live, wanted)) {
          progress(`Railway service ${target}: ${live.id === wanted.id ? `deployment ${wanted.id}` : `deployment ${live.id}, made from ${wanted.id},`} is already live; nothing sent`);
          return stateOf(target, service, await history(service, (ds) => previousOf(ds, liveOf(ds)) !== undefined, signal));
        }

        // An earlier attempt (a worker that died mid-call) may have started it: follow that one, send nothing.
        let rolling = deployments.find((d) => UNDER_WAY.has(d.status) && (!live || newer(d, live)) && runsBuildOf(d, wanted));
        if (rolling) {
          progress(`Railway service ${target}: deployment ${rolling.id}, made from ${wanted.id}, is already under way; waiting for it`);
        } else {
          const refused = refusal(wanted);
          if (refused) {
            throw new Error(
              `Railway will not ${settings.method === 'rollback' ? 'roll back' : 'redeploy'} service ${target} to ${refused}; nothing was sent. Deploy a known good commit instead (redeploy it from the dashboard, or push a revert)`,
            );
          }
          if (settings.method === 'rollback') {
            const started = await graphql<boolean>('deploymentRollback', ROLLBACK, { id: wanted.id }, { mutation: true, signal });
            if (started !== true) throw new Error(`Railway deploymentRollback(${wanted.id}) answered ${JSON.stringify(started)}: the rollback of ${target} did not start; check the deployment in the Railway dashboard`);
            progress(`Railway service ${target}: rollback to deployment ${wanted.id} sent`);
            rolling = await newDeployment(target, service, new Set(deployments.map((d) => d.id)), wanted, deadline, signal);
          } else {
            rolling = deploymentSchema.parse(await graphql('deploymentRedeploy', REDEPLOY, { id: wanted.id, usePreviousImageTag: true }, { mutation: true, signal }));
            progress(`Railway service ${target}: redeploy of deployment ${wanted.id} with its image sent`);
          }
        }

        const done = await untilLive(target, rolling.id, wanted, deadline, progress, signal);
        const after = await readState(target, service, signal);
        return { ...after, detail: { ...after.detail, rolledBackWith: done.id } };
      },
    },
  };
}

export const railway: ProviderDefinition<'releases', Settings> = {
  id: 'railway',
  description: 'Railway services (public GraphQL API): the live and previous deployment of each, and rollback to one (deploymentRollback, or a redeploy of its image), refused when Railway says it cannot',
  capabilities: ['releases'],
  settingsSchema,
  example: {
    services: { api: { serviceId: '52e26c3c-aac6-49c6-9b89-97f68554385d', environmentId: '95ac4393-db7a-4bcf-800f-89de14d70e6e' } },
    tokenEnv: 'RAILWAY_API_TOKEN',
  },
  create,
};
