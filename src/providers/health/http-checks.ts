/** The runbook's HTTP health checks: a check passes when the URL answers the expected status in time. */
export interface HttpCheck {
  name: string;
  url: string;
  expectStatus: number;
  timeoutMs: number;
}

export interface HttpCheckResult {
  name: string;
  url: string;
  passed: boolean;
  status: number | null;
  ms: number;
  /** Why it failed, in words: the status it got or the network error. */
  detail: string;
}

export async function runHttpCheck(check: HttpCheck): Promise<HttpCheckResult> {
  const started = performance.now();
  try {
    const response = await fetch(check.url, { signal: AbortSignal.timeout(check.timeoutMs) });
    await response.arrayBuffer();
    const passed = response.status === check.expectStatus;
    const detail = passed ? 'ok' : `expected ${check.expectStatus}, got ${response.status}`;
    return { name: check.name, url: check.url, passed, status: response.status, ms: performance.now() - started, detail };
  } catch (err) {
    const detail = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${check.timeoutMs} ms` : String(err);
    return { name: check.name, url: check.url, passed: false, status: null, ms: performance.now() - started, detail };
  }
}

export function runHttpChecks(checks: readonly HttpCheck[]): Promise<HttpCheckResult[]> {
  return Promise.all(checks.map(runHttpCheck));
}
