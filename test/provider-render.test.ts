/**
 * The render provider against an emulator of the Render REST API (test/emulators/render.ts): reading a
 * service's live and previous deploy (cursor pagination), rolling back to the previous one and back
 * again, the auto-deploy warning, a repeat that sends nothing more, an earlier attempt's rollback
 * deploy found and followed, a deploy that never went live refused, rollback deploys that fail or never
 * finish, HTTP 401, 404, 409, 429 (Retry-After waited out), 5xx, and bad settings refused. Releases
 * named by deploy id (`dep-...`): found, listed, unknown ones null, and a chosen deploy (not only the
 * previous one) rolled to once.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { render } from '../src/providers/render/render.ts';
import type { ReleasesClient } from '../src/providers/types.ts';
import { RenderEmulator, type RenderDeploy } from './emulators/render.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'rnd_secretKey9f3a2c';
const key = (n: number) => ({ idempotencyKey: `rollback-render-${n}`, actor: 'test' });

interface Setup {
  emulator: RenderEmulator;
  client: ReleasesClient;
  srv: string;
  good: RenderDeploy;
  bad: RenderDeploy;
  progress: string[];
}

const emulators: RenderEmulator[] = [];
after(async () => Promise.all(emulators.map((e) => e.stop())));

/** A service whose good deploy was replaced by a bad one (with a failed build between). */
async function setup(options: { autoDeploy?: 'yes' | 'no'; settings?: Record<string, unknown>; token?: string; failedBetween?: number } = {}): Promise<Setup> {
  const emulator = await new RenderEmulator(TOKEN).start();
  emulators.push(emulator);
  const srv = emulator.addService({ name: 'rose-api', autoDeploy: options.autoDeploy ?? 'no' }).id;
  emulator.addDeploy(srv, { status: 'deactivated', minutesAgo: 600, commit: '0f0e0d0c0b0a09080706050403020100ffeeddcc', message: 'Initial voice companion' });
  const good = emulator.addDeploy(srv, { status: 'deactivated', minutesAgo: 120, commit: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', message: 'Add voice input retries\n\nRetries twice.' });
  for (let n = 0; n < (options.failedBetween ?? 1); n++) {
    emulator.addDeploy(srv, { status: 'build_failed', minutesAgo: 60 - n / 10, commit: `c0ffee${String(n).padStart(34, '0')}`, message: `Bump deps ${n}` });
  }
  const bad = emulator.addDeploy(srv, { status: 'live', minutesAgo: 30, commit: 'b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', message: 'Switch TTS provider' });
  const settings = render.settingsSchema.parse({ services: { api: srv }, baseUrl: `${emulator.url}/v1`, tokenEnv: 'RENDER_API_KEY', pollIntervalMs: 10, ...options.settings });
  const progress: string[] = [];
  const client = render.create(settings, { env: { RENDER_API_KEY: options.token ?? TOKEN }, logger: quietLogger }).releases;
  const wrapped: ReleasesClient = {
    readRelease: (target) => client.readRelease(target),
    listReleases: (target, limit) => client.listReleases(target, limit),
    findRelease: (target, name) => client.findRelease(target, name),
    rollTo: (target, release, opts) => client.rollTo(target, release, { onProgress: (line) => progress.push(line), ...opts }),
  };
  return { emulator, client: wrapped, srv, good, bad, progress };
}

const newest = (emulator: RenderEmulator, srv: string) => emulator.deploysOf(srv)[0]!;
const warning = (srv: string) =>
  `Render service api (${srv}) still has auto-deploy on: Render's rollback does not turn it off, so the next push to its branch deploys the bad commit again. Turn it off now (dashboard: Settings > Build & Deploy > Auto-Deploy: Off, or PATCH /v1/services/${srv} {"autoDeploy": "no"}) until the fix is merged`;

describe('render provider against an emulator of the documented API', () => {
  test('readRelease: the live deploy is current; the deactivated one before it is previous; autoDeploy in the detail', async () => {
    const { emulator, client, srv, good, bad } = await setup();
    const state = await client.readRelease('api');
    assert.deepEqual(state, {
      target: 'api',
      current: { id: bad.id, label: 'b4d5e6f Switch TTS provider', createdAt: bad.createdAt },
      previous: { id: good.id, label: 'a1b2c3d Add voice input retries', createdAt: good.createdAt },
      detail: { serviceId: srv, autoDeploy: 'no', trigger: 'new_commit' },
    });
    assert.deepEqual(
      emulator.requests.map((r) => `${r.method} ${r.path}?${r.query}`),
      [`GET /v1/services/${srv}?`, `GET /v1/services/${srv}/deploys?limit=20`],
    );
    assert.equal(emulator.requests[0]!.headers.authorization, `Bearer ${TOKEN}`);
  });

  test('readRelease follows the cursor of the last deploy to the next page when the previous one is further back', async () => {
    const { emulator, client, good } = await setup({ failedBetween: 25 });
    assert.equal((await client.readRelease('api')).previous?.id, good.id);
    const lists = emulator.requests.filter((r) => r.path.endsWith('/deploys'));
    assert.equal(lists.length, 2);
    assert.equal(lists[0]!.query.get('cursor'), null);
    assert.ok(lists[1]!.query.get('cursor'));
  });

  test('rollTo the previous deploy: one POST rollback, its deploy followed to live, the bad one deactivated', async () => {
    const { emulator, client, srv, good, bad, progress } = await setup();
    const before = await client.readRelease('api');
    const state = await client.rollTo('api', before.previous!, key(1));
    const made = newest(emulator, srv);
    assert.deepEqual(
      emulator.writes().map((r) => [r.method, r.path, r.body]),
      [['POST', `/v1/services/${srv}/rollback`, { deployId: good.id }]],
    );
    assert.equal(made.trigger, 'rollback');
    assert.deepEqual(made.commit, good.commit);
    assert.equal(made.status, 'live');
    assert.equal(emulator.deploysOf(srv).find((d) => d.id === bad.id)!.status, 'deactivated');
    assert.deepEqual(progress, [
      `Render service api: rollback to deploy ${good.id} sent (new deploy ${made.id})`,
      `Render service api: deploy ${made.id} (rollback to ${good.id}) is build_in_progress`,
      `Render service api: deploy ${made.id} (rollback to ${good.id}) is update_in_progress`,
      `Render service api: deploy ${made.id} (rollback to ${good.id}) is live`,
    ]);
    assert.deepEqual(state, {
      target: 'api',
      current: { id: made.id, label: 'a1b2c3d Add voice input retries', createdAt: made.createdAt },
      previous: { id: bad.id, label: 'b4d5e6f Switch TTS provider', createdAt: bad.createdAt },
      detail: { serviceId: srv, autoDeploy: 'no', trigger: 'rollback', rollbackDeploy: made.id },
    });
  });

  test('autoDeploy yes: rollTo warns in a progress line and in the returned detail that the next push redeploys the bad commit', async () => {
    const { client, srv, good, progress } = await setup({ autoDeploy: 'yes' });
    const state = await client.rollTo('api', { id: good.id, label: '' }, key(1));
    assert.ok(progress.includes(warning(srv)), progress.join('\n'));
    assert.equal(state.detail?.warning, warning(srv));
    assert.equal(state.detail?.autoDeploy, 'yes');
  });

  test('undo: rolling back to what the snapshot read as current puts its build back', async () => {
    const { emulator, client, srv, bad } = await setup();
    const snapshot = await client.readRelease('api');
    await client.rollTo('api', snapshot.previous!, key(1));
    const undone = await client.rollTo('api', snapshot.current!, key(2));
    assert.equal(undone.current?.label, 'b4d5e6f Switch TTS provider');
    assert.deepEqual(newest(emulator, srv).commit, bad.commit);
    assert.deepEqual(emulator.writes().map((r) => (r.body as { deployId: string }).deployId), [snapshot.previous!.id, bad.id]);
  });

  test('the same rollTo twice with the same key sends one rollback: the second finds its rollback deploy live', async () => {
    const { emulator, client, good, progress } = await setup();
    const first = await client.rollTo('api', { id: good.id, label: '' }, key(1));
    const second = await client.rollTo('api', { id: good.id, label: '' }, key(1));
    assert.equal(emulator.writes().length, 1);
    assert.deepEqual(second.current, first.current);
    assert.equal(progress.at(-1), `Render service api: deploy ${first.current!.id}, a rollback to ${good.id}, is already live; nothing sent`);
    // Rolling to the deploy that is live itself sends nothing either.
    await client.rollTo('api', first.current!, key(2));
    assert.equal(emulator.writes().length, 1);
  });

  test('a retry after a worker died mid-rollout follows the rollback deploy already under way and sends nothing', async () => {
    const { emulator, client, srv, good, progress } = await setup();
    const sent = await fetch(`${emulator.url}/v1/services/${srv}/rollback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deployId: good.id }),
    });
    const underWay = (await sent.json()) as RenderDeploy;
    assert.equal(sent.status, 201);
    const state = await client.rollTo('api', { id: good.id, label: '' }, key(1));
    assert.equal(emulator.writes().length, 1, 'only the earlier attempt');
    assert.equal(state.current?.id, underWay.id);
    assert.equal(progress[0], `Render service api: deploy ${underWay.id}, a rollback to ${good.id}, is already under way; waiting for it`);
  });

  test('a deploy that never went live is refused without sending anything', async () => {
    const { emulator, client, srv } = await setup();
    const failed = emulator.deploysOf(srv).find((d) => d.status === 'build_failed')!;
    await assert.rejects(client.rollTo('api', { id: failed.id, label: '' }, key(1)), {
      message: `Render service api: deploy ${failed.id} ended build_failed and never went live, and Render only rolls back to a deploy that went live; nothing was sent`,
    });
    assert.equal(emulator.writes().length, 0);
  });

  for (const fate of ['build_failed', 'update_failed', 'canceled', 'deactivated'] as const) {
    test(`a rollback deploy that ends ${fate} is an error with that status`, async () => {
      const { emulator, client, srv, good } = await setup();
      emulator.failNextDeploy(srv, fate);
      const error = await client.rollTo('api', { id: good.id, label: '' }, key(1)).catch((err: Error) => err);
      assert.equal(
        (error as Error).message,
        `Render service api: deploy ${newest(emulator, srv).id} (rollback to ${good.id}) ended ${fate}, so the rollback did not take; see the deploy's logs in the service's events in the Render dashboard`,
      );
    });
  }

  test('a rollback deploy that never finishes: an error after timeoutSeconds naming its status', async () => {
    const { emulator, client, srv, good } = await setup({ settings: { timeoutSeconds: 1, pollIntervalMs: 100 } });
    emulator.failNextDeploy(srv, 'hold');
    const error = await client.rollTo('api', { id: good.id, label: '' }, key(1)).catch((err: Error) => err);
    assert.equal(
      (error as Error).message,
      `Render service api: deploy ${newest(emulator, srv).id} (rollback to ${good.id}) is still update_in_progress after 1s; it may yet go live: check the service's events in the Render dashboard before retrying`,
    );
  });

  test('a refused API key: 401 names the variable to check, never the key', async () => {
    const { client, srv } = await setup({ token: 'rnd_wrongKey000' });
    const error = await client.readRelease('api').catch((err: Error) => err);
    assert.equal(
      (error as Error).message,
      `Render API GET /services/${srv} answered 401: unauthorized. The API key in RENDER_API_KEY was refused: check it is a current Render API key (Account Settings > API Keys) of a member of the service's workspace.`,
    );
    assert.ok(!(error as Error).message.includes('rnd_wrongKey000'));
  });

  test('404: an unknown service, or a deploy of another service, names the request and what to check', async () => {
    const { emulator, client, srv } = await setup({ settings: {} });
    const settings = render.settingsSchema.parse({ services: { api: 'srv-doesnotexist0' }, baseUrl: `${emulator.url}/v1`, tokenEnv: 'RENDER_API_KEY' });
    const lost = render.create(settings, { env: { RENDER_API_KEY: TOKEN }, logger: quietLogger }).releases;
    const advice = "No such service or deploy for this API key: check the service id in the runbook's services setting, and that the deploy belongs to that service.";
    await assert.rejects(lost.readRelease('api'), { message: `Render API GET /services/srv-doesnotexist0 answered 404: service not found. ${advice}` });
    await assert.rejects(client.rollTo('api', { id: 'dep-ffffffffffffffffffff', label: '' }, key(1)), {
      message: `Render API GET /services/${srv}/deploys/dep-ffffffffffffffffffff answered 404: deploy not found. ${advice}`,
    });
    assert.equal(emulator.writes().length, 0);
  });

  test('409 on the rollback is an error saying what to check', async () => {
    const { emulator, client, srv, good } = await setup();
    emulator.failNext({ status: 409, body: { id: 'conflict', message: 'a deploy is already in progress' } }, { method: 'POST' });
    await assert.rejects(client.rollTo('api', { id: good.id, label: '' }, key(1)), {
      message: `Render API POST /services/${srv}/rollback answered 409: a deploy is already in progress. Render refused it as conflicting with the service's state (another deploy may be under way): check the service's events in the dashboard, then retry.`,
    });
  });

  test('429 with Retry-After: the request is asked again after the wait', async () => {
    const { emulator, client, good } = await setup();
    emulator.failNext(
      { status: 429, headers: { 'retry-after': '1', 'ratelimit-limit': '400', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' }, body: { id: 'rate_limited', message: 'rate limit exceeded' } },
      { method: 'GET' },
    );
    assert.equal((await client.readRelease('api')).previous?.id, good.id);
    const [limited, retried] = emulator.requests;
    assert.equal(retried!.path, limited!.path);
    assert.ok(retried!.at - limited!.at >= 1000, `asked again after ${retried!.at - limited!.at} ms`);
  });

  test('5xx: a read is asked again; the rollback POST is not, and its error says to look before retrying', async () => {
    const { emulator, client, srv, good } = await setup();
    emulator.failNext({ status: 503, body: { id: 'unavailable', message: 'service unavailable' } }, { method: 'GET', path: /\/deploys$/ });
    assert.equal((await client.readRelease('api')).previous?.id, good.id);
    emulator.failNext({ status: 500, body: { id: 'internal', message: 'internal server error' } }, { method: 'POST' });
    await assert.rejects(client.rollTo('api', { id: good.id, label: '' }, key(1)), {
      message: `Render API POST /services/${srv}/rollback answered 500: internal server error. Render failed: see https://status.render.com, and check the service's events in the dashboard before retrying.`,
    });
    assert.equal(emulator.writes().length, 1);
  });

  test('findRelease: a deploy id of the service is that release; an unknown id, a non-id or another service\'s deploy is null', async () => {
    const { emulator, client, srv, good } = await setup();
    const initial = emulator.deploysOf(srv).at(-1)!;
    assert.deepEqual(await client.findRelease('api', initial.id), { id: initial.id, label: '0f0e0d0 Initial voice companion', createdAt: initial.createdAt });
    assert.equal((await client.findRelease('api', good.id))?.label, 'a1b2c3d Add voice input retries');
    assert.equal(await client.findRelease('api', 'dep-0000000000000000000a'), null);
    const other = emulator.addService({ name: 'rose-worker', autoDeploy: 'no' }).id;
    const elsewhere = emulator.addDeploy(other, { status: 'live', minutesAgo: 5, commit: 'dddddddddddddddddddddddddddddddddddddddd', message: 'Worker change' });
    assert.equal(await client.findRelease('api', elsewhere.id), null, "another service's deploy is none of this target's");
    const asked = emulator.requests.length;
    assert.equal(await client.findRelease('api', 'v41'), null);
    assert.equal(emulator.requests.length, asked, 'a name that is no deploy id is not sent');
    assert.equal(emulator.writes().length, 0);
  });

  test('listReleases: the deploys that went live, newest first, the live one included, at most the limit', async () => {
    const { client, good, bad } = await setup({ failedBetween: 3 });
    assert.deepEqual(
      (await client.listReleases('api', 10)).map((r) => r.label),
      ['b4d5e6f Switch TTS provider', 'a1b2c3d Add voice input retries', '0f0e0d0 Initial voice companion'],
    );
    assert.deepEqual(
      (await client.listReleases('api', 2)).map((r) => r.id),
      [bad.id, good.id],
    );
  });

  test('rollTo a chosen deploy (not the previous one): one POST rollback with its id, followed to live; a repeat sends nothing', async () => {
    const { emulator, client, srv, bad } = await setup();
    const initial = emulator.deploysOf(srv).at(-1)!;
    const chosen = (await client.findRelease('api', initial.id))!;
    const state = await client.rollTo('api', chosen, key(1));
    const made = newest(emulator, srv);
    assert.deepEqual(
      emulator.writes().map((r) => [r.method, r.path, r.body]),
      [['POST', `/v1/services/${srv}/rollback`, { deployId: initial.id }]],
    );
    assert.equal(made.trigger, 'rollback');
    assert.deepEqual(made.commit, initial.commit);
    assert.equal(made.status, 'live');
    assert.equal(state.current?.id, made.id);
    assert.equal(state.current?.label, '0f0e0d0 Initial voice companion');
    assert.equal(state.previous?.id, bad.id, 'what the undo goes back to');

    const again = await client.rollTo('api', chosen, key(1));
    assert.equal(emulator.writes().length, 1, 'the repeat finds its rollback deploy live');
    assert.deepEqual(again.current, state.current);
  });

  test('an unknown target is refused naming the known ones', async () => {
    const { client } = await setup();
    await assert.rejects(client.readRelease('web'), { message: "Render: no service named 'web' in the runbook's services setting (known: api)" });
  });

  test('bad settings are refused naming the field', () => {
    const issues = (settings: unknown) => {
      const parsed = render.settingsSchema.safeParse(settings);
      assert.equal(parsed.success, false);
      return parsed.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    assert.deepEqual(issues({ services: { api: 'rose-api' }, tokenEnv: 'RENDER_API_KEY' }), [
      "services.api: must be a Render service id like srv-cmeq3ls2fijc73b1ue3g (in the service's dashboard URL)",
    ]);
    assert.deepEqual(issues({ services: {}, tokenEnv: 'RENDER_API_KEY' }), ['services: must name at least one service']);
    assert.deepEqual(issues({ services: { api: 'srv-abc' }, tokenEnv: 'rnd_abc' }), ['tokenEnv: must name an environment variable (like SLACK_WEBHOOK_URL), not hold its value']);
    assert.match(issues({ services: { api: 'srv-abc' }, tokenEnv: 'RENDER_API_KEY', timeoutSeconds: 0 })[0]!, /^timeoutSeconds: /);
    assert.equal(render.settingsSchema.parse({ services: { api: 'srv-abc' }, tokenEnv: 'RENDER_API_KEY' }).baseUrl, 'https://api.render.com/v1');
  });
});
