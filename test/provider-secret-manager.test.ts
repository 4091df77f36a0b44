/**
 * The cloud-run provider's secrets against emulators of the Secret Manager API v1
 * (test/emulators/secret-manager.ts) and the Cloud Run Admin API v2 (test/emulators/cloud-run.ts):
 * the secrets a service's env references, their versions' states and the version it is pinned to;
 * seed 002's "Secret Rollback" (`gcloud secrets versions enable/disable`, then `--update-secrets
 * NAME=secret:N`, a new revision) and its undo; retries that change nothing more; refusals by name;
 * and that no secret value is ever asked for or shown.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { secretVersionTarget } from '../src/actions/secret-version.ts';
import { cloudRun } from '../src/providers/cloud-run/cloud-run.ts';
import { secretRef } from '../src/providers/cloud-run/secret-manager.ts';
import type { SecretVersions } from '../src/providers/types.ts';
import { CloudRunEmulator, googleError, LATEST, type EnvVar } from './emulators/cloud-run.ts';
import { SecretManagerEmulator } from './emulators/secret-manager.ts';

const TOKEN = 'ya29.emulator-token-0123456789';
const IMAGE = 'europe-docker.pkg.dev/medicalcor-prod/api/api';
const options = (key: string) => ({ idempotencyKey: key, actor: 'test' });
const secretEnv = (name: string, secret: string, version: string): EnvVar => ({ name, valueSource: { secretKeyRef: { secret, version } } });

/** What the service's latest revision loads: its image, a plain variable and three secrets (a number, `latest`, an alias). */
const ENV: EnvVar[] = [
  { name: 'LOG_LEVEL', value: 'info' },
  secretEnv('API_SECRET_KEY', 'API_SECRET_KEY', '3'),
  secretEnv('DATABASE_PASSWORD', 'DATABASE_PASSWORD', 'latest'),
  secretEnv('STRIPE_KEY', 'STRIPE_KEY', 'prod'),
];

interface Setup {
  run: CloudRunEmulator;
  sm: SecretManagerEmulator;
  client: ReturnType<typeof cloudRun.create>;
  logs: string[];
}

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.stop()));
});

async function setup(env: EnvVar[] = ENV, smToken = TOKEN): Promise<Setup> {
  const run = await new CloudRunEmulator(TOKEN).start();
  const sm = await new SecretManagerEmulator(smToken).start();
  started.push(run, sm);
  // Version 2 of the API key was disabled when 3 replaced it; the database password's version 1 destroyed.
  sm.addSecret('API_SECRET_KEY', ['sk_live_v1_4f9a2c', 'sk_live_v2_8d31e7', 'sk_live_v3_c0ffee'], { states: ['ENABLED', 'DISABLED', 'ENABLED'] });
  sm.addSecret('DATABASE_PASSWORD', ['pg-pass-one-81723', 'pg-pass-two-55120'], { states: ['DESTROYED', 'ENABLED'] });
  sm.addSecret('STRIPE_KEY', ['rk_live_first_9921', 'rk_live_second_4410'], { aliases: { prod: 1 } });
  sm.addSecret('UNUSED_SECRET', ['never-loaded-value-31']);
  run.secretAccess = (secret, version) => sm.problem(secret, version);
  run.addService('api', [{ image: `${IMAGE}:v1.2.2`, env: ENV.slice(0, 2) }, { image: `${IMAGE}:v1.2.3`, env }]);
  const logs: string[] = [];
  const settings = cloudRun.settingsSchema.parse({
    project: 'medicalcor-prod',
    location: 'europe-west3',
    service: 'api',
    baseUrl: run.url,
    secretManagerUrl: sm.url,
    tokenEnv: 'CLOUD_RUN_TOKEN',
    pollIntervalMs: 5,
    timeoutMs: 5000,
  });
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  return { run, sm, client: cloudRun.create(settings, { env: { CLOUD_RUN_TOKEN: TOKEN }, logger }), logs };
}

/** The version each env entry of the service's template pins, by env name. */
const pins = (run: CloudRunEmulator) =>
  Object.fromEntries(
    ((run.service('api').template as { containers: { env?: EnvVar[] }[] }).containers[0]!.env ?? []).filter((e) => e.valueSource).map((e) => [e.name, e.valueSource!.secretKeyRef.version]),
  );
const writes = (s: Setup) => s.run.calls('PATCH').length + s.sm.calls('POST').length;
const apiKey = (secrets: SecretVersions[]) => secrets.find((s) => s.name === 'API_SECRET_KEY')!;

describe('Cloud Run provider secrets (Secret Manager) against emulators of the documented APIs', () => {
  test('settings: the Secret Manager endpoint defaults to the public one', () => {
    assert.equal(cloudRun.settingsSchema.parse(cloudRun.example).secretManagerUrl, 'https://secretmanager.googleapis.com');
    assert.ok(cloudRun.capabilities.includes('secrets'));
    assert.deepEqual(secretRef('API_SECRET_KEY', 'medicalcor-prod'), { project: 'medicalcor-prod', secret: 'API_SECRET_KEY' });
    assert.deepEqual(secretRef('projects/shared-secrets/secrets/SMTP', 'medicalcor-prod'), { project: 'shared-secrets', secret: 'SMTP' }, 'another project, as Cloud Run names it');
  });

  test('readSecrets: only the secrets the env references, each with its states (DESTROYED left out) and the version pinned: a number, latest, an alias', async () => {
    const s = await setup();
    assert.deepEqual(await s.client.secrets.readSecrets(), [
      {
        name: 'API_SECRET_KEY',
        versions: [
          { version: 1, state: 'ENABLED' },
          { version: 2, state: 'DISABLED' },
          { version: 3, state: 'ENABLED' },
        ],
        current: 3,
      },
      { name: 'DATABASE_PASSWORD', versions: [{ version: 2, state: 'ENABLED' }], current: 2 },
      {
        name: 'STRIPE_KEY',
        versions: [
          { version: 1, state: 'ENABLED' },
          { version: 2, state: 'ENABLED' },
        ],
        current: 1,
      },
    ]);
    assert.equal(s.sm.calls('GET', /API_SECRET_KEY\/versions$/).length, 2, 'three versions, two a page');
    assert.equal(s.sm.calls('GET', /secrets\/STRIPE_KEY$/).length, 1, 'the alias read from the secret');
    assert.equal(writes(s), 0);
    assert.ok([...s.sm.requests, ...s.run.requests].every((r) => r.headers.authorization === `Bearer ${TOKEN}`));
  });

  test('seed 002: to the previous version, 2 is enabled before the new revision pins secret:2, and 3 disabled only once it serves', async () => {
    const s = await setup();
    const before = apiKey(await s.client.secrets.readSecrets());
    const target = secretVersionTarget({ kind: 'secret-version', provider: 'api', secret: 'API_SECRET_KEY', ...before }, 'previous');
    assert.deepEqual(target, { states: { 2: 'ENABLED', 3: 'DISABLED' }, version: 2 });
    const atPatch: Record<number, string>[] = [];
    s.run.beforeNextPatch(() => atPatch.push(s.sm.states('API_SECRET_KEY')));
    const revisions = s.run.revisions.size;

    const after = await s.client.secrets.setVersionStates('API_SECRET_KEY', (target as { states: Record<number, 'ENABLED' | 'DISABLED'> }).states, options('wf-1/secret'));
    assert.deepEqual(after, {
      name: 'API_SECRET_KEY',
      versions: [
        { version: 1, state: 'ENABLED' },
        { version: 2, state: 'ENABLED' },
        { version: 3, state: 'DISABLED' },
      ],
      current: 2,
    });
    assert.deepEqual(atPatch, [{ 1: 'ENABLED', 2: 'ENABLED', 3: 'ENABLED' }], 'enabled first; 3 still loadable while the old revision serves');
    assert.deepEqual(s.sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'ENABLED', 3: 'DISABLED' });
    assert.deepEqual(pins(s.run), { API_SECRET_KEY: '2', DATABASE_PASSWORD: 'latest', STRIPE_KEY: 'prod' }, 'only that secret re-pinned');
    assert.equal(s.run.revisions.size, revisions + 1, 'one new revision');
    const service = s.run.service('api');
    assert.equal(service.latestReadyRevision, service.latestCreatedRevision, 'the new revision is ready');
    assert.deepEqual(service.traffic, [{ type: LATEST, percent: 100 }], 'traffic left as it was: the latest revision serves');
    const revision = s.run.revisions.get(service.latestReadyRevision as string)!;
    assert.deepEqual(revision.containers[0]!.env!.find((e) => e.name === 'API_SECRET_KEY')?.valueSource, { secretKeyRef: { secret: 'API_SECRET_KEY', version: '2' } });
    assert.equal(revision.containers[0]!.env!.find((e) => e.name === 'LOG_LEVEL')?.value, 'info');
    assert.deepEqual(s.sm.calls('POST').map((r) => r.path.slice(r.path.lastIndexOf('/') + 1)), ['2:enable', '3:disable']);

    // The retry of a worker that died after the change: nothing sent, no revision made.
    const writesBefore = writes(s);
    assert.deepEqual(await s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'ENABLED', 3: 'DISABLED' }, options('wf-1/secret')), after);
    assert.equal(writes(s), writesBefore, 'no PATCH, no enable or disable');
    assert.equal(s.run.revisions.size, revisions + 1);

    // The undo, with the states found before: 3 enabled again, pinned back, 2 disabled after.
    const undone = await s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'DISABLED', 3: 'ENABLED' }, options('wf-1/secret:undo'));
    assert.deepEqual(undone, before);
    assert.deepEqual(s.sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'DISABLED', 3: 'ENABLED' });
    assert.deepEqual(pins(s.run), { API_SECRET_KEY: '3', DATABASE_PASSWORD: 'latest', STRIPE_KEY: 'prod' });
    assert.equal(s.run.revisions.size, revisions + 2);
  });

  test('with traffic pinned to a revision by tag (after a traffic step), the revision pinning secret:2 is made from the serving one and takes its tag and 100%', async () => {
    const s = await setup();
    // All on stable (the revision before the latest): traffic is now pinned to it by its tag.
    await s.client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-2/shift'));
    const serving = s.run.service('api').latestReadyRevision as string;

    await s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'ENABLED', 3: 'DISABLED' }, options('wf-2/secret'));
    const service = s.run.service('api');
    const made = service.latestReadyRevision as string;
    assert.notEqual(made, serving);
    const served = (service.traffic as { revision?: string; percent?: number; tag?: string }[]).filter((t) => (t.percent ?? 0) > 0);
    assert.deepEqual(served.map((t) => [t.revision, t.percent, t.tag]), [[made.slice(made.lastIndexOf('/') + 1), 100, 'stable']], 'the new revision serves, under the tag of the one it replaced');
    assert.deepEqual(s.run.revisions.get(made)!.containers[0]!.env!.find((e) => e.name === 'API_SECRET_KEY')?.valueSource, { secretKeyRef: { secret: 'API_SECRET_KEY', version: '2' } });
    assert.equal(s.run.revisions.get(made)!.containers[0]!.image, `${IMAGE}:v1.2.2`, "stable's image, not the latest's the template held");
    assert.equal(apiKey(await s.client.secrets.readSecrets()).current, 2, 'the next read sees what serves');
  });

  test('a change cut short after the new revision (disable refused) is finished by the retry: the disable only, no second revision', async () => {
    const s = await setup();
    s.sm.failNext(googleError(403, 'PERMISSION_DENIED', "Permission 'secretmanager.versions.disable' denied for resource 'projects/412093485721/secrets/API_SECRET_KEY/versions/3'."), {
      method: 'POST',
      path: /:disable$/,
    });
    await assert.rejects(s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'ENABLED', 3: 'DISABLED' }, options('wf-2')), {
      message:
        "Secret Manager POST /v1/projects/medicalcor-prod/secrets/API_SECRET_KEY/versions/3:disable answered 403: Permission 'secretmanager.versions.disable' denied for resource 'projects/412093485721/secrets/API_SECRET_KEY/versions/3'. " +
        "The token's account may not do this: it needs secretmanager.secrets.get and secretmanager.versions.list, get, enable and disable (roles/secretmanager.secretVersionManager) on the secret.",
    });
    assert.deepEqual(pins(s.run).API_SECRET_KEY, '2', 'the service already loads version 2');
    const patches = s.run.calls('PATCH').length;
    assert.equal((await s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'ENABLED', 3: 'DISABLED' }, options('wf-2'))).current, 2);
    assert.equal(s.run.calls('PATCH').length, patches);
    assert.deepEqual(s.sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'ENABLED', 3: 'DISABLED' });
  });

  test('a service on `latest` whose newest version someone disabled reads as pinned to it, and the rollback pins the version before', async () => {
    const s = await setup([{ name: 'LOG_LEVEL', value: 'info' }, secretEnv('DATABASE_PASSWORD', 'DATABASE_PASSWORD', 'latest')]);
    s.sm.addVersion('DATABASE_PASSWORD', 'pg-pass-three-00917', 'DISABLED');
    const [password] = await s.client.secrets.readSecrets();
    assert.equal(password!.current, 3, '`latest` is the most recently created version, loadable or not');
    const target = secretVersionTarget({ kind: 'secret-version', provider: 'api', secret: 'DATABASE_PASSWORD', ...password! }, 'previous');
    assert.deepEqual(target, { states: {}, version: 2 }, 'no state to change: 2 is enabled, 3 disabled');
    assert.equal((await s.client.secrets.setVersionStates('DATABASE_PASSWORD', {}, options('wf-3'))).current, 2);
    assert.deepEqual(pins(s.run), { DATABASE_PASSWORD: '2' });
    assert.equal(s.sm.calls('POST').length, 0);
  });

  test('a new revision that cannot load the version pinned fails the change, naming it; the old revision serves on and nothing is disabled', async () => {
    const s = await setup();
    // Someone disables version 2 again between the enable and the PATCH.
    s.run.beforeNextPatch(() => (s.sm.secrets.get('API_SECRET_KEY')!.versions[1]!.state = 'DISABLED'));
    const before = s.run.service('api').latestReadyRevision;
    const error = (await s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'ENABLED', 3: 'DISABLED' }, options('wf-5')).catch((err: Error) => err)) as Error;
    assert.match(
      error.message,
      /^Cloud Run operation projects\/medicalcor-prod\/locations\/europe-west3\/operations\/[-0-9a-f]+ \(secret API_SECRET_KEY pinned to version 2\) failed: Revision 'api-00003-ghi' is not ready and cannot serve traffic\. spec\.template\.containers\[0\]\.env\[1\]\.value_source\.secret_key_ref: Secret version projects\/412093485721\/secrets\/API_SECRET_KEY\/versions\/2 is in DISABLED state \(code 9\)\. See what the service serves now: gcloud run services describe api/,
    );
    assert.equal(s.run.service('api').latestReadyRevision, before);
    assert.equal(s.sm.states('API_SECRET_KEY')[3], 'ENABLED', 'the version the old revision loads stays enabled');
  });

  test('refused by name before anything changes: a secret the service does not load, an unknown or DESTROYED version, no version left ENABLED', async () => {
    const s = await setup();
    await assert.rejects(s.client.secrets.setVersionStates('UNUSED_SECRET', { 1: 'DISABLED' }, options('k')), {
      message: 'Cloud Run service api does not load secret UNUSED_SECRET: its env references API_SECRET_KEY, DATABASE_PASSWORD, STRIPE_KEY (valueSource.secretKeyRef); nothing was changed',
    });
    await assert.rejects(s.client.secrets.setVersionStates('API_SECRET_KEY', { 7: 'ENABLED' }, options('k')), {
      message: 'secret API_SECRET_KEY has no version 7 (versions: 1 ENABLED, 2 DISABLED, 3 ENABLED); nothing was changed',
    });
    await assert.rejects(s.client.secrets.setVersionStates('DATABASE_PASSWORD', { 1: 'ENABLED', 2: 'DISABLED' }, options('k')), {
      message: 'version 1 of secret DATABASE_PASSWORD is DESTROYED: its data is gone, so it can be neither enabled nor disabled; nothing was changed',
    });
    await assert.rejects(s.client.secrets.setVersionStates('API_SECRET_KEY', { 1: 'DISABLED', 3: 'DISABLED' }, options('k')), {
      message: 'secret API_SECRET_KEY would have no ENABLED version ({"1":"DISABLED","3":"DISABLED"}), so Cloud Run service api could load none; nothing was changed',
    });
    assert.equal(writes(s), 0);
  });

  test('a version alias Secret Manager does not have, and a refused token, are errors naming what to fix', async () => {
    const s = await setup([secretEnv('STRIPE_KEY', 'STRIPE_KEY', 'canary')]);
    await assert.rejects(s.client.secrets.readSecrets(), { message: "Cloud Run service api loads version alias 'canary' of secret STRIPE_KEY, which Secret Manager does not have (aliases: prod)" });

    const refused = await setup(ENV, 'ya29.another-token');
    const error = (await refused.client.secrets.readSecrets().catch((err: Error) => err)) as Error;
    assert.match(error.message, /^Secret Manager GET \/v1\/projects\/medicalcor-prod\/secrets\/API_SECRET_KEY\/versions answered 401: .*The access token in CLOUD_RUN_TOKEN was refused/);
    assert.ok(!error.message.includes(TOKEN));
  });

  test('no secret value is asked for or shown: not in answers, errors, logs, or anything sent', async () => {
    const s = await setup();
    const shown: string[] = [];
    shown.push(JSON.stringify(await s.client.secrets.readSecrets()));
    shown.push(JSON.stringify(await s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'ENABLED', 3: 'DISABLED' }, options('wf-4'))));
    shown.push(JSON.stringify(await s.client.secrets.setVersionStates('API_SECRET_KEY', { 2: 'DISABLED', 3: 'ENABLED' }, options('wf-4:undo'))));
    shown.push(JSON.stringify(await s.client.config.readConfig()));
    for (const refused of [
      s.client.secrets.setVersionStates('UNUSED_SECRET', { 1: 'DISABLED' }, options('k')),
      s.client.secrets.setVersionStates('DATABASE_PASSWORD', { 1: 'ENABLED' }, options('k')),
    ]) {
      shown.push(String(await refused.catch((err: Error) => err.message)));
    }
    const sent = [...s.run.requests, ...s.sm.requests].map((r) => `${r.method} ${r.path}?${r.query.toString()} ${JSON.stringify(r.body)}`);
    const everything = [...shown, ...s.logs, ...sent].join('\n');
    assert.ok(s.logs.length > 0, 'the change was logged');
    for (const value of s.sm.values()) assert.ok(!everything.includes(value), `value ${value.slice(0, 6)}... leaked`);
    assert.deepEqual(s.sm.accessed, [], 'versions.access never called');
    assert.ok(!s.sm.requests.some((r) => r.path.endsWith(':access')));
  });
});
