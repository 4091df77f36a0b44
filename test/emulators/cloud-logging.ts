/**
 * An emulator of the Cloud Logging API v2 call the cloud-logging provider makes: entries.list
 * (POST /v2/entries:list). It keeps log entries per project as the API returns them (logName,
 * resource, timestamp, severity, insertId, textPayload or jsonPayload) and answers with
 * `{entries, nextPageToken}`, honouring:
 * - resourceNames: `projects/{id}`; a project it does not know is 403 PERMISSION_DENIED;
 * - filter: a conjunction (AND) of comparisons `field op value`, parentheses allowed, where op is
 *   =, !=, >, >=, <, <= or : (has), field a dotted path into the entry (timestamp compared as times,
 *   severity in its order DEFAULT < DEBUG < ... < EMERGENCY); anything else in the query language
 *   (OR, NOT, functions) is refused 400 INVALID_ARGUMENT, so a test cannot pass on a filter ignored;
 * - orderBy `timestamp asc` (the default) or `timestamp desc`; pageSize (default 50, at most 1000,
 *   negative refused) and pageToken, which is bound to the request it came from;
 * - `emptyPagesFirst`: that many empty pages that still name a next page, as the API answers when it
 *   "did not have time to search all the possible log entries".
 * A wrong bearer token is 401 UNAUTHENTICATED; replies queued with `failNext` (503, 429) come first.
 *
 * Reference:
 *   entries.list  https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list
 *   LogEntry      https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry
 *   LogSeverity   https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry#logseverity
 *   query language https://cloud.google.com/logging/docs/view/logging-query-language
 *   errors        https://cloud.google.com/apis/design/errors
 */
import { createHash } from 'node:crypto';
import { googleError } from './cloud-run.ts';
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export const SEVERITIES = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface EmulatedEntry {
  logName: string;
  resource: { type: string; labels: Record<string, string> };
  timestamp: string;
  receiveTimestamp: string;
  severity: Severity;
  insertId: string;
  textPayload?: string;
  jsonPayload?: Record<string, unknown>;
}

interface Comparison {
  field: string;
  op: '=' | '!=' | '>' | '>=' | '<' | '<=' | ':';
  value: string;
}

/** The part of the query language the emulator understands, or why not. */
export function parseFilter(filter: string): Comparison[] | { problem: string } {
  // Parentheses outside quotes only group; AND is the only connective this emulator knows.
  let flat = '';
  let quoted = false;
  for (let i = 0; i < filter.length; i++) {
    const ch = filter[i]!;
    if (ch === '"' && filter[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && (ch === '(' || ch === ')')) flat += ' ';
    else flat += ch;
  }
  const terms: string[] = [];
  let current = '';
  quoted = false;
  const words = flat.split(/(\s+)/);
  for (const word of words) {
    for (const ch of word) if (ch === '"') quoted = !quoted;
    if (!quoted && word === 'AND') {
      terms.push(current);
      current = '';
    } else current += word;
  }
  terms.push(current);
  const comparisons: Comparison[] = [];
  for (const term of terms.map((t) => t.trim()).filter(Boolean)) {
    if (/^(OR|NOT)\b|\sOR\s|^-/.test(term)) return { problem: `the emulator understands only AND of comparisons, not '${term}'` };
    const match = /^([A-Za-z_][\w.]*)\s*(>=|<=|!=|=|>|<|:)\s*(.+)$/.exec(term);
    if (!match) return { problem: `unparseable term '${term}'` };
    const raw = match[3]!.trim();
    const value = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/\\"/g, '"') : raw;
    comparisons.push({ field: match[1]!, op: match[2] as Comparison['op'], value });
  }
  return comparisons;
}

function fieldOf(entry: EmulatedEntry, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined), entry);
}

function holds(entry: EmulatedEntry, { field, op, value }: Comparison): boolean {
  const actual = fieldOf(entry, field);
  if (actual === undefined) return op === '!=';
  let order: number;
  if (field === 'severity') order = SEVERITIES.indexOf(actual as Severity) - SEVERITIES.indexOf(value.toUpperCase() as Severity);
  else if (field === 'timestamp' || field === 'receiveTimestamp') order = Date.parse(String(actual)) - Date.parse(value);
  else order = String(actual).localeCompare(value);
  switch (op) {
    case '=': return order === 0;
    case '!=': return order !== 0;
    case '>': return order > 0;
    case '>=': return order >= 0;
    case '<': return order < 0;
    case '<=': return order <= 0;
    case ':': return String(typeof actual === 'object' ? JSON.stringify(actual) : actual).toLowerCase().includes(value.toLowerCase());
  }
}

export class CloudLoggingEmulator extends HttpEmulator {
  readonly entries: EmulatedEntry[] = [];
  /** Empty pages, each naming a next page, before any entries (the API's unfinished search). */
  emptyPagesFirst = 0;
  private inserted = 0;

  constructor(
    token: string,
    readonly project = 'medicalcor-prod',
  ) {
    super('Cloud Logging', token, () => googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'));
    // `entries:list` is one path segment with a colon, which the router would read as a parameter.
    this.route('POST', '/v2/*method', (request, params) => (params.method === 'entries:list' ? this.list(request) : googleError(404, 'NOT_FOUND', `no method ${params.method}`)));
  }

  /** An entry as a Cloud Run revision writes it; `at` defaults to now. */
  write(entry: { severity: Severity; text?: string; json?: Record<string, unknown>; at?: Date; service?: string; log?: string }): EmulatedEntry {
    const at = (entry.at ?? new Date()).toISOString();
    const stored: EmulatedEntry = {
      logName: `projects/${this.project}/logs/${encodeURIComponent(entry.log ?? 'run.googleapis.com/stdout')}`,
      resource: { type: 'cloud_run_revision', labels: { project_id: this.project, service_name: entry.service ?? 'medicalcor-api', location: 'europe-west3' } },
      timestamp: at,
      receiveTimestamp: at,
      severity: entry.severity,
      insertId: `e${String(++this.inserted).padStart(6, '0')}`,
      ...(entry.json ? { jsonPayload: entry.json } : { textPayload: entry.text ?? '' }),
    };
    this.entries.push(stored);
    return stored;
  }

  private list(request: RecordedRequest): Reply {
    const body = (request.body ?? {}) as { resourceNames?: unknown; filter?: unknown; orderBy?: unknown; pageSize?: unknown; pageToken?: unknown };
    const names = Array.isArray(body.resourceNames) ? body.resourceNames.map(String) : [];
    if (names.length === 0) return googleError(400, 'INVALID_ARGUMENT', 'resourceNames: at least one resource name is required');
    const unknown = names.find((n) => n !== `projects/${this.project}`);
    if (unknown) return googleError(403, 'PERMISSION_DENIED', `The caller does not have permission to read ${unknown}`);
    const filter = typeof body.filter === 'string' ? body.filter : '';
    const comparisons = filter ? parseFilter(filter) : [];
    if ('problem' in comparisons) return googleError(400, 'INVALID_ARGUMENT', `Unparseable filter: ${comparisons.problem}`);
    const orderBy = typeof body.orderBy === 'string' ? body.orderBy : 'timestamp asc';
    if (orderBy !== 'timestamp asc' && orderBy !== 'timestamp desc') return googleError(400, 'INVALID_ARGUMENT', `orderBy: must be "timestamp asc" or "timestamp desc", not "${orderBy}"`);
    const pageSize = typeof body.pageSize === 'number' ? body.pageSize : 50;
    if (pageSize < 0) return googleError(400, 'INVALID_ARGUMENT', 'pageSize: must not be negative');
    const size = Math.min(1000, pageSize || 50);
    // A page token belongs to the query it came from: the same names, filter and order.
    const query = createHash('sha256').update(JSON.stringify([names, filter, orderBy])).digest('hex').slice(0, 12);
    let offset = 0;
    let emptyLeft = this.emptyPagesFirst;
    if (typeof body.pageToken === 'string' && body.pageToken !== '') {
      const token = /^([0-9a-f]{12})\.(\d+)\.(\d+)$/.exec(Buffer.from(body.pageToken, 'base64url').toString());
      if (!token || token[1] !== query) return googleError(400, 'INVALID_ARGUMENT', 'pageToken: does not belong to this request (its filter, resourceNames or orderBy changed)');
      offset = Number(token[2]);
      emptyLeft = Number(token[3]);
    }
    const tokenFor = (at: number, empty: number) => Buffer.from(`${query}.${at}.${empty}`).toString('base64url');
    if (emptyLeft > 0) return { status: 200, body: { nextPageToken: tokenFor(offset, emptyLeft - 1) } };
    const selected = this.entries
      .filter((e) => names.some((n) => e.logName.startsWith(`${n}/`)) && comparisons.every((c) => holds(e, c)))
      .sort((a, b) => (Date.parse(a.timestamp) - Date.parse(b.timestamp)) * (orderBy === 'timestamp asc' ? 1 : -1) || a.insertId.localeCompare(b.insertId));
    const page = selected.slice(offset, offset + size);
    const more = offset + size < selected.length;
    return { status: 200, body: { ...(page.length > 0 ? { entries: structuredClone(page) } : {}), ...(more ? { nextPageToken: tokenFor(offset + size, 0) } : {}) } };
  }
}
