/**
 * The cloud-run provider against an emulator of the Cloud Run Admin API v2 (test/emulators/cloud-run.ts):
 * reading the traffic split per runbook version, seed 002's gradual rollback (50/50, then 100%) and its
 * undo, env var changes (a new revision), releases (roll to the previous ready revision and back), the
 * idempotent repeat of each change, and each failure an on-call engineer may meet, with its message.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { cloudRun } from '../src/providers/cloud-run/cloud-run.ts';
import type { ProviderClient } from '../src/providers/types.ts';
import { BY_REVISION, CloudRunEmulator, googleError, LATEST, type RevisionSpec, type TrafficTarget } from './emulators/cloud-run.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'ya29.emulator-token-0123456789';
const SERVICE_PATH = '/v2/projects/medicalcor-prod/locations/europe-west3/services/api';
const SERVICE = new RegExp(`^${SERVICE_PATH}$`);
const OPERATIONS = /\/operations\//;
const options = (key: string) => ({ idempotencyKey: key, actor: 'test' });

const THREE: RevisionSpec[] = [
  { image: 'europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.1', env: [{ name: 'LOG_LEVEL', value: 'info' }] },
  {
    image: 'europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.2',
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'FEATURE_SCORING', value: 'on' },
      { name: 'API_SECRET_KEY', valueSource: { secretKeyRef: { secret: 'API_SECRET_KEY', version: '3' } } },
    ],
  },
  {
    image: 'europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.3',
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'FEATURE_SCORING', value: 'on' },
      { name: 'API_SECRET_KEY', valueSource: { secretKeyRef: { secret: 'API_SECRET_KEY', version: '3' } } },
    ],
  },
];

const emulators: CloudRunEmulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.stop()));
});

async function setup(
  setupOptions: { revisions?: RevisionSpec[]; traffic?: TrafficTarget[]; settings?: Record<string, unknown> } = {},
): Promise<{ emulator: CloudRunEmulator; client: ProviderClient<'traffic' | 'config' | 'releases'>; names: string[] }> {
  const emulator = await new CloudRunEmulator(TOKEN).start();
  emulators.push(emulator);
  const names = emulator.addService('api', setupOptions.revisions ?? THREE, setupOptions.traffic);
  const settings = cloudRun.settingsSchema.parse({
    project: 'medicalcor-prod',
    location: 'europe-west3',
    service: 'api',
    baseUrl: emulator.url,
    tokenEnv: 'CLOUD_RUN_TOKEN',
    pollIntervalMs: 5,
    timeoutMs: 5000,
    ...setupOptions.settings,
  });
  return { emulator, client: cloudRun.create(settings, { env: { CLOUD_RUN_TOKEN: TOKEN }, logger: quietLogger }), names };
}

const patches = (emulator: CloudRunEmulator) => emulator.calls('PATCH', SERVICE);

describe('Cloud Run provider (cloud-run) against an emulator of the documented API', () => {
  test('settings: the example loads with its defaults; bad settings are refused naming the field', () => {
    const settings = cloudRun.settingsSchema.parse(cloudRun.example);
    assert.equal(settings.baseUrl, 'https://run.googleapis.com');
    assert.deepEqual(settings.versions, { stable: 'PREVIOUS', canary: 'LATEST' });
    assert.equal(settings.pollIntervalMs, 2000);
    assert.equal(settings.timeoutMs, 600_000);

    const refused = (patch: Record<string, unknown>, field: string) => {
      const result = cloudRun.settingsSchema.safeParse({ ...cloudRun.example, ...patch });
      assert.equal(result.success, false, JSON.stringify(patch));
      assert.ok(result.error!.issues.some((i) => i.path.join('.') === field || (i.code === 'unrecognized_keys' && i.keys.includes(field))), `${field}: ${result.error!.message}`);
    };
    refused({ tokenEnv: 'ya29.a0AfH6SM-the-token-itself' }, 'tokenEnv');
    refused({ service: 'MedicalCor API' }, 'service');
    refused({ location: 'Frankfurt' }, 'location');
    refused({ versions: { stable: 'the one before' } }, 'versions.stable');
    refused({ versions: {} }, 'versions');
    refused({ pollIntervalMs: 0 }, 'pollIntervalMs');
    refused({ region: 'europe-west3' }, 'region');
  });

  test('readState: weights per version from the traffic statuses, a LATEST entry counting for the latest ready revision; revisions read across pages', async () => {
    const { emulator, client } = await setup({
      traffic: [
        { type: BY_REVISION, revision: 'api-00002-def', percent: 90 },
        { type: LATEST, percent: 10 },
      ],
    });
    assert.deepEqual(await client.traffic.readState(), { weights: { stable: 90, canary: 10 }, instances: {} });
    assert.equal(emulator.calls('GET', /\/revisions$/).length, 2, 'three revisions, two a page');
    assert.ok(emulator.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`));
  });

  test('readState refuses traffic on a revision that is none of the versions, naming it, rather than drop it', async () => {
    const { client } = await setup({
      traffic: [
        { type: BY_REVISION, revision: 'api-00001-abc', percent: 20 },
        { type: BY_REVISION, revision: 'api-00002-def', percent: 80 },
      ],
    });
    await assert.rejects(client.traffic.readState(), {
      message:
        "Cloud Run service api sends traffic to revisions that are none of the runbook's versions (stable = api-00002-def, canary = api-00003-ghi): api-00001-abc=20%. " +
        'Name them in settings.versions, or move their traffic first (gcloud run services update-traffic api --region=europe-west3); otherwise a change of weights would silently drop it.',
    });
  });

  test('seed 002 gradual rollback: 50/50, then 100% to the previous revision, each a PATCH followed to its end; then the undo back to the snapshot', async () => {
    const { emulator, client } = await setup();
    const snapshot = await client.traffic.readState();
    assert.deepEqual(snapshot.weights, { stable: 0, canary: 100 });
    const etag = emulator.service('api').etag;

    assert.deepEqual(await client.traffic.setWeights({ stable: 50, canary: 50 }, options('wf-1/split')), { weights: { stable: 50, canary: 50 }, instances: {} });
    const first = patches(emulator)[0]!.body as Record<string, unknown>;
    assert.deepEqual(first.traffic, [
      { type: BY_REVISION, revision: 'api-00002-def', percent: 50, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00003-ghi', percent: 50, tag: 'canary' },
    ], 'each version pinned by its traffic tag');
    assert.equal(first.etag, etag, 'the etag read is sent back, so a concurrent change is refused');
    assert.equal(first.trafficStatuses, undefined, 'output-only fields are left out');
    assert.ok(emulator.calls('GET', OPERATIONS).length >= 2, 'the operation is polled until done');
    assert.equal(emulator.service('api').reconciling, false);

    assert.deepEqual((await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-1/complete'))).weights, { stable: 100, canary: 0 });
    assert.deepEqual(emulator.service('api').trafficStatuses, [
      { type: BY_REVISION, revision: 'api-00002-def', percent: 100, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00003-ghi', percent: 0, tag: 'canary' },
    ]);
    assert.equal(emulator.revisions.size, 3, 'traffic changes make no revision');

    assert.deepEqual((await client.traffic.setWeights(snapshot.weights, options('wf-1/undo'))).weights, { stable: 0, canary: 100 });
    assert.deepEqual(emulator.service('api').traffic, [
      { type: BY_REVISION, revision: 'api-00002-def', percent: 0, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00003-ghi', percent: 100, tag: 'canary' },
    ]);
    assert.equal(patches(emulator).length, 3);
  });

  test('the same change twice with the same idempotency key PATCHes once', async () => {
    const { emulator, client } = await setup();
    const first = await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-2/rollback'));
    const second = await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-2/rollback'));
    assert.deepEqual(second, first);
    assert.equal(patches(emulator).length, 1);
  });

  test('a call retried after the worker died mid-change sends no second PATCH: it waits for the first to finish', async () => {
    const { emulator, client } = await setup();
    emulator.pollsUntilDone = 3;
    const response = await fetch(`${emulator.url}${SERVICE_PATH}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ traffic: [{ type: BY_REVISION, revision: 'api-00002-def', percent: 100 }] }),
    });
    assert.equal(response.status, 200);
    assert.equal(emulator.service('api').reconciling, true);

    assert.deepEqual((await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-3/rollback'))).weights, { stable: 100, canary: 0 });
    assert.equal(patches(emulator).length, 1, 'only the dead worker\'s PATCH');
  });

  test('tags on traffic targets (revision URLs) are kept when the split changes, beside the tags that pin the versions', async () => {
    const { emulator, client } = await setup({
      traffic: [
        { type: LATEST, percent: 100 },
        { type: BY_REVISION, revision: 'api-00001-abc', percent: 0, tag: 'v121' },
        { type: BY_REVISION, revision: 'api-00002-def', percent: 0, tag: 'v122' },
      ],
    });
    await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-4'));
    assert.deepEqual(emulator.service('api').traffic, [
      { type: BY_REVISION, revision: 'api-00002-def', percent: 100, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00003-ghi', percent: 0, tag: 'canary' },
      { type: BY_REVISION, revision: 'api-00001-abc', percent: 0, tag: 'v121' },
      { type: BY_REVISION, revision: 'api-00002-def', percent: 0, tag: 'v122' },
    ]);
  });

  test('weights are checked before anything is sent: known versions, whole percentages adding up to 100, distinct revisions', async () => {
    const { emulator, client } = await setup();
    await assert.rejects(client.traffic.setWeights({ stable: 50, blue: 50 }, options('k')), {
      message: "unknown version 'blue' for Cloud Run service api; the runbook's versions are: stable, canary",
    });
    await assert.rejects(client.traffic.setWeights({ stable: 66.5, canary: 33.5 }, options('k')), { message: 'Cloud Run takes whole percentages from 0 to 100: stable=66.5 is not one' });
    await assert.rejects(client.traffic.setWeights({ stable: 50, canary: 40 }, options('k')), {
      message: 'weights for Cloud Run service api must add up to 100, not 90: {"stable":50,"canary":40}',
    });
    assert.equal(emulator.requests.length, 0);

    const same = await setup({ settings: { versions: { stable: 'api-00003-ghi', canary: 'LATEST' } } });
    await assert.rejects(same.client.traffic.readState(), {
      message:
        'Cloud Run versions stable and canary of service api are both revision api-00003-ghi (settings.versions: {"stable":"api-00003-ghi","canary":"LATEST"}): their weights cannot be told apart; name distinct revisions',
    });
  });

  test('a version with no revision to name reads as 0% and cannot be given traffic', async () => {
    const { emulator, client } = await setup({ revisions: THREE.slice(0, 1) });
    assert.deepEqual((await client.traffic.readState()).weights, { stable: 0, canary: 100 });
    await assert.rejects(client.traffic.setWeights({ stable: 100, canary: 0 }, options('k')), {
      message: 'cannot send 100% to version stable (PREVIOUS): service api has no ready revision before api-00001-abc',
    });
    assert.equal(patches(emulator).length, 0);
  });

  test('401: a refused token names the variable to refresh, never the token', async () => {
    const { emulator } = await setup();
    const client = cloudRun.create(cloudRun.settingsSchema.parse({ ...cloudRun.example, service: 'api', baseUrl: emulator.url, tokenEnv: 'CLOUD_RUN_TOKEN' }), {
      env: { CLOUD_RUN_TOKEN: 'ya29.expired-token' },
      logger: quietLogger,
    });
    const error = await client.traffic.readState().catch((err: Error) => err);
    assert.equal(
      (error as Error).message,
      `Cloud Run GET ${SERVICE_PATH} answered 401: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project. ` +
        'The access token in CLOUD_RUN_TOKEN was refused (expired? access tokens last about an hour): put a fresh one there (gcloud auth print-access-token) and run the step again.',
    );
    assert.ok(!(error as Error).message.includes('ya29.expired-token'));

    const unset = cloudRun.create(cloudRun.settingsSchema.parse({ ...cloudRun.example, baseUrl: emulator.url }), { env: {}, logger: quietLogger });
    await assert.rejects(unset.traffic.readState(), { message: 'environment variable GCP_ACCESS_TOKEN is not set (the runbook references it)' });
  });

  test('404: an unknown service says which settings to check', async () => {
    const { emulator } = await setup();
    const client = cloudRun.create(cloudRun.settingsSchema.parse({ ...cloudRun.example, service: 'billing', baseUrl: emulator.url, tokenEnv: 'CLOUD_RUN_TOKEN' }), {
      env: { CLOUD_RUN_TOKEN: TOKEN },
      logger: quietLogger,
    });
    await assert.rejects(client.releases.readRelease('billing'), {
      message:
        "Cloud Run GET /v2/projects/medicalcor-prod/locations/europe-west3/services/billing answered 404: Resource 'projects/medicalcor-prod/locations/europe-west3/services/billing' was not found. " +
        "Check the runbook's settings: project 'medicalcor-prod', location 'europe-west3', service 'billing'.",
    });
  });

  test('409: someone deploying between the read and the PATCH is not overwritten; the engineer is told to look first', async () => {
    const { emulator, client } = await setup();
    emulator.beforeNextPatch(() => emulator.deploy('api', { image: 'europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.4' }));
    const error = (await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-5')).catch((err: Error) => err)) as Error;
    assert.match(error.message, new RegExp(`^Cloud Run PATCH ${SERVICE_PATH} answered 409: The etag "[^"]+" of Service '[^']+' does not match its current etag "[^"]+": it was modified since it was read\\. Someone`));
    assert.ok(
      error.message.endsWith(
        'Someone else changed service api since it was read (its etag no longer matches): look at what changed (gcloud run services describe api --project=medicalcor-prod --region=europe-west3) before running this step again.',
      ),
    );
    assert.equal(emulator.revisions.size, 4, 'the other deploy stands');
    assert.deepEqual(emulator.service('api').traffic, [{ type: LATEST, percent: 100 }]);
  });

  test('429 with Retry-After is waited out and asked again', async () => {
    const { emulator, client } = await setup();
    emulator.failNext({ ...googleError(429, 'RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Read requests' of service 'run.googleapis.com'."), headers: { 'retry-after': '1' } }, {
      method: 'GET',
      path: SERVICE,
    });
    assert.deepEqual((await client.traffic.readState()).weights, { stable: 0, canary: 100 });
    const [refused, answered] = emulator.calls('GET', SERVICE);
    assert.ok(answered!.at - refused!.at >= 1000, `asked again after ${answered!.at - refused!.at} ms`);
  });

  test('503: a read is asked again; a PATCH is not (its effect is unknown), and the error says the step can be run again', async () => {
    const { emulator, client } = await setup();
    const unavailable = googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.');
    emulator.failNext(unavailable, { method: 'GET', path: SERVICE });
    assert.deepEqual((await client.traffic.readState()).weights, { stable: 0, canary: 100 });
    assert.equal(emulator.calls('GET', SERVICE).length, 2);

    emulator.failNext(unavailable, { method: 'PATCH' });
    await assert.rejects(client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-6')), {
      message: `Cloud Run PATCH ${SERVICE_PATH} answered 503: The service is currently unavailable. Cloud Run had a server error: run the step again (it reads the service first, so a change already made is not made twice).`,
    });
    assert.equal(patches(emulator).length, 1);
    assert.deepEqual((await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-6'))).weights, { stable: 100, canary: 0 });
  });

  test('an operation that finishes with an error fails the change with its message; a retry reports the failed state without a second PATCH', async () => {
    const { emulator, client } = await setup();
    emulator.failNextOperation({ code: 9, message: "Revision 'api-00002-def' is not ready and cannot serve traffic." });
    const error = (await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-7')).catch((err: Error) => err)) as Error;
    assert.match(
      error.message,
      /^Cloud Run operation projects\/medicalcor-prod\/locations\/europe-west3\/operations\/[-0-9a-f]+ \(traffic api-00002-def=100%\) failed: Revision 'api-00002-def' is not ready and cannot serve traffic \(code 9\)\. See what the service serves now: gcloud run services describe api --project=medicalcor-prod --region=europe-west3$/,
    );
    await assert.rejects(client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-7')), {
      message:
        "Cloud Run service api did not reach its serving state after traffic api-00002-def=100%: CONDITION_FAILED: Revision 'api-00002-def' is not ready and cannot serve traffic. See gcloud run services describe api --project=medicalcor-prod --region=europe-west3",
    });
    assert.equal(patches(emulator).length, 1);
  });

  test('an operation that runs past timeoutMs is reported, saying it may still finish', async () => {
    const { emulator, client } = await setup({ settings: { timeoutMs: 60 } });
    emulator.pollsUntilDone = 1_000_000;
    const error = (await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-8')).catch((err: Error) => err)) as Error;
    assert.match(
      error.message,
      /^Cloud Run operation projects\/medicalcor-prod\/locations\/europe-west3\/operations\/[-0-9a-f]+ \(traffic api-00002-def=100%\) did not finish within 60 ms; it may still finish: check gcloud run services describe api --project=medicalcor-prod --region=europe-west3$/,
    );
  });

  test('config: plain env vars are read; a change makes a new revision, leaves secret references alone, is not repeated, and is undone', async () => {
    const { emulator, client } = await setup();
    const before = await client.config.readConfig();
    assert.deepEqual(before, { LOG_LEVEL: 'info', FEATURE_SCORING: 'on' }, 'the secret reference is not a config value');

    await client.config.setConfig({ LOG_LEVEL: 'debug', FEATURE_SCORING: null, CACHE_TTL: '60' }, options('wf-9/config'));
    assert.deepEqual(await client.config.readConfig(), { LOG_LEVEL: 'debug', CACHE_TTL: '60' });
    const sent = (patches(emulator)[0]!.body as { template: { containers: { env: unknown[] }[] } }).template.containers[0]!.env;
    assert.deepEqual(sent, [
      { name: 'LOG_LEVEL', value: 'debug' },
      { name: 'API_SECRET_KEY', valueSource: { secretKeyRef: { secret: 'API_SECRET_KEY', version: '3' } } },
      { name: 'CACHE_TTL', value: '60' },
    ]);
    const service = emulator.service('api');
    assert.equal(emulator.revisions.size, 4, 'a new revision');
    assert.equal(service.latestReadyRevision, `${emulator.serviceName('api')}/revisions/api-00004-jkl`);
    assert.deepEqual(await client.traffic.readState(), { weights: { stable: 0, canary: 100 }, instances: {} }, 'LATEST traffic follows the new revision');

    await client.config.setConfig({ LOG_LEVEL: 'debug', FEATURE_SCORING: null, CACHE_TTL: '60' }, options('wf-9/config'));
    assert.equal(patches(emulator).length, 1, 'the repeat finds the values set');

    // Undo: the snapshot's values back, and what it did not have unset.
    await client.config.setConfig({ LOG_LEVEL: before.LOG_LEVEL!, FEATURE_SCORING: before.FEATURE_SCORING!, CACHE_TTL: null }, options('wf-9/undo'));
    assert.deepEqual(await client.config.readConfig(), before);
    assert.equal(emulator.revisions.size, 5);

    await assert.rejects(client.config.setConfig({ API_SECRET_KEY: 'plain' }, options('wf-9/secret')), {
      message: 'API_SECRET_KEY on Cloud Run service api is a secret reference (valueSource), not a plain value: this provider never changes those; roll the secret\'s version instead',
    });
    assert.equal(patches(emulator).length, 2);
  });

  test('config: a template naming its revision still changes (the new revision is named by Cloud Run, not clashing with the old name)', async () => {
    const { emulator, client } = await setup();
    emulator.services.get('api')!.template.revision = 'api-00003-ghi';
    await client.config.setConfig({ LOG_LEVEL: 'warn' }, options('wf-10'));
    assert.equal(emulator.service('api').latestReadyRevision, `${emulator.serviceName('api')}/revisions/api-00004-jkl`);
  });

  test('config: a new revision that does not become ready fails the change with Cloud Run\'s reason', async () => {
    const { emulator, client } = await setup();
    emulator.failNextOperation({ code: 3, message: "Revision 'api-00004-jkl' is not ready: the user-provided container failed to start and listen on PORT=8080." });
    await assert.rejects(client.config.setConfig({ LOG_LEVEL: 'warn' }, options('wf-11')), (err: Error) => {
      assert.match(err.message, /\(environment LOG_LEVEL\) failed: Revision 'api-00004-jkl' is not ready: the user-provided container failed to start and listen on PORT=8080 \(code 3\)\./);
      return true;
    });
    assert.equal(emulator.service('api').latestReadyRevision, `${emulator.serviceName('api')}/revisions/api-00003-ghi`, 'the old revision still serves');
  });

  test('releases: current and previous ready revisions; roll to the previous (100% traffic), repeat changes nothing, compensation rolls back to current', async () => {
    const { emulator, client } = await setup();
    const before = await client.releases.readRelease('api');
    assert.deepEqual(before, {
      target: 'api',
      current: {
        id: 'api-00003-ghi',
        label: 'api-00003-ghi (europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.3, created 2024-12-05T12:03:00.000Z)',
        createdAt: '2024-12-05T12:03:00.000Z',
        image: 'europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.3',
      },
      previous: {
        id: 'api-00002-def',
        label: 'api-00002-def (europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.2, created 2024-12-05T12:02:00.000Z)',
        createdAt: '2024-12-05T12:02:00.000Z',
        image: 'europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.2',
      },
      detail: { traffic: { 'api-00003-ghi': 100 }, latestCreatedRevision: 'api-00003-ghi', reconciling: false, uri: 'https://api-abcdefghij-ey.a.run.app' },
    });

    const progress: string[] = [];
    const after = await client.releases.rollTo('api', before.previous!, { ...options('wf-12/roll'), onProgress: (line) => progress.push(line) });
    assert.deepEqual(after.detail?.traffic, { 'api-00002-def': 100 });
    assert.equal(after.current?.id, 'api-00002-def', 'the current release is the revision that serves, so an undo goes back to it');
    assert.equal(after.previous?.id, 'api-00001-abc');
    assert.ok(progress.some((line) => /^Cloud Run operation [-0-9a-f]+ \(traffic api-00002-def=100%\): done$/.test(line)), progress.join('\n'));

    await client.releases.rollTo('api', before.previous!, options('wf-12/roll'));
    assert.equal(patches(emulator).length, 1, 'the repeat finds the traffic there');

    const back = await client.releases.rollTo('api', before.current!, options('wf-12/compensate'));
    assert.deepEqual(back.detail?.traffic, { 'api-00003-ghi': 100 });
    assert.equal(patches(emulator).length, 2);
  });

  test('releases: blocked with no previous ready revision; a revision that is not ready, or another service, is refused', async () => {
    const { emulator, client } = await setup({ revisions: THREE.slice(0, 1) });
    const state = await client.releases.readRelease('api');
    assert.equal(state.previous, null);
    assert.equal(state.blocked, 'Cloud Run service api has no ready revision before api-00001-abc: nothing to roll back to');

    const failed = emulator.deploy('api', { image: 'europe-docker.pkg.dev/medicalcor-prod/api/api:v1.2.2', ready: false });
    await assert.rejects(client.releases.rollTo('api', { id: failed, label: failed }, options('k')), {
      message: 'revision api-00002-def is not a ready revision of Cloud Run service api (ready: api-00001-abc): cannot route traffic to it',
    });
    await assert.rejects(client.releases.readRelease('medicalcor-web'), {
      message: 'this Cloud Run provider manages service api, not medicalcor-web: add a provider entry for medicalcor-web to the runbook',
    });
    assert.equal(patches(emulator).length, 0);
  });
});
