/**
 * Seed 002's runbook (runbooks/seeds/seed-002-cloud-run.yaml) as committed: it loads with the worker's
 * loader, passes the JSON Schema, and runs end to end through the real worker on a Temporal dev server
 * against emulators of the documented Cloud Run Admin API v2, Secret Manager API v1 and Cloud SQL Admin
 * API v1 (test/emulators/; https://cloud.google.com/run/docs/reference/rest,
 * https://cloud.google.com/secret-manager/docs/reference/rest,
 * https://cloud.google.com/sql/docs/postgres/admin-api/rest), the local PostgreSQL (feature_flags,
 * leads, the recovery instance's stand-in) and Redis (the kill switch). Its health checks reach a local
 * stand-in of medicalcor-api (/health, /ready JSON, /metrics); gcloud and pnpm are stand-ins on the
 * worker's PATH that record their calls. Only endpoints, windows and timeouts are changed for the test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createClient } from 'redis';
import type { ChangeRollbackResult, FullRollbackResult, RollbackStatus } from '../src/contract/index.ts';
import { approveSignal, decideSignal, statusQuery } from '../src/contract/messages.ts';
import { CloudLoggingEmulator } from './emulators/cloud-logging.ts';
import { CloudRunEmulator, type EnvVar } from './emulators/cloud-run.ts';
import { CloudSqlEmulator } from './emulators/cloud-sql.ts';
import { SecretManagerEmulator } from './emulators/secret-manager.ts';
import { dropTestDatabase, POSTGRES, sql } from './harness.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { addSeedRunbook, cliCalls, fakeCli, jsonSchemaProblems, loadSeed, rebase, startServiceStandIn, type ServiceStandIn } from './seed-runbooks.ts';

const FILE = 'seed-002-cloud-run.yaml';
const SYSTEM = 'seed-002-cloud-run';
const TOKEN = 'ya29.test-seed-002';
const PROJECT = 'medicalcor-prod';
const APP_DB = `sandbox_test_${process.pid}_seed002`;
const RECOVERY_DB = `sandbox_test_${process.pid}_seed002_recovery`;
/** The kill switch's key prefix for this test (the seed's kill_switch: behind it), so parallel tests never share it. */
const PREFIX = `seed-002-${process.pid}:kill_switch:`;

let t: RollbackTestEnv;
let run: CloudRunEmulator;
let sm: SecretManagerEmulator;
let cloudSql: CloudSqlEmulator;
let logging: CloudLoggingEmulator;
let api: ServiceStandIn;
let bin: string;
let work: string;
const redis = createClient();

/** What /ready answers: ready, unless `degradedWhen` says the serving revision cannot reach its dependencies. */
let degradedWhen: (env: Record<string, string | undefined>) => boolean = () => false;

/** The env of medicalcor-api's template (the revision serving: traffic follows LATEST here). */
function apiEnv(): Record<string, string | undefined> {
  const json = run.service('medicalcor-api') as { template: { containers: { env?: EnvVar[] }[] } };
  return Object.fromEntries((json.template.containers[0]!.env ?? []).map((e) => [e.name, e.value ?? `secret:${e.valueSource?.secretKeyRef.version}`]));
}
const flag = async () => (await sql<{ enabled: boolean }>(APP_DB, "SELECT enabled FROM feature_flags WHERE name = 'new-scoring-model'"))[0]?.enabled;
const killSwitch = () => redis.get(`${PREFIX}ai_scoring`);
const steps = (status: RollbackStatus) => status.steps.map((s) => `${s.name}:${s.outcome}`);

/** The seed's services as they stand before each test: api on revision 2 of 2, web likewise, API_SECRET_KEY on version 3. */
function platformAsDeployed(): void {
  run.services.clear();
  run.revisions.clear();
  const apiEnvOf = (model: string): EnvVar[] => [
    { name: 'SCORING_MODEL', value: model },
    { name: 'INSTANCE_CONNECTION_NAME', value: `${PROJECT}:europe-west3:medicalcor-db-prod` },
    { name: 'API_SECRET_KEY', valueSource: { secretKeyRef: { secret: 'API_SECRET_KEY', version: '3' } } },
  ];
  run.addService('medicalcor-api', [
    { image: 'europe-docker.pkg.dev/medicalcor-prod/app/medicalcor-api:v1.2.3', env: apiEnvOf('v1') },
    { image: 'europe-docker.pkg.dev/medicalcor-prod/app/medicalcor-api:v1.3.0', env: apiEnvOf('v2') },
  ]);
  run.addService('medicalcor-web', [{ image: 'europe-docker.pkg.dev/medicalcor-prod/app/medicalcor-web:v1.2.3' }, { image: 'europe-docker.pkg.dev/medicalcor-prod/app/medicalcor-web:v1.3.0' }]);
  sm.addSecret('API_SECRET_KEY', ['sk_live_one_51c2', 'sk_live_two_9be0', 'sk_live_three_07ad'], { states: ['ENABLED', 'DISABLED', 'ENABLED'] });
}

/** The runbook as committed, its endpoints pointed at the emulators and stand-ins, its windows short. */
function seedRunbook(): void {
  addSeedRunbook(t, FILE, (doc) => {
    const google = { baseUrl: run.url, secretManagerUrl: sm.url, pollIntervalMs: 20, timeoutMs: 30_000 };
    Object.assign(doc.traffic.settings, google);
    doc.traffic.stepPauseSeconds = 0;
    Object.assign(doc.providers['api-env'].settings, google);
    Object.assign(doc.providers.web.settings, google);
    Object.assign(doc.providers['cloud-sql'].settings, { baseUrl: cloudSql.url, pollIntervalMs: 20, timeoutMs: 30_000 });
    doc.providers['run-logs'].settings.baseUrl = logging.url;
    doc.providers['kill-switches'].settings.killSwitchPrefix = PREFIX;
    doc.health = rebase(doc.health, 'https://api.medicalcor.com', api.url);
    Object.assign(doc.health, { windowSeconds: 1, minRequests: 5 });
    doc.phases.find((p: { id: number }) => p.id === 6).verify.windowSeconds = 1;
    for (const gate of Object.values(doc.gates) as { timeoutSeconds: number }[]) gate.timeoutSeconds = 120;
    doc.decisions = { timeoutSeconds: 120, onTimeout: 'abort' };
    doc.databases.main.backupDir = join(work, 'backups');
    doc.databases.recovery.backupDir = join(work, 'recovery-backups');
  });
}

before(async () => {
  t = await startRollbackTestEnv();
  run = await new CloudRunEmulator(TOKEN, PROJECT).start();
  sm = await new SecretManagerEmulator(TOKEN, PROJECT).start();
  run.secretAccess = (secret, version) => sm.problem(secret, version);
  cloudSql = await new CloudSqlEmulator(TOKEN, PROJECT, 200).start();
  cloudSql.addInstance('medicalcor-db-prod', { labels: { env: 'prod' } });
  logging = await new CloudLoggingEmulator(TOKEN, PROJECT).start();
  await redis.connect();
  api = await startServiceStandIn({
    '/health': () => ({ status: 200, json: { status: 'healthy' } }),
    '/ready': () => (degradedWhen(apiEnv()) ? { status: 503, json: { status: 'degraded', checks: { database: 'ok', redis: 'timeout' } } } : { status: 200, json: { status: 'ready', checks: { database: 'ok', redis: 'ok' } } }),
    '/api/v1/health': () => ({ status: 200, json: { ok: true } }),
    '/hooks/incident': () => ({ status: 200, text: 'ok' }),
  });
  work = mkdtempSync(join(tmpdir(), 'seed-002-'));
  bin = join(work, 'bin');
  // gcloud: the CDN invalidation answers as gcloud does.
  fakeCli(bin, 'gcloud', 'case "$1" in compute) echo "Invalidation pending for [medicalcor-lb]";; *) exit 2;; esac');
  fakeCli(bin, 'pnpm', 'echo "smoke: 12 passed"');
  for (const db of [APP_DB, RECOVERY_DB]) {
    await dropTestDatabase(db);
    await sql('postgres', `CREATE DATABASE ${pg.escapeIdentifier(db)}`);
  }
  await sql(RECOVERY_DB, 'CREATE TABLE leads (id int PRIMARY KEY); INSERT INTO leads SELECT generate_series(1, 40)');
  // The preflight's migrations table: every migration finished.
  await sql(APP_DB, "CREATE TABLE schema_migrations (name text PRIMARY KEY, finished_at timestamptz); INSERT INTO schema_migrations VALUES ('0042_scoring_model', now())");
  Object.assign(t.secrets, {
    GCP_ACCESS_TOKEN: TOKEN,
    DATABASE_URL: `${POSTGRES}/${APP_DB}`,
    RECOVERY_DATABASE_URL: `${POSTGRES}/${RECOVERY_DB}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    INCIDENT_WEBHOOK_URL: `${api.url}/hooks/incident`,
    PATH: `${bin}:${process.env.PATH}`,
  });
});

after(async () => {
  await run?.stop();
  await sm?.stop();
  await cloudSql?.stop();
  await logging?.stop();
  await api?.stop();
  await t?.stop();
  if (redis.isOpen) {
    await redis.del(`${PREFIX}ai_scoring`);
    await redis.close();
  }
  for (const db of [APP_DB, RECOVERY_DB]) await dropTestDatabase(db);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The application's tables as the seed describes them: the flag on, leads with the migration's column, the migration's table. */
async function appDatabaseAsDeployed(): Promise<void> {
  await sql(
    APP_DB,
    `DROP TABLE IF EXISTS feature_flags, leads, new_table;
     CREATE TABLE feature_flags (name text PRIMARY KEY, enabled boolean NOT NULL, description text NOT NULL DEFAULT '', updated_at timestamptz NOT NULL DEFAULT now(), updated_by text NOT NULL DEFAULT 'seed');
     INSERT INTO feature_flags (name, enabled) VALUES ('new-scoring-model', true);
     CREATE TABLE leads (id int PRIMARY KEY, new_column text); INSERT INTO leads SELECT generate_series(1, 40);
     CREATE TABLE new_table (id int)`,
  );
  await redis.del(`${PREFIX}ai_scoring`);
}

describe('seed 002 runbook (Cloud Run, Secret Manager, Cloud SQL, flags, kill switch)', { timeout: 600_000 }, () => {
  test("loads with the worker's loader and passes the JSON Schema, with the seed's service, region, gradual steps and checks", () => {
    assert.deepEqual(jsonSchemaProblems(FILE), []);
    const runbook = loadSeed(FILE);
    assert.equal(runbook.system, SYSTEM);
    assert.equal(runbook.traffic?.provider, 'cloud-run');
    assert.deepEqual([runbook.traffic?.settings.service, runbook.traffic?.settings.location], ['medicalcor-api', 'europe-west3']);
    assert.deepEqual([runbook.traffic?.gradualSteps, runbook.traffic?.stepPauseSeconds], [[50, 0], 300]);
    assert.deepEqual(runbook.health.checks.map((c) => c.name), ['health', 'ready', 'api-v1', 'error-logs', 'smoke-tests']);
    assert.deepEqual(runbook.phases.map((p) => p.name), ['Web dashboard', 'Database migration', 'Database point-in-time recovery', 'Configuration', 'API secret', 'AI scoring', 'API image']);
    assert.deepEqual(Object.keys(runbook.gates).sort(), ['before-phase-2', 'before-phase-3', 'before-phase-5']);
  });

  before(async () => {
    seedRunbook();
  });

  test('fullRollback gradual: a dry run plans 50/50 then 100% on the previous revision and changes nothing; the real run does it and verifies health', async () => {
    platformAsDeployed();
    const [previous, latest] = [...run.revisions.values()].filter((r) => r.service.endsWith('/medicalcor-api')).map((r) => r.name.slice(r.name.lastIndexOf('/') + 1));
    const dry = (await (await startRollback(t, { system: SYSTEM, mode: 'gradual', reason: 'plan it', requestedBy: 'ana', dryRun: true, baselineSeconds: 0 })).result()) as FullRollbackResult;
    assert.deepEqual(dry.plan.steps.map((s) => s.description), ['shift canary to 50%, stable to 50%', 'shift canary to 0%, stable to 100%']);
    assert.equal(run.calls('PATCH', /services\/medicalcor-api$/).length, 0);

    // Two errors logged while it runs: fewer than the 20 the log check allows.
    const errors = setInterval(() => logging.write({ severity: 'ERROR', text: 'upstream timeout', service: 'medicalcor-api' }), 1000);
    const handle = await startRollback(t, { system: SYSTEM, mode: 'gradual', reason: 'seed 002: clear regression from the recent deploy', requestedBy: 'ana', baselineSeconds: 1 });
    await handle.result().finally(() => clearInterval(errors));
    const patches = run.calls('PATCH', /services\/medicalcor-api$/).map((r) =>
      ((r.body as { traffic?: { revision?: string; percent?: number }[] }).traffic ?? []).filter((x) => (x.percent ?? 0) > 0).map((x) => `${x.revision}=${x.percent}`).sort(),
    );
    assert.deepEqual(patches, [[`${latest}=50`, `${previous}=50`].sort(), [`${previous}=100`]]);
    const status = await handle.query(statusQuery);
    assert.equal(status.healthAfter?.passed, true);
    assert.deepEqual(cliCalls(bin, 'pnpm').at(-1), 'run test:smoke');
    const [read] = logging.calls('POST', /^\/v2\/entries:list$/);
    assert.match(String((read?.body as { filter?: string }).filter), /resource\.labels\.service_name="medicalcor-api"/);
    assert.deepEqual(status.healthAfter?.checks.find((c) => c.name === 'error-logs')?.passed, true);
  });

  test('phases 6, 5, 4: the ready check fails after the env rollback; compensation puts back the env var, the secret versions and pin, the flag and the kill switch', async () => {
    platformAsDeployed();
    await appDatabaseAsDeployed();
    degradedWhen = (env) => env.SCORING_MODEL === 'v1';
    try {
      const handle = await startRollback(t, { system: SYSTEM, phases: [6, 5, 4], reason: 'seed 002: new scoring model misbehaves', requestedBy: 'ana', baselineSeconds: 1 }, undefined, 'phaseRollback');
      const gate = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
      assert.equal(gate.pendingGate?.gate, 'before-phase-5');
      assert.equal(await killSwitch(), 'true', 'phase 6 ran first: the kill switch is engaged');
      assert.equal(await flag(), false);
      await handle.signal(approveSignal, { by: 'sorin' });
      const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
      assert.match(waiting.pendingDecision?.error ?? '', /check ready failed/);
      assert.equal(apiEnv().SCORING_MODEL, 'v1', 'the env rollback happened');
      assert.equal(apiEnv().API_SECRET_KEY, 'secret:2');
      assert.deepEqual(sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'ENABLED', 3: 'DISABLED' });

      await handle.signal(decideSignal, { by: 'mihai', action: 'compensate' });
      await failureOf(handle.result());
      assert.deepEqual([apiEnv().SCORING_MODEL, apiEnv().API_SECRET_KEY], ['v2', 'secret:3']);
      assert.deepEqual(sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'DISABLED', 3: 'ENABLED' });
      assert.equal(await flag(), true);
      assert.equal(await killSwitch(), null);
      const status = await handle.query(statusQuery);
      assert.deepEqual(status.compensationFailures, []);
      assert.deepEqual(sm.accessed, [], 'no secret value read');
      assert.deepEqual(steps(status), [
        'preflight:succeeded',
        'preflight-checks:succeeded',
        'capture-snapshot:succeeded',
        'notify-start:succeeded',
        'phase-6/kill switch ai_scoring:compensated',
        'phase-6/flag new-scoring-model:compensated',
        'verify:phase-6:succeeded',
        'gate:before-phase-5:succeeded',
        'phase-5/secret API_SECRET_KEY:compensated',
        'verify:phase-5:succeeded',
        'phase-4/config SCORING_MODEL:compensated',
        'verify:phase-4:failed',
      ]);
    } finally {
      degradedWhen = () => false;
    }
  });

  test('the pre-rollback checklist as preflight: a migration still running refuses the rollback, naming it, and nothing changes', async () => {
    platformAsDeployed();
    await appDatabaseAsDeployed();
    await sql(APP_DB, "INSERT INTO schema_migrations VALUES ('0043_lead_scores', NULL)");
    try {
      const failure = await failureOf((await startRollback(t, { system: SYSTEM, phases: [6], reason: 'seed 002: new scoring model misbehaves', requestedBy: 'ana', baselineSeconds: 1 }, undefined, 'phaseRollback')).result());
      assert.match(failure.message, /no-pending-migrations \(sql\): \$\.pending is 1, expected 0/);
      assert.doesNotMatch(failure.message, /target-revision-ready/, 'the previous revision is there and Ready');
      assert.equal(await flag(), true);
      assert.equal(await killSwitch(), null);
    } finally {
      await sql(APP_DB, "DELETE FROM schema_migrations WHERE name = '0043_lead_scores'");
    }
  });

  test("phases 3 and 2 wait for a DBA each: the clone is made and verified, the API pointed at it, then the migration's column and table dropped", async () => {
    platformAsDeployed();
    await appDatabaseAsDeployed();
    const handle = await startRollback(t, { system: SYSTEM, phases: [3, 2], reason: 'seed 002: leads corrupted', requestedBy: 'ana', baselineSeconds: 1 }, undefined, 'phaseRollback');
    for (const gate of ['before-phase-3', 'before-phase-2']) {
      const waiting = await waitForStatus(handle, (s) => s.pendingGate?.gate === gate, 120_000);
      assert.deepEqual(waiting.pendingGate?.approvers, ['radu', 'elena']);
      await handle.signal(approveSignal, { by: 'radu' });
    }
    const result = (await handle.result()) as ChangeRollbackResult;
    assert.equal(result.dryRun, false);
    assert.equal(cloudSql.clonePosts().length, 1);
    assert.equal(cloudSql.instances.get('medicalcor-db-recovery')?.clonedFrom?.source, 'medicalcor-db-prod');
    assert.equal(apiEnv().INSTANCE_CONNECTION_NAME, `${PROJECT}:europe-west3:medicalcor-db-recovery`);
    assert.deepEqual(await sql(APP_DB, "SELECT column_name FROM information_schema.columns WHERE table_name = 'leads' ORDER BY column_name"), [{ column_name: 'id' }]);
    assert.deepEqual(await sql(APP_DB, "SELECT to_regclass('new_table') AS t"), [{ t: null }]);
  });

  test('phase 1: medicalcor-web back on its previous revision, then the CDN cache invalidated by gcloud', async () => {
    platformAsDeployed();
    const handle = await startRollback(t, { system: SYSTEM, phases: [1], reason: 'seed 002: bad web deployment', requestedBy: 'ana', baselineSeconds: 1 }, undefined, 'phaseRollback');
    await handle.result();
    const web = run.service('medicalcor-web') as { trafficStatuses: { revision?: string; percent?: number }[] };
    const [previous] = [...run.revisions.values()].filter((r) => r.service.endsWith('/medicalcor-web')).map((r) => r.name.slice(r.name.lastIndexOf('/') + 1));
    assert.deepEqual(web.trafficStatuses.filter((s) => (s.percent ?? 0) > 0).map((s) => [s.revision, s.percent]), [[previous, 100]]);
    assert.ok(cliCalls(bin, 'gcloud').includes('compute url-maps invalidate-cdn-cache medicalcor-lb --path=/* --async'));
  });
});
