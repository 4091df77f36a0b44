/**
 * The HTTP client every platform API provider shares (Cloud Run, Fly Machines, Railway, Render,
 * Statuspage, Slack, and the sandbox's admin API): JSON in and out, a timeout per request, credentials
 * read at each request, the answer checked against the shape the provider expects, and one retry
 * policy (retry-policy.ts): a 429 is waited out and asked again, a 5xx or lost answer asked again
 * only for a request that is safe to repeat (GET, or a change the caller marks `repeatable`: it
 * carries an idempotency key or sets a value).
 *
 * Every failure is an ApiError in one style, whichever provider and transport (Kubernetes builds its
 * own with `apiFailure`):
 *   <API> <request> answered <status> (<why it stopped retrying>): <what the API said>. <What to do.>
 *   <API> <request>: no answer (<why>). <What to do.>
 *   <API> <request> answered <status> with a body this client does not understand (<what was wrong>): <body>
 * The advice comes from the provider's `advise`, which sees the request as well as the status; the
 * credentials never appear.
 */
import type { z } from 'zod';
import { DEFAULT_RETRY_POLICY, retried, type Attempt, type RetryPolicy } from './retry-policy.ts';
import { secretFromEnv, type ProviderContext } from './types.ts';

/** A platform API request that failed: refused, not answered, or answered in a shape this client does not understand. */
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

/** A request as advice and errors name it. */
export interface ApiRequest {
  method: string;
  path: string;
  /** What the path does not say, e.g. the GraphQL operation: "deployments". */
  name?: string;
}

/** What an engineer should do about a failed request, as a sentence; nothing when there is nothing to add. Status 0: no answer came. */
export type Advise = (status: number, request: ApiRequest) => string | undefined;

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
  advise?: Advise;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
}

export interface RequestOptions<T = unknown> {
  body?: unknown;
  /** Extra headers for this request (Idempotency-Key, Content-Type of a patch). */
  headers?: Record<string, string>;
  /** Safe to send again after a 5xx or a lost answer (GETs always are). */
  repeatable?: boolean;
  /** Answers treated as success with their body as sent (e.g. 404 when reading something that may not exist). */
  accept?: number[];
  /** The shape a 2xx answer's body must have; anything else is an ApiError saying what was wrong. */
  schema?: z.ZodType<T>;
  /** Names the request in errors where its path does not (see ApiRequest.name). */
  name?: string;
  /** This request's timeout, when it differs from the client's (a long poll). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export type ApiCall = <T = unknown>(method: string, path: string, options?: RequestOptions<T>) => Promise<ApiResponse<T>>;

/**
 * Headers with the bearer token held by environment variable `variable`, read at each request (a
 * rotated token is used at once; none is kept in the client). A variable not set is an error naming it.
 */
export const bearerToken = (context: ProviderContext, variable: string) => (): Record<string, string> => ({ authorization: `Bearer ${secretFromEnv(context, variable)}` });

/** A message without its closing period, so a sentence of ours can follow it. */
export const clause = (text: string): string => text.replace(/[.\s]+$/, '');

/** `text`, then the advice as a sentence of its own: the one way errors here give advice. */
export const withAdvice = (text: string, advice: string | undefined): string => (advice ? `${clause(text)}. ${advice}` : text);

/** The body as sent, cut to what an error can carry. */
export function shown(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return (text ?? '').slice(0, 300) || '(empty body)';
}

/**
 * What the API said in a failed answer, as a person reads it: the message of the error shapes platform
 * APIs use (Google's `{error: {message}}`; `{message}` from Kubernetes' Status, Render and Statuspage;
 * GraphQL's `{errors: [{message}]}`; `{error: "..."}` from Fly and Slack), else the body as sent.
 */
export function saidIn(body: unknown): string {
  const record = (value: unknown) => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
  const answer = record(body);
  const errors = Array.isArray(answer?.errors) ? answer.errors.map((e) => text(record(e)?.message)).filter((m) => m !== undefined) : [];
  return text(record(answer?.error)?.message) ?? text(answer?.message) ?? (errors.length > 0 ? errors.join('; ') : undefined) ?? text(answer?.error) ?? shown(body);
}

/** The ApiError for a failed answer (or none: status 0), in the one style every provider's errors take. */
export function apiFailure(where: string, failure: { status: number; note?: string; said: string; body?: unknown }, advice: string | undefined): ApiError {
  const { status, note, said } = failure;
  const head = status === 0 ? `${where}: no answer${note ? ` ${note}` : ''} (${said})` : `${where} answered ${status}${note ? ` (${note})` : ''}: ${said}`;
  return new ApiError(withAdvice(head, advice), status, failure.body ?? null);
}

/** `body` checked against `schema`; otherwise an ApiError naming the request and what was wrong. */
export function expectShape<T>(schema: z.ZodType<T>, body: unknown, where: string, status: number): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const wrong = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || 'the body'}: ${issue.message}`).join('; ');
  throw new ApiError(`${where} answered ${status} with a body this client does not understand (${wrong}): ${shown(body)}`, status, body);
}

/** An answer's text as JSON, or as the text itself when it is not JSON; null when empty. */
export function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * A client for one API. Creating it does no I/O. Each call reads the headers, sends, retries as the
 * policy says, and resolves with the answer (2xx, or a status listed in `accept`), a 2xx body checked
 * against the request's `schema`. It rejects with an ApiError when the policy stops retrying or the
 * body has another shape, and with the headers function's own error (a credential not set) before
 * anything is sent.
 */
export function jsonApi(options: ApiOptions): ApiCall {
  const base = options.baseUrl.replace(/\/$/, '');
  const policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  return async <T>(method: string, path: string, request: RequestOptions<T> = {}): Promise<ApiResponse<T>> => {
    const named: ApiRequest = { method, path, ...(request.name ? { name: request.name } : {}) };
    const where = [options.what, request.name, method, path].filter(Boolean).join(' ');
    const fail = (failure: { status: number; note?: string; said: string; body?: unknown }) => apiFailure(where, failure, options.advise?.(failure.status, named));
    const timeout = () => AbortSignal.timeout(request.timeoutMs ?? options.timeoutMs ?? 10_000);

    const attempt = async (): Promise<Attempt<ApiResponse<T>>> => {
      // Read before the request, outside its error handling: a missing credential is its own error, not a lost answer.
      const headers = typeof options.headers === 'function' ? options.headers() : options.headers;
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, {
          method,
          headers: { accept: 'application/json', ...(request.body === undefined ? {} : { 'content-type': 'application/json' }), ...headers, ...request.headers },
          body: request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body),
          signal: request.signal ? AbortSignal.any([request.signal, timeout()]) : timeout(),
        });
      } catch (err) {
        // No answer: the policy sends only a repeatable request again (the change may have been made).
        const said = (err as Error).message;
        if (request.signal?.aborted) throw fail({ status: 0, said });
        return { failure: { status: 0 }, error: (note) => fail({ status: 0, note, said }) };
      }
      const body = parseBody(await response.text());
      if (response.ok) return { value: { status: response.status, body: request.schema ? expectShape(request.schema, body, where, response.status) : (body as T), headers: response.headers } };
      if (request.accept?.includes(response.status)) return { value: { status: response.status, body: body as T, headers: response.headers } };
      const failure = { status: response.status, header: (name: string) => response.headers.get(name) };
      return { failure, error: (note) => fail({ status: response.status, note, said: saidIn(body), body }) };
    };
    const repeatable = method === 'GET' || request.repeatable === true;
    return retried(policy, repeatable ? 'repeatable request' : 'request', attempt, { signal: request.signal });
  };
}

/**
 * Runs a read-decide-write again from a fresh read when its write is answered 409 Conflict, as
 * client-go's RetryOnConflict does it: the conflict means someone changed the object between our read
 * and our write, so deciding again on what they left is right and resending ours is not. After the
 * policy's `conflictAttempts` the error says so, naming `what` was being changed.
 */
export function onConflictRetry<T>(policy: RetryPolicy, what: string, change: () => Promise<T>, onConflict?: (attempt: number) => void): Promise<T> {
  const attempt = async (): Promise<Attempt<T>> => {
    try {
      return { value: await change() };
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409) throw err;
      return {
        failure: { status: 409 },
        error: (note) => (note ? new ApiError(`${err.message} ${what} ${note}: another client keeps changing it; find out who before running this step again.`, 409, err.body) : err),
      };
    }
  };
  return retried(policy, 'read-decide-write', attempt, { onRetry: (_failure, _wait, n) => onConflict?.(n) });
}
