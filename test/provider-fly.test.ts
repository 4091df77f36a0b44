/**
 * The fly-machines provider against an emulator of the Fly Machines REST API (test/emulators/fly-machines.ts):
 * Machine counts per app (scale up by copying a Machine's config, down by stop then destroy), the image
 * the Machines run and the one before it (roll back and forth), their env vars and restarts; every
 * change to a Machine made under its lease, nothing sent twice for the same idempotency key, the
 * documented rate limits kept, and each failure named plainly.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { RESTART_MARK, SCALE_KEY } from '../src/providers/fly/api.ts';
import { flyMachines } from '../src/providers/fly/fly-machines.ts';
import type { ChangeOptions } from '../src/providers/types.ts';
import { FlyMachinesEmulator, type EmulatedMachine } from './emulators/fly-machines.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'fo1_test_7c2d9e4b';
const STABLE = 'clinic-app';
const CANARY = 'clinic-app-canary';
const V1 = 'registry.fly.io/clinic-app:deployment-01JA4XK2';
const V2 = 'registry.fly.io/clinic-app:deployment-01JB7QW9';
const V0 = 'registry.fly.io/clinic-app:deployment-01J9ZZ01';
const V41 = 'ghcr.io/clinic/app:v41';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const PINNED = `registry.fly.io/clinic-app@${DIGEST}`;
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
const key = (idempotencyKey: string): ChangeOptions => ({ idempotencyKey, actor: 'oncall@clinic.example' });

async function setup(t: TestContext, settings: Record<string, unknown> = {}, env: Record<string, string> = { FLY_API_TOKEN: TOKEN }) {
  const emulator = await new FlyMachinesEmulator(TOKEN).start();
  t.after(() => emulator.stop());
  emulator.addApp(STABLE);
  emulator.addApp(CANARY);
  const parsed = flyMachines.settingsSchema.parse({
    apps: { stable: STABLE, canary: CANARY },
    baseUrl: emulator.url,
    tokenEnv: 'FLY_API_TOKEN',
    configVersion: 'stable',
    pollIntervalMs: 10,
    requestTimeoutMs: 5000,
    waitTimeoutSeconds: 5,
    ...settings,
  });
  return { emulator, client: flyMachines.create(parsed, { env, logger: quietLogger }) };
}

/** Requests that change something (everything but GET). */
const writes = (emulator: FlyMachinesEmulator) => emulator.requests.filter((r) => r.method !== 'GET');
const machinePath = (app: string, m: EmulatedMachine) => `/v1/apps/${app}/machines/${m.id}`;

describe('fly-machines provider against an emulator of the documented API', () => {
  describe('scaling', () => {
    test('readState counts the started Machines of each version\'s app, with the bearer token, and no weights', async (t) => {
      const { emulator, client } = await setup(t);
      for (let i = 0; i < 3; i++) emulator.addMachine(STABLE, { image: V2 });
      emulator.addMachine(STABLE, { image: V2, state: 'stopped' });
      emulator.addMachine(CANARY, { image: V2 });

      assert.deepEqual(await client.scaling.readState(), { weights: {}, instances: { stable: 3, canary: 1 } });
      assert.deepEqual(emulator.requests.map((r) => `${r.method} ${r.path}`), [`GET /v1/apps/${STABLE}/machines`, `GET /v1/apps/${CANARY}/machines`]);
      assert.equal(emulator.requests[0]!.headers.authorization, `Bearer ${TOKEN}`);
    });

    test('scale up creates Machines from the newest started Machine\'s config, tagged with the key; the same key again creates nothing', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(CANARY, { image: V1, env: { USE_LANGGRAPH: 'false' }, createdAt: hoursAgo(5) });
      emulator.addMachine(CANARY, { image: V2, env: { USE_LANGGRAPH: 'true' }, region: 'ord', createdAt: hoursAgo(1) });

      assert.deepEqual(await client.scaling.scale('canary', 4, key('wf-1:scale-canary')), { weights: {}, instances: { stable: 0, canary: 4 } });
      const creates = emulator.calls('POST', new RegExp(`^/v1/apps/${CANARY}/machines$`));
      assert.equal(creates.length, 2);
      for (const create of creates) {
        const body = create.body as { config: { image: string; env: Record<string, string>; metadata: Record<string, string>; guest: unknown }; region: string };
        assert.equal(body.config.image, V2);
        assert.deepEqual(body.config.env, { USE_LANGGRAPH: 'true' });
        assert.deepEqual(body.config.guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 512 });
        assert.deepEqual(body.config.metadata, { fly_platform_version: 'v2', fly_process_group: 'app', [SCALE_KEY]: 'wf-1:scale-canary' });
        assert.equal(body.region, 'ord');
      }
      assert.deepEqual(emulator.machines(CANARY).map((m) => m.state), ['started', 'started', 'started', 'started']);
      // It waited for each new Machine's instance to start.
      assert.equal(emulator.calls('GET', /\/wait$/).filter((r) => r.query.get('state') === 'started').length, 2);

      const before = writes(emulator).length;
      assert.deepEqual(await client.scaling.scale('canary', 4, key('wf-1:scale-canary')), { weights: {}, instances: { stable: 0, canary: 4 } });
      assert.equal(writes(emulator).length, before, 'a repeat with the same key sends no change');
    });

    test('a retry counts the Machines its first attempt created that are still starting', async (t) => {
      const { emulator, client } = await setup(t, { region: 'fra' });
      emulator.addMachine(CANARY, { image: V2 });
      // The first attempt created one of two Machines and died; that Machine is still booting.
      const booting = emulator.addMachine(CANARY, { image: V2, metadata: { [SCALE_KEY]: 'wf-2:scale' } });
      booting.state = 'starting';
      setTimeout(() => (booting.state = 'started'), 50);

      assert.deepEqual((await client.scaling.scale('canary', 3, key('wf-2:scale'))).instances.canary, 3);
      const creates = emulator.calls('POST', new RegExp(`^/v1/apps/${CANARY}/machines$`));
      assert.equal(creates.length, 1, 'only the Machine still missing is created');
      assert.equal((creates[0]!.body as { region: string }).region, 'fra', 'the region setting places new Machines');
    });

    test('scale down stops then destroys the newest Machines, each under its lease; the same key again sends nothing; undo scales back up', async (t) => {
      const { emulator, client } = await setup(t);
      const [oldest, middle, newest] = [3, 2, 1].map((h) => emulator.addMachine(STABLE, { image: V2, createdAt: hoursAgo(h) }));

      assert.deepEqual((await client.scaling.scale('stable', 1, key('wf-3:scale-down'))).instances, { stable: 1, canary: 0 });
      assert.deepEqual(emulator.machines(STABLE).map((m) => m.id), [oldest!.id]);
      assert.equal(oldest!.state, 'started');
      for (const m of [newest!, middle!]) {
        const calls = emulator.requests.filter((r) => r.path.startsWith(machinePath(STABLE, m)));
        assert.deepEqual(
          calls.map((r) => `${r.method} ${r.path.slice(machinePath(STABLE, m).length) || '/'}${r.path.endsWith('/wait') ? `?state=${r.query.get('state')}` : ''}`),
          ['POST /lease', 'POST /stop', 'GET /wait?state=stopped', 'DELETE /'],
        );
        const lease = calls[0]!;
        assert.deepEqual(lease.body, { ttl: 40, description: 'rollback-runbooks wf-3:scale-down' });
        for (const change of calls.slice(1).filter((r) => r.method !== 'GET')) assert.ok(change.headers['fly-machine-lease-nonce'], `${change.method} ${change.path} carries the lease nonce`);
      }
      // Newest first.
      assert.ok(emulator.calls('DELETE').findIndex((r) => r.path.endsWith(newest!.id)) < emulator.calls('DELETE').findIndex((r) => r.path.endsWith(middle!.id)));

      const before = writes(emulator).length;
      await client.scaling.scale('stable', 1, key('wf-3:scale-down'));
      assert.equal(writes(emulator).length, before, 'a repeat with the same key sends no change');

      assert.deepEqual((await client.scaling.scale('stable', 3, key('wf-3:undo'))).instances, { stable: 3, canary: 0 });
    });

    test('scale to 0 keeps the last Machine stopped, so scaling back up has a config to copy', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(CANARY, { image: V2, createdAt: hoursAgo(2), env: { USE_LANGGRAPH: 'true' } });
      emulator.addMachine(CANARY, { image: V2, createdAt: hoursAgo(1), env: { USE_LANGGRAPH: 'true' } });

      assert.deepEqual((await client.scaling.scale('canary', 0, key('wf-4:stop-canary'))).instances.canary, 0);
      assert.deepEqual(emulator.machines(CANARY).map((m) => m.state), ['stopped']);
      assert.equal(emulator.machines(CANARY)[0]!.lease, null, 'the kept Machine\'s lease is released');

      assert.deepEqual((await client.scaling.scale('canary', 2, key('wf-4:undo'))).instances.canary, 2);
      const created = emulator.machines(CANARY).filter((m) => m.state === 'started');
      assert.deepEqual(created.map((m) => [m.config.image, m.config.env]), [[V2, { USE_LANGGRAPH: 'true' }], [V2, { USE_LANGGRAPH: 'true' }]]);
    });

    test('an app without any Machine cannot be scaled up, and the error says what to do; an unknown version names the known ones', async (t) => {
      const { emulator, client } = await setup(t);
      await assert.rejects(client.scaling.scale('canary', 2, key('wf-5')), {
        message: `Fly Machines API: app ${CANARY} (version canary) has no Machines to copy a config from, so it cannot be scaled to 2; deploy it once (\`fly deploy -a ${CANARY}\`) or scale it with \`fly scale count 2 -a ${CANARY}\`, then run this step again`,
      });
      await assert.rejects(client.scaling.scale('blue', 2, key('wf-5')), { message: "Fly Machines API: no Fly app for version 'blue'; settings.apps names: stable, canary" });
      assert.equal(writes(emulator).length, 0);
    });

    test('creates in one app are paced to the documented rate limit: bursts of 3, then 1 per second', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(CANARY, { image: V2 });
      await client.scaling.scale('canary', 5, key('wf-6'));
      const creates = emulator.calls('POST', new RegExp(`^/v1/apps/${CANARY}/machines$`));
      assert.equal(creates.length, 4);
      assert.ok(creates[3]!.at - creates[0]!.at >= 950, `the 4th create waited for the bucket to refill (${creates[3]!.at - creates[0]!.at} ms)`);
    });
  });

  describe('releases', () => {
    test('readRelease: the image the Machines run, and the one before it from the Machine\'s config versions', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(STABLE, { image: V2, history: [V1], createdAt: hoursAgo(2) });
      const newest = emulator.addMachine(STABLE, { image: V2, history: [V1], createdAt: hoursAgo(1) });

      const state = await client.releases.readRelease('stable');
      // The digest the tag resolved to at deploy (image_ref) is a name the release answers to.
      assert.deepEqual(state.current, { id: V2, label: V2, image: V2, createdAt: newest.updated_at, aliases: [newest.image_ref.digest] });
      assert.deepEqual(state.previous, { id: V1, label: V1, image: V1 });
      assert.equal(state.target, 'stable');
      assert.equal((state.detail!.machines as unknown[]).length, 2);
      assert.equal(state.detail!.mixedImages, undefined);
      assert.equal(emulator.calls('GET', /\/versions$/).length, 1);
    });

    test('Machines on different images: reported in detail, the most common is current', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(STABLE, { image: V2, history: [V1] });
      emulator.addMachine(STABLE, { image: V2, history: [V1] });
      emulator.addMachine(STABLE, { image: V1 });

      const state = await client.releases.readRelease('stable');
      assert.equal(state.current!.image, V2);
      assert.equal(state.previous!.image, V1);
      assert.deepEqual(state.detail!.mixedImages, { [V2]: 2, [V1]: 1 });
      assert.deepEqual(await client.releases.readRelease('canary'), { target: 'canary', current: null, previous: null, detail: { app: CANARY, machines: [] } });
    });

    test('rollTo updates each Machine to the image under its lease and waits for its new instance; the same key again sends nothing; undo rolls forward', async (t) => {
      const { emulator, client } = await setup(t);
      const running = [emulator.addMachine(STABLE, { image: V2, history: [V1] }), emulator.addMachine(STABLE, { image: V2, history: [V1] })];
      const stopped = emulator.addMachine(STABLE, { image: V2, history: [V1], state: 'stopped' });
      const before = await client.releases.readRelease('stable');
      const progress: string[] = [];

      const after = await client.releases.rollTo('stable', before.previous!, { ...key('wf-7:roll'), onProgress: (line) => progress.push(line) });
      assert.equal(after.current!.image, V1);
      assert.equal(after.previous!.image, V2, 'the release rolled away from is now the previous one');
      assert.equal(progress.length, 3);
      for (const m of running) {
        const [update] = emulator.calls('POST', new RegExp(`^${machinePath(STABLE, m)}$`));
        const body = update!.body as { config: { image: string; env: unknown; guest: unknown }; current_version: string; skip_launch?: boolean };
        assert.equal(body.config.image, V1);
        assert.deepEqual(body.config.guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 512 }, 'the whole config is sent back');
        assert.equal(body.skip_launch, undefined);
        assert.equal(update!.headers['fly-machine-lease-nonce'], emulator.calls('DELETE', new RegExp(`${m.id}/lease$`))[0]!.headers['fly-machine-lease-nonce']);
        const [wait] = emulator.calls('GET', new RegExp(`${m.id}/wait$`));
        assert.equal(wait!.query.get('instance_id'), m.instance_id, 'it waited for the new instance');
        assert.equal(m.state, 'started');
        assert.equal(m.lease, null);
      }
      assert.equal((emulator.calls('POST', new RegExp(`^${machinePath(STABLE, stopped)}$`))[0]!.body as { skip_launch: boolean }).skip_launch, true, 'a stopped Machine stays stopped');
      assert.equal(stopped.state, 'stopped');
      assert.equal(stopped.config.image, V1);

      const count = writes(emulator).length;
      await client.releases.rollTo('stable', before.previous!, key('wf-7:roll'));
      assert.equal(writes(emulator).length, count, 'Machines already on the image are left alone');

      const undone = await client.releases.rollTo('stable', before.current!, key('wf-7:undo'));
      assert.equal(undone.current!.image, V2);
      assert.deepEqual(emulator.machines(STABLE).map((m) => m.config.image), [V2, V2, V2]);
    });

    test('a Machine leased by someone else stops the rollback with an error naming it, and is not changed', async (t) => {
      const { emulator, client } = await setup(t);
      const m = emulator.addMachine(STABLE, { image: V2, history: [V1] });
      emulator.holdLease(m, 'deploy-bot@clinic.example', 'fly deploy');
      const until = new Date(m.lease!.expires_at * 1000).toISOString();

      await assert.rejects(client.releases.rollTo('stable', { id: V1, label: V1, image: V1 }, key('wf-8')), {
        message:
          `Fly Machines API POST ${machinePath(STABLE, m)}/lease answered 409: Machine ${m.id} of app ${STABLE} is leased by deploy-bot@clinic.example until ${until} ("fly deploy"): ` +
          `someone else is changing it (a deploy, a scale, another rollback). Wait for them to finish, or if nobody is, clear it with \`fly machine leases clear ${m.id} -a ${STABLE}\`; then run this step again.`,
      });
      assert.equal(m.config.image, V2);
      assert.equal(emulator.calls('POST', new RegExp(`^${machinePath(STABLE, m)}$`)).length, 0);

      // The emulator holds the API to its lease rule: a change without the nonce is refused.
      const refused = await fetch(`${emulator.url}${machinePath(STABLE, m)}/stop`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(refused.status, 409);
      assert.equal(m.state, 'started');
    });

    test('a lease left by an earlier attempt of the same change is taken over, so the retry goes on', async (t) => {
      const { emulator, client } = await setup(t);
      const m = emulator.addMachine(STABLE, { image: V2, history: [V1] });
      emulator.holdLease(m, 'oncall@clinic.example', 'rollback-runbooks wf-9:roll');

      assert.equal((await client.releases.rollTo('stable', { id: V1, label: V1, image: V1 }, key('wf-9:roll'))).current!.image, V1);
      assert.equal(m.lease, null, 'released after');
    });

    test('listReleases: the images the Machines ran, each once, newest first, the one running first', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(STABLE, { image: V2, history: [V0, PINNED, V1, V0] });

      assert.deepEqual((await client.releases.listReleases('stable', 10)).map((r) => r.id), [V2, V0, V1, PINNED]);
      assert.deepEqual((await client.releases.listReleases('stable', 2)).map((r) => r.id), [V2, V0]);
      assert.deepEqual((await client.releases.listReleases('stable', 10)).at(-1), { id: PINNED, label: PINNED, image: PINNED, aliases: [DIGEST] });
      assert.deepEqual(await client.releases.listReleases('canary', 10), [], 'an app without Machines has none');
    });

    test('findRelease: an image the Machines ran, a digest one was pinned to, or the digest Fly resolved the running one to', async (t) => {
      const { emulator, client } = await setup(t);
      const m = emulator.addMachine(STABLE, { image: V2, history: [PINNED, V1] });

      assert.deepEqual(await client.releases.findRelease('stable', V1), { id: V1, label: V1, image: V1 });
      assert.deepEqual(await client.releases.findRelease('stable', DIGEST), { id: PINNED, label: PINNED, image: PINNED, aliases: [DIGEST] });
      assert.equal((await client.releases.findRelease('stable', m.image_ref.digest))!.id, V2);
      assert.equal(writes(emulator).length, 0, 'finding reads only');
    });

    test('findRelease: a pinned image no Machine ran is a fresh release; rolling to it updates every Machine, and again changes nothing', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(STABLE, { image: V2, history: [V1] });
      emulator.addMachine(STABLE, { image: V2, history: [V1] });
      const fresh = await client.releases.findRelease('stable', V41);
      assert.deepEqual(fresh, { id: V41, label: V41, image: V41, fresh: true });

      const after = await client.releases.rollTo('stable', fresh!, key('wf-20:release'));
      assert.equal(after.current!.image, V41);
      assert.equal(after.previous!.image, V2);
      assert.deepEqual(emulator.machines(STABLE).map((m) => [m.config.image, m.state]), [[V41, 'started'], [V41, 'started']]);
      const count = writes(emulator).length;
      await client.releases.rollTo('stable', fresh!, key('wf-20:release'));
      assert.equal(writes(emulator).length, count, 'a retry finds every Machine on the image');
      assert.equal((await client.releases.findRelease('stable', V41))!.fresh, undefined, 'now a release the app has run');
    });

    test('findRelease: a bare word, an unknown digest or a reference without tag or digest names no release', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(STABLE, { image: V2, history: [V1] });
      for (const name of ['v41', 'deployment-01JA4XK2', `sha256:${'b'.repeat(64)}`, 'registry.fly.io/clinic-app', 'revision 3', 'Registry.fly.io/App:v1']) {
        assert.equal(await client.releases.findRelease('stable', name), null, name);
      }
    });
  });

  describe('config', () => {
    test('readConfig reads the Machines\' env; setConfig updates each Machine under its lease (null removes); the same key again sends nothing; undo restores', async (t) => {
      const { emulator, client } = await setup(t);
      const env = { ROUTING_MODE: 'dual', CANARY_ENABLED: 'true', LOG_LEVEL: 'info' };
      const machines = [emulator.addMachine(STABLE, { image: V2, env }), emulator.addMachine(STABLE, { image: V2, env })];
      emulator.addMachine(CANARY, { image: V2, env: { ROUTING_MODE: 'canary' } });

      const snapshot = await client.config.readConfig();
      assert.deepEqual(snapshot, env);
      await client.config.setConfig({ ROUTING_MODE: 'single', CANARY_ENABLED: null }, key('wf-10:config'));
      assert.deepEqual(await client.config.readConfig(), { ROUTING_MODE: 'single', LOG_LEVEL: 'info' });
      for (const m of machines) {
        assert.deepEqual(m.config.env, { ROUTING_MODE: 'single', LOG_LEVEL: 'info' });
        assert.deepEqual(m.config.guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 512 });
        assert.equal(m.state, 'started');
        const [update] = emulator.calls('POST', new RegExp(`^${machinePath(STABLE, m)}$`));
        assert.ok(update!.headers['fly-machine-lease-nonce']);
      }
      assert.deepEqual(emulator.machines(CANARY)[0]!.config.env, { ROUTING_MODE: 'canary' }, 'only the configVersion app is changed');

      const count = writes(emulator).length;
      await client.config.setConfig({ ROUTING_MODE: 'single', CANARY_ENABLED: null }, key('wf-10:config'));
      assert.equal(writes(emulator).length, count, 'a repeat with the same key sends no change');

      await client.config.setConfig({ ROUTING_MODE: snapshot.ROUTING_MODE!, CANARY_ENABLED: snapshot.CANARY_ENABLED! }, key('wf-10:undo'));
      assert.deepEqual(await client.config.readConfig(), env);
    });

    test('with several apps and no configVersion, config says which setting is missing', async (t) => {
      const { client } = await setup(t, { configVersion: undefined });
      await assert.rejects(client.config.readConfig(), { message: 'Fly Machines API: settings name several apps (stable, canary); set configVersion to say whose env vars config reads and changes' });
    });
  });

  describe('restarts', () => {
    test('targets are the versions; readReplicas maps started Machines; restart restarts each under its lease and waits; the same key again sends nothing', async (t) => {
      const { emulator, client } = await setup(t);
      const machines = [emulator.addMachine(STABLE, { image: V2, env: { ROUTING_MODE: 'single' } }), emulator.addMachine(STABLE, { image: V2, env: { ROUTING_MODE: 'single' } })];
      emulator.addMachine(STABLE, { image: V2, state: 'stopped' });

      assert.deepEqual(await client.restarts.targets(), ['stable', 'canary']);
      const before = await client.restarts.readReplicas('stable');
      assert.deepEqual(
        before.map((r) => [r.version, r.replica, r.config, r.secretVersions]),
        machines.map((m) => ['stable', m.id, { ROUTING_MODE: 'single' }, {}]),
      );
      assert.equal(before[0]!.startedAt, new Date(machines[0]!.events[0]!.timestamp).toISOString());

      const after = await client.restarts.restart('stable', key('wf-11:restart'));
      assert.equal(after.length, 2);
      for (const [i, replica] of after.entries()) assert.ok(replica.startedAt > before[i]!.startedAt, `${replica.replica} started again`);
      for (const m of machines) {
        const [restart] = emulator.calls('POST', new RegExp(`${m.id}/restart$`));
        assert.ok(restart!.headers['fly-machine-lease-nonce'], 'the restart carries the lease nonce');
        assert.match(m.config.metadata![RESTART_MARK]!, /^wf-11:restart@\d+$/);
        assert.equal(m.lease, null);
      }

      const count = writes(emulator).length;
      await client.restarts.restart('stable', key('wf-11:restart'));
      assert.equal(writes(emulator).length, count, 'a repeat with the same key restarts nothing');
    });

    test('a Machine marked by an attempt that died before restarting it is still restarted', async (t) => {
      const { emulator, client } = await setup(t);
      const m = emulator.addMachine(STABLE, { image: V2 });
      m.config.metadata![RESTART_MARK] = `wf-12:restart@${m.events[0]!.timestamp}`;

      await client.restarts.restart('stable', key('wf-12:restart'));
      assert.equal(emulator.calls('POST', /\/restart$/).length, 1);
    });
  });

  describe('failures', () => {
    test('a refused token (401) says which variable to fix and how', async (t) => {
      const { emulator, client } = await setup(t, {}, { FLY_API_TOKEN: 'fo1_expired' });
      emulator.addMachine(STABLE, { image: V2 });
      await assert.rejects(client.scaling.readState(), (err: Error) => {
        assert.equal(
          err.message,
          `Fly Machines API GET /v1/apps/${STABLE}/machines answered 401: Authenticate: token validation error. The token in FLY_API_TOKEN was refused (expired, revoked or not for this organization); make one with \`fly tokens create deploy -a ${STABLE}\` and set FLY_API_TOKEN.`,
        );
        assert.ok(!err.message.includes('fo1_expired'), 'the token never appears');
        return true;
      });
    });

    test('an unset token variable is named before any request', async (t) => {
      const { emulator, client } = await setup(t, {}, {});
      await assert.rejects(client.scaling.readState(), { message: 'environment variable FLY_API_TOKEN is not set (the runbook references it)' });
      assert.equal(emulator.requests.length, 0);
    });

    test('an unknown app (404) says to check the app name', async (t) => {
      const { client } = await setup(t, { apps: { stable: 'clinic-app-typo' }, configVersion: undefined });
      await assert.rejects(client.releases.readRelease('stable'), {
        message: `Fly Machines API GET /v1/apps/clinic-app-typo/machines answered 404: app not found. No Fly app 'clinic-app-typo' is visible to this token; check the app name in settings.apps (\`fly apps list\`).`,
      });
    });

    test('a 500 on a create is not sent again (it may have been made), and says to run the step again', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(CANARY, { image: V2 });
      emulator.failNext({ status: 500, body: { error: 'internal error' } }, { method: 'POST', path: new RegExp(`^/v1/apps/${CANARY}/machines$`) });
      await assert.rejects(client.scaling.scale('canary', 2, key('wf-13')), {
        message: `Fly Machines API POST /v1/apps/${CANARY}/machines answered 500: internal error. Fly.io's side failed; see https://status.flyio.net and run the step again (it reads the Machines first, so done work is not repeated).`,
      });
      assert.equal(emulator.calls('POST', new RegExp(`^/v1/apps/${CANARY}/machines$`)).length, 1);
      // Run again, it creates the Machine.
      assert.equal((await client.scaling.scale('canary', 2, key('wf-13'))).instances.canary, 2);
    });

    test('a 500 on a read is asked again', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(STABLE, { image: V2 });
      emulator.failNext({ status: 502, body: { error: 'bad gateway' } }, { method: 'GET', path: new RegExp(`^/v1/apps/${STABLE}/machines$`) });
      assert.equal((await client.scaling.readState()).instances.stable, 1);
      assert.equal(emulator.calls('GET', new RegExp(`^/v1/apps/${STABLE}/machines$`)).length, 2);
    });

    test('a 429 is retried after its Retry-After', async (t) => {
      const { emulator, client } = await setup(t);
      emulator.addMachine(STABLE, { image: V2 });
      emulator.failNext({ status: 429, headers: { 'retry-after': '1' }, body: { error: 'rate limit exceeded' } }, { method: 'GET', path: new RegExp(`^/v1/apps/${STABLE}/machines$`) });
      assert.equal((await client.scaling.readState()).instances.stable, 1);
      const [limited, retried] = emulator.calls('GET', new RegExp(`^/v1/apps/${STABLE}/machines$`));
      assert.ok(retried!.at - limited!.at >= 1000, `asked again after ${retried!.at - limited!.at} ms`);
    });

    test('a Machine that does not start in waitTimeoutSeconds stops the rollback, and its lease is released', async (t) => {
      const { emulator, client } = await setup(t, { waitTimeoutSeconds: 1 });
      const m = emulator.addMachine(STABLE, { image: V2, history: [V1] });
      m.hangs = true;
      await assert.rejects(client.releases.rollTo('stable', { id: V1, label: V1, image: V1 }, key('wf-14')), (err: Error) => {
        const wait = emulator.calls('GET', /\/wait$/)[0]!;
        assert.equal(
          err.message,
          `Fly Machines API GET ${wait.path}?instance_id=${m.instance_id}&state=started&timeout=1 answered 408: Fly Machine ${m.id} of app ${STABLE} did not reach started within 1 s. See \`fly machine status ${m.id} -a ${STABLE}\` and \`fly logs -a ${STABLE}\`, then run the step again.`,
        );
        return true;
      });
      assert.equal(m.lease, null);
    });
  });

  test('bad settings are refused, naming the field', () => {
    const good = { apps: { stable: STABLE, canary: CANARY }, tokenEnv: 'FLY_API_TOKEN', configVersion: 'stable' };
    assert.ok(flyMachines.settingsSchema.safeParse(flyMachines.example).success);
    const refused = (settings: Record<string, unknown>) => {
      const result = flyMachines.settingsSchema.safeParse(settings);
      assert.equal(result.success, false, JSON.stringify(settings));
      return result.error!.issues.map((i) => i.path.join('.') || i.message);
    };
    assert.deepEqual(refused({ apps: {}, tokenEnv: 'FLY_API_TOKEN' }), ['apps']);
    assert.deepEqual(refused({ ...good, apps: { stable: 'Clinic_App' } }), ['apps.stable']);
    assert.deepEqual(refused({ ...good, tokenEnv: 'fo1_abc123' }), ['tokenEnv']);
    assert.deepEqual(refused({ ...good, baseUrl: 'api.machines.dev' }), ['baseUrl']);
    assert.deepEqual(refused({ ...good, region: 'Amsterdam' }), ['region']);
    assert.deepEqual(refused({ ...good, configVersion: 'blue' }), ['configVersion']);
    assert.deepEqual(refused({ ...good, waitTimeoutSeconds: 0 }), ['waitTimeoutSeconds']);
    assert.equal(flyMachines.settingsSchema.safeParse({ ...good, token: 'fo1_abc' }).success, false, 'unknown fields are refused');
  });
});
