/**
 * The HTTP client every platform API provider shares (Cloud Run, Fly Machines, Railway, Render,
 * Kubernetes, Statuspage, Slack): JSON in and out, a timeout per request, and the platforms' rate
 * limits honoured. A 429 (420 from Statuspage) is waited out for as long as its Retry-After says (seconds or an HTTP date,
 * capped) and asked again; a 5xx or a dropped connection is asked again only for a request that is
 * safe to repeat (GET, or a change the caller marks `repeatable`: it carries an idempotency key or
 * sets a value). Anything else is an ApiError naming the API, the request and the answer, never the
 * credentials.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class ApiError extends Error {
  constructor(
    message: string,
    /** The HTTP status, or 0 when no answer came. */
    readonly status: number,
    /** The answer's body, parsed when it was JSON. */
    readonly body: unknown,
  ) {
    super(message);
  }
}

export interface ApiOptions {
  baseUrl: string;
  /** Names the API in errors: "Cloud Run", "Fly Machines API". */
  what: string;
  /**
   * Sent with every request (authorization, content type); never shown in errors. A function is
   * called for each request, so a credential read from the environment is the current one and the
   * client can be made once, in a provider's `create`, without reading it there.
   */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** What an engineer should do about a failed request (which variable holds the key, what to check), added to its error. */
  advise?: (status: number) => string;
  timeoutMs?: number;
  /** Attempts in all for a 429 or (where repeatable) a 5xx; default 5. */
  maxAttempts?: number;
  /** Longest wait for one Retry-After, ms; default 30 000. */
  maxRetryAfterMs?: number;
  /** Wait before asking again after a 5xx when no Retry-After is given, ms (doubled each time); default 500. */
  backoffMs?: number;
}

export interface RequestOptions {
  body?: unknown;
  /** Extra headers for this request (Idempotency-Key, Content-Type of a patch). */
  headers?: Record<string, string>;
  /** Safe to send again after a 5xx or a lost answer (GETs always are). */
  repeatable?: boolean;
  /** Answers treated as success with their body (e.g. 404 when reading something that may not exist). */
  accept?: number[];
  signal?: AbortSignal;
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export type ApiCall = <T = unknown>(method: string, path: string, options?: RequestOptions) => Promise<ApiResponse<T>>;

/** How long a Retry-After asks to wait, in ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Render (and other APIs) tell when the limit resets instead of sending Retry-After: seconds from now,
 * or a Unix time in seconds (any value past 2001 is read as one). Null when absent or unreadable.
 */
export function rateLimitResetMs(header: string | null, now = Date.now()): number | null {
  if (!header || !/^\d+(\.\d+)?$/.test(header.trim())) return null;
  const value = Number(header.trim());
  return value > 1e9 ? Math.max(0, Math.round(value * 1000 - now)) : Math.round(value * 1000);
}

function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function shown(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return (text ?? '').slice(0, 300);
}

export function jsonApi(options: ApiOptions): ApiCall {
  const base = options.baseUrl.replace(/\/$/, '');
  const maxAttempts = options.maxAttempts ?? 5;
  const maxWait = options.maxRetryAfterMs ?? 30_000;
  const backoff = options.backoffMs ?? 500;
  return async <T>(method: string, path: string, request: RequestOptions = {}): Promise<ApiResponse<T>> => {
    const repeatable = method === 'GET' || request.repeatable === true;
    const where = `${options.what} ${method} ${path}`;
    const failed = (message: string, status: number, body: unknown) => {
      const advice = options.advise?.(status);
      return new ApiError(advice ? `${message} (${advice})` : message, status, body);
    };
    // Read before the request, outside its error handling: a missing credential is its own error, not a lost answer.
    const headers = typeof options.headers === 'function' ? options.headers() : options.headers;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, {
          method,
          headers: { accept: 'application/json', ...(request.body === undefined ? {} : { 'content-type': 'application/json' }), ...headers, ...request.headers },
          body: request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body),
          signal: request.signal ? AbortSignal.any([request.signal, AbortSignal.timeout(options.timeoutMs ?? 10_000)]) : AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (err) {
        // No answer: the change may or may not have been made, so only a repeatable request is sent again.
        if (repeatable && attempt < maxAttempts && !request.signal?.aborted) {
          await sleep(backoff * 2 ** (attempt - 1));
          continue;
        }
        throw failed(`${where}: no answer (${(err as Error).message})`, 0, null);
      }
      const body = parseBody(await response.text());
      if (response.ok || request.accept?.includes(response.status)) return { status: response.status, body: body as T, headers: response.headers };
      const wait = retryAfterMs(response.headers.get('retry-after')) ?? rateLimitResetMs(response.headers.get('ratelimit-reset') ?? response.headers.get('x-ratelimit-reset'));
      // 429 (and Statuspage's 420): the request was refused, not applied, so it is always safe to ask again after the wait.
      const limited = response.status === 429 || response.status === 420;
      if (limited && attempt < maxAttempts && (wait ?? 0) <= maxWait) {
        await sleep(wait ?? backoff * 2 ** (attempt - 1));
        continue;
      }
      if (response.status >= 500 && repeatable && attempt < maxAttempts) {
        await sleep(Math.min(wait ?? backoff * 2 ** (attempt - 1), maxWait));
        continue;
      }
      const gaveUp = limited ? (attempt >= maxAttempts ? ` (still rate limited after ${attempt} attempts)` : ` (Retry-After ${wait} ms is longer than the ${maxWait} ms this waits)`) : '';
      throw failed(`${where} answered ${response.status}${gaveUp}: ${shown(body)}`, response.status, body);
    }
  };
}
