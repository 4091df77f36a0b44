/**
 * A Fly.io app's logs as a source of log lines for log checks: what seeds 000 and 001 read by hand
 * with `fly logs -a <app>`, through the logs endpoint flyctl polls. The endpoint takes no time range:
 * it pages forward with `next_token` (empty for the first page), so a window is read from the first
 * page on, each entry kept when its timestamp is inside the window, until a page comes back empty
 * (caught up, where flyctl would wait and poll), an entry is past the window's end, the token stops
 * moving, or the settings' page cap is reached. `instance` and `region` narrow it, as
 * `fly logs -i/-r` do. Each entry is one line: its level, then its message.
 *
 * API reference: Fly publishes no reference for this endpoint; its shape is the one flyctl's client
 * reads, in fly-go (https://github.com/superfly/fly-go/blob/main/resource_logs.go, GetAppLogs):
 *   GET https://api.fly.io/api/v1/apps/{app_name}/logs?next_token=&instance=&region=   Authorization: Bearer <token>
 *   -> {data: [{id, attributes: {timestamp, message, level, instance, region, meta}}], meta: {next_token}}
 * and flyctl's polling loop (https://github.com/superfly/flyctl/blob/master/logs/polling.go: keep the
 * last non-empty next_token, back off on an empty page). `fly logs` options: https://fly.io/docs/flyctl/logs/
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { bearerToken, jsonApi } from '../http-api.ts';
import type { LogLine, LogQuery, LogsClient, LogWindow, ProviderClient, ProviderContext, ProviderDefinition } from '../types.ts';

const API = 'Fly logs API';

export const settingsSchema = z.strictObject({
  app: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a Fly app name: lowercase letters, digits and hyphens').describe('the Fly app whose logs are read, e.g. clinic-app'),
  baseUrl: z.url().default('https://api.fly.io').describe('Fly API endpoint of the logs endpoint (not the Machines API\'s)'),
  tokenEnv: envVarName.describe('environment variable holding a Fly.io API token (fly tokens create readonly), sent as Authorization: Bearer'),
  maxPages: z.int().min(1).max(1000).default(50).describe('requests one check may make; a window with more is not read whole, and the check fails unless it already counted too many'),
  requestTimeoutMs: z.int().positive().default(15_000).describe('timeout of one API request'),
});
export type Settings = z.infer<typeof settingsSchema>;

const logsPage = z.looseObject({
  data: z
    .array(
      z.looseObject({
        id: z.string().optional(),
        attributes: z.looseObject({ timestamp: z.string(), message: z.string().default(''), level: z.string().default(''), instance: z.string().optional(), region: z.string().optional() }),
      }),
    )
    .nullish(),
  meta: z.looseObject({ next_token: z.string().nullish() }).nullish(),
});

function flyLogs(settings: Settings, context: ProviderContext): LogsClient {
  const advise = (status: number): string | undefined => {
    if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
    if (status === 401) return `The token in ${settings.tokenEnv} was refused (expired, revoked or not for this organization); make one with \`fly tokens create readonly\` and set ${settings.tokenEnv}.`;
    if (status === 404) return `No Fly app '${settings.app}' is visible to this token; check settings.app (\`fly apps list\`).`;
    if (status >= 500) return "Fly.io's side failed; see https://status.flyio.net: the health check can be run again.";
    return undefined;
  };
  // The token is read at each request, so a rotated secret is picked up and none is kept in the client.
  const api = jsonApi({ baseUrl: settings.baseUrl, what: API, headers: bearerToken(context, settings.tokenEnv), timeoutMs: settings.requestTimeoutMs, advise });
  const path = (token: string, query: LogQuery) => {
    const params = new URLSearchParams({ next_token: token, ...(query.instance ? { instance: query.instance } : {}), ...(query.region ? { region: query.region } : {}) });
    return `/api/v1/apps/${encodeURIComponent(settings.app)}/logs?${params}`;
  };

  return {
    async readWindow(query: LogQuery, span, signal): Promise<LogWindow> {
      const lines: LogLine[] = [];
      let token = '';
      for (let pages = 1; pages <= settings.maxPages; pages++) {
        const { body } = await api('GET', path(token, query), { schema: logsPage, signal });
        const data = body.data ?? [];
        if (data.length === 0) return { lines, pages, cutShort: null }; // caught up: nothing logged since
        let pastTheEnd = false;
        for (const { id, attributes: entry } of data) {
          const at = Date.parse(entry.timestamp);
          if (Number.isNaN(at)) throw new Error(`${API} GET ${path(token, query)}: entry ${id ?? '?'} has timestamp '${entry.timestamp}', which is not a time`);
          if (at > span.untilMs) pastTheEnd = true;
          else if (at >= span.sinceMs) lines.push({ timestamp: entry.timestamp, severity: entry.level, text: entry.message });
        }
        const next = body.meta?.next_token ?? '';
        if (pastTheEnd || next === '' || next === token) return { lines, pages, cutShort: null };
        token = next;
      }
      return { lines, pages: settings.maxPages, cutShort: `the Fly logs API still had pages after ${settings.maxPages} (settings.maxPages)` };
    },
  };
}

function create(settings: Settings, context: ProviderContext): ProviderClient<'logs'> {
  return { logs: flyLogs(settings, context) };
}

export const flyLogsProvider: ProviderDefinition<'logs', Settings> = {
  id: 'fly-logs',
  description: "A Fly.io app's logs (the logs endpoint flyctl polls, paged with next_token): the lines of a check's window, of one instance or region if asked, for log checks that count lines matching a pattern (seeds 000 and 001's fly logs | grep ERROR)",
  capabilities: ['logs'],
  settingsSchema,
  example: { app: 'clinic-app', tokenEnv: 'FLY_API_TOKEN' },
  logQuery: ['instance', 'region'],
  create,
};
