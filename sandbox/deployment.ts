/**
 * One version (stable or canary) of the sandbox's HTTP service, as a deployment of N replicas. Each
 * replica is a real process (sandbox/replica.mjs) on its own loopback port that loads the app's
 * config and secrets when it starts; scaling starts or stops processes, a restart replaces them one
 * by one. The deployment's control port serves /health (503 when no replica runs) and Prometheus
 * /metrics, counted from what the replicas report; `fault` makes the version misbehave.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { close, listen, sendJson } from './http.ts';
import type { Boot } from './platform.ts';
import { pushFault, spawnReplica, stopReplica, type Fault, type Replica } from './replica-process.ts';

export type { Fault, Replica } from './replica-process.ts';

/** Deregistration delay: a request the router sent to a replica just before it left the list still reaches it. */
const DRAIN_MS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10];

export interface DeploymentOptions {
  /** What a replica starting now loads (the platform's config and secrets). */
  boot(): Boot;
  /** Where replicas read kill switches; null: kill switches off. */
  redis: { url: string; killSwitchPrefix: string } | null;
  /** The flagd file replicas evaluate on GET /api/flags; null: none. */
  flagdFile: string | null;
  /** Base handling time; real services are not instant, and a histogram needs spread. */
  baseLatencyMs?: number;
}

export class Deployment {
  readonly replicas: Replica[] = [];
  private currentFault: Fault = { errorRatePct: 0, addedLatencyMs: 0 };
  private nextReplicaId = 1;
  /** Scaling, restarts and stopping run one at a time: each works on the list the one before left. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly registry = new Registry();
  private readonly requests: Counter<'version' | 'status'>;
  private readonly latency: Histogram<'version'>;
  private control?: Server;
  controlPort = 0;

  constructor(
    readonly version: string,
    private readonly options: DeploymentOptions,
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

  get fault(): Fault {
    return this.currentFault;
  }

  /** Each replica applies it when its IPC message arrives; `setFault` resolves once all have. */
  set fault(fault: Fault) {
    void this.setFault(fault);
  }

  async setFault(fault: Fault): Promise<void> {
    this.currentFault = { ...fault };
    await Promise.all(this.replicas.map((replica) => pushFault(replica, this.currentFault)));
  }

  /** Starts or stops replica processes until `count` run; resolves once the new ones listen and the old ones have exited. */
  scale(count: number): Promise<void> {
    return this.serially(async () => {
      const starting = await Promise.allSettled(Array.from({ length: Math.max(0, count - this.replicas.length) }, () => this.spawn()));
      for (const started of starting) if (started.status === 'fulfilled') this.replicas.push(started.value);
      const surplus = this.replicas.splice(count);
      if (surplus.length > 0) await sleep(DRAIN_MS);
      await Promise.all(surplus.map(stopReplica));
      const failed = starting.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
    });
  }

  /**
   * Rolling restart: for each replica, a new process starts (loading the config and secrets current
   * now), takes its place in the list once it listens, and only then the old one stops. The version
   * keeps serving throughout. Resolves with the new replica list.
   */
  restart(): Promise<Replica[]> {
    return this.serially(async () => {
      for (const old of [...this.replicas]) {
        const fresh = await this.spawn();
        const index = this.replicas.indexOf(old);
        // The old one may have died meanwhile (and left the list): the new one still takes a place.
        if (index >= 0) this.replicas[index] = fresh;
        else this.replicas.push(fresh);
        await sleep(DRAIN_MS);
        await stopReplica(old);
      }
      return [...this.replicas];
    });
  }

  async stop(): Promise<void> {
    await this.scale(0);
    if (this.control) await close(this.control);
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async spawn(): Promise<Replica> {
    const { config, secrets, secretVersions } = this.options.boot();
    const fault = this.currentFault;
    const replica = await spawnReplica(
      {
        version: this.version,
        id: this.nextReplicaId++,
        baseLatencyMs: this.options.baseLatencyMs ?? 8,
        fault,
        env: { ...config, ...secrets },
        configKeys: Object.keys(config),
        secretVersions,
        redis: this.options.redis,
        flagdFile: this.options.flagdFile,
      },
      (status, seconds) => {
        this.requests.inc({ version: this.version, status: String(status) });
        this.latency.observe({ version: this.version }, seconds);
      },
    );
    // A replica that dies by itself stops being routed to.
    replica.process.once('exit', () => {
      const index = this.replicas.indexOf(replica);
      if (index >= 0) this.replicas.splice(index, 1);
    });
    if (this.currentFault !== fault) await pushFault(replica, this.currentFault); // changed while it started
    return replica;
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
}
