/**
 * The runbook's HTTP health checks (seed 000's `curl -X POST /test/chat -d '{"message": "test"}'`,
 * seed 002's `curl -s /health | jq .` expecting `{"status": "healthy"}`): a request with a method,
 * headers and a body, passing when the answer has the expected status in time and its JSON holds what
 * the check expects. Header values that are secrets come in resolved (from the worker's environment)
 * and are masked in everything the result says, including a body that echoes them.
 */
import { redactCredentials } from '../../contract/index.ts';
import { judgeJson, showJson, type JsonExpectation } from '../../contract/json-expect.ts';
import { maskSecrets } from '../command/runner.ts';

export interface HttpCheck {
  name: string;
  url: string;
  method?: string;
  headers?: Record<string, string>;
  /** An object or list is sent as JSON, a string as text. */
  body?: unknown;
  expectStatus: number;
  json?: JsonExpectation | JsonExpectation[];
  timeoutSeconds?: number;
  /** The earlier field; wins over timeoutSeconds. */
  timeoutMs?: number;
}

export interface HttpCheckResult {
  name: string;
  url: string;
  passed: boolean;
  status: number | null;
  ms: number;
  /** Why it failed, in words: the status it got, the JSON value it found and what was expected, or the network error. */
  detail: string;
}

/** Headers whose values are secrets, and those values to mask wherever they would show. */
export interface SecretHeaders {
  headers: Record<string, string>;
  values: string[];
}

const NO_SECRETS: SecretHeaders = { headers: {}, values: [] };

function requestBody(check: HttpCheck, headers: Headers): string | undefined {
  if (check.body === undefined) return undefined;
  if (typeof check.body === 'string') {
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain; charset=utf-8');
    return check.body;
  }
  if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  return JSON.stringify(check.body);
}

/** What the answer's JSON breaks of the check's expectations, or null when it holds them all. */
function jsonProblems(check: HttpCheck, text: string): string | null {
  if (!check.json) return null;
  const expectations = Array.isArray(check.json) ? check.json : [check.json];
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return `the answer is not JSON (it begins ${showJson(text.slice(0, 40))}), expected ${expectations.map((e) => e.path).join(', ')}`;
  }
  const problems = expectations.map((e) => judgeJson(document, e)).filter((p): p is string => p !== null);
  return problems.length > 0 ? problems.join('; ') : null;
}

export async function runHttpCheck(check: HttpCheck, secrets: SecretHeaders = NO_SECRETS): Promise<HttpCheckResult> {
  const started = performance.now();
  const timeoutMs = check.timeoutMs ?? (check.timeoutSeconds ?? 2) * 1000;
  const mask = (text: string) => maskSecrets(text, secrets.values);
  const url = redactCredentials(check.url);
  const result = (passed: boolean, status: number | null, detail: string): HttpCheckResult => ({ name: check.name, url, passed, status, ms: performance.now() - started, detail: mask(detail) });
  try {
    const headers = new Headers({ ...check.headers, ...secrets.headers });
    const body = requestBody(check, headers);
    const response = await fetch(check.url, { method: check.method ?? 'GET', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    // Read to the end inside the timeout: an answer that never finishes is no answer.
    const text = await response.text();
    if (response.status !== check.expectStatus) return result(false, response.status, `expected ${check.expectStatus}, got ${response.status}`);
    const problems = jsonProblems(check, text);
    return result(problems === null, response.status, problems ?? 'ok');
  } catch (err) {
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    const within = check.timeoutMs !== undefined ? `${check.timeoutMs} ms` : `${timeoutMs / 1000} s`;
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a DNS error) is its cause.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return result(false, null, timedOut ? `no answer within ${within}` : `${err instanceof Error ? err.message : String(err)}${cause}`);
  }
}

export function runHttpChecks(checks: readonly HttpCheck[]): Promise<HttpCheckResult[]> {
  return Promise.all(checks.map((check) => runHttpCheck(check)));
}
