/**
 * The platform-API layer every HTTP provider shares: the retry policy's rules (429 per Retry-After or
 * RateLimit-Reset, capped; 5xx and lost answers only for repeatable requests; 409 re-read for a
 * read-decide-write, as client-go's RetryOnConflict), the shared JSON client (response schemas, one
 * style of error with advice that sees the request, credentials read at each request), and the admin
 * API client the sandbox router's providers use, against real HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { ApiError, jsonApi, onConflictRetry } from '../src/providers/http-api.ts';
import { DEFAULT_RETRY_POLICY, decide, type Failure } from '../src/providers/retry-policy.ts';
import { httpAdmin } from '../src/providers/platform/http-admin.ts';
import { httpRouter } from '../src/providers/traffic/http-router.ts';
import { HttpEmulator } from './emulators/http-emulator.ts';
import { quietLogger } from './harness.ts';

const policy = DEFAULT_RETRY_POLICY;
const answered = (status: number, headers: Record<string, string> = {}): Failure => ({ status, header: (name) => headers[name] ?? null });

describe('the retry policy', () => {
  test('a 429 (or Statuspage\'s 420) is asked again after Retry-After, in seconds or as a date, or Render\'s RateLimit-Reset; a longer wait than the cap is an error at once', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    assert.deepEqual(decide(policy, 'request', 1, answered(429, { 'retry-after': '2' }), now), { again: true, waitMs: 2000 });
    assert.deepEqual(decide(policy, 'request', 1, answered(420, { 'retry-after': 'Tue, 01 Dec 2026 10:00:03 GMT' }), now), { again: true, waitMs: 3000 });
    assert.deepEqual(decide(policy, 'request', 1, answered(429, { 'ratelimit-reset': '4' }), now), { again: true, waitMs: 4000 });
    assert.deepEqual(decide(policy, 'request', 2, answered(429), now), { again: true, waitMs: 1000 }, 'no header: the backoff');
    assert.deepEqual(decide(policy, 'request', 1, answered(429, { 'retry-after': '31' }), now), { again: false, note: 'Retry-After 31000 ms is longer than the 30000 ms this waits' });
    assert.deepEqual(decide(policy, 'request', 5, answered(429, { 'retry-after': '1' }), now), { again: false, note: 'still rate limited after 5 attempts' });
  });

  test('a 5xx or a lost answer is asked again only for a repeatable request, after a doubling backoff or the 5xx\'s Retry-After', () => {
    assert.deepEqual(decide(policy, 'request', 1, answered(503)), { again: false });
    assert.deepEqual(decide(policy, 'request', 1, { status: 0 }), { again: false });
    assert.deepEqual(decide(policy, 'repeatable request', 1, { status: 0 }), { again: true, waitMs: 500 });
    assert.deepEqual(decide(policy, 'repeatable request', 3, answered(502)), { again: true, waitMs: 2000 });
    assert.deepEqual(decide(policy, 'repeatable request', 1, answered(500, { 'retry-after': '0' })), { again: true, waitMs: 0 });
    assert.deepEqual(decide(policy, 'repeatable request', 5, answered(500)), { again: false, note: 'after 5 attempts' });
  });

  test('a 409 runs a read-decide-write again at once, three times in all; a request meeting one is not sent again', () => {
    assert.deepEqual(decide(policy, 'read-decide-write', 1, answered(409)), { again: true, waitMs: 0 });
    assert.deepEqual(decide(policy, 'read-decide-write', 3, answered(409)), { again: false, note: 'met a conflict 3 times in a row' });
    assert.deepEqual(decide(policy, 'read-decide-write', 1, answered(503)), { again: false }, 'the request inside already had its retries');
    assert.deepEqual(decide(policy, 'repeatable request', 1, answered(409)), { again: false });
    assert.deepEqual(decide(policy, 'repeatable request', 1, answered(400)), { again: false });
  });

  test('onConflictRetry reads and decides again on a 409, and after three says another client keeps changing it', async () => {
    let runs = 0;
    const conflict = () => new ApiError('Example PUT /thing answered 409: modified', 409, null);
    assert.equal(await onConflictRetry(policy, 'thing x', async () => (++runs < 3 ? Promise.reject(conflict()) : 'done')), 'done');
    assert.equal(runs, 3);
    await assert.rejects(
      onConflictRetry(policy, 'thing x', () => Promise.reject(conflict())),
      { message: 'Example PUT /thing answered 409: modified thing x met a conflict 3 times in a row: another client keeps changing it; find out who before running this step again.', status: 409 },
    );
    await assert.rejects(onConflictRetry(policy, 'thing x', () => Promise.reject(new ApiError('gone', 404, null))), { message: 'gone' }, 'any other failure at once');
  });
});

describe('the shared JSON client against an HTTP server', () => {
  let server: HttpEmulator;
  before(async () => {
    server = await new HttpEmulator('Example', null).start();
    server.route('GET', '/things/:id', (_request, { id }) => ({ status: 200, body: { id, size: id === 'odd' ? 'large' : 3 } }));
    server.route('PUT', '/things/:id', () => ({ status: 200, body: {} }));
  });
  after(() => server.stop());
  const thing = z.object({ id: z.string(), size: z.number() });

  test('an answer of another shape than the request\'s schema is one ApiError naming the API, the request and what was wrong', async () => {
    const api = jsonApi({ baseUrl: server.url, what: 'Example API' });
    assert.deepEqual((await api('GET', '/things/a', { schema: thing })).body, { id: 'a', size: 3 });
    await assert.rejects(api('GET', '/things/odd', { schema: thing }), {
      name: 'Error',
      status: 200,
      message: 'Example API GET /things/odd answered 200 with a body this client does not understand (size: Invalid input: expected number, received string): {"id":"odd","size":"large"}',
    });
  });

  test('a failure reads as what the API said, then the advice, which sees the request; a request name goes where the path does not say it', async () => {
    const seen: string[] = [];
    const api = jsonApi({
      baseUrl: server.url,
      what: 'Example API',
      advise: (status, request) => (seen.push(`${status} ${request.method} ${request.path} ${request.name}`), `Check thing ${request.path.split('/')[2]}.`),
    });
    server.failNext({ status: 404, body: { error: { code: 404, message: 'Thing not found.' } } });
    await assert.rejects(api('GET', '/things/b', { name: 'readThing' }), { message: 'Example API readThing GET /things/b answered 404: Thing not found. Check thing b.', status: 404 });
    server.failNext({ status: 422, body: { errors: [{ message: 'size is too big' }, { message: 'name is taken' }] } });
    await assert.rejects(api('PUT', '/things/c', { body: {} }), { message: 'Example API PUT /things/c answered 422: size is too big; name is taken. Check thing c.' });
    assert.deepEqual(seen, ['404 GET /things/b readThing', '422 PUT /things/c undefined']);
    const closed = jsonApi({ baseUrl: 'http://127.0.0.1:1', what: 'Nothing', advise: (status) => (status === 0 ? 'Check the network path.' : undefined), retry: { backoffMs: 1 } });
    await assert.rejects(closed('GET', '/x'), { message: /^Nothing GET \/x: no answer after 5 attempts \(fetch failed\)\. Check the network path\.$/, status: 0 });
  });

  test('headers given as a function are read at each request: a rotated credential is used at once, and a missing one fails before any request', async () => {
    const env: Record<string, string | undefined> = { TOKEN: 'first' };
    const api = jsonApi({
      baseUrl: server.url,
      what: 'Example API',
      headers: () => {
        if (!env.TOKEN) throw new Error('environment variable TOKEN is not set');
        return { authorization: `Bearer ${env.TOKEN}` };
      },
    });
    server.requests.length = 0;
    await api('GET', '/things/a');
    env.TOKEN = 'second';
    await api('GET', '/things/a');
    assert.deepEqual(server.requests.map((r) => r.headers.authorization), ['Bearer first', 'Bearer second']);
    env.TOKEN = undefined;
    await assert.rejects(api('GET', '/things/a'), { message: 'environment variable TOKEN is not set' });
    assert.equal(server.requests.length, 2);
  });
});

describe('the admin API client (http-router, http-admin) against an HTTP server', () => {
  let router: HttpEmulator;
  const state = { weights: { stable: 100, canary: 0 }, instances: { stable: 2, canary: 1 } };
  before(async () => {
    router = await new HttpEmulator('router', null).start();
    router.route('GET', '/admin/state', () => ({ status: 200, body: state }));
    router.route('PUT', '/admin/weights', (request) => ({ status: 200, body: { change: { id: 1 }, state: { ...state, weights: (request.body as { weights: typeof state.weights }).weights } } }));
    router.route('POST', '/admin/restart', () => ({ status: 200, body: { change: null } }));
  });
  after(() => router.stop());
  const change = { idempotencyKey: 'wf-1/shift', actor: 'rollback wf-1' };

  test('a change carries its Idempotency-Key and X-Actor and the bearer token read at that request; a read carries the token only', async () => {
    const env: Record<string, string | undefined> = { ROUTER_TOKEN: 'one' };
    const client = httpRouter.create(httpRouter.settingsSchema.parse({ url: router.url, adminTokenEnv: 'ROUTER_TOKEN' }), { env, logger: quietLogger });
    router.requests.length = 0;
    assert.deepEqual(await client.traffic.readState(), state);
    env.ROUTER_TOKEN = 'two';
    assert.deepEqual((await client.traffic.setWeights({ stable: 50, canary: 50 }, change)).weights, { stable: 50, canary: 50 });
    const [read, write] = router.requests;
    assert.equal(read!.headers.authorization, 'Bearer one');
    assert.equal(read!.headers['idempotency-key'], undefined);
    assert.equal(write!.headers.authorization, 'Bearer two');
    assert.equal(write!.headers['idempotency-key'], 'wf-1/shift');
    assert.equal(write!.headers['x-actor'], 'rollback wf-1');
    assert.equal(write!.headers['content-type'], 'application/json');
  });

  test('a 503 on a change is asked again, its idempotency key making that safe; a 429 waits out its Retry-After; a refusal is not asked again', async () => {
    const client = httpRouter.create(httpRouter.settingsSchema.parse({ url: router.url }), { env: {}, logger: quietLogger });
    router.requests.length = 0;
    router.failNext({ status: 503, body: { error: 'router control plane unavailable (sandbox outage)' } }, { method: 'PUT' });
    await client.traffic.setWeights({ stable: 100, canary: 0 }, change);
    assert.deepEqual(router.calls('PUT').map((r) => r.headers['idempotency-key']), ['wf-1/shift', 'wf-1/shift']);

    router.failNext({ status: 429, headers: { 'retry-after': '1' }, body: { error: 'slow down' } }, { method: 'GET' });
    await client.traffic.readState();
    const [limited, asked] = router.calls('GET');
    assert.ok(asked!.at - limited!.at >= 1000, `asked again after ${asked!.at - limited!.at} ms`);

    router.failNext({ status: 400, body: { error: 'weights must add up to 100, not 120' } }, { method: 'PUT' });
    await assert.rejects(client.traffic.setWeights({ stable: 60, canary: 60 }, change), { message: 'router PUT /admin/weights answered 400: weights must add up to 100, not 120', status: 400 });
    assert.equal(router.calls('PUT').length, 3);
  });

  test('a router still failing after three tries names the request, the attempts and that running the step again is safe', async () => {
    const platform = httpAdmin.create(httpAdmin.settingsSchema.parse({ url: router.url }), { env: {}, logger: quietLogger });
    router.failNext({ status: 503, body: { error: 'unavailable' } }, { method: 'POST', times: 3 });
    await assert.rejects(platform.restarts.restart('stable', change), {
      message: 'admin API POST /admin/restart answered 503 (after 3 attempts): unavailable. The admin API failed: run the step again (the change carries its idempotency key, so one already made is not made twice).',
    });
  });
});
