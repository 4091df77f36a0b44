/**
 * The cloudsql-clone action (seed 002's "Point-in-Time Recovery": `gcloud sql instances clone
 * medicalcor-db-prod medicalcor-db-recovery --point-in-time=...`, verify the recovery instance with
 * psql, then move the application to it) in a phaseRollback through the real worker on a Temporal dev
 * server, against emulators of the documented Cloud SQL Admin API v1 (test/emulators/cloud-sql.ts)
 * and Cloud Run Admin API v2 (test/emulators/cloud-run.ts). A throwaway database on the local
 * PostgreSQL stands in for the clone: it is what the runbook database the smoke queries run on
 * reaches. Checked afterwards: the clone POSTed once with the point in time and its operation waited
 * for, the smoke queries run there, the service's env naming the clone's connection name, the
 * original kept and labelled replaced-by; compensation putting the env back and labelling the clone
 * rollback-undone, deleting nothing; bad input refused by name before anything is sent.
 *
 * References:
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/clone (CloneContext)
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/operations (Operation)
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/projects.instances/getLatestRecoveryTime
 *   https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { ChangeRollbackResult } from '../src/contract/index.ts';
import { decideSignal, rejectSignal, statusQuery } from '../src/contract/messages.ts';
import { CloudRunEmulator, type EnvVar } from './emulators/cloud-run.ts';
import { CloudSqlEmulator } from './emulators/cloud-sql.ts';
import { dropTestDatabase, POSTGRES, sleep, sql } from './harness.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const TOKEN = 'ya29.test-cloud-sql-clone';
const PROJECT = 'medicalcor-prod';
const KEY = 'INSTANCE_CONNECTION_NAME';
/** The local database standing in for the clone (what the runbook database `recovery` reaches). */
const STAND_IN = `sandbox_test_${process.pid}_clone`;

let t: RollbackTestEnv;
let cloudSql: CloudSqlEmulator;
let run: CloudRunEmulator;
let backups: string;

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
const connection = (instance: string) => `${PROJECT}:europe-west3:${instance}`;

/** The env of the container serving the service (traffic floats to LATEST here: the template's). */
function servingEnv(service: string): Record<string, string | undefined> {
  const json = run.service(service) as { template: { containers: { env?: EnvVar[] }[] }; trafficStatuses: { type: string; percent: number }[] };
  assert.deepEqual(json.trafficStatuses, [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }]);
  return Object.fromEntries((json.template.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
}
const runPatches = (service: string) => run.calls('PATCH', new RegExp(`/services/${service}$`));
const sqlWrites = () => cloudSql.requests.filter((r) => r.method !== 'GET');
const labelsOf = (instance: string) => cloudSql.instances.get(instance)?.settings.userLabels;

/** Sequential scans of the stand-in's `patients` table: one per smoke query run on it. */
async function scans(): Promise<number> {
  const [row] = await sql<{ n: string }>(STAND_IN, "SELECT seq_scan AS n FROM pg_stat_user_tables WHERE relname = 'patients'");
  return Number(row!.n);
}
/** The scans once the smoke query's backend has gone and flushed its statistics (at exit, in PostgreSQL 15). */
async function scansAfter(before: number): Promise<number> {
  for (let deadline = Date.now() + 5000; Date.now() < deadline; await sleep(100)) if ((await scans()) > before) break;
  await sleep(300);
  return scans();
}

interface Options {
  /** The action's fields besides instance (pointInTime defaults to 2 hours ago, clone to <instance>-recovery). */
  action?: Record<string, unknown>;
  /** Actions of phase 1 after the clone (phase 1 then holds both); with `gatedPhase`, phase 1 is its own, after phase 2's clone. */
  after?: Record<string, unknown>[];
  gatedPhase?: boolean;
  database?: string;
}

/**
 * An instance `<name>-db` (labelled env=prod, point-in-time recovery reaching back 7 days) that the
 * Cloud Run service `name` connects to through INSTANCE_CONNECTION_NAME, and a runbook whose phase
 * clones it. Returns the instance's name.
 */
function system(name: string, options: Options = {}): string {
  const instance = `${name}-db`;
  cloudSql.addInstance(instance, { labels: { env: 'prod' } });
  run.addService(name, [{ image: 'europe-docker.pkg.dev/p/api:42', env: [{ name: KEY, value: connection(instance) }, { name: 'LOG_LEVEL', value: 'info' }] }]);
  const clone = { 'cloudsql-clone': { instance, pointInTime: hoursAgo(2), clone: `${instance}-recovery`, database: options.database ?? 'recovery', pointService: { provider: 'api', key: KEY }, ...options.action }, provider: 'sql' };
  const settings = { project: PROJECT, tokenEnv: 'GCP_ACCESS_TOKEN', pollIntervalMs: 20, timeoutMs: 30_000 };
  const smoke = (patients: number) => ({ urlEnv: 'CLONE_DATABASE_URL', backupDir: backups, smokeQueries: [{ name: 'patients', sql: 'SELECT count(*) AS patients FROM patients', expect: { patients } }] });
  addMinimalRunbook(t, name, {
    providers: {
      sql: { provider: 'cloud-sql', settings: { ...settings, baseUrl: cloudSql.url } },
      api: { provider: 'cloud-run', settings: { ...settings, location: run.location, service: name, baseUrl: run.url } },
      scripts: { provider: 'command', settings: {} },
    },
    databases: { recovery: smoke(3), 'recovery-strict': smoke(4) },
    phases: options.gatedPhase
      ? [{ id: 1, name: 'Partner API', rollback: options.after, verify: false }, { id: 2, name: 'Database', rollback: [clone], verify: false }]
      : [{ id: 1, name: 'Database', rollback: [clone, ...(options.after ?? [])], verify: false }],
    ...(options.gatedPhase ? { gates: { 'before-phase-1': { role: 'oncall', timeoutSeconds: 60 } } } : {}),
  });
  return instance;
}

const phase = (name: string, extra: Record<string, unknown> = {}) =>
  startRollback(t, { system: name, phases: [1], reason: 'seed 002: leads corrupted at 09:05', requestedBy: 'alice', baselineSeconds: 0, ...extra }, undefined, 'phaseRollback');

describe('cloudsql-clone on Cloud SQL and Cloud Run (emulators) in a phaseRollback', { timeout: 300_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    cloudSql = await new CloudSqlEmulator(TOKEN, PROJECT, 300).start();
    run = await new CloudRunEmulator(TOKEN, PROJECT).start();
    backups = mkdtempSync(join(tmpdir(), 'clone-backups-'));
    await dropTestDatabase(STAND_IN);
    await sql('postgres', `CREATE DATABASE ${pg.escapeIdentifier(STAND_IN)}`);
    await sql(STAND_IN, "CREATE TABLE patients (id int PRIMARY KEY, name text NOT NULL); INSERT INTO patients VALUES (1, 'Ana'), (2, 'Radu'), (3, 'Ioana')");
    Object.assign(t.secrets, { GCP_ACCESS_TOKEN: TOKEN, CLONE_DATABASE_URL: `${POSTGRES}/${STAND_IN}` });
  });
  after(async () => {
    await cloudSql?.stop();
    await run?.stop();
    await t?.stop();
    await dropTestDatabase(STAND_IN);
    if (backups) rmSync(backups, { recursive: true, force: true });
  });

  test('clones once to the point in time, waits for the operation, runs the smoke queries on the clone, then points the service at it and labels the original', async () => {
    const pointInTime = hoursAgo(2);
    const instance = system('clone-ok', { action: { pointInTime } });
    const clone = `${instance}-recovery`;
    const scansBefore = await scans();

    const handle = await phase('clone-ok');
    const result = (await handle.result()) as ChangeRollbackResult;

    assert.equal(result.dryRun, false);
    const posts = cloudSql.clonePosts().filter((r) => r.path.includes(`/instances/${instance}/`));
    assert.equal(posts.length, 1, 'one clone asked for');
    assert.equal(posts[0]!.path, `/v1/projects/${PROJECT}/instances/${instance}/clone`);
    assert.deepEqual(posts[0]!.body, { cloneContext: { kind: 'sql#cloneContext', destinationInstanceName: clone, pointInTime } });
    assert.deepEqual(cloudSql.instances.get(clone)!.clonedFrom, { source: instance, pointInTime });
    assert.equal(cloudSql.instances.get(clone)!.state, 'RUNNABLE');

    // The operation was followed to DONE before the service moved.
    const [operation] = [...cloudSql.operations.values()].filter((o) => o.operationType === 'CLONE' && o.targetId === clone);
    assert.equal(operation?.status, 'DONE');
    assert.ok(cloudSql.calls('GET', new RegExp(`/operations/${operation.name}$`)).length >= 1, 'operations.get polled');
    const patches = runPatches('clone-ok');
    assert.equal(patches.length, 1, 'the service pointed once');
    assert.ok(patches[0]!.at >= Date.parse(operation.endTime!), 'the service moved after the clone was DONE');

    assert.equal(await scansAfter(scansBefore), scansBefore + 1, 'the smoke query ran once, on the stand-in for the clone');
    assert.deepEqual(servingEnv('clone-ok'), { [KEY]: connection(clone), LOG_LEVEL: 'info' });

    assert.equal(cloudSql.instances.get(instance)!.state, 'RUNNABLE', 'the original is kept');
    assert.deepEqual(labelsOf(instance), { env: 'prod', 'replaced-by': clone });
    assert.deepEqual(labelsOf(clone), { env: 'prod' }, 'the clone carries the labels it was cloned with');
    assert.deepEqual(
      sqlWrites().filter((r) => r.path.includes(`/instances/${instance}`)).map((r) => `${r.method} ${r.path}`),
      [`POST /v1/projects/${PROJECT}/instances/${instance}/clone`, `PATCH /v1/projects/${PROJECT}/instances/${instance}`],
    );

    const status = await handle.query(statusQuery);
    const step = status.steps.find((s) => s.name === `phase-1/cloudsql-clone ${instance}`);
    assert.equal(step?.outcome, 'succeeded', JSON.stringify(status.steps));
    assert.equal(step?.description, `instance ${instance} (sql), service ${KEY} (api): ${KEY}=${connection(instance)} -> clone ${clone} at ${pointInTime}, ${KEY}=${connection(clone)}`);
    assert.ok(
      status.report?.includes(`- cloned ${instance} at ${pointInTime} to ${clone} (RUNNABLE); smoke queries passed on recovery; ${KEY}=${connection(clone)}; ${instance} kept, labelled replaced-by=${clone}`),
      status.report ?? 'no report',
    );
  });

  test('a later step fails: compensation points the service back at the original and labels the clone rollback-undone, deleting nothing', async () => {
    const instance = system('clone-undo', { after: [{ command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true }] });
    const clone = `${instance}-recovery`;
    const handle = await phase('clone-undo');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 60_000);
    assert.equal(waiting.pendingDecision?.step, `phase-1/command ${process.execPath}`, waiting.pendingDecision?.error);
    assert.equal(servingEnv('clone-undo')[KEY], connection(clone), 'on the clone before compensating');

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackFailed');

    assert.deepEqual(servingEnv('clone-undo'), { [KEY]: connection(instance), LOG_LEVEL: 'info' }, 'back on the original');
    assert.equal(runPatches('clone-undo').length, 2, 'pointed at the clone, then back');
    assert.deepEqual(labelsOf(clone), { env: 'prod', 'rollback-undone': 'true' });
    // The original serves again: its replaced-by label emptied (labels are merged, never removed).
    assert.deepEqual(labelsOf(instance), { env: 'prod', 'replaced-by': '' });
    assert.equal(cloudSql.instances.get(instance)!.state, 'RUNNABLE');
    assert.equal(cloudSql.instances.get(clone)!.state, 'RUNNABLE', 'the clone is kept');
    assert.deepEqual(cloudSql.requests.filter((r) => r.method === 'DELETE'), [], 'nothing deleted');
    assert.equal(cloudSql.clonePosts().filter((r) => r.path.includes(`/instances/${instance}/`)).length, 1);

    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(status.steps.find((s) => s.name === `phase-1/cloudsql-clone ${instance}`)?.outcome, 'compensated');
    assert.ok(status.report?.includes(`- ${KEY} back to ${connection(instance)}; clone ${clone} kept, labelled rollback-undone (delete it when no longer needed)`), status.report ?? 'no report');
  });

  test('a gate after the clone is rejected: the rollback stops there (aborted), leaving the service on the clone as the contract says of a rejection', async () => {
    const instance = system('clone-reject', { gatedPhase: true, after: [{ command: [process.execPath, '-e', '0'], repeatable: true }] });
    const clone = `${instance}-recovery`;
    const handle = await phase('clone-reject', { phases: [2, 1] });
    await waitForStatus(handle, (s) => s.pendingGate?.gate === 'before-phase-1', 60_000);
    assert.equal(servingEnv('clone-reject')[KEY], connection(clone));
    await handle.signal(rejectSignal, { by: 'bob', reason: 'the partner API is fine; keep it' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackAborted');
    assert.equal(failure.message, 'phaseRollback of clone-reject aborted: rejected by bob at gate before-phase-1: the partner API is fine; keep it');
    assert.equal(servingEnv('clone-reject')[KEY], connection(clone), 'left as it is');
    assert.equal(runPatches('clone-reject').length, 1);
    assert.deepEqual(labelsOf(clone), { env: 'prod' });
    assert.deepEqual(labelsOf(instance), { env: 'prod', 'replaced-by': clone });
  });

  test('a smoke query fails on the clone: the step stops before the service moves, and compensation leaves the config as found', async () => {
    const instance = system('clone-smoke', { database: 'recovery-strict' });
    const clone = `${instance}-recovery`;
    const scansBefore = await scans();
    const handle = await phase('clone-smoke');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 60_000);
    assert.equal(waiting.pendingDecision?.step, `phase-1/cloudsql-clone ${instance}`);
    assert.equal(waiting.pendingDecision?.error, `${STAND_IN} did not verify: smoke query patients: expected {"patients":"4"}, got {"patients":"3"}`);
    assert.equal(await scansAfter(scansBefore), scansBefore + 1, 'the smoke query ran once (a refusal is not retried)');
    assert.equal(runPatches('clone-smoke').length, 0, 'the service did not move');

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.equal(runPatches('clone-smoke').length, 0);
    assert.deepEqual(servingEnv('clone-smoke'), { [KEY]: connection(instance), LOG_LEVEL: 'info' }, 'the config as found');
    assert.deepEqual(labelsOf(instance), { env: 'prod' }, 'the original not labelled');
    // The clone the failed step made is kept (a step that failed has nothing to undo), marked so nobody takes it for a good copy.
    assert.equal(cloudSql.instances.get(clone)?.state, 'RUNNABLE');
    assert.deepEqual(labelsOf(clone), { env: 'prod', 'rollback-check-failed': 'true' });
    assert.deepEqual(
      sqlWrites().filter((r) => r.path.includes(`/instances/${instance}`)).map((r) => `${r.method} ${r.path.slice(r.path.indexOf('/instances/'))}`),
      [`POST /instances/${instance}/clone`, `PATCH /instances/${clone}`],
      'one clone, then the clone labelled; the original untouched',
    );
    assert.equal((await handle.query(statusQuery)).steps.find((s) => s.name === `phase-1/cloudsql-clone ${instance}`)?.outcome, 'failed');
  });

  test('a dry run shows the plan, from the connection name in use to the clone and its connection name, and changes nothing', async () => {
    const pointInTime = hoursAgo(3);
    const instance = system('clone-dry', { action: { pointInTime } });
    const writesBefore = sqlWrites().length;
    const handle = await phase('clone-dry', { dryRun: true });
    const result = (await handle.result()) as ChangeRollbackResult;
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.blockers, []);
    assert.deepEqual(
      result.plan.sets.map((s) => s.changes.map((c) => ({ name: c.name, target: c.target, from: c.from, to: c.to, changes: c.changes }))),
      [[{
        name: `phase-1/cloudsql-clone ${instance}`,
        target: `instance ${instance} (sql), service ${KEY} (api)`,
        from: `${KEY}=${connection(instance)}`,
        to: `clone ${instance}-recovery at ${pointInTime}, ${KEY}=${connection(`${instance}-recovery`)}`,
        changes: true,
      }]],
    );
    assert.equal(sqlWrites().length, writesBefore, 'nothing sent to Cloud SQL');
    assert.equal(cloudSql.instances.has(`${instance}-recovery`), false);
    assert.equal(runPatches('clone-dry').length, 0);
  });

  test('a point in time half a second after the start of the window, which the API gives in whole seconds, is inside it and cloned', async () => {
    // Google's Timestamps drop a zero fraction ("...:34Z"); the point in time carries milliseconds ("...:34.500Z").
    const earliest = `${new Date(Date.now() - 5 * 3_600_000).toISOString().slice(0, 19)}Z`;
    const pointInTime = new Date(Date.parse(earliest) + 500).toISOString();
    const instance = system('clone-edge', { action: { pointInTime } });
    cloudSql.instances.get(instance)!.earliestRecoveryTime = earliest;
    const handle = await phase('clone-edge');
    await handle.result();
    assert.deepEqual(cloudSql.instances.get(`${instance}-recovery`)!.clonedFrom, { source: instance, pointInTime });
    assert.equal(servingEnv('clone-edge')[KEY], connection(`${instance}-recovery`));
  });

  describe('bad input is refused by name before anything is sent', () => {
    /** Runs the rollback of `name`, which must be refused with `problem` and send nothing anywhere. */
    async function refused(name: string, problem: string | RegExp): Promise<void> {
      const writesBefore = sqlWrites().length;
      const failure = await failureOf(phase(name).then((h) => h.result()));
      assert.equal(failure.type, 'InvalidInput');
      if (typeof problem === 'string') assert.equal(failure.message, `cannot roll back:\n  ${problem}`);
      else assert.match(failure.message, problem);
      assert.equal(sqlWrites().length, writesBefore, 'no clone POSTed, no label sent');
      assert.equal(runPatches(name).length, 0, 'the service untouched');
    }

    test('a point in time outside the recovery window, naming the window', async () => {
      const tooOld = new Date(Date.parse('2026-01-01T00:00:00Z') - 86_400_000 * 400).toISOString();
      const instance = system('clone-old', { action: { pointInTime: tooOld } });
      const earliest = cloudSql.instances.get(instance)!.earliestRecoveryTime;
      await refused('clone-old', new RegExp(`^cannot roll back:\\n  cloudsql-clone ${instance} \\(sql\\): ${tooOld} is outside the instance's recovery window \\(${earliest} to \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)$`));
    });

    test('an unknown instance', async () => {
      system('clone-unknown', { action: { instance: 'medicalcor-db-typo' } });
      await refused('clone-unknown', 'cloudsql-clone medicalcor-db-typo (sql): instance medicalcor-db-typo not found');
    });

    test('a clone name that already exists', async () => {
      const instance = system('clone-taken');
      cloudSql.addInstance(`${instance}-recovery`);
      await refused('clone-taken', `cloudsql-clone ${instance} (sql): instance ${instance}-recovery already exists; name another clone (clone: ...)`);
    });

    test('an unknown runbook database: the runbook does not load', () => {
      const writesBefore = sqlWrites().length;
      assert.throws(() => system('clone-nodb', { database: 'recovery-typo' }), {
        name: 'RunbookError',
        message: "runbooks/clone-nodb.yaml: phases[0].rollback[0].cloudsql-clone.database: unknown database 'recovery-typo' (the one that reaches the clone, for its smoke queries); must be one of: recovery, recovery-strict",
      });
      assert.equal(t.runbooks.has('clone-nodb'), false, 'no runbook, so no rollback of it can start');
      assert.equal(sqlWrites().length, writesBefore);
    });
  });

  test('pointInTime {minutesAgo} is fixed at the snapshot: a retried clone asks for the same instant under the same name', async () => {
    const instance = system('clone-ago', { action: { pointInTime: { minutesAgo: 30 }, clone: undefined } });
    // The first clone POST fails (a 503 is not sent again by the client: the clone may have started), so Temporal retries the activity.
    cloudSql.failNext({ status: 503, body: { error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } } }, { method: 'POST', path: new RegExp(`/instances/${instance}/clone$`) });
    const handle = await phase('clone-ago');
    const result = (await handle.result()) as ChangeRollbackResult;

    const captured = result.snapshot.values!.find((v) => v.kind === 'cloudsql-clone') as { pointInTime: string; clone: string };
    const stamp = captured.pointInTime.slice(0, 16).replace(/[-T:]/g, '');
    assert.equal(captured.clone, `${instance}-pitr-${stamp}`);
    const minutesBefore = (Date.parse(result.snapshot.takenAt) - Date.parse(captured.pointInTime)) / 60_000;
    assert.ok(minutesBefore >= 30 && minutesBefore < 31, `${minutesBefore} minutes before the snapshot`);
    const posts = cloudSql.clonePosts().filter((r) => r.path.includes(`/instances/${instance}/`));
    assert.equal(posts.length, 2, 'the refused POST and the retry');
    for (const post of posts) assert.deepEqual(post.body, { cloneContext: { kind: 'sql#cloneContext', destinationInstanceName: captured.clone, pointInTime: captured.pointInTime } });
    assert.deepEqual(cloudSql.instances.get(captured.clone)!.clonedFrom, { source: instance, pointInTime: captured.pointInTime });
    assert.equal(servingEnv('clone-ago')[KEY], connection(captured.clone));
    assert.equal((await handle.query(statusQuery)).steps.find((s) => s.name === `phase-1/cloudsql-clone ${instance}`)?.runs, 1, 'one step, its activity retried inside Temporal');
  });
});
