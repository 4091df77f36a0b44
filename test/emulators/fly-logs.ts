/**
 * An emulator of Fly's app logs endpoint, as flyctl's client (fly-go) calls it and reads its answer:
 *   GET /api/v1/apps/{app_name}/logs?next_token=&instance=&region=    Authorization: Bearer <token>
 *   -> {data: [{id, attributes: {timestamp, message, level, instance, region, meta}}], meta: {next_token}}
 * It keeps each app's lines oldest first with nanosecond timestamps (as Fly shows them). An empty
 * next_token starts at the oldest line it keeps; each page holds at most `pageSize` lines (100 by
 * default: the emulator's choice, Fly documents none) and names the token of the next one; a page
 * with no newer lines is empty and gives back the token it was asked with, where flyctl waits and
 * polls again. `instance` and `region` keep only that Machine's or region's lines. An app it does not
 * know is 404, a wrong bearer token 401; replies queued with `failNext` (503) come first.
 *
 * Reference (Fly publishes no reference for this endpoint):
 *   https://github.com/superfly/fly-go/blob/main/resource_logs.go (GetAppLogs: the request and answer shapes)
 *   https://github.com/superfly/flyctl/blob/master/logs/polling.go (paging: keep the last non-empty next_token)
 *   https://github.com/superfly/flyctl/blob/master/logs/entry.go (an entry's fields)
 *   https://fly.io/docs/flyctl/logs/ (fly logs -i/--instance, -r/--region)
 */
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export interface EmulatedLogLine {
  id: string;
  /** Nanoseconds since the epoch: the page token is the one of the last line returned. */
  ns: bigint;
  timestamp: string;
  message: string;
  level: string;
  instance: string;
  region: string;
}

export class FlyLogsEmulator extends HttpEmulator {
  readonly apps = new Map<string, EmulatedLogLine[]>();
  pageSize = 100;
  private sequence = 0;

  constructor(token: string) {
    super('Fly logs', token, () => ({ status: 401, body: { error: 'You must be authenticated to view this.' } }));
    this.route('GET', '/api/v1/apps/:app/logs', (request, params) => this.page(params.app!, request));
  }

  addApp(app: string): void {
    if (!this.apps.has(app)) this.apps.set(app, []);
  }

  /** A line the app logs, at `at` (default now). */
  log(app: string, line: { message: string; level?: string; instance?: string; region?: string; at?: Date }): EmulatedLogLine {
    this.addApp(app);
    const ms = (line.at ?? new Date()).getTime();
    // A sequence in the sub-millisecond digits keeps lines logged in the same millisecond apart and in order.
    const ns = BigInt(ms) * 1_000_000n + BigInt(++this.sequence % 1_000_000);
    const stored: EmulatedLogLine = {
      id: `01J${String(this.sequence).padStart(23, '0')}`,
      ns,
      timestamp: `${new Date(ms).toISOString().slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`,
      message: line.message,
      level: line.level ?? 'info',
      instance: line.instance ?? '148ed193b95589',
      region: line.region ?? 'ams',
    };
    const lines = this.apps.get(app)!;
    lines.push(stored);
    lines.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
    return stored;
  }

  private page(app: string, request: RecordedRequest): Reply {
    const lines = this.apps.get(app);
    if (!lines) return { status: 404, body: { error: `Could not find App "${app}"` } };
    const token = request.query.get('next_token') ?? '';
    if (token !== '' && !/^\d+$/.test(token)) return { status: 400, body: { error: 'invalid next_token' } };
    const after = token === '' ? -1n : BigInt(token);
    const instance = request.query.get('instance');
    const region = request.query.get('region');
    const page = lines.filter((l) => l.ns > after && (!instance || l.instance === instance) && (!region || l.region === region)).slice(0, this.pageSize);
    const next = page.length > 0 ? String(page.at(-1)!.ns) : token;
    return {
      status: 200,
      body: {
        data: page.map((l) => ({ id: l.id, type: 'LogEntry', attributes: { timestamp: l.timestamp, message: l.message, level: l.level, instance: l.instance, region: l.region, meta: { instance: l.instance, region: l.region, event: { provider: 'app' } } } })),
        meta: { next_token: next },
      },
    };
  }
}
