/**
 * The cloud-sql provider against an emulator of the Cloud SQL Admin API v1 (test/emulators/cloud-sql.ts):
 * instances read (an unknown one is null), the recovery window, seed 002's point-in-time clone waited
 * for through its operation until the clone is RUNNABLE, a retry that finds the clone (done or still
 * running) and starts no second one, a point outside the window refused with the API's message, and
 * labels merged onto the ones an instance has.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { cloudSql } from '../src/providers/cloud-sql/cloud-sql.ts';
import type { RolloutOptions } from '../src/providers/types.ts';
import { CloudSqlEmulator } from './emulators/cloud-sql.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'ya29.test-cloud-sql';
const PROJECT = 'medicalcor-prod';
const PROD = 'medicalcor-db-prod';
const RECOVERY = 'medicalcor-db-recovery';
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
const options = (idempotencyKey: string, progress: string[] = []): RolloutOptions => ({ idempotencyKey, actor: 'dba@clinic.example', onProgress: (line) => progress.push(line) });

async function setup(t: TestContext, operationMs = 150) {
  const emulator = await new CloudSqlEmulator(TOKEN, PROJECT, operationMs).start();
  t.after(() => emulator.stop());
  emulator.addInstance(PROD, { labels: { env: 'prod', team: 'platform' } });
  const settings = cloudSql.settingsSchema.parse({ project: PROJECT, baseUrl: emulator.url, tokenEnv: 'GCP_ACCESS_TOKEN', pollIntervalMs: 10, timeoutMs: 5000, requestTimeoutMs: 5000 });
  const client = cloudSql.create(settings, { env: { GCP_ACCESS_TOKEN: TOKEN }, logger: quietLogger }).databaseClones;
  return { emulator, client };
}

describe('cloud-sql provider against an emulator of the Cloud SQL Admin API v1', () => {
  test('readInstance gives name, state, version, connection name and labels, with the bearer token; an unknown instance is null', async (t) => {
    const { emulator, client } = await setup(t);
    assert.deepEqual(await client.readInstance(PROD), {
      name: PROD,
      state: 'RUNNABLE',
      databaseVersion: 'POSTGRES_15',
      connectionName: `${PROJECT}:europe-west3:${PROD}`,
      labels: { env: 'prod', team: 'platform' },
    });
    assert.equal(emulator.requests[0]!.path, `/v1/projects/${PROJECT}/instances/${PROD}`);
    assert.equal(emulator.requests[0]!.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(await client.readInstance('medicalcor-db-typo'), null);
  });

  test('recoveryWindow is what getLatestRecoveryTime reports; without earliestRecoveryTime it is the latest less the log retention days', async (t) => {
    const { emulator, client } = await setup(t);
    emulator.instances.get(PROD)!.earliestRecoveryTime = hoursAgo(50);
    const before = Date.now();
    const window = await client.recoveryWindow(PROD);
    assert.equal(window.earliest, emulator.instances.get(PROD)!.earliestRecoveryTime);
    assert.ok(Date.parse(window.latest) >= before - 1000 && Date.parse(window.latest) <= Date.now());
    assert.ok(emulator.requests.some((r) => r.path === `/v1/projects/${PROJECT}/instances/${PROD}/getLatestRecoveryTime`));

    emulator.instances.get(PROD)!.settings.backupConfiguration.transactionLogRetentionDays = 3;
    emulator.failNext({ status: 200, body: { kind: 'sql#getLatestRecoveryTime', latestRecoveryTime: '2026-12-06T10:00:00Z' } }, { path: /getLatestRecoveryTime$/ });
    assert.deepEqual(await client.recoveryWindow(PROD), { earliest: '2026-12-03T10:00:00.000Z', latest: '2026-12-06T10:00:00Z' });

    emulator.addInstance('medicalcor-db-nopitr', { pitr: false });
    await assert.rejects(client.recoveryWindow('medicalcor-db-nopitr'), { message: /instance medicalcor-db-nopitr has no automated backups, so it cannot be cloned to a point in time\. Enable it \(gcloud sql instances patch medicalcor-db-nopitr --enable-point-in-time-recovery/ });
  });

  test('cloneInstance clones to the point in time, follows the operation PENDING -> RUNNING -> DONE and returns the clone RUNNABLE', async (t) => {
    const { emulator, client } = await setup(t);
    const progress: string[] = [];
    const pointInTime = hoursAgo(2);

    const clone = await client.cloneInstance(PROD, RECOVERY, pointInTime, options('wf-20:clone', progress));

    assert.deepEqual(clone, { name: RECOVERY, state: 'RUNNABLE', databaseVersion: 'POSTGRES_15', connectionName: `${PROJECT}:europe-west3:${RECOVERY}`, labels: { env: 'prod', team: 'platform' } });
    const posts = emulator.clonePosts();
    assert.equal(posts.length, 1);
    assert.equal(posts[0]!.path, `/v1/projects/${PROJECT}/instances/${PROD}/clone`);
    assert.deepEqual(posts[0]!.body, { cloneContext: { kind: 'sql#cloneContext', destinationInstanceName: RECOVERY, pointInTime } });
    assert.deepEqual(emulator.instances.get(RECOVERY)!.clonedFrom, { source: PROD, pointInTime });
    const statuses = progress.map((line) => /: (PENDING|RUNNING|DONE)$/.exec(line)?.[1]).filter(Boolean);
    assert.ok(statuses.includes('RUNNING') && statuses.at(-1) === 'DONE', progress.join('\n'));
    assert.equal(emulator.instances.get(PROD)!.state, 'RUNNABLE', 'the source is untouched');
  });

  test('a retry starts no second clone: it waits for the clone still running, and finds the finished one', async (t) => {
    const { emulator, client } = await setup(t, 400);
    // The first attempt's clone was accepted, its answer lost with the worker.
    const started = await fetch(`${emulator.url}/v1/projects/${PROJECT}/instances/${PROD}/clone`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cloneContext: { destinationInstanceName: RECOVERY, pointInTime: hoursAgo(1) } }),
    });
    assert.equal(started.status, 200);
    assert.equal(emulator.instances.get(RECOVERY)!.state, 'PENDING_CREATE');
    const progress: string[] = [];

    const clone = await client.cloneInstance(PROD, RECOVERY, hoursAgo(1), options('wf-21:clone', progress));
    assert.equal(clone.state, 'RUNNABLE');
    assert.equal(emulator.clonePosts().length, 1, 'no second clone was asked for');
    assert.ok(progress.some((line) => line.includes('the clone started earlier')), progress.join('\n'));
    assert.ok(emulator.calls('GET', /\/operations\/[^/]+$/).length > 0, 'it followed the running operation');

    assert.equal((await client.cloneInstance(PROD, RECOVERY, hoursAgo(1), options('wf-21:clone'))).state, 'RUNNABLE');
    assert.equal(emulator.clonePosts().length, 1, 'nor after it finished');
  });

  test('an instance by the clone\'s name that no clone made is refused, not taken for the clone', async (t) => {
    const { emulator, client } = await setup(t);
    emulator.addInstance(RECOVERY);
    await assert.rejects(client.cloneInstance(PROD, RECOVERY, hoursAgo(1), options('wf-22:clone')), {
      message: new RegExp(`Cloud SQL instance ${RECOVERY} already exists and no clone operation made it, so it is not a clone of ${PROD} this step started`),
    });
    assert.equal(emulator.clonePosts().length, 0);
  });

  test('a point in time outside the recovery window is refused with the API\'s message and the window', async (t) => {
    const { emulator, client } = await setup(t);
    const tooOld = hoursAgo(24 * 30);
    const error = await client.cloneInstance(PROD, RECOVERY, tooOld, options('wf-23:clone')).then(() => assert.fail('cloned'), (err: Error) => err);
    const earliest = emulator.instances.get(PROD)!.earliestRecoveryTime;
    assert.match(error.message, new RegExp(`^Cloud SQL Admin API POST /v1/projects/${PROJECT}/instances/${PROD}/clone answered 400: Invalid request: the point in time ${tooOld} is outside the recovery window of instance ${PROD}`));
    assert.match(error.message, new RegExp(`${tooOld} must lie in ${PROD}'s recovery window, now ${earliest} to \\d{4}-`));
    assert.equal(emulator.instances.has(RECOVERY), false);
    await assert.rejects(client.cloneInstance(PROD, RECOVERY, 'yesterday 9am', options('wf-23:clone')), { message: /'yesterday 9am' is no RFC 3339 time/ });
    await assert.rejects(client.cloneInstance('medicalcor-db-typo', RECOVERY, hoursAgo(1), options('wf-23:clone')), { message: /answered 404: The Cloud SQL instance does not exist\. Project medicalcor-prod has no Cloud SQL instance 'medicalcor-db-typo'/ });
  });

  test('labelInstance merges the labels into those the instance has, and sends nothing when they are there', async (t) => {
    const { emulator, client } = await setup(t);
    const labelled = await client.labelInstance(PROD, { 'rollback-replaced-by': RECOVERY, env: 'prod' }, { idempotencyKey: 'wf-24:label', actor: 'dba@clinic.example' });
    assert.deepEqual(labelled.labels, { env: 'prod', team: 'platform', 'rollback-replaced-by': RECOVERY });
    const patches = emulator.calls('PATCH');
    assert.equal(patches.length, 1);
    assert.deepEqual(patches[0]!.body, { settings: { userLabels: { env: 'prod', team: 'platform', 'rollback-replaced-by': RECOVERY } } });
    assert.deepEqual(emulator.instances.get(PROD)!.settings.userLabels, labelled.labels);

    await client.labelInstance(PROD, { 'rollback-replaced-by': RECOVERY }, { idempotencyKey: 'wf-24:label', actor: 'dba@clinic.example' });
    assert.equal(emulator.calls('PATCH').length, 1, 'a repeat patches nothing');
    await assert.rejects(client.labelInstance(PROD, { Replaced: 'Yes' }, { idempotencyKey: 'k', actor: 'a' }), { message: /label Replaced=Yes is not one Cloud SQL takes/ });
    await assert.rejects(client.labelInstance('medicalcor-db-typo', { a: 'b' }, { idempotencyKey: 'k', actor: 'a' }), { message: /project medicalcor-prod has no Cloud SQL instance 'medicalcor-db-typo'/ });
  });
});
