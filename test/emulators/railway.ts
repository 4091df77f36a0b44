/**
 * An emulator of the parts of Railway's public GraphQL API the railway provider uses: POST
 * /graphql/v2 with `{query, variables}` and `Authorization: Bearer <token>`, answering
 *   deployments(input: {serviceId, environmentId}, first, after)  newest first, with cursors and pageInfo
 *   deployment(id)
 *   deploymentRollback(id): Boolean!          a new deployment with the old one's image, variables and meta
 *   deploymentRedeploy(id, usePreviousImageTag): Deployment!
 * Errors come as GraphQL does: `{"errors": [{"message": ...}], "data": null}` in a 200 (unknown
 * deployment, canRollback false, a selection on the Boolean deploymentRollback, or one queued by a
 * test with `graphqlErrorNext`). HTTP failures (401 for a wrong token, 404 off the endpoint, and 409,
 * 429 with Retry-After, 5xx queued with `failNext`) come from the shared HttpEmulator.
 *
 * A new deployment moves on one step each time the API is queried: INITIALIZING, DEPLOYING, then
 * SUCCESS (the deployment it replaces becomes REMOVED), or the FAILED/CRASHED a test asked for with
 * `failNextDeployment`. Arguments are read from `variables` only, as the provider sends them.
 *
 * `meta` is an untyped JSON scalar (DeploymentMeta) in the schema. The emulator fills the keys the
 * dashboard, the CLI and webhooks show (commitHash, commitMessage, branch, image) and two that are
 * assumptions, not documented: imageDigest (the built image) and reason (deploy, rollback, redeploy).
 *
 * References: https://docs.railway.com/integrations/api (endpoint, tokens, rate limits and Retry-After),
 * https://docs.railway.com/integrations/api/manage-deployments (the operations; canRollback),
 * https://docs.railway.com/deployments/reference (statuses), https://docs.railway.com/pricing/plans
 * (a rollback is a new deployment), the schema in github.com/railwayapp/cli src/gql/schema.json.
 */
import { createHash, randomUUID } from 'node:crypto';
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export interface RailwayDeployment {
  id: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  canRollback: boolean;
  canRedeploy: boolean;
  projectId: string;
  serviceId: string;
  environmentId: string;
  staticUrl: string | null;
  meta: Record<string, unknown>;
}

const UNDER_WAY = ['INITIALIZING', 'QUEUED', 'WAITING', 'BUILDING', 'DEPLOYING'];

/** How a new deployment ends: HOLD keeps it DEPLOYING (a rollout that never finishes). */
type Fate = 'SUCCESS' | 'FAILED' | 'CRASHED' | 'HOLD';

export class RailwayEmulator extends HttpEmulator {
  /** Every deployment of every service, in the order made. */
  readonly deployments: RailwayDeployment[] = [];
  private readonly failing = new Map<string, Fate>();
  private readonly queued: { operation: string; reply: Reply }[] = [];
  private readonly fate = new Map<string, Fate>();
  private clock = Date.now();
  readonly projectId = randomUUID();

  constructor(token: string) {
    super('Railway', token, () => ({ status: 401, body: { errors: [{ message: 'Not Authorized' }], data: null } }));
    this.route('POST', '/graphql/v2', (request) => this.graphql(request));
  }

  /** A deployment in the history; `minutesAgo` orders it. */
  addDeployment(fields: { serviceId: string; environmentId: string; status: string; minutesAgo: number; commit: string; message: string; canRollback?: boolean; image?: string }): RailwayDeployment {
    const at = new Date(Date.now() - fields.minutesAgo * 60_000).toISOString();
    const deployment: RailwayDeployment = {
      id: randomUUID(),
      status: fields.status,
      createdAt: at,
      updatedAt: at,
      canRollback: fields.canRollback ?? true,
      canRedeploy: true,
      projectId: this.projectId,
      serviceId: fields.serviceId,
      environmentId: fields.environmentId,
      staticUrl: `api-production-${fields.commit.slice(0, 4)}.up.railway.app`,
      meta: {
        commitHash: fields.commit,
        commitMessage: fields.message,
        branch: 'main',
        ...(fields.image ? { image: fields.image } : {}),
        imageDigest: `sha256:${createHash('sha256').update(fields.commit + fields.minutesAgo).digest('hex')}`,
        reason: 'deploy',
      },
    };
    this.deployments.push(deployment);
    return deployment;
  }

  get(id: string): RailwayDeployment {
    const found = this.deployments.find((d) => d.id === id);
    if (!found) throw new Error(`no deployment ${id}`);
    return found;
  }

  /** The next deployment made for `serviceId` ends `status` instead of SUCCESS, or with HOLD stays DEPLOYING. */
  failNextDeployment(serviceId: string, status: Fate): void {
    this.failing.set(serviceId, status);
  }

  /** The next `operation` (deployments, deploymentRollback, ...) is answered 200 with this GraphQL error. */
  graphqlErrorNext(operation: string, message: string): void {
    this.failNextOperation(operation, { status: 200, body: { errors: [{ message, path: [operation] }], data: null } });
  }

  /** The next `operation` gets `reply` (a 409, a 503) where failNext would hit whichever POST came first. */
  failNextOperation(operation: string, reply: Reply): void {
    this.queued.push({ operation, reply });
  }

  /** The requests that were mutations (the writes), optionally of one operation. */
  mutations(operation?: string): RecordedRequest[] {
    return this.requests.filter((r) => {
      const query = String((r.body as { query?: unknown } | null)?.query ?? '');
      return /^\s*mutation\b/.test(query) && (!operation || rootField(query) === operation);
    });
  }

  private now(): string {
    this.clock = Math.max(Date.now(), this.clock + 1);
    return new Date(this.clock).toISOString();
  }

  /** One step for every deployment under way: INITIALIZING -> DEPLOYING -> its fate. */
  private tick(): void {
    for (const d of this.deployments.filter((x) => UNDER_WAY.includes(x.status))) {
      d.updatedAt = this.now();
      if (d.status !== 'DEPLOYING') {
        d.status = 'DEPLOYING';
        continue;
      }
      const fate = this.fate.get(d.id) ?? 'SUCCESS';
      if (fate === 'HOLD') continue;
      d.status = fate;
      if (d.status !== 'SUCCESS') continue;
      for (const old of this.deployments) {
        if (old !== d && old.serviceId === d.serviceId && old.environmentId === d.environmentId && old.status === 'SUCCESS') old.status = 'REMOVED';
      }
    }
  }

  private spawn(from: RailwayDeployment, reason: 'rollback' | 'redeploy', meta: Record<string, unknown> = from.meta): RailwayDeployment {
    const at = this.now();
    const made: RailwayDeployment = { ...from, id: randomUUID(), status: 'INITIALIZING', createdAt: at, updatedAt: at, canRollback: true, meta: { ...meta, reason } };
    const failure = this.failing.get(from.serviceId);
    if (failure) {
      this.failing.delete(from.serviceId);
      this.fate.set(made.id, failure);
    }
    this.deployments.push(made);
    return made;
  }

  private graphql(request: RecordedRequest): Reply {
    const body = (request.body ?? {}) as { query?: unknown; variables?: Record<string, unknown> };
    const query = typeof body.query === 'string' ? body.query : '';
    const variables = body.variables ?? {};
    const operation = rootField(query);
    const error = (message: string): Reply => ({ status: 200, body: { errors: [{ message, path: [operation] }], data: null } });
    if (!operation) return { status: 400, body: { errors: [{ message: 'Must provide query string.' }] } };

    const queued = this.queued.findIndex((e) => e.operation === operation);
    if (queued >= 0) return this.queued.splice(queued, 1)[0]!.reply;

    const mutation = /^\s*mutation\b/.test(query);
    // Answer with the state as it is now, then let time pass: each poll sees one step more.
    const reply = structuredClone(this.respond(mutation, operation, variables, query, error));
    if (!mutation) this.tick();
    return reply;
  }

  private respond(mutation: boolean, operation: string, variables: Record<string, unknown>, query: string, error: (message: string) => Reply): Reply {
    const find = (id: unknown) => this.deployments.find((d) => d.id === id);

    switch (`${mutation ? 'mutation' : 'query'} ${operation}`) {
      case 'query deployments': {
        const input = (variables.input ?? {}) as { serviceId?: string; environmentId?: string };
        const first = typeof variables.first === 'number' ? variables.first : 100;
        const all = this.deployments
          .filter((d) => (!input.serviceId || d.serviceId === input.serviceId) && (!input.environmentId || d.environmentId === input.environmentId))
          .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
        const start = typeof variables.after === 'string' ? all.findIndex((d) => cursorOf(d) === variables.after) + 1 : 0;
        const page = all.slice(start, start + first);
        return {
          status: 200,
          body: {
            data: {
              deployments: {
                edges: page.map((node) => ({ node, cursor: cursorOf(node) })),
                pageInfo: { hasNextPage: start + first < all.length, hasPreviousPage: start > 0, startCursor: page[0] ? cursorOf(page[0]) : null, endCursor: page.at(-1) ? cursorOf(page.at(-1)!) : null },
              },
            },
          },
        };
      }
      case 'query deployment': {
        const found = find(variables.id);
        return found ? { status: 200, body: { data: { deployment: found } } } : error('Deployment not found');
      }
      case 'mutation deploymentRollback': {
        if (/deploymentRollback\s*\([^)]*\)\s*\{/.test(query.slice(query.indexOf('{')))) return error('Field "deploymentRollback" must not have a selection since type "Boolean!" has no subfields.');
        const found = find(variables.id);
        if (!found) return error('Deployment not found');
        if (!found.canRollback) return error('Deployment cannot be rolled back');
        this.spawn(found, 'rollback');
        return { status: 200, body: { data: { deploymentRollback: true } } };
      }
      case 'mutation deploymentRedeploy': {
        const found = find(variables.id);
        if (!found) return error('Deployment not found');
        // Without usePreviousImageTag an image service pulls its tag again, which may now be another image.
        const meta = variables.usePreviousImageTag === true || !found.meta.image ? found.meta : { ...found.meta, imageDigest: `sha256:${createHash('sha256').update(randomUUID()).digest('hex')}` };
        return { status: 200, body: { data: { deploymentRedeploy: this.spawn(found, 'redeploy', meta) } } };
      }
      default:
        return error(`Cannot query field "${operation}" on type "${mutation ? 'Mutation' : 'Query'}".`);
    }
  }
}

/** The first field of the operation's selection set: `deployments` in `query q(...) { deployments(...) {...} }`. */
function rootField(query: string): string | undefined {
  return /\{\s*(\w+)/.exec(query)?.[1];
}

function cursorOf(d: RailwayDeployment): string {
  return Buffer.from(d.id).toString('base64');
}
