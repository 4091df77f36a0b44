/**
 * One version (stable or canary) of the sandbox's HTTP service, as a deployment of N replicas. Each
 * replica is a real HTTP server on its own loopback port; scaling opens or closes replicas. The
 * deployment's control port serves /health (503 when no replica runs), Prometheus /metrics and the
 * fault switch that makes a version misbehave.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10];

export interface Fault {
  /** Percent of requests answered 500. */
  errorRatePct: number;
  /** Added to every request's handling time. */
  addedLatencyMs: number;
}

export interface Replica {
  id: number;
  port: number;
  server: Server;
}

export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Deployment {
  readonly replicas: Replica[] = [];
  fault: Fault = { errorRatePct: 0, addedLatencyMs: 0 };
  private nextReplicaId = 1;
  private errorBudget = 0;
  private readonly registry = new Registry();
  private readonly requests: Counter<'version' | 'status'>;
  private readonly latency: Histogram<'version'>;
  private control?: Server;
  controlPort = 0;

  constructor(
    readonly version: string,
    /** Base handling time; real services are not instant, and a histogram needs spread. */
    private readonly baseLatencyMs = 8,
  ) {
    this.requests = new Counter({
      name: 'sandbox_http_requests_total',
      help: 'Requests handled, by status code',
      labelNames: ['version', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'sandbox_http_request_duration_seconds',
      help: 'Request handling time',
      labelNames: ['version'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
  }

  async start(controlPort: number, replicas: number): Promise<void> {
    this.control = createServer((req, res) => void this.handleControl(req, res));
    this.controlPort = await listen(this.control, controlPort);
    await this.scale(replicas);
  }

  /** Opens or closes replicas until `count` run. */
  async scale(count: number): Promise<void> {
    while (this.replicas.length < count) {
      const server = createServer((req, res) => void this.handleRequest(req, res));
      const port = await listen(server, 0);
      this.replicas.push({ id: this.nextReplicaId++, port, server });
    }
    while (this.replicas.length > count) {
      const replica = this.replicas.pop();
      if (replica) await close(replica.server);
    }
  }

  /**
   * Errors are spread evenly (an error budget that accrues errorRatePct per request) rather than by
   * dice, so a 20% fault gives 20% errors over any few dozen requests and tests can be exact.
   */
  private shouldFail(): boolean {
    this.errorBudget += this.fault.errorRatePct / 100;
    if (this.errorBudget >= 1) {
      this.errorBudget -= 1;
      return true;
    }
    return false;
  }

  private async handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/health') return sendJson(res, 200, { version: this.version, status: 'ok' });
    const started = performance.now();
    // Spread handling time over a few buckets: base, base*2 or base*4, plus the fault's delay.
    const spread = [1, 1, 1, 2, 4][Math.floor(Math.random() * 5)] ?? 1;
    await sleep(this.baseLatencyMs * spread + this.fault.addedLatencyMs);
    const status = this.shouldFail() ? 500 : 200;
    this.requests.inc({ version: this.version, status: String(status) });
    this.latency.observe({ version: this.version }, (performance.now() - started) / 1000);
    sendJson(res, status, status === 200 ? { version: this.version, path: req.url } : { error: 'injected fault', version: this.version });
  }

  private async handleControl(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/health') {
      const ready = this.replicas.length > 0;
      return sendJson(res, ready ? 200 : 503, { version: this.version, replicas: this.replicas.length, ready });
    }
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(await this.registry.metrics());
      return;
    }
    sendJson(res, 404, { error: `no route ${req.method} ${req.url}` });
  }

  async stop(): Promise<void> {
    await this.scale(0);
    if (this.control) await close(this.control);
  }
}
