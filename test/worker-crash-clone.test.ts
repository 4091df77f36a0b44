/**
 * Durability of the cloudsql-clone action: the worker process is SIGKILLed while the Cloud SQL clone
 * operation runs (the emulator's operations slowed to 15 s), a new worker process starts, and the
 * phaseRollback completes with exactly one clone asked for, the service pointed once and the original
 * labelled once. The Cloud SQL Admin API takes no idempotency key: the retried activity finds the
 * clone by name, made by a CLONE operation, and waits for that operation instead of cloning again.
 * Against the emulators of the Cloud SQL Admin API v1 and the Cloud Run Admin API v2
 * (test/emulators/cloud-sql.ts, test/emulators/cloud-run.ts); a local PostgreSQL database stands in
 * for the clone.
 *
 * References:
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/clone
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/operations (operations.get, list)
 *   https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { stringify } from 'yaml';
import { waitForPoller } from '../scripts/lib/temporal.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { statusQuery } from '../src/contract/messages.ts';
import { workerProcesses } from './crash-harness.ts';
import { CloudRunEmulator, type EnvVar } from './emulators/cloud-run.ts';
import { CloudSqlEmulator } from './emulators/cloud-sql.ts';
import { dropTestDatabase, kill9, POSTGRES, sleep, sql, startTemporal } from './harness.ts';

const TOKEN = 'ya29.test-crash-clone';
const PROJECT = 'medicalcor-prod';
const SYSTEM = 'clone-crash';
const INSTANCE = 'medicalcor-db-prod';
const KEY = 'INSTANCE_CONNECTION_NAME';
const STAND_IN = `sandbox_test_${process.pid}_clone_crash`;
const connection = (instance: string) => `${PROJECT}:europe-west3:${instance}`;

let env: TestWorkflowEnvironment;
let cloudSql: CloudSqlEmulator;
let run: CloudRunEmulator;
let dir: string;
/** Workers exactly as production runs them, with the Google token and the stand-in's URL. */
const workers = workerProcesses(() => ({ address: env.address, runbooksDir: dir, env: { GCP_ACCESS_TOKEN: TOKEN, CLONE_DATABASE_URL: `${POSTGRES}/${STAND_IN}` } }));

describe('a worker killed while a Cloud SQL clone runs', { timeout: 300_000 }, () => {
  before(async () => {
    env = await startTemporal();
    dir = mkdtempSync(join(tmpdir(), 'crash-clone-'));
    // Each operation takes 15 s: long enough to kill the worker while the clone's is RUNNING.
    cloudSql = await new CloudSqlEmulator(TOKEN, PROJECT, 15_000).start();
    run = await new CloudRunEmulator(TOKEN, PROJECT).start();
    await dropTestDatabase(STAND_IN);
    await sql('postgres', `CREATE DATABASE ${pg.escapeIdentifier(STAND_IN)}`);
    await sql(STAND_IN, "CREATE TABLE patients (id int PRIMARY KEY); INSERT INTO patients VALUES (1), (2), (3)");
  });
  after(async () => {
    await workers.killAll();
    await cloudSql?.stop();
    await run?.stop();
    await env?.teardown();
    await dropTestDatabase(STAND_IN);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the new worker waits for the running clone instead of cloning again: one clone POST, the service pointed once, the original labelled once', async () => {
    cloudSql.addInstance(INSTANCE, { labels: { env: 'prod' } });
    run.addService('medicalcor-api', [{ image: 'europe-docker.pkg.dev/p/api:42', env: [{ name: KEY, value: connection(INSTANCE) }] }]);
    const settings = { project: PROJECT, tokenEnv: 'GCP_ACCESS_TOKEN', pollIntervalMs: 200, timeoutMs: 120_000 };
    writeFileSync(
      join(dir, `${SYSTEM}.yaml`),
      stringify({
        system: SYSTEM,
        approvers: { oncall: ['alice', 'bob'] },
        rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
        notify: [{ provider: 'log' }],
        decisions: { timeoutSeconds: 120, onTimeout: 'abort' },
        providers: {
          sql: { provider: 'cloud-sql', settings: { ...settings, baseUrl: cloudSql.url } },
          api: { provider: 'cloud-run', settings: { ...settings, location: run.location, service: 'medicalcor-api', baseUrl: run.url } },
        },
        databases: { recovery: { urlEnv: 'CLONE_DATABASE_URL', backupDir: join(dir, 'backups'), smokeQueries: [{ name: 'patients', sql: 'SELECT count(*) AS patients FROM patients', expect: { patients: 3 } }] } },
        phases: [
          {
            id: 1,
            name: 'Database',
            rollback: [{ 'cloudsql-clone': { instance: INSTANCE, pointInTime: { minutesAgo: 20 }, database: 'recovery', pointService: { provider: 'api', key: KEY } }, provider: 'sql' }],
            verify: false,
          },
        ],
      }),
    );

    const first = await workers.start();
    await waitForPoller(env.connection, 'default', 120_000, first.pid);
    const handle = await env.client.workflow.start('phaseRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-clone-${Date.now()}`,
      args: [{ system: SYSTEM, phases: [1], reason: 'crash drill: seed 002 point-in-time recovery', requestedBy: 'alice', baselineSeconds: 0 }],
    });
    // Kill the worker once the clone was asked for and its operation is being polled, still RUNNING.
    const polled = () => cloudSql.calls('GET', /\/operations\/[^/]+$/).length > 0;
    for (const deadline = Date.now() + 90_000; !polled() && Date.now() < deadline; ) await sleep(50);
    assert.ok(polled(), 'the first worker was waiting for the clone operation');
    const [operation] = [...cloudSql.operations.values()];
    assert.equal(operation?.operationType, 'CLONE');
    assert.notEqual(operation.status, 'DONE');
    const clone = operation.targetId;
    await kill9(first);
    const killedAt = Date.now();
    await workers.start();

    await handle.result();

    assert.equal(cloudSql.clonePosts().length, 1, 'exactly one clone asked for');
    assert.match(clone, new RegExp(`^${INSTANCE}-pitr-\\d{12}$`));
    assert.equal(cloudSql.instances.get(clone)!.state, 'RUNNABLE');
    assert.equal(operation.status, 'DONE');
    const polls = cloudSql.calls('GET', new RegExp(`/operations/${operation.name}$`));
    assert.ok(polls.some((r) => r.at > killedAt && r.at < operation.doneAt), 'the new worker followed the operation while it still ran');
    const patches = run.calls('PATCH', /\/services\/medicalcor-api$/);
    assert.equal(patches.length, 1, 'the service pointed once');
    assert.ok(patches[0]!.at >= Date.parse(operation.endTime!), 'after the clone was DONE');
    const template = run.service('medicalcor-api').template as { containers: { env: EnvVar[] }[] };
    assert.deepEqual(template.containers[0]!.env, [{ name: KEY, value: connection(clone) }]);
    assert.deepEqual(
      cloudSql.calls('PATCH').map((r) => r.path),
      [`/v1/projects/${PROJECT}/instances/${INSTANCE}`],
      'the original labelled once',
    );
    assert.deepEqual(cloudSql.instances.get(INSTANCE)!.settings.userLabels, { env: 'prod', 'replaced-by': clone });

    const status = await handle.query(statusQuery);
    assert.equal(status.steps.find((s) => s.name === `phase-1/cloudsql-clone ${INSTANCE}`)?.runs, 1, 'one step run, its activity retried inside Temporal');
    const attempts = (await handle.fetchHistory()).events!.flatMap((e, i, all) => {
      const started = e.activityTaskStartedEventAttributes;
      const scheduled = started && all.find((s) => s.eventId?.toString() === started.scheduledEventId?.toString())?.activityTaskScheduledEventAttributes;
      return started && scheduled?.activityType?.name === 'cloneDatabaseInstance' ? [started.attempt] : [];
    });
    assert.deepEqual(attempts, [2], 'the clone activity finished on its second attempt, on the new worker');
  });
});
