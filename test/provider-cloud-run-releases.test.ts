/**
 * The cloud-run provider's named releases and versions pinned by traffic tag, against the emulator of
 * the Cloud Run Admin API v2 (test/emulators/cloud-run.ts): releases found by revision, traffic tag,
 * image and digest, listed, unknown ones null; an image no revision runs deployed as a new revision
 * with 100% of traffic under a version's tag, and a retry changing nothing; a chosen revision taking the
 * serving version's place and the undo putting it back; a config change after a traffic shift served by
 * a new revision in the old one's place, so the next reads succeed; and a split refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { cloudRun } from '../src/providers/cloud-run/cloud-run.ts';
import type { ProviderClient } from '../src/providers/types.ts';
import { BY_REVISION, CloudRunEmulator, LATEST, type TrafficTarget } from './emulators/cloud-run.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'ya29.emulator-token-releases';
const REPO = 'europe-docker.pkg.dev/medicalcor-prod/api/api';
const options = (key: string) => ({ idempotencyKey: key, actor: 'test' });
const digest = (image: string) => `sha256:${createHash('sha256').update(image).digest('hex')}`;
/** A name this provider gives a revision it makes: `<service>-rb-<8 hex>`. */
const OURS = /^api-rb-[0-9a-f]{8}$/;

const emulators: CloudRunEmulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.stop()));
});

/** Service api with revisions api-00001-abc, api-00002-def, api-00003-ghi running v1.2.1 to v1.2.3. */
async function setup(traffic?: TrafficTarget[]): Promise<{ emulator: CloudRunEmulator; client: ProviderClient<'traffic' | 'config' | 'releases'> }> {
  const emulator = await new CloudRunEmulator(TOKEN).start();
  emulators.push(emulator);
  const env = (scoring: string) => [
    { name: 'LOG_LEVEL', value: 'info' },
    { name: 'FEATURE_SCORING', value: scoring },
  ];
  emulator.addService('api', [{ image: `${REPO}:v1.2.1`, env: env('off') }, { image: `${REPO}:v1.2.2`, env: env('off') }, { image: `${REPO}:v1.2.3`, env: env('on') }], traffic);
  const settings = cloudRun.settingsSchema.parse({ project: 'medicalcor-prod', location: 'europe-west3', service: 'api', baseUrl: emulator.url, tokenEnv: 'CLOUD_RUN_TOKEN', pollIntervalMs: 5, timeoutMs: 5000 });
  return { emulator, client: cloudRun.create(settings, { env: { CLOUD_RUN_TOKEN: TOKEN }, logger: quietLogger }) };
}

const patches = (emulator: CloudRunEmulator) => emulator.calls('PATCH', /\/services\/api$/);
const traffic = (emulator: CloudRunEmulator) => emulator.service('api').traffic as TrafficTarget[];
const served = (emulator: CloudRunEmulator) => (emulator.service('api').trafficStatuses as TrafficTarget[]).filter((t) => (t.percent ?? 0) > 0);
const revision = (emulator: CloudRunEmulator, name: string) => emulator.revisions.get(`${emulator.serviceName('api')}/revisions/${name}`)!;

describe('Cloud Run releases named by revision, tag or image, and versions pinned by traffic tag', () => {
  test('findRelease: by revision name (bare or full), traffic tag, image reference, digest or repository@digest; anything else is null', async () => {
    const { emulator, client } = await setup([
      { type: LATEST, percent: 100 },
      { type: BY_REVISION, revision: 'api-00001-abc', percent: 0, tag: 'v121' },
    ]);
    const first = {
      id: 'api-00001-abc',
      label: `api-00001-abc (${REPO}:v1.2.1, created 2024-12-05T12:01:00.000Z)`,
      createdAt: '2024-12-05T12:01:00.000Z',
      image: `${REPO}:v1.2.1`,
      aliases: ['v121'],
    };
    assert.deepEqual(await client.releases.findRelease('api', 'api-00001-abc'), first);
    assert.deepEqual(await client.releases.findRelease('api', `${emulator.serviceName('api')}/revisions/api-00001-abc`), first);
    assert.deepEqual(await client.releases.findRelease('api', 'v121'), first, 'a traffic tag');
    assert.equal((await client.releases.findRelease('api', `${REPO}:v1.2.2`))?.id, 'api-00002-def', 'the image a revision was deployed with');
    assert.equal((await client.releases.findRelease('api', digest(`${REPO}:v1.2.3`)))?.id, 'api-00003-ghi', 'the digest its image resolved to');
    assert.equal((await client.releases.findRelease('api', `${REPO}@${digest(`${REPO}:v1.2.2`)}`))?.id, 'api-00002-def', 'its repository at that digest');

    for (const unknown of ['api-00099-xyz', 'v120', `sha256:${'0'.repeat(64)}`, 'not an image', `${REPO}`]) {
      assert.equal(await client.releases.findRelease('api', unknown), null, unknown);
    }
    assert.equal(patches(emulator).length, 0);
  });

  test('findRelease: a pinned image reference no revision runs is a fresh release, to deploy', async () => {
    const { client } = await setup();
    for (const image of [`${REPO}:v1.2.0`, `${REPO}@sha256:${'a'.repeat(64)}`, 'nginx:1.27']) {
      assert.deepEqual(await client.releases.findRelease('api', image), { id: image, label: image, image, fresh: true });
    }
  });

  test('listReleases: the ready revisions, newest first, at most the limit, with their tags', async () => {
    const { emulator, client } = await setup();
    emulator.deploy('api', { image: `${REPO}:v1.2.4`, ready: false });
    await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-list/shift'));
    const listed = await client.releases.listReleases('api', 10);
    assert.deepEqual(
      listed.map((r) => [r.id, r.aliases]),
      [
        ['api-00003-ghi', ['canary']],
        ['api-00002-def', ['stable']],
        ['api-00001-abc', undefined],
      ],
    );
    assert.deepEqual(
      (await client.releases.listReleases('api', 1)).map((r) => r.id),
      ['api-00003-ghi'],
    );
  });

  test('rollTo a fresh image: one PATCH deploys it as a named revision of the template with 100% under the serving version\'s tag; a retry changes nothing; the undo puts the tags back', async () => {
    const { emulator, client } = await setup();
    const before = await client.releases.readRelease('api');
    const fresh = (await client.releases.findRelease('api', `${REPO}:v1.2.0`))!;
    const progress: string[] = [];
    const after = await client.releases.rollTo('api', fresh, { ...options('wf-fresh/release'), onProgress: (line) => progress.push(line) });

    const [patch] = patches(emulator);
    const body = patch!.body as { template: { revision: string; containers: { image: string; env: unknown }[] }; traffic: TrafficTarget[] };
    const made = body.template.revision;
    assert.match(made, OURS);
    assert.equal(body.template.containers[0]!.image, `${REPO}:v1.2.0`);
    assert.deepEqual(body.template.containers[0]!.env, revision(emulator, 'api-00003-ghi').containers[0]!.env, "the template's env: gcloud run deploy --image");
    assert.deepEqual(body.traffic, [
      { type: BY_REVISION, revision: 'api-00002-def', percent: 0, tag: 'stable' },
      { type: BY_REVISION, revision: made, percent: 100, tag: 'canary' },
    ]);
    assert.deepEqual(served(emulator), [{ type: BY_REVISION, revision: made, percent: 100, tag: 'canary' }]);
    assert.equal(after.current?.id, made);
    assert.equal(after.current?.image, `${REPO}:v1.2.0`);
    assert.deepEqual(after.current?.aliases, ['canary']);
    assert.deepEqual(after.detail?.traffic, { [made]: 100 });
    assert.ok(progress.some((line) => line.includes(`image ${REPO}:v1.2.0 (revision ${made}, tagged canary)`)), progress.join('\n'));
    assert.deepEqual(await client.traffic.readState(), { weights: { stable: 0, canary: 100 }, instances: {} });

    const again = await client.releases.rollTo('api', fresh, options('wf-fresh/release'));
    assert.equal(patches(emulator).length, 1, 'the retry finds the revision running the image, serving everything');
    assert.deepEqual(again.current, after.current);
    assert.equal((await client.releases.findRelease('api', `${REPO}:v1.2.0`))?.id, made, 'no longer fresh');

    await client.releases.rollTo('api', before.current!, options('wf-fresh/undo'));
    assert.deepEqual(traffic(emulator), [
      { type: BY_REVISION, revision: 'api-00002-def', percent: 0, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00003-ghi', percent: 100, tag: 'canary' },
    ]);
    assert.equal(emulator.revisions.size, 4);
  });

  test('rollTo a fresh image whose revision fails: the error names Cloud Run\'s reason, and a retry reports it without deploying again', async () => {
    const { emulator, client } = await setup();
    const fresh = (await client.releases.findRelease('api', `${REPO}:v1.1.9`))!;
    emulator.failNextOperation({ code: 9, message: 'the user-provided container failed to start and listen on PORT=8080' });
    await assert.rejects(client.releases.rollTo('api', fresh, options('wf-bad/release')), /failed: the user-provided container failed to start and listen on PORT=8080 \(code 9\)/);
    await assert.rejects(
      client.releases.rollTo('api', fresh, options('wf-bad/release')),
      /^Error: Cloud Run service api: revision api-rb-[0-9a-f]{8} with .*:v1\.1\.9 did not become ready \(the user-provided container failed to start and listen on PORT=8080\); nothing was sent/,
    );
    assert.equal(patches(emulator).length, 1);
  });

  test('rollTo a chosen revision that is no version: it takes the serving version\'s tag with 100%; the traffic reads stay whole; the undo restores the split', async () => {
    const { emulator, client } = await setup();
    const snapshot = await client.releases.readRelease('api');
    const chosen = (await client.releases.findRelease('api', `${REPO}:v1.2.1`))!;
    await client.releases.rollTo('api', chosen, options('wf-chosen/release'));
    assert.deepEqual(traffic(emulator), [
      { type: BY_REVISION, revision: 'api-00002-def', percent: 0, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00001-abc', percent: 100, tag: 'canary' },
    ]);
    assert.deepEqual(await client.traffic.readState(), { weights: { stable: 0, canary: 100 }, instances: {} });
    assert.equal((await client.releases.readRelease('api')).current?.id, 'api-00001-abc');

    await client.releases.rollTo('api', chosen, options('wf-chosen/release'));
    assert.equal(patches(emulator).length, 1, 'a repeat changes nothing');
    await client.releases.rollTo('api', snapshot.current!, options('wf-chosen/undo'));
    assert.deepEqual(served(emulator), [{ type: BY_REVISION, revision: 'api-00003-ghi', percent: 100, tag: 'canary' }]);
    assert.equal(emulator.revisions.size, 3, 'routing makes no revision');
  });

  test('a config change after a rollback shifted traffic: a new revision made from the serving one takes its tag and traffic, so the next reads succeed and serve the change', async () => {
    const { emulator, client } = await setup();
    await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-cfg/shift'));
    await client.config.setConfig({ LOG_LEVEL: 'debug' }, options('wf-cfg/config'));

    const made = (patches(emulator)[1]!.body as { template: { revision: string } }).template.revision;
    assert.match(made, OURS);
    assert.deepEqual(await client.traffic.readState(), { weights: { stable: 100, canary: 0 }, instances: {} });
    assert.deepEqual(await client.config.readConfig(), { LOG_LEVEL: 'debug', FEATURE_SCORING: 'off' }, "the stable revision's values with the change");
    assert.deepEqual(served(emulator), [{ type: BY_REVISION, revision: made, percent: 100, tag: 'stable' }]);
    assert.equal(revision(emulator, made).containers[0]!.image, `${REPO}:v1.2.2`, "stable's image, not the canary's the template held");
    assert.deepEqual(traffic(emulator), [
      { type: BY_REVISION, revision: made, percent: 100, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00003-ghi', percent: 0, tag: 'canary' },
    ]);

    await client.config.setConfig({ LOG_LEVEL: 'debug' }, options('wf-cfg/config'));
    assert.equal(patches(emulator).length, 2, 'a repeat finds the value serving');

    // Compensation, newest first: the config back, then the traffic.
    await client.config.setConfig({ LOG_LEVEL: 'info' }, options('wf-cfg/undo-config'));
    assert.deepEqual(await client.config.readConfig(), { LOG_LEVEL: 'info', FEATURE_SCORING: 'off' });
    assert.deepEqual((await client.traffic.setWeights({ stable: 0, canary: 100 }, options('wf-cfg/undo-shift'))).weights, { stable: 0, canary: 100 });
    assert.deepEqual(await client.config.readConfig(), { LOG_LEVEL: 'info', FEATURE_SCORING: 'on' }, 'the canary serves again, as before');
    assert.equal(emulator.revisions.size, 5);
  });

  test('a config change while traffic is split between versions is refused, nothing sent', async () => {
    const { emulator, client } = await setup();
    await client.traffic.setWeights({ stable: 50, canary: 50 }, options('wf-split/shift'));
    await assert.rejects(client.config.setConfig({ LOG_LEVEL: 'debug' }, options('wf-split/config')), {
      message:
        'Cloud Run service api splits its traffic (api-00002-def=50%, api-00003-ghi=50%): environment LOG_LEVEL would make one new revision, serving one share only. ' +
        "Send all traffic to one version first (a rollback's traffic steps do), then change it",
    });
    assert.equal(patches(emulator).length, 1);
  });

  test('traffic floating to LATEST again (someone ran --to-latest after a deploy) reads versions by their selectors, not by the tags left behind', async () => {
    const { emulator, client } = await setup();
    await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-float/shift'));
    emulator.deploy('api', { image: `${REPO}:v1.2.4` });
    emulator.services.get('api')!.traffic = [{ type: LATEST, percent: 100 }, ...traffic(emulator).map((t) => ({ ...t, percent: 0 }))];
    emulator.services.get('api')!.trafficStatuses = [{ type: LATEST, percent: 100 }];
    assert.deepEqual(await client.traffic.readState(), { weights: { stable: 0, canary: 100 }, instances: {} });
    await client.traffic.setWeights({ stable: 100, canary: 0 }, options('wf-float/again'));
    assert.deepEqual(traffic(emulator), [
      { type: BY_REVISION, revision: 'api-00003-ghi', percent: 100, tag: 'stable' },
      { type: BY_REVISION, revision: 'api-00004-jkl', percent: 0, tag: 'canary' },
    ]);
  });
});
