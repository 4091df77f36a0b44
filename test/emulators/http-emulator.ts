/**
 * What every emulator of a platform API in test/emulators shares: a real HTTP server on a free
 * loopback port, JSON in and out, a log of the requests it answered (method, path, body, headers),
 * bearer-token checking, and failures queued by a test for the next matching requests (401, 404,
 * 409, 429 with Retry-After, 5xx), so a provider's handling of each is shown against real HTTP.
 * Each emulator implements only the documented calls our providers make, and cites the reference.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  at: number;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A route handler: returns the reply, or null to fall through to 404. */
export type Handler = (request: RecordedRequest, params: Record<string, string>) => Reply | Promise<Reply>;

interface QueuedFailure {
  method?: string;
  pathPattern?: RegExp;
  reply: Reply;
  times: number;
}

export class HttpEmulator {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: { method: string; pattern: RegExp; keys: string[]; handler: Handler }[] = [];
  private readonly failures: QueuedFailure[] = [];
  private server: Server | null = null;
  url = '';

  /**
   * `token`: what every request's Authorization header must carry after `scheme` (401 otherwise); null
   * accepts any. Statuspage, for one, uses `OAuth <key>` where most use `Bearer <token>`.
   */
  constructor(
    private readonly name: string,
    private readonly token: string | null,
    private readonly unauthorized: (request: RecordedRequest) => Reply = () => ({ status: 401, body: { error: 'unauthorized' } }),
    private readonly scheme = 'Bearer',
  ) {}

  /** `path` with `:name` parameters (matching one segment) or `*name` (the rest of the path). */
  route(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/([:*])([A-Za-z_]+)/g, (_, kind: string, key: string) => {
        keys.push(key);
        return kind === ':' ? '([^/]+)' : '(.+)';
      })}$`,
    );
    this.routes.push({ method, pattern, keys, handler });
    return this;
  }

  /** The next `times` requests matching `method` and `path` get `reply` instead of an answer. */
  failNext(reply: Reply, match: { method?: string; path?: RegExp; times?: number } = {}): void {
    this.failures.push({ method: match.method, pathPattern: match.path, reply, times: match.times ?? 1 });
  }

  /** Requests answered so far that match, e.g. count of PATCHes of one service. */
  calls(method: string, path?: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && (!path || path.test(r.path)));
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', 'http://emulator');
    let body: unknown = null;
    try {
      body = text ? (JSON.parse(text) as unknown) : null;
    } catch {
      body = text;
    }
    const request: RecordedRequest = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query: url.searchParams, headers: req.headers, body, at: Date.now() };
    const reply = await this.answer(request).catch((err: Error): Reply => ({ status: 500, body: { error: `${this.name} emulator: ${err.message}` } }));
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }

  private async answer(request: RecordedRequest): Promise<Reply> {
    const failure = this.failures.find((f) => (!f.method || f.method === request.method) && (!f.pathPattern || f.pathPattern.test(request.path)));
    if (failure) {
      if (--failure.times <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      this.requests.push(request);
      return failure.reply;
    }
    if (this.token !== null && request.headers.authorization !== `${this.scheme} ${this.token}`) return this.unauthorized(request);
    for (const route of this.routes) {
      if (route.method !== request.method) continue;
      const match = route.pattern.exec(request.path);
      if (!match) continue;
      this.requests.push(request);
      const params = Object.fromEntries(route.keys.map((key, i) => [key, match[i + 1]!]));
      return route.handler(request, params);
    }
    this.requests.push(request);
    return { status: 404, body: { error: `${this.name} emulator: no route ${request.method} ${request.path}` } };
  }
}
