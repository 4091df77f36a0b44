/**
 * Google Cloud Logging as a source of log lines for log checks: what seed 002 does by hand with
 * `gcloud logging read "severity>=ERROR" --freshness=5m`, through the Logging API v2's entries.list.
 * A check's window becomes `timestamp>=` and `timestamp<=` clauses added to the settings' and the
 * check's filters; entries come oldest first, page by page (`pageToken`), until the API has no next
 * page or the settings' page cap is reached. A page may be empty and still name a next one (the API
 * had not finished searching): reading goes on.
 *
 * Each entry is one line: its severity, then its text: `textPayload`, else `jsonPayload.message`, else
 * the JSON payload (or `protoPayload`, as audit logs have) as JSON. So `pattern: ERROR` counts what
 * `gcloud logging read ... | grep ERROR` would, and a filter `severity>=ERROR` with no pattern counts
 * every error.
 *
 * API reference:
 *   entries.list  https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list
 *                 (POST /v2/entries:list; resourceNames, filter, orderBy "timestamp asc", pageSize at most 1000, pageToken;
 *                 answer {entries, nextPageToken}; "If a value for nextPageToken appears and the entries field is empty, it
 *                 means that the search found no log entries so far but it did not have time to search all the possible log entries")
 *   LogEntry      https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry (timestamp, severity, textPayload, jsonPayload, protoPayload)
 *   filters       https://cloud.google.com/logging/docs/view/logging-query-language (timestamp comparisons in RFC 3339)
 */
import { z } from 'zod';
import { bearerToken, jsonApi } from '../http-api.ts';
import type { LogLine, LogQuery, LogsClient, LogWindow, ProviderClient, ProviderContext, ProviderDefinition } from '../types.ts';
import { settingsSchema, type Settings } from './settings.ts';

const API = 'Cloud Logging';

const logEntry = z.looseObject({
  timestamp: z.string().optional(),
  severity: z.string().optional(),
  textPayload: z.string().optional(),
  jsonPayload: z.record(z.string(), z.unknown()).optional(),
  protoPayload: z.record(z.string(), z.unknown()).optional(),
});
const entriesPage = z.looseObject({ entries: z.array(logEntry).optional(), nextPageToken: z.string().optional() });
type LogEntry = z.infer<typeof logEntry>;

/** The text a check's pattern is matched against. */
function textOf(entry: LogEntry): string {
  if (entry.textPayload !== undefined) return entry.textPayload;
  const message = entry.jsonPayload?.message;
  if (typeof message === 'string') return message;
  const payload = entry.jsonPayload ?? entry.protoPayload;
  return payload ? JSON.stringify(payload) : '';
}

/** The filter entries.list is sent: the settings' and the check's, each parenthesised, and the window. */
export function windowFilter(filters: readonly (string | undefined)[], span: { sinceMs: number; untilMs: number }): string {
  const clauses = filters.filter((f): f is string => f !== undefined && f.trim() !== '').map((f) => `(${f})`);
  clauses.push(`timestamp>="${new Date(span.sinceMs).toISOString()}"`, `timestamp<="${new Date(span.untilMs).toISOString()}"`);
  return clauses.join(' AND ');
}

function cloudLoggingLogs(settings: Settings, context: ProviderContext): LogsClient {
  const resourceNames = settings.resourceNames ?? [`projects/${settings.project}`];
  const advise = (status: number): string | undefined => {
    if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
    if (status === 400) return 'Cloud Logging refused the filter: check the filter of the runbook\'s check and of the provider\'s settings (gcloud logging read "<filter>" shows what it selects).';
    if (status === 401) return `The access token in ${settings.tokenEnv} was refused (expired? access tokens last about an hour): put a fresh one there (gcloud auth print-access-token).`;
    if (status === 403) return `The token's account may not read these logs: it needs logging.logEntries.list (roles/logging.viewer) on ${resourceNames.join(', ')}.`;
    if (status === 404) return `Check the runbook's settings: project '${settings.project}'${settings.resourceNames ? `, resourceNames ${resourceNames.join(', ')}` : ''}.`;
    if (status >= 500) return 'Cloud Logging had a server error: the health check can be run again.';
    return undefined;
  };
  // The token is read at each request, so a refreshed environment variable is picked up.
  const api = jsonApi({ baseUrl: settings.baseUrl, what: API, headers: bearerToken(context, settings.tokenEnv), timeoutMs: settings.requestTimeoutMs, advise });

  return {
    async readWindow(query: LogQuery, span, signal): Promise<LogWindow> {
      const filter = windowFilter([settings.filter, query.filter], span);
      const lines: LogLine[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      do {
        if (pages === settings.maxPages) return { lines, pages, cutShort: `Cloud Logging had more than ${settings.maxPages} page(s) of ${settings.pageSize} entries in the window (settings.maxPages)` };
        const body = { resourceNames, filter, orderBy: 'timestamp asc', pageSize: settings.pageSize, ...(pageToken ? { pageToken } : {}) };
        // A read: sent again after a 5xx or a lost answer.
        const { body: page } = await api('POST', '/v2/entries:list', { body, schema: entriesPage, repeatable: true, signal });
        pages++;
        for (const entry of page.entries ?? []) lines.push({ timestamp: entry.timestamp ?? '', severity: entry.severity ?? 'DEFAULT', text: textOf(entry) });
        pageToken = page.nextPageToken || undefined;
      } while (pageToken);
      return { lines, pages, cutShort: null };
    },
  };
}

function create(settings: Settings, context: ProviderContext): ProviderClient<'logs'> {
  return { logs: cloudLoggingLogs(settings, context) };
}

export const cloudLogging: ProviderDefinition<'logs', Settings> = {
  id: 'cloud-logging',
  description:
    'Google Cloud Logging (API v2 entries.list): the log entries of a check\'s window that a filter selects, for log checks that count lines matching a pattern (seed 002\'s gcloud logging read "severity>=ERROR")',
  capabilities: ['logs'],
  settingsSchema,
  example: { project: 'medicalcor-prod', filter: 'resource.type="cloud_run_revision" AND resource.labels.service_name="medicalcor-api"', tokenEnv: 'GCP_ACCESS_TOKEN' },
  logQuery: ['filter'],
  create,
};
