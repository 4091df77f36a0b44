/**
 * The railway provider against an emulator of Railway's public GraphQL API (test/emulators/railway.ts):
 * reading a service's live and previous deployment, rolling back to the previous one and back again,
 * a repeat that sends nothing more, an earlier attempt's rollback found and followed, canRollback
 * false refused before sending, GraphQL errors in a 200, HTTP 401, 404, 409, 429 (Retry-After waited
 * out), 5xx, a rollback deployment that fails, crashes or never finishes, and bad settings refused.
 * Releases named by deployment id (`railway rollback <id>`): found, listed, unknown ones null, and a
 * chosen deployment (not only the previous one) rolled to once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { railway } from '../src/providers/railway/railway.ts';
import type { ReleasesClient } from '../src/providers/types.ts';
import { RailwayEmulator, type RailwayDeployment } from './emulators/railway.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'rw-secret-token-7d1e4a';
const SERVICE = randomUUID();
const ENVIRONMENT = randomUUID();
const OTHER_SERVICE = randomUUID();
const key = (n: number) => ({ idempotencyKey: `rollback-railway-${n}`, actor: 'test' });

interface Setup {
  emulator: RailwayEmulator;
  client: ReleasesClient;
  good: RailwayDeployment;
  failed: RailwayDeployment;
  bad: RailwayDeployment;
  progress: string[];
}

const emulators: RailwayEmulator[] = [];
after(async () => Promise.all(emulators.map((e) => e.stop())));

/** A service whose good deployment was replaced by a bad one (with a failed one between). */
async function setup(options: { settings?: Record<string, unknown>; token?: string; canRollback?: boolean; failedBetween?: number } = {}): Promise<Setup> {
  const emulator = await new RailwayEmulator(TOKEN).start();
  emulators.push(emulator);
  const where = { serviceId: SERVICE, environmentId: ENVIRONMENT };
  emulator.addDeployment({ ...where, status: 'REMOVED', minutesAgo: 600, commit: '0f0e0d0c0b0a09080706050403020100ffeeddcc', message: 'Initial voice companion' });
  const good = emulator.addDeployment({ ...where, status: 'REMOVED', minutesAgo: 120, commit: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', message: 'Add voice input retries\n\nRetries twice.', canRollback: options.canRollback ?? true });
  let failed = emulator.addDeployment({ ...where, status: 'FAILED', minutesAgo: 60, commit: 'c0ffee00112233445566778899aabbccddeeff00', message: 'Bump deps' });
  for (let n = 1; n < (options.failedBetween ?? 1); n++) {
    failed = emulator.addDeployment({ ...where, status: 'FAILED', minutesAgo: 60 - n / 10, commit: `c0ffee${String(n).padStart(34, '0')}`, message: `Retry build ${n}` });
  }
  const bad = emulator.addDeployment({ ...where, status: 'SUCCESS', minutesAgo: 30, commit: 'b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', message: 'Switch TTS provider' });
  emulator.addDeployment({ serviceId: OTHER_SERVICE, environmentId: ENVIRONMENT, status: 'SUCCESS', minutesAgo: 10, commit: 'dddddddddddddddddddddddddddddddddddddddd', message: 'Worker change' });
  const settings = railway.settingsSchema.parse({
    services: { api: where },
    baseUrl: `${emulator.url}/graphql/v2`,
    tokenEnv: 'RAILWAY_API_TOKEN',
    pollIntervalMs: 10,
    ...options.settings,
  });
  const progress: string[] = [];
  const client = railway.create(settings, { env: { RAILWAY_API_TOKEN: options.token ?? TOKEN }, logger: quietLogger }).releases;
  const wrapped: ReleasesClient = {
    readRelease: (target) => client.readRelease(target),
    listReleases: (target, limit) => client.listReleases(target, limit),
    findRelease: (target, name) => client.findRelease(target, name),
    rollTo: (target, release, opts) => client.rollTo(target, release, { onProgress: (line) => progress.push(line), ...opts }),
  };
  return { emulator, client: wrapped, good, failed, bad, progress };
}

const newest = (emulator: RailwayEmulator) => emulator.deployments.filter((d) => d.serviceId === SERVICE).sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]!;

describe('railway provider against an emulator of the documented API', () => {
  test('readRelease: the live deployment is current; the one before it that served, past a failed one, is previous', async () => {
    const { emulator, client, good, bad } = await setup();
    const state = await client.readRelease('api');
    assert.deepEqual(state, {
      target: 'api',
      current: { id: bad.id, label: 'b4d5e6f Switch TTS provider', createdAt: bad.createdAt, image: bad.meta.imageDigest },
      previous: { id: good.id, label: 'a1b2c3d Add voice input retries', createdAt: good.createdAt, image: good.meta.imageDigest },
      detail: { serviceId: SERVICE, environmentId: ENVIRONMENT, method: 'rollback', status: 'SUCCESS', url: bad.staticUrl },
    });
    const [request] = emulator.requests;
    assert.equal(request!.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual((request!.body as { variables: unknown }).variables, { input: { serviceId: SERVICE, environmentId: ENVIRONMENT }, first: 20 });
    assert.equal(emulator.mutations().length, 0);
  });

  test('readRelease follows the cursor to the next page when the previous deployment is behind a page of failed ones', async () => {
    const { emulator, client, good } = await setup({ failedBetween: 25 });
    const state = await client.readRelease('api');
    assert.equal(state.previous?.id, good.id);
    const pages = emulator.requests.map((r) => (r.body as { variables: { after?: string } }).variables.after);
    assert.equal(pages.length, 2);
    assert.equal(pages[0], undefined);
    assert.equal(typeof pages[1], 'string');
  });

  test('rollTo the previous deployment: one deploymentRollback, its new deployment followed to SUCCESS, the bad one removed', async () => {
    const { emulator, client, good, bad, progress } = await setup();
    const before = await client.readRelease('api');
    const state = await client.rollTo('api', before.previous!, key(1));
    const made = newest(emulator);
    assert.notEqual(made.id, good.id);
    assert.deepEqual(made.meta, { ...good.meta, reason: 'rollback' });
    assert.equal(made.status, 'SUCCESS');
    assert.equal(emulator.get(bad.id).status, 'REMOVED');
    const rollbacks = emulator.mutations('deploymentRollback');
    assert.equal(rollbacks.length, 1);
    assert.deepEqual((rollbacks[0]!.body as { variables: unknown }).variables, { id: good.id });
    assert.match(String((rollbacks[0]!.body as { query: string }).query), /deploymentRollback\(id: \$id\) \}$/);
    assert.deepEqual(state.current, { id: made.id, label: 'a1b2c3d Add voice input retries', createdAt: made.createdAt, image: good.meta.imageDigest });
    assert.equal(state.previous?.id, bad.id, 'what compensation goes back to');
    assert.equal(state.detail?.rolledBackWith, made.id);
    assert.deepEqual(progress, [
      `Railway service api: rollback to deployment ${good.id} sent`,
      `Railway service api: deployment ${made.id} (from ${good.id}) is DEPLOYING`,
      `Railway service api: deployment ${made.id} (from ${good.id}) is SUCCESS`,
    ]);
  });

  test('undo: rolling back to what the snapshot read as current puts its build back', async () => {
    const { emulator, client, bad } = await setup();
    const snapshot = await client.readRelease('api');
    await client.rollTo('api', snapshot.previous!, key(1));
    const undone = await client.rollTo('api', snapshot.current!, key(2));
    const made = newest(emulator);
    assert.equal(undone.current?.id, made.id);
    assert.equal(undone.current?.label, 'b4d5e6f Switch TTS provider');
    assert.equal(made.meta.imageDigest, bad.meta.imageDigest);
    assert.equal(emulator.mutations('deploymentRollback').length, 2);
  });

  test('the same rollTo twice with the same key sends one rollback: the second finds its deployment live', async () => {
    const { emulator, client, progress } = await setup();
    const before = await client.readRelease('api');
    const first = await client.rollTo('api', before.previous!, key(1));
    const second = await client.rollTo('api', before.previous!, key(1));
    assert.equal(emulator.mutations().length, 1);
    assert.deepEqual(second.current, first.current);
    assert.equal(progress.at(-1), `Railway service api: deployment ${first.current!.id}, made from ${before.previous!.id}, is already live; nothing sent`);
  });

  test('a retry after a worker died mid-rollout follows the rollback already under way and sends nothing', async () => {
    const { emulator, client, good, progress } = await setup();
    // The earlier attempt: its mutation reached Railway, then the worker died.
    const sent = await fetch(`${emulator.url}/graphql/v2`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation deploymentRollback($id: String!) { deploymentRollback(id: $id) }', variables: { id: good.id } }),
    });
    assert.deepEqual(await sent.json(), { data: { deploymentRollback: true } });
    const underWay = newest(emulator);
    const state = await client.rollTo('api', { id: good.id, label: 'a1b2c3d' }, key(1));
    assert.equal(emulator.mutations().length, 1, 'only the earlier attempt');
    assert.equal(state.current?.id, underWay.id);
    assert.equal(progress[0], `Railway service api: deployment ${underWay.id}, made from ${good.id}, is already under way; waiting for it`);
  });

  test('canRollback false: readRelease says the rollback is blocked, and rollTo refuses without sending anything', async () => {
    const { emulator, client, good } = await setup({ canRollback: false });
    const state = await client.readRelease('api');
    assert.equal(state.previous?.id, good.id);
    assert.equal(state.blocked, `Railway will not roll back to it: deployment ${good.id} has canRollback false (older than the plan's image retention, or not restorable)`);
    await assert.rejects(client.rollTo('api', state.previous!, key(1)), {
      message: `Railway will not roll back service api to deployment ${good.id} has canRollback false (older than the plan's image retention, or not restorable); nothing was sent. Deploy a known good commit instead (redeploy it from the dashboard, or push a revert)`,
    });
    assert.equal(emulator.mutations().length, 0);
  });

  test('GraphQL errors in a 200 answer are errors naming the operation', async () => {
    const { emulator, client, good } = await setup();
    emulator.graphqlErrorNext('deployments', 'Problem processing request');
    await assert.rejects(client.readRelease('api'), { message: 'Railway deployments POST /graphql/v2 answered with GraphQL errors: Problem processing request' });
    emulator.graphqlErrorNext('deploymentRollback', 'A rollback of this service is already in progress');
    await assert.rejects(client.rollTo('api', { id: good.id, label: '' }, key(1)), {
      message: 'Railway deploymentRollback POST /graphql/v2 answered with GraphQL errors: A rollback of this service is already in progress',
    });
    await assert.rejects(client.rollTo('api', { id: randomUUID(), label: '' }, key(2)), { message: 'Railway deployment POST /graphql/v2 answered with GraphQL errors: Deployment not found' });
  });

  test('a refused token: 401 names the variable to check, never the token', async () => {
    const { client } = await setup({ token: 'rw-wrong-token-000' });
    const error = await client.readRelease('api').catch((err: Error) => err);
    assert.equal(
      (error as Error).message,
      'Railway deployments POST /graphql/v2 answered 401: Not Authorized. The token in RAILWAY_API_TOKEN was refused: check it is a current Railway account or workspace token with access to this project (project tokens use the Project-Access-Token header, not Bearer).',
    );
    assert.ok(!(error as Error).message.includes('rw-wrong-token-000'));
  });

  test('a wrong endpoint: 404 says which baseUrl to use', async () => {
    const emulator = await new RailwayEmulator(TOKEN).start();
    emulators.push(emulator);
    const settings = railway.settingsSchema.parse({ services: { api: { serviceId: SERVICE, environmentId: ENVIRONMENT } }, baseUrl: `${emulator.url}/graphql/v1`, tokenEnv: 'RAILWAY_API_TOKEN' });
    const client = railway.create(settings, { env: { RAILWAY_API_TOKEN: TOKEN }, logger: quietLogger }).releases;
    await assert.rejects(client.readRelease('api'), {
      message: `Railway deployments POST /graphql/v1 answered 404: Railway emulator: no route POST /graphql/v1. No GraphQL endpoint at ${emulator.url}/graphql/v1: check baseUrl (Railway's is https://backboard.railway.com/graphql/v2).`,
    });
  });

  test('409 on the rollback is an error saying what to check; nothing is sent again', async () => {
    const { emulator, client, good } = await setup();
    emulator.failNextOperation('deploymentRollback', { status: 409, body: { errors: [{ message: 'Service has a deployment in progress' }] } });
    await assert.rejects(client.rollTo('api', { id: good.id, label: '' }, key(1)), {
      message:
        'Railway deploymentRollback POST /graphql/v2 answered 409: Service has a deployment in progress. Railway refused it as conflicting with the service\'s state (another deployment may be under way): check the service\'s deployments in the dashboard, then retry.',
    });
    assert.equal(emulator.mutations().length, 1);
  });

  test('429 with Retry-After: the request is asked again after the wait', async () => {
    const { emulator, client, good } = await setup();
    emulator.failNext({ status: 429, headers: { 'retry-after': '1', 'x-ratelimit-remaining': '0' }, body: { errors: [{ message: 'Rate limit exceeded' }] } });
    const state = await client.readRelease('api');
    assert.equal(state.previous?.id, good.id);
    const [limited, retried] = emulator.requests;
    assert.ok(retried!.at - limited!.at >= 1000, `asked again after ${retried!.at - limited!.at} ms`);
  });

  test('5xx: a query is asked again; the rollback mutation is not, and its error says to look before retrying', async () => {
    const { emulator, client, good } = await setup();
    emulator.failNext({ status: 503, body: { errors: [{ message: 'upstream unavailable' }] } });
    assert.equal((await client.readRelease('api')).previous?.id, good.id);
    emulator.failNextOperation('deploymentRollback', { status: 502, body: 'Bad Gateway' });
    await assert.rejects(client.rollTo('api', { id: good.id, label: '' }, key(1)), {
      message:
        "Railway deploymentRollback POST /graphql/v2 answered 502: Bad Gateway. Railway failed: see https://status.railway.com, and check the service's deployments in the dashboard before retrying.",
    });
    assert.equal(emulator.mutations().length, 1);
  });

  for (const status of ['FAILED', 'CRASHED'] as const) {
    test(`a rollback deployment that ends ${status} is an error with that status`, async () => {
      const { emulator, client, good } = await setup();
      emulator.failNextDeployment(SERVICE, status);
      const error = await client.rollTo('api', { id: good.id, label: '' }, key(1)).catch((err: Error) => err);
      const made = newest(emulator);
      assert.equal(
        (error as Error).message,
        `Railway service api: deployment ${made.id} (rolling back to ${good.id}) ended ${status}, so the rollback did not take; see its build and deploy logs in the Railway dashboard`,
      );
    });
  }

  test('a rollback deployment that never finishes: an error after timeoutSeconds naming its status', async () => {
    const { emulator, client, good } = await setup({ settings: { timeoutSeconds: 1, pollIntervalMs: 100 } });
    emulator.failNextDeployment(SERVICE, 'HOLD');
    const error = await client.rollTo('api', { id: good.id, label: '' }, key(1)).catch((err: Error) => err);
    assert.equal(
      (error as Error).message,
      `Railway service api: deployment ${newest(emulator).id} (rolling back to ${good.id}) is still DEPLOYING after 1s; it may yet finish: check it in the Railway dashboard before retrying`,
    );
  });

  test('method redeploy-previous-image: deploymentRedeploy with usePreviousImageTag, the same image served again', async () => {
    const { emulator, client, good } = await setup({ settings: { method: 'redeploy-previous-image' } });
    const state = await client.rollTo('api', { id: good.id, label: '' }, key(1));
    const [redeploy] = emulator.mutations('deploymentRedeploy');
    assert.deepEqual((redeploy!.body as { variables: unknown }).variables, { id: good.id, usePreviousImageTag: true });
    assert.equal(emulator.mutations('deploymentRollback').length, 0);
    const made = newest(emulator);
    assert.equal(state.current?.id, made.id);
    assert.equal(made.meta.imageDigest, good.meta.imageDigest);
    await client.rollTo('api', { id: good.id, label: '' }, key(1));
    assert.equal(emulator.mutations().length, 1, 'the repeat finds the redeploy live');
  });

  test('a deployment of another service, or an unknown target, is refused without sending anything', async () => {
    const { emulator, client } = await setup();
    const other = emulator.deployments.find((d) => d.serviceId === OTHER_SERVICE)!;
    await assert.rejects(client.rollTo('api', { id: other.id, label: '' }, key(1)), {
      message: `Railway deployment ${other.id} belongs to service ${OTHER_SERVICE} in environment ${ENVIRONMENT}, not to api (service ${SERVICE} in environment ${ENVIRONMENT}): refusing to roll api to it`,
    });
    await assert.rejects(client.readRelease('web'), { message: "Railway: no service named 'web' in the runbook's services setting (known: api)" });
    assert.equal(emulator.mutations().length, 0);
  });

  test('findRelease: a deployment id of the service is that release; an unknown id, a non-id or another service\'s deployment is null', async () => {
    const { emulator, client, good, failed } = await setup();
    const initial = emulator.deployments.find((d) => d.meta.commitMessage === 'Initial voice companion')!;
    assert.deepEqual(await client.findRelease('api', initial.id), {
      id: initial.id,
      label: '0f0e0d0 Initial voice companion',
      createdAt: initial.createdAt,
      image: initial.meta.imageDigest,
    });
    assert.equal((await client.findRelease('api', good.id))?.label, 'a1b2c3d Add voice input retries');
    assert.equal((await client.findRelease('api', failed.id))?.id, failed.id, 'it exists; rollTo says why it cannot be rolled to');
    assert.equal(await client.findRelease('api', randomUUID()), null);
    const other = emulator.deployments.find((d) => d.serviceId === OTHER_SERVICE)!;
    assert.equal(await client.findRelease('api', other.id), null);
    const asked = emulator.requests.length;
    assert.equal(await client.findRelease('api', 'v41'), null);
    assert.equal(emulator.requests.length, asked, 'a name that is no deployment id is not sent');
    assert.equal(emulator.mutations().length, 0);
  });

  test('listReleases: the deployments that served, newest first, the live one included, at most the limit', async () => {
    const { client, good, bad } = await setup({ failedBetween: 3 });
    const listed = await client.listReleases('api', 10);
    assert.deepEqual(
      listed.map((r) => r.label),
      ['b4d5e6f Switch TTS provider', 'a1b2c3d Add voice input retries', '0f0e0d0 Initial voice companion'],
    );
    assert.deepEqual(
      (await client.listReleases('api', 2)).map((r) => r.id),
      [bad.id, good.id],
    );
  });

  test('rollTo a chosen deployment (not the previous one): one deploymentRollback of that id, followed to SUCCESS; a repeat sends nothing', async () => {
    const { emulator, client, bad } = await setup();
    const initial = emulator.deployments.find((d) => d.meta.commitMessage === 'Initial voice companion')!;
    const chosen = (await client.findRelease('api', initial.id))!;
    const state = await client.rollTo('api', chosen, key(1));
    const made = newest(emulator);
    assert.deepEqual(
      emulator.mutations().map((r) => (r.body as { variables: unknown }).variables),
      [{ id: initial.id }],
    );
    assert.deepEqual(made.meta, { ...initial.meta, reason: 'rollback' });
    assert.equal(made.status, 'SUCCESS');
    assert.equal(emulator.get(bad.id).status, 'REMOVED');
    assert.equal(state.current?.id, made.id);
    assert.equal(state.current?.label, '0f0e0d0 Initial voice companion');
    assert.equal(state.previous?.id, bad.id, 'what the undo goes back to');

    const again = await client.rollTo('api', chosen, key(1));
    assert.equal(emulator.mutations().length, 1, 'the repeat finds its deployment live');
    assert.deepEqual(again.current, state.current);
  });

  test('rollTo a deployment that never served (a failed build) is refused naming ones that did; nothing is sent', async () => {
    const { emulator, client, good, failed, bad } = await setup();
    await assert.rejects(client.rollTo('api', { id: failed.id, label: 'c0ffee0 Bump deps' }, key(1)), {
      message: `Railway service api: deployment ${failed.id} is FAILED: it never served, so there is nothing of it to roll back to; nothing was sent. Deployments that served: ${bad.id}, ${good.id}, ${emulator.deployments[0]!.id}`,
    });
    assert.equal(emulator.mutations().length, 0);
  });

  test('bad settings are refused naming the field', () => {
    const base = { services: { api: { serviceId: SERVICE, environmentId: ENVIRONMENT } }, tokenEnv: 'RAILWAY_API_TOKEN' };
    const issues = (settings: unknown) => {
      const parsed = railway.settingsSchema.safeParse(settings);
      assert.equal(parsed.success, false);
      return parsed.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    assert.deepEqual(issues({ ...base, services: { api: { serviceId: 'api', environmentId: ENVIRONMENT } } }), [
      'services.api.serviceId: must be a Railway id, a UUID like 8107edff-4b8e-44fc-b43a-04566e847a2a (Cmd/Ctrl+K in the project copies it)',
    ]);
    assert.deepEqual(issues({ ...base, services: {} }), ['services: must name at least one service']);
    assert.deepEqual(issues({ ...base, tokenEnv: 'rw_live_abc' }), ['tokenEnv: must name an environment variable (like SLACK_WEBHOOK_URL), not hold its value']);
    assert.match(issues({ ...base, method: 'revert' })[0]!, /^method: /);
    assert.match(issues({ ...base, token: 'x' })[0]!, /^: Unrecognized key: "token"/);
    assert.equal(railway.settingsSchema.parse(base).baseUrl, 'https://backboard.railway.com/graphql/v2');
  });
});
