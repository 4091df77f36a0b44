/**
 * The sandbox's weighted router: it splits traffic between versions by weight (smooth weighted
 * round-robin, as nginx does, so a 50/50 split is exact), proxies to the chosen version's replicas,
 * and serves an admin API to read and set weights, instance counts and faults, and (through
 * sandbox/platform-routes.ts) the app's config, secret versions and restarts. Every change it applies
 * goes into a change log; a repeated Idempotency-Key returns the first answer and applies nothing, even
 * while the first is still being applied (a restart takes seconds; a client may retry meanwhile).
 */
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS, type Deployment } from './deployment.ts';
import { badRequest, close, HttpError, listen, readJson, sendJson } from './http.ts';
import type { Platform } from './platform.ts';
import { platformWrite, replicaHealth } from './platform-routes.ts';

export interface RouterChange {
  id: number;
  at: string;
  kind: 'weights' | 'instances' | 'fault' | 'config' | 'secret' | 'restart' | 'circuit-breaker' | 'memory';
  before: unknown;
  after: unknown;
  actor: string;
  idempotencyKey: string | null;
}

interface Remembered {
  bodyHash: string;
  /** The first request's answer; pending while it is still being applied. */
  answer: Promise<Record<string, unknown>>;
}

/** The memory use each version reports until the memory switch sets another (a healthy service). */
const BASELINE_MEMORY_USAGE = 0.4;

export class Router {
  readonly changes: RouterChange[] = [];
  /** Messages posted to /hooks/notify: the sandbox stands in for a Slack incoming webhook. */
  readonly notifications: unknown[] = [];
  private readonly current = new Map<string, number>();
  private readonly cursor = new Map<string, number>();
  private readonly idempotency = new Map<string, Remembered>();
  private readonly registry = new Registry();
  private readonly requests: Counter<'version' | 'status'>;
  private readonly latency: Histogram<'version'>;
  /**
   * Signals seed 000's other automatic triggers read (rollbackWatchdog's circuit-breaker and memory
   * rules), switched like faults: a feature's circuit breaker, open or closed, and each version's
   * memory use as a fraction of its limit.
   */
  private readonly breakers = new Map<string, boolean>([['grok', false]]);
  private readonly memoryUsage = new Map<string, number>();
  private server?: Server;
  /** Until this instant, admin writes (to `outageRoutes`, or all) answer 503: a control-plane outage to practise on. */
  private outageUntil = 0;
  private outageRoutes: string[] | null = null;
  /** Admin writes answer this much later than they apply: a slow control plane (or a lost answer). */
  private answerDelayMs = 0;
  /** Requests answered from the idempotency memory instead of being applied again. */
  replays = 0;
  port = 0;

  constructor(
    private readonly deployments: Map<string, Deployment>,
    readonly weights: Record<string, number>,
    private readonly platform: Platform,
  ) {
    this.requests = new Counter({
      name: 'sandbox_router_requests_total',
      help: 'Requests through the router, by version served and status code',
      labelNames: ['version', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'sandbox_router_request_duration_seconds',
      help: 'Time from request to response through the router',
      labelNames: ['version'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    const { breakers, memoryUsage } = this;
    new Gauge({
      name: 'sandbox_circuit_breaker_open',
      help: "1 while a feature's circuit breaker is open (calls to its upstream short-circuited), else 0",
      labelNames: ['feature'],
      registers: [this.registry],
      collect() {
        for (const [feature, open] of breakers) this.set({ feature }, open ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sandbox_memory_usage_ratio',
      help: "memory in use as a fraction of each version's limit",
      labelNames: ['version'],
      registers: [this.registry],
      collect() {
        for (const version of deployments.keys()) this.set({ version }, memoryUsage.get(version) ?? BASELINE_MEMORY_USAGE);
      },
    });
  }

  async start(port: number): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.port = await listen(this.server, port);
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  state() {
    const instances = Object.fromEntries([...this.deployments].map(([version, d]) => [version, d.replicas.length]));
    return { weights: { ...this.weights }, instances };
  }

  /** Smooth weighted round-robin over versions that have weight and at least one replica. */
  private pickVersion(): string | undefined {
    let best: string | undefined;
    let total = 0;
    for (const [version, weight] of Object.entries(this.weights)) {
      if (weight <= 0 || (this.deployments.get(version)?.replicas.length ?? 0) === 0) continue;
      total += weight;
      const value = (this.current.get(version) ?? 0) + weight;
      this.current.set(version, value);
      if (best === undefined || value > (this.current.get(best) ?? 0)) best = version;
    }
    if (best !== undefined) this.current.set(best, (this.current.get(best) ?? 0) - total);
    return best;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.url?.startsWith('/admin/')) return await this.handleAdmin(req, res);
      if (req.method === 'POST' && req.url === '/hooks/notify') {
        this.notifications.push(await readJson(req));
        return sendJson(res, 200, { ok: true });
      }
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(await this.registry.metrics());
        return;
      }
      if (req.url === '/health') {
        const serving = Object.entries(this.weights).some(([v, w]) => w > 0 && (this.deployments.get(v)?.replicas.length ?? 0) > 0);
        return sendJson(res, serving ? 200 : 503, { status: serving ? 'ok' : 'no version can serve', ...this.state() });
      }
      this.proxy(req, res);
    } catch (err) {
      sendJson(res, err instanceof HttpError ? err.status : 500, { error: (err as Error).message });
    }
  }

  private proxy(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const version = this.pickVersion();
    const deployment = version ? this.deployments.get(version) : undefined;
    const replicas = deployment?.replicas ?? [];
    const record = (status: number) => {
      this.requests.inc({ version: version ?? 'none', status: String(status) });
      this.latency.observe({ version: version ?? 'none' }, (performance.now() - started) / 1000);
    };
    if (!version || replicas.length === 0) {
      record(503);
      return sendJson(res, 503, { error: 'no replica available' });
    }
    const index = (this.cursor.get(version) ?? 0) % replicas.length;
    this.cursor.set(version, index + 1);
    const replica = replicas[index]!;
    const upstream = request({ host: '127.0.0.1', port: replica.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      // Connection headers are hop-by-hop: a replica closing its connection to us is not the client's business.
      const headers = { ...answer.headers };
      delete headers.connection;
      delete headers['keep-alive'];
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
      answer.on('end', () => record(answer.statusCode ?? 502));
    });
    upstream.on('error', () => {
      record(502);
      if (!res.headersSent) sendJson(res, 502, { error: `replica ${version}#${replica.id} did not answer` });
    });
    req.pipe(upstream);
  }

  private async handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url?.split('?')[0] ?? '';
    const route = `${req.method} ${path}`;
    if (route === 'GET /admin/state') return sendJson(res, 200, this.state());
    if (route === 'GET /admin/changes') return sendJson(res, 200, { changes: this.changes, replays: this.replays });
    if (route === 'GET /admin/config') return sendJson(res, 200, { config: this.platform.configView() });
    if (route === 'GET /admin/secrets') return sendJson(res, 200, { secrets: this.platform.secretsView() });
    if (route === 'GET /admin/replicas') return sendJson(res, 200, { replicas: await replicaHealth(this.deployments) });
    if (route === 'PUT /admin/delay') {
      const { ms } = (await readJson(req)) as { ms?: unknown };
      if (typeof ms !== 'number' || ms < 0 || ms > 600_000) throw badRequest('ms must be 0 to 600000');
      this.answerDelayMs = ms;
      return sendJson(res, 200, { answerDelayMs: ms });
    }
    if (route === 'GET /admin/faults') {
      const faults = Object.fromEntries([...this.deployments].map(([version, d]) => [version, { ...d.fault }]));
      const memory = Object.fromEntries([...this.deployments.keys()].map((version) => [version, this.memoryUsage.get(version) ?? BASELINE_MEMORY_USAGE]));
      return sendJson(res, 200, { faults, breakers: Object.fromEntries(this.breakers), memory });
    }
    if (route === 'GET /admin/notifications') return sendJson(res, 200, { notifications: this.notifications });
    if (route === 'PUT /admin/outage') {
      const { seconds, routes } = (await readJson(req)) as { seconds?: unknown; routes?: unknown };
      if (typeof seconds !== 'number' || seconds < 0 || seconds > 3600) throw badRequest('seconds must be 0 to 3600');
      if (routes !== undefined && !(Array.isArray(routes) && routes.every((r) => typeof r === 'string'))) {
        throw badRequest('routes must be a list like ["weights", "instances"]');
      }
      this.outageUntil = Date.now() + seconds * 1000;
      this.outageRoutes = (routes as string[] | undefined) ?? null;
      return sendJson(res, 200, { outageUntil: new Date(this.outageUntil).toISOString(), routes: this.outageRoutes ?? 'all' });
    }
    // An outage of "secrets" covers /admin/secrets/<NAME>/versions/<n> too: routes name the first segment.
    const inOutage = Date.now() < this.outageUntil && (this.outageRoutes?.includes(path.split('/')[2] ?? '') ?? true);
    if (inOutage) return sendJson(res, 503, { error: 'router control plane unavailable (sandbox outage)' });
    const body = await readJson(req).catch(() => {
      throw badRequest('body is not valid JSON');
    });
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null;
    const actor = typeof req.headers['x-actor'] === 'string' ? req.headers['x-actor'] : 'anonymous';
    const bodyHash = createHash('sha256').update(route).update(JSON.stringify(body)).digest('hex');
    if (key) {
      const seen = this.idempotency.get(key);
      if (seen && seen.bodyHash !== bodyHash) return sendJson(res, 409, { error: `idempotency key ${key} was used for a different change` });
      if (seen) {
        this.replays += 1;
        return sendJson(res, 200, { ...(await seen.answer), replayed: true });
      }
    }
    const applying = this.apply(req.method ?? '', path, body, actor, key);
    if (key) this.idempotency.set(key, { bodyHash, answer: applying });
    // A refused or failed change is not remembered: the same key may try again.
    const answer = await applying.catch((err: unknown) => {
      if (key && this.idempotency.get(key)?.answer === applying) this.idempotency.delete(key);
      throw err;
    });
    if (this.answerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.answerDelayMs));
    sendJson(res, 200, answer);
  }

  private async apply(method: string, path: string, body: unknown, actor: string, key: string | null): Promise<Record<string, unknown>> {
    const route = `${method} ${path}`;
    let change: RouterChange | null;
    if (route === 'PUT /admin/weights') change = await this.setWeights(body, actor, key);
    else if (route === 'PUT /admin/instances') change = await this.setInstances(body, actor, key);
    else if (route === 'PUT /admin/fault') change = await this.setFault(body, actor, key);
    else if (route === 'PUT /admin/circuit-breaker') change = this.setBreaker(body, actor, key);
    else if (route === 'PUT /admin/memory') change = this.setMemoryUsage(body, actor, key);
    else {
      const applied = await platformWrite(this.platform, this.deployments, method, path, body);
      if (!applied) throw new HttpError(404, `no admin route ${route}`);
      return { change: this.record(applied.kind, applied.before, applied.after, actor, key), state: this.state(), ...applied.answer };
    }
    return { change, state: this.state() };
  }

  private record(kind: RouterChange['kind'], before: unknown, after: unknown, actor: string, key: string | null): RouterChange | null {
    if (JSON.stringify(before) === JSON.stringify(after)) return null; // nothing to apply, nothing to log
    const change = { id: this.changes.length + 1, at: new Date().toISOString(), kind, before, after, actor, idempotencyKey: key };
    this.changes.push(change);
    return change;
  }

  private knownVersion(version: unknown): string {
    if (typeof version !== 'string' || !this.deployments.has(version)) {
      throw badRequest(`unknown version ${JSON.stringify(version)}; must be one of: ${[...this.deployments.keys()].join(', ')}`);
    }
    return version;
  }

  private async setWeights(body: unknown, actor: string, key: string | null): Promise<RouterChange | null> {
    const weights = (body as { weights?: unknown }).weights;
    if (!weights || typeof weights !== 'object') throw badRequest('expected {"weights": {"<version>": <percent>, ...}}');
    const next: Record<string, number> = {};
    for (const version of this.deployments.keys()) {
      const value = (weights as Record<string, unknown>)[version];
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 100) {
        throw badRequest(`weights.${version} must be an integer from 0 to 100`);
      }
      next[version] = value as number;
    }
    for (const version of Object.keys(weights)) this.knownVersion(version);
    const sum = Object.values(next).reduce((a, b) => a + b, 0);
    if (sum !== 100) throw badRequest(`weights must add up to 100, not ${sum}`);
    const before = { ...this.weights };
    Object.assign(this.weights, next);
    this.current.clear();
    return this.record('weights', before, { ...this.weights }, actor, key);
  }

  private async setInstances(body: unknown, actor: string, key: string | null): Promise<RouterChange | null> {
    const { version, count } = body as { version?: unknown; count?: unknown };
    const deployment = this.deployments.get(this.knownVersion(version))!;
    if (!Number.isInteger(count) || (count as number) < 0 || (count as number) > 20) {
      throw badRequest('count must be an integer from 0 to 20');
    }
    const before = { version, count: deployment.replicas.length };
    await deployment.scale(count as number);
    return this.record('instances', before, { version, count }, actor, key);
  }

  private async setFault(body: unknown, actor: string, key: string | null): Promise<RouterChange | null> {
    const { version, errorRatePct = 0, addedLatencyMs = 0 } = body as { version?: unknown; errorRatePct?: unknown; addedLatencyMs?: unknown };
    const deployment = this.deployments.get(this.knownVersion(version))!;
    if (typeof errorRatePct !== 'number' || errorRatePct < 0 || errorRatePct > 100) throw badRequest('errorRatePct must be 0 to 100');
    if (typeof addedLatencyMs !== 'number' || addedLatencyMs < 0 || addedLatencyMs > 30_000) throw badRequest('addedLatencyMs must be 0 to 30000');
    const before = { version, ...deployment.fault };
    await deployment.setFault({ errorRatePct, addedLatencyMs });
    return this.record('fault', before, { version, errorRatePct, addedLatencyMs }, actor, key);
  }

  /** {"feature": "grok", "open": true}: the feature's circuit breaker opens (or closes). */
  private setBreaker(body: unknown, actor: string, key: string | null): RouterChange | null {
    const { feature, open } = body as { feature?: unknown; open?: unknown };
    if (typeof feature !== 'string' || !/^[a-z0-9_-]{1,64}$/.test(feature)) throw badRequest('feature must be a feature name like "grok"');
    if (typeof open !== 'boolean') throw badRequest('open must be true or false');
    const before = { feature, open: this.breakers.get(feature) ?? false };
    this.breakers.set(feature, open);
    return this.record('circuit-breaker', before, { feature, open }, actor, key);
  }

  /** {"version": "stable", "ratio": 0.97}: the version reports this fraction of its memory limit in use. */
  private setMemoryUsage(body: unknown, actor: string, key: string | null): RouterChange | null {
    const { version, ratio } = body as { version?: unknown; ratio?: unknown };
    const known = this.knownVersion(version);
    if (typeof ratio !== 'number' || ratio < 0 || ratio > 1) throw badRequest('ratio must be a number from 0 to 1');
    const before = { version: known, ratio: this.memoryUsage.get(known) ?? BASELINE_MEMORY_USAGE };
    this.memoryUsage.set(known, ratio);
    return this.record('memory', before, { version: known, ratio }, actor, key);
  }
}
