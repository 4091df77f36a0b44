/**
 * The fly-machines provider's app secrets (seed 000's `fly secrets set` / `fly secrets unset`) against
 * the Fly Machines API emulator (test/emulators/fly-machines.ts, secrets in fly-secrets.ts): secrets read
 * by name and digest, set or unset with each Machine then updated once under its lease to boot with
 * them, nothing sent again for a secret already as asked, a retry finishing what an interrupted attempt
 * left, and the value never in a logged request, a log line, an error or a return value.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import pino from 'pino';
import { flyMachines } from '../src/providers/fly/fly-machines.ts';
import { SECRET_MARK } from '../src/providers/fly/secrets.ts';
import type { RolloutOptions } from '../src/providers/types.ts';
import { FlyMachinesEmulator, type EmulatedMachine } from './emulators/fly-machines.ts';
import { sha256Digest } from './emulators/fly-secrets.ts';

const TOKEN = 'fo1_test_secrets_41d8';
const APP = 'healthcare-clinic-backend';
const CANARY = 'healthcare-clinic-backend-canary';
const IMAGE = 'registry.fly.io/healthcare-clinic-backend:deployment-01JB7QW9';
const OLD_VALUE = 'dual-lane-9f8e7d6c';
const NEW_VALUE = 'single-lane-3c4d5e6f';
const options = (idempotencyKey: string): RolloutOptions => ({ idempotencyKey, actor: 'oncall@clinic.example' });

async function setup(t: TestContext) {
  const emulator = await new FlyMachinesEmulator(TOKEN).start();
  t.after(() => emulator.stop());
  emulator.addApp(APP);
  emulator.addApp(CANARY);
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  const settings = flyMachines.settingsSchema.parse({
    apps: { stable: APP, canary: CANARY, ghost: 'no-such-app' },
    baseUrl: emulator.url,
    tokenEnv: 'FLY_API_TOKEN',
    configVersion: 'stable',
    pollIntervalMs: 10,
    requestTimeoutMs: 5000,
    waitTimeoutSeconds: 5,
  });
  const client = flyMachines.create(settings, { env: { FLY_API_TOKEN: TOKEN }, logger });
  return { emulator, client: client.appSecrets, logLines };
}

/** Requests that change something (everything but GET). */
const writes = (emulator: FlyMachinesEmulator) => emulator.requests.filter((r) => r.method !== 'GET');
const updatesOf = (emulator: FlyMachinesEmulator, app: string, m: EmulatedMachine) => emulator.calls('POST', new RegExp(`^/v1/apps/${app}/machines/${m.id}$`));

/** Every place a value could leak to: each logged request whole, and each log line. */
function assertNowhere(value: string, emulator: FlyMachinesEmulator, logLines: string[]): void {
  for (const r of emulator.requests) {
    const logged = JSON.stringify({ method: r.method, path: r.path, query: r.query.toString(), headers: r.headers, body: r.body });
    assert.ok(!logged.includes(value), `the value is not in ${r.method} ${r.path}`);
  }
  assert.ok(logLines.length > 0, 'the provider logged its changes');
  for (const line of logLines) assert.ok(!line.includes(value), `the value is not in the log line ${line}`);
}

describe('fly-machines app secrets against an emulator of the documented API', () => {
  test('readAppSecrets lists each secret of the version\'s app by name and digest, never a value', async (t) => {
    const { emulator, client } = await setup(t);
    emulator.secrets.seed(APP, 'ROUTING_MODE', OLD_VALUE);
    emulator.secrets.seed(APP, 'GROK_ENABLED', 'true');
    emulator.secrets.seed(CANARY, 'CANARY_ENABLED', 'true');

    assert.deepEqual(await client.readAppSecrets('stable'), [
      { name: 'GROK_ENABLED', digest: sha256Digest('true') },
      { name: 'ROUTING_MODE', digest: sha256Digest(OLD_VALUE) },
    ]);
    assert.deepEqual(emulator.requests.map((r) => `${r.method} ${r.path}`), [`GET /v1/apps/${APP}/secrets`]);
    assert.equal(emulator.requests[0]!.headers.authorization, `Bearer ${TOKEN}`);
  });

  test('set writes the secret once, then updates each Machine once under its lease to boot with it; a repeat sends nothing', async (t) => {
    const { emulator, client, logLines } = await setup(t);
    emulator.secrets.seed(APP, 'ROUTING_MODE', OLD_VALUE);
    const started = [emulator.addMachine(APP, { image: IMAGE, region: 'ams' }), emulator.addMachine(APP, { image: IMAGE, region: 'ord' })];
    const stopped = emulator.addMachine(APP, { image: IMAGE, state: 'stopped' });
    for (const m of started) assert.equal(m.loadedSecrets?.ROUTING_MODE, sha256Digest(OLD_VALUE));
    const progress: string[] = [];

    const after = await client.setAppSecret('stable', 'ROUTING_MODE', NEW_VALUE, { ...options('wf-7:secret-routing'), onProgress: (line) => progress.push(line) });

    assert.deepEqual(after, [{ name: 'ROUTING_MODE', digest: sha256Digest(NEW_VALUE) }]);
    const sets = emulator.calls('POST', new RegExp(`^/v1/apps/${APP}/secrets/`));
    assert.deepEqual(sets.map((r) => r.path), [`/v1/apps/${APP}/secrets/ROUTING_MODE`]);
    const version = emulator.secrets.version(APP);
    for (const m of [...started, stopped]) {
      const updates = updatesOf(emulator, APP, m);
      assert.equal(updates.length, 1, `Machine ${m.id} is updated once`);
      const body = updates[0]!.body as { config: { image: string; metadata: Record<string, string> }; min_secrets_version: number; skip_launch?: boolean };
      assert.equal(body.min_secrets_version, version, 'the update names the secrets version the write made');
      assert.equal(body.config.image, IMAGE, 'the rest of the config is sent back as it was');
      assert.equal(body.config.metadata[SECRET_MARK], 'ROUTING_MODE wf-7:secret-routing');
      assert.ok(updates[0]!.headers['fly-machine-lease-nonce'], 'the update is made under the Machine\'s lease');
      assert.equal(m.minSecretsVersion, version);
      assert.equal(m.lease, null, 'the lease is released');
    }
    for (const m of started) {
      assert.equal(m.state, 'started');
      assert.equal(m.loadedSecrets?.ROUTING_MODE, sha256Digest(NEW_VALUE), `Machine ${m.id} booted with the new value`);
    }
    assert.equal(stopped.state, 'stopped', 'a stopped Machine stays stopped (it loads the secret when it starts)');
    assert.equal((updatesOf(emulator, APP, stopped)[0]!.body as { skip_launch?: boolean }).skip_launch, true);
    // The secret was written before any Machine was touched, and each running Machine was waited for.
    assert.ok(emulator.requests.indexOf(sets[0]!) < emulator.requests.findIndex((r) => r.path.endsWith('/lease')));
    assert.equal(emulator.calls('GET', /\/wait$/).filter((r) => r.query.get('state') === 'started').length, 2);
    assert.equal(progress.length, 3);

    const before = writes(emulator).length;
    assert.deepEqual(await client.setAppSecret('stable', 'ROUTING_MODE', NEW_VALUE, options('wf-7:secret-routing')), after);
    assert.equal(writes(emulator).length, before, 'a repeat writes no secret and updates no Machine');
    assert.deepEqual(await client.setAppSecret('stable', 'ROUTING_MODE', NEW_VALUE, options('wf-8:another-rollback')), after);
    assert.equal(writes(emulator).length, before, 'nor does another change asking for the value the secret holds');
    assertNowhere(NEW_VALUE, emulator, logLines);
  });

  test('unset deletes the secret and updates each Machine to boot without it; unsetting an absent secret sends nothing', async (t) => {
    const { emulator, client, logLines } = await setup(t);
    emulator.secrets.seed(CANARY, 'CANARY_ENABLED', 'true');
    emulator.secrets.seed(CANARY, 'LLM_PROVIDER', 'openai');
    const machines = [emulator.addMachine(CANARY, { image: IMAGE }), emulator.addMachine(CANARY, { image: IMAGE })];

    assert.deepEqual(await client.setAppSecret('canary', 'CANARY_ENABLED', null, options('wf-9:cleanup')), [{ name: 'LLM_PROVIDER', digest: sha256Digest('openai') }]);
    assert.deepEqual(emulator.calls('DELETE').map((r) => r.path.replace(/\/lease$/, ' lease')).filter((p) => !p.endsWith(' lease')), [`/v1/apps/${CANARY}/secrets/CANARY_ENABLED`]);
    for (const m of machines) {
      assert.equal(updatesOf(emulator, CANARY, m).length, 1);
      assert.deepEqual(m.loadedSecrets, { LLM_PROVIDER: sha256Digest('openai') }, `Machine ${m.id} booted without it`);
    }

    const before = writes(emulator).length;
    await client.setAppSecret('canary', 'CANARY_ENABLED', null, options('wf-9:cleanup'));
    await client.setAppSecret('canary', 'NEVER_SET', null, options('wf-9:cleanup-2'));
    assert.equal(writes(emulator).length, before, 'an absent secret is not deleted, and no Machine is updated');
    assert.ok(logLines.some((l) => l.includes('CANARY_ENABLED')));
  });

  test('a retry after the secret was written but before every Machine loaded it finishes the Machines and writes nothing', async (t) => {
    const { emulator, client } = await setup(t);
    const [first, second, third] = [0, 1, 2].map(() => emulator.addMachine(APP, { image: IMAGE }));
    // The first attempt set the secret (after the Machines booted), updated one Machine and died.
    emulator.secrets.seed(APP, 'ROUTING_MODE', NEW_VALUE, new Date().toISOString());
    first!.config.metadata = { ...first!.config.metadata, [SECRET_MARK]: 'ROUTING_MODE wf-10:secret' };

    await client.setAppSecret('stable', 'ROUTING_MODE', NEW_VALUE, options('wf-10:secret'));

    assert.equal(emulator.calls('POST', /\/secrets\//).length, 0, 'the secret is not written again');
    assert.deepEqual([first, second, third].map((m) => updatesOf(emulator, APP, m!).length), [0, 1, 1]);
    for (const m of [second, third]) assert.equal(m!.loadedSecrets?.ROUTING_MODE, sha256Digest(NEW_VALUE));
  });

  test('where Fly\'s digest is not the one guessed, the set itself is the comparison: a repeat writes once more and updates no Machine', async (t) => {
    const { emulator, client, logLines } = await setup(t);
    // A digest algorithm the provider cannot compute, standing for Fly's undocumented one.
    emulator.secrets.digestOf = (value) => `fly-${sha256Digest(`salt:${value}`)}`;
    emulator.secrets.seed(APP, 'LLM_PROVIDER', 'grok');
    const machine = emulator.addMachine(APP, { image: IMAGE });

    await client.setAppSecret('stable', 'LLM_PROVIDER', 'openai', options('wf-11:llm'));
    assert.equal(updatesOf(emulator, APP, machine).length, 1);
    assert.equal(machine.loadedSecrets?.LLM_PROVIDER, emulator.secrets.digestOf('openai'));

    await client.setAppSecret('stable', 'LLM_PROVIDER', 'openai', options('wf-11:llm'));
    assert.equal(emulator.calls('POST', /\/secrets\/LLM_PROVIDER$/).length, 2, 'the repeat sets the value again to learn its digest');
    assert.equal(updatesOf(emulator, APP, machine).length, 1, 'the digest did not change, so no Machine is updated again');
    assert.ok(logLines.some((l) => l.includes('already held the value')));
    assertNowhere('openai', emulator, logLines);
  });

  test('a version with no app in settings, an app Fly does not know and a name that is no variable are refused by name', async (t) => {
    const { emulator, client } = await setup(t);
    await assert.rejects(client.setAppSecret('preview', 'ROUTING_MODE', NEW_VALUE, options('k')), { message: /no Fly app for version 'preview'; settings\.apps names: stable, canary, ghost/ });
    await assert.rejects(client.readAppSecrets('ghost'), { message: /GET \/v1\/apps\/no-such-app\/secrets answered 404: no Fly app 'no-such-app' \(version 'ghost'\) is visible to this token\. Check the app name in settings\.apps/ });
    await assert.rejects(client.setAppSecret('stable', 'ROUTING-MODE', NEW_VALUE, options('k')), { message: /'ROUTING-MODE' cannot be a Fly secret name/ });
    assert.equal(writes(emulator).length, 0);
  });

  test('the value is in no error: a Machine leased by someone else stops the change with an error naming the holder, not the value', async (t) => {
    const { emulator, client, logLines } = await setup(t);
    const machine = emulator.addMachine(APP, { image: IMAGE });
    emulator.holdLease(machine, 'deployer@clinic.example', 'fly deploy');
    const error = await client.setAppSecret('stable', 'ROUTING_MODE', NEW_VALUE, options('wf-12:secret')).then(
      () => assert.fail('the change went through a lease held by someone else'),
      (err: Error) => err,
    );
    assert.match(error.message, /leased by deployer@clinic\.example/);
    assert.ok(!`${error.message} ${error.stack} ${JSON.stringify(error)}`.includes(NEW_VALUE));
    assertNowhere(NEW_VALUE, emulator, logLines);
    // An API that echoes what it refused: the error carries no value either.
    emulator.failNext({ status: 400, body: { error: `invalid value ${NEW_VALUE}` } }, { method: 'POST', path: /\/secrets\/GROK_ENABLED$/ });
    await assert.rejects(client.setAppSecret('stable', 'GROK_ENABLED', NEW_VALUE, options('wf-12:grok')), (err: Error) => {
      assert.match(err.message, /answered 400: invalid value \[secret value\]/);
      assert.ok(!`${err.message} ${JSON.stringify((err as { body?: unknown }).body ?? null)}`.includes(NEW_VALUE), 'neither in the message nor in the body it carries');
      return true;
    });
  });
});
