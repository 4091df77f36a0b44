/**
 * Railway's public GraphQL API as the railway provider uses it: one client (made once; the token read
 * at each request), the operations it sends and the deployment fields it reads, a service's deployment
 * history page by page, and errors that name the operation.
 *
 * GraphQL answers errors in a 200 (`{"errors": [...]}`): those are errors here too, naming the
 * operation. Queries are reads, so a 5xx or lost answer is asked again; the mutations are not (a
 * retried activity reads the deployments first and finds the rollback it already started).
 *
 * API reference:
 *   Endpoint, tokens, rate limits  https://docs.railway.com/integrations/api (was /reference/public-api)
 *   Deployments (list, get, rollback, redeploy; canRollback)
 *                                  https://docs.railway.com/integrations/api/manage-deployments
 *   GraphQL schema (introspection; also src/gql/schema.json of github.com/railwayapp/cli):
 *     deployments(input: DeploymentListInput!, first, after): QueryDeploymentsConnection!
 *     deployment(id: String!): Deployment!   (id status createdAt canRollback canRedeploy serviceId
 *                                             environmentId staticUrl meta: DeploymentMeta (JSON));
 *                                             an unknown id is a "Deployment not found" GraphQL error
 *     deploymentRollback(id: String!): Boolean!
 *     deploymentRedeploy(id: String!, usePreviousImageTag: Boolean): Deployment!
 */
import { z } from 'zod';
import { ApiError, bearerToken, expectShape, jsonApi, withAdvice } from '../http-api.ts';
import type { ProviderContext } from '../types.ts';
import { RAILWAY_API, type ServiceRef, type Settings } from './settings.ts';

export const deploymentSchema = z.looseObject({
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
export type Deployment = z.infer<typeof deploymentSchema>;

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

/** The answer's envelope: `data` is checked per operation once `errors` is known to be empty. */
const envelopeSchema = z.looseObject({ errors: z.array(z.looseObject({ message: z.string().optional() })).nullish() }).nullable();

const PAGE = 20;
/** Enough history to find the deployment before the live one behind a run of failed ones. */
const MAX_PAGES = 5;

/** What to do about a failed request, for the engineer reading the error. */
function advice(status: number, settings: Settings): string | undefined {
  if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
  if (status === 401 || status === 403) {
    return `The token in ${settings.tokenEnv} was refused: check it is a current Railway account or workspace token with access to this project (project tokens use the Project-Access-Token header, not Bearer).`;
  }
  if (status === 404) return `No GraphQL endpoint at ${settings.baseUrl}: check baseUrl (Railway's is ${RAILWAY_API}).`;
  if (status === 409) return "Railway refused it as conflicting with the service's state (another deployment may be under way): check the service's deployments in the dashboard, then retry.";
  if (status === 429) return 'Rate limited (Railway allows 1000 requests an hour on Hobby, 10000 on Pro): wait and retry.';
  if (status >= 500) return "Railway failed: see https://status.railway.com, and check the service's deployments in the dashboard before retrying.";
  return undefined;
}

export type RailwayApi = ReturnType<typeof railwayApi>;

/** The API at the settings' endpoint. Creating it does no I/O. */
export function railwayApi(settings: Settings, context: ProviderContext) {
  const endpoint = new URL(settings.baseUrl);
  const path = `${endpoint.pathname}${endpoint.search}`;
  const api = jsonApi({
    baseUrl: endpoint.origin,
    what: 'Railway',
    headers: bearerToken(context, settings.tokenEnv),
    timeoutMs: settings.requestTimeoutMs,
    advise: (status) => advice(status, settings),
  });

  /** One GraphQL operation, its `data` checked against `schema`; HTTP errors and GraphQL `errors` both name the operation and what to do. */
  async function graphql<T>(operation: string, query: string, variables: Record<string, unknown>, schema: z.ZodType<T>, options: { mutation?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    const where = `Railway ${operation} POST ${path}`;
    // Queries only read, so they are safe to ask again; a mutation whose answer was lost is not resent.
    const { body, status } = await api('POST', path, { name: operation, body: { query, variables }, schema: envelopeSchema, repeatable: !options.mutation, signal: options.signal });
    const errors = body?.errors ?? [];
    if (errors.length > 0) {
      const messages = errors.map((e) => e.message ?? JSON.stringify(e)).join('; ');
      throw new ApiError(withAdvice(`${where} answered with GraphQL errors: ${messages}`, /not authori[sz]ed/i.test(messages) ? advice(401, settings) : undefined), status, body);
    }
    return expectShape(z.object({ data: z.object({ [operation]: schema }) }), body, where, status).data[operation] as T;
  }

  /** The service's deployments in its environment, newest first, read until `enough` says so (or MAX_PAGES). */
  async function history(service: ServiceRef, enough: (deployments: Deployment[]) => boolean, signal?: AbortSignal): Promise<Deployment[]> {
    const deployments: Deployment[] = [];
    let after: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const variables = { input: { serviceId: service.serviceId, environmentId: service.environmentId }, first: PAGE, ...(after ? { after } : {}) };
      const answer = await graphql('deployments', DEPLOYMENTS, variables, connectionSchema, { signal });
      deployments.push(...answer.edges.map((e) => e.node));
      if (!answer.pageInfo.hasNextPage || !answer.pageInfo.endCursor || enough(deployments)) break;
      after = answer.pageInfo.endCursor;
    }
    // Newest first whatever order the API keeps, as everything after depends on it.
    return deployments.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  }

  const deployment = (id: string, signal?: AbortSignal) => graphql('deployment', DEPLOYMENT, { id }, deploymentSchema, { signal });

  return {
    history,
    deployment,
    /**
     * Deployment `id`, or null when Railway has none by that id: it answers an unknown id with a
     * GraphQL error in a 200 ("Deployment not found"), not with a 404.
     */
    async findDeployment(id: string, signal?: AbortSignal): Promise<Deployment | null> {
      try {
        return await deployment(id, signal);
      } catch (err) {
        if (err instanceof ApiError && err.status === 200 && /not found/i.test(err.message)) return null;
        throw err;
      }
    },
    /** Answers only whether it started: the deployment it makes is found in the history. */
    rollback: (id: string, signal?: AbortSignal) => graphql('deploymentRollback', ROLLBACK, { id }, z.boolean(), { mutation: true, signal }),
    redeployImage: (id: string, signal?: AbortSignal) => graphql('deploymentRedeploy', REDEPLOY, { id, usePreviousImageTag: true }, deploymentSchema, { mutation: true, signal }),
  };
}
