/**
 * An emulator of the parts of the Render REST API the render provider uses, under /v1 with
 * `Authorization: Bearer <api key>`:
 *   GET  /v1/services/{serviceId}                     the service (autoDeploy yes|no)
 *   GET  /v1/services/{serviceId}/deploys             [{cursor, deploy}], newest first; limit (1-100, default 20), cursor
 *   GET  /v1/services/{serviceId}/deploys/{deployId}  one deploy
 *   POST /v1/services/{serviceId}/rollback {deployId} 201 and the new deploy (trigger rollback, the old build)
 * Errors are Render's error object `{id, message}`: 400 (no deployId, a deploy that never went live),
 * 401 for a wrong key, 404 (unknown service or deploy), and 409, 429 with Retry-After (Render
 * documents Ratelimit-* headers; the test adds Retry-After), 5xx queued with `failNext`.
 *
 * A new deploy moves on one step each time the service's deploys are read: build_in_progress,
 * update_in_progress, then live (the live one it replaces becomes deactivated), or the failure a test
 * asked for with `failNextDeploy` (build_failed at the build, update_failed, canceled or deactivated at
 * the update), or with `hold` stays update_in_progress.
 *
 * References: https://api-docs.render.com/reference/rollback-deploy, .../list-deploys,
 * .../retrieve-deploy, .../retrieve-service, .../pagination, .../rate-limiting; the Deploy schema and
 * its statuses and triggers as in github.com/render-oss/cli pkg/client/types_gen.go;
 * https://render.com/docs/rollbacks (a rollback reuses the target deploy's build).
 */
import { randomBytes } from 'node:crypto';
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export interface RenderDeploy {
  id: string;
  commit?: { id: string; message: string; createdAt: string };
  image?: { ref: string; sha: string; registryCredential?: string };
  status: string;
  trigger: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface RenderService {
  id: string;
  name: string;
  type: string;
  autoDeploy: 'yes' | 'no';
  branch: string;
  repo: string;
  suspended: 'suspended' | 'not_suspended';
  createdAt: string;
  updatedAt: string;
  dashboardUrl: string;
}

type Fate = 'live' | 'build_failed' | 'update_failed' | 'canceled' | 'deactivated' | 'hold';
const UNDER_WAY = ['created', 'queued', 'build_in_progress', 'update_in_progress', 'pre_deploy_in_progress'];

const renderId = (prefix: string) => `${prefix}-${randomBytes(10).toString('hex')}`;

export class RenderEmulator extends HttpEmulator {
  readonly services = new Map<string, { service: RenderService; deploys: RenderDeploy[] }>();
  private readonly fates = new Map<string, Fate>();
  private readonly failing = new Map<string, Fate>();
  private clock = Date.now();

  constructor(token: string) {
    super('Render', token, () => ({ status: 401, body: { id: 'unauthorized', message: 'unauthorized' } }));
    this.route('GET', '/v1/services/:serviceId', (_r, p) => this.withService(p.serviceId!, (s) => ({ status: 200, body: s.service })));
    this.route('GET', '/v1/services/:serviceId/deploys', (r, p) => this.withService(p.serviceId!, (s) => this.list(r, s.deploys)));
    this.route('GET', '/v1/services/:serviceId/deploys/:deployId', (_r, p) =>
      this.withService(p.serviceId!, (s) => {
        const found = s.deploys.find((d) => d.id === p.deployId);
        return found ? { status: 200, body: found } : notFound('deploy not found');
      }),
    );
    this.route('POST', '/v1/services/:serviceId/rollback', (r, p) => this.withService(p.serviceId!, (s) => this.rollback(r, s.deploys), false));
  }

  addService(fields: { name: string; autoDeploy: 'yes' | 'no' }): RenderService {
    const at = new Date(Date.now() - 86_400_000).toISOString();
    const id = `srv-${randomBytes(10).toString('hex')}`;
    const service: RenderService = {
      id,
      name: fields.name,
      type: 'web_service',
      autoDeploy: fields.autoDeploy,
      branch: 'main',
      repo: 'https://github.com/example/rose-the-healer-shaman',
      suspended: 'not_suspended',
      createdAt: at,
      updatedAt: at,
      dashboardUrl: `https://dashboard.render.com/web/${id}`,
    };
    this.services.set(id, { service, deploys: [] });
    return service;
  }

  /** A deploy in the service's history; `minutesAgo` orders it. */
  addDeploy(serviceId: string, fields: { status: string; minutesAgo: number; commit?: string; message?: string; image?: { ref: string; sha: string }; trigger?: string }): RenderDeploy {
    const at = new Date(Date.now() - fields.minutesAgo * 60_000).toISOString();
    const deploy: RenderDeploy = {
      id: renderId('dep'),
      ...(fields.commit ? { commit: { id: fields.commit, message: fields.message ?? '', createdAt: at } } : {}),
      ...(fields.image ? { image: fields.image } : {}),
      status: fields.status,
      trigger: fields.trigger ?? 'new_commit',
      createdAt: at,
      updatedAt: at,
      startedAt: at,
      ...(UNDER_WAY.includes(fields.status) ? {} : { finishedAt: at }),
    };
    this.services.get(serviceId)!.deploys.push(deploy);
    return deploy;
  }

  deploysOf(serviceId: string): RenderDeploy[] {
    return [...this.services.get(serviceId)!.deploys].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** The next deploy made for the service ends `fate` instead of live (`hold`: never finishes). */
  failNextDeploy(serviceId: string, fate: Exclude<Fate, 'live'>): void {
    this.failing.set(serviceId, fate);
  }

  /** The requests that changed something (POST, PATCH, PUT, DELETE). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  private now(): string {
    this.clock = Math.max(Date.now(), this.clock + 1);
    return new Date(this.clock).toISOString();
  }

  private withService(serviceId: string, answer: (s: { service: RenderService; deploys: RenderDeploy[] }) => Reply, read = true): Reply {
    const found = this.services.get(serviceId);
    if (!found) return notFound('service not found');
    // Answer with the state as it is now, then let time pass: each read sees one step more.
    const reply = structuredClone(answer(found));
    if (read) this.tick(found.deploys);
    return reply;
  }

  private tick(deploys: RenderDeploy[]): void {
    for (const d of deploys.filter((x) => UNDER_WAY.includes(x.status))) {
      const fate = this.fates.get(d.id) ?? 'live';
      d.updatedAt = this.now();
      if (d.status !== 'update_in_progress') {
        d.status = fate === 'build_failed' ? 'build_failed' : 'update_in_progress';
      } else if (fate !== 'hold') {
        d.status = fate;
        if (fate === 'live') {
          for (const old of deploys) if (old !== d && old.status === 'live') old.status = 'deactivated';
        }
      }
      if (!UNDER_WAY.includes(d.status)) d.finishedAt = d.updatedAt;
    }
  }

  private list(request: RecordedRequest, deploys: RenderDeploy[]): Reply {
    const limit = request.query.has('limit') ? Number(request.query.get('limit')) : 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return { status: 400, body: { id: 'invalid_limit', message: 'limit must be between 1 and 100' } };
    const sorted = [...deploys].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const cursor = request.query.get('cursor');
    const start = cursor ? sorted.findIndex((d) => cursorOf(d) === cursor) + 1 : 0;
    if (cursor && start === 0) return { status: 400, body: { id: 'invalid_cursor', message: 'invalid cursor' } };
    return { status: 200, body: sorted.slice(start, start + limit).map((deploy) => ({ cursor: cursorOf(deploy), deploy })) };
  }

  private rollback(request: RecordedRequest, deploys: RenderDeploy[]): Reply {
    const deployId = (request.body as { deployId?: unknown } | null)?.deployId;
    if (typeof deployId !== 'string' || deployId === '') return { status: 400, body: { id: 'invalid_request', message: 'deployId is required' } };
    const target = deploys.find((d) => d.id === deployId);
    if (!target) return notFound('deploy not found');
    if (target.status !== 'live' && target.status !== 'deactivated') return { status: 400, body: { id: 'invalid_deploy', message: 'cannot roll back to a deploy that never went live' } };
    const at = this.now();
    const made: RenderDeploy = {
      id: renderId('dep'),
      ...(target.commit ? { commit: target.commit } : {}),
      ...(target.image ? { image: target.image } : {}),
      status: 'build_in_progress',
      trigger: 'rollback',
      createdAt: at,
      updatedAt: at,
      startedAt: at,
    };
    const serviceId = [...this.services.entries()].find(([, s]) => s.deploys === deploys)![0];
    const fate = this.failing.get(serviceId);
    if (fate) {
      this.failing.delete(serviceId);
      this.fates.set(made.id, fate);
    }
    deploys.push(made);
    return { status: 201, body: structuredClone(made) };
  }
}

function notFound(message: string): Reply {
  return { status: 404, body: { id: 'not_found', message } };
}

function cursorOf(d: RenderDeploy): string {
  return Buffer.from(d.id).toString('base64');
}
