/**
 * Seed 000's runbook (runbooks/seeds/seed-000-fly.yaml) as committed: it loads with the worker's
 * loader, passes the JSON Schema, and runs end to end through the real worker on a Temporal dev server
 * against emulators of the documented Fly Machines API (test/emulators/fly-machines.ts;
 * https://fly.io/docs/machines/api/machines-resource/), Slack Web API and Statuspage REST API v1, and
 * the local PostgreSQL (the schema rollback). Its health checks reach a local stand-in of
 * healthcare-clinic-backend (/health, POST /test/chat, /metrics); `python` is a stand-in on the worker's
 * PATH that records the scripts it was asked to run. Only endpoints, windows and timeouts are changed.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { TASK_QUEUE, type DrillResult, type FullRollbackResult, type RollbackStatus } from '../src/contract/index.ts';
import { approveSignal, decideSignal, statusQuery } from '../src/contract/messages.ts';
import { checkDrills } from '../src/runbook/drill-schema.ts';
import { FlyMachinesEmulator } from './emulators/fly-machines.ts';
import { SlackEmulator } from './emulators/slack.ts';
import { StatuspageEmulator } from './emulators/statuspage.ts';
import { dropTestDatabase, POSTGRES, sql } from './harness.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { addSeedRunbook, cliCalls, fakeCli, jsonSchemaProblems, loadSeed, rebase, startServiceStandIn, type ServiceStandIn } from './seed-runbooks.ts';

const FILE = 'seed-000-fly.yaml';
const STAGING_FILE = 'seed-000-fly-staging.yaml'; // l.394-395: the staging drill's target
const SYSTEM = 'seed-000-fly';
const TOKEN = 'fo1_test_seed_000';
const APP = 'healthcare-clinic-backend';
const DB = `sandbox_test_${process.pid}_seed000`;
const image = (tag: string) => `registry.fly.io/${APP}:deployment-${tag}`;
/** The app's env as the migration left it (every phase shipped). */
const SHIPPED_ENV = {
  DISABLE_HMAC_VERIFICATION: 'false',
  USE_LANGGRAPH: 'true',
  DUAL_LANE_ROUTING_ENABLED: 'true',
  ROUTING_MODE: 'dual',
  ENABLE_RAG: 'true',
  ENABLE_MEMORY: 'true',
  GROK_ENABLED: 'true',
  LLM_PROVIDER: 'grok',
  CANARY_PERCENTAGE: '10',
  CANARY_ENABLED: 'true',
  FEATURE_FLAGS: '{"langgraph_enabled":true}',
};

let t: RollbackTestEnv;
let fly: FlyMachinesEmulator;
let slack: SlackEmulator;
let page: StatuspageEmulator;
let app: ServiceStandIn;
let work: string;
let bin: string;
/** When POST /test/chat fails (500), given the env of the app's first Machine. */
let chatFailsWhen: (env: Record<string, string>) => boolean = () => false;

const envOf = (name: string) => fly.machines(name)[0]!.config.env as Record<string, string>;
const started = (name: string) => fly.machines(name).filter((m) => m.state === 'started').length;
const steps = (status: RollbackStatus) => status.steps.map((s) => `${s.name}:${s.outcome}`);

/** The three apps as the seed names them: the app on V2 (V1 before it) with every phase's env, stable and canary at 2 Machines each. */
function appsAsDeployed(): void {
  fly.apps.clear();
  fly.addApp(APP);
  for (let i = 0; i < 2; i++) fly.addMachine(APP, { image: image('V2'), history: [image('V0'), image('V1')], env: { ...SHIPPED_ENV } });
  for (const [name, tag] of [[`${APP}-stable`, 'V1'], [`${APP}-canary`, 'V2']] as const) {
    fly.addApp(name);
    for (let i = 0; i < 2; i++) fly.addMachine(name, { image: image(tag) });
  }
}

before(async () => {
  t = await startRollbackTestEnv();
  fly = await new FlyMachinesEmulator(TOKEN).start();
  slack = await new SlackEmulator('xoxb-test-seed-000', [{ id: 'C0ENGINEERING', name: 'engineering' }, { id: 'C0INCIDENTS', name: 'incidents' }]).start();
  page = await new StatuspageEmulator('clinicstatus01', 'sp-key-seed-000', { chatapi0001: 'Chat API' }).start();
  app = await startServiceStandIn({
    '/health': () => ({ status: 200, text: 'ok' }),
    '/test/chat': () => (chatFailsWhen(envOf(APP)) ? { status: 500, json: { error: 'direct chat unavailable' } } : { status: 200, json: { reply: 'hello' } }),
  });
  work = mkdtempSync(join(tmpdir(), 'seed-000-'));
  bin = join(work, 'bin');
  // python: the team's scripts, as they answer when all is well.
  fakeCli(bin, 'python', 'case "$1" in scripts/clear_rag_cache.py) echo "cleared 42 keys";; scripts/test_critical_endpoints.py) echo "6/6 critical endpoints OK";; *) exit 2;; esac');
  await dropTestDatabase(DB);
  await sql('postgres', `CREATE DATABASE ${pg.escapeIdentifier(DB)}`);
  Object.assign(t.secrets, {
    FLY_API_TOKEN: TOKEN,
    SLACK_BOT_TOKEN: 'xoxb-test-seed-000',
    STATUS_API_KEY: 'sp-key-seed-000',
    DATABASE_URL: `${POSTGRES}/${DB}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    PATH: `${bin}:${process.env.PATH}`,
  });
  addSeedRunbook(t, FILE, (doc) => {
    const machinesApi = { baseUrl: fly.url, pollIntervalMs: 10, requestTimeoutMs: 15_000, waitTimeoutSeconds: 30 };
    Object.assign(doc.traffic.settings, machinesApi);
    Object.assign(doc.providers.fly.settings, machinesApi);
    doc.traffic.stepPauseSeconds = 0;
    doc.providers.scripts.settings.cwd = work;
    doc.health = rebase(doc.health, 'https://healthcare-clinic-backend.fly.dev', app.url);
    doc.phases = rebase(doc.phases, 'https://healthcare-clinic-backend.fly.dev', app.url);
    // The seed's stages (5, 10 and 15 minutes) as seconds, measured every second.
    Object.assign(doc.health, { windowSeconds: 1, minRequests: 5, stageIntervalSeconds: 1, stageWindowSeconds: 1 });
    doc.health.stages.forEach((stage: { withinSeconds: number }, i: number) => (stage.withinSeconds = 5 * (i + 1)));
    for (const gate of Object.values(doc.gates) as { timeoutSeconds: number }[]) gate.timeoutSeconds = 120;
    doc.decisions = { timeoutSeconds: 120, onTimeout: 'abort' };
    doc.statusPage.settings.baseUrl = `${page.url}/v1`;
    for (const channel of doc.notify) if (channel.provider === 'slack') channel.settings.baseUrl = `${slack.url}/api`;
    doc.databases.main.backupDir = join(work, 'backups');
    doc.databases.main.dumpsDir = join(work, 'dumps');
  });
});

after(async () => {
  await fly?.stop();
  await slack?.stop();
  await page?.stop();
  await app?.stop();
  await t?.stop();
  await dropTestDatabase(DB);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('seed 000 runbook (Fly: triggers, phases 1-5, the schema, drills)', { timeout: 600_000 }, () => {
  test("loads with the worker's loader and passes the JSON Schema, with the seed's apps, triggers, stages and RTO targets", () => {
    assert.deepEqual(jsonSchemaProblems(FILE), []);
    const runbook = loadSeed(FILE);
    assert.equal(runbook.system, SYSTEM);
    assert.deepEqual(runbook.traffic?.settings.apps, { stable: `${APP}-stable`, canary: `${APP}-canary` });
    assert.equal(runbook.traffic?.stableInstances, 3);
    assert.deepEqual(runbook.health.thresholds, { errorRatePct: 10, p95Ms: 3000, successRatePct: 90 });
    assert.deepEqual(runbook.health.stages.map((s) => [s.name, s.withinSeconds]), [['errors-below-1pct', 300], ['p95-at-baseline', 600], ['success-above-99pct', 900]]);
    assert.deepEqual(runbook.watch?.rules.map((r) => [r.name, r.above ?? r.below, Object.keys(r.action)[0]]), [
      ['error-rate', 10, 'rollback'],
      ['p95-latency', 3000, 'rollback'],
      ['success-rate', 90, 'rollback'],
      ['grok-circuit-breaker', 0, 'alert'],
      ['memory', 0.95, 'scaleAndAlert'],
    ]);
    assert.deepEqual(runbook.rto, { detectionMinutes: 2, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 });
    assert.deepEqual(runbook.phases.map((p) => p.name).slice(0, 5), ['Security foundation', 'LangGraph extraction', 'Dual-lane routing', 'RAG and memory', 'Grok integration']);
    assert.equal(runbook.drills['production-readonly']?.dryRun, true);
  });

  test('l.394-395 staging drill: the staging runbook loads and passes the JSON Schema, and holds what the drill needs as rollbackDrill checks it when the drill starts', () => {
    const drill = loadSeed(FILE).drills['staging-high-error-rate'];
    assert.equal(drill?.system, 'seed-000-fly-staging');
    assert.deepEqual(drill?.scenario && 'action' in drill.scenario && 'command' in drill.scenario.action ? drill.scenario.action.command : null, ['./scripts/rollback_drill.sh', '--env', 'staging', '--scenario', 'high-error-rate']);
    assert.deepEqual(jsonSchemaProblems(STAGING_FILE), []);
    const staging = loadSeed(STAGING_FILE);
    assert.equal(staging.system, 'seed-000-fly-staging');
    assert.deepEqual(staging.release?.settings.apps, { app: `${APP}-staging` });
    assert.deepEqual(staging.watch?.rules.map((r) => [r.name, r.above, Object.keys(r.action)[0]]), [['error-rate', 10, 'rollback']], 'the scenario is detected, so detection is scored');
    const problems: string[] = [];
    checkDrills({ ...staging, drills: { 'staging-high-error-rate': { ...drill!, system: undefined } } }, (path, message) => problems.push(`${path.join('.')}: ${message}`));
    assert.deepEqual(problems, []);
  });

  test('l.394-395 staging drill end to end: the team\'s script makes the staging app err, its watchdog detects it and rolls its release back, the script clears it, every stage scored against production\'s RTO', async () => {
    // The staging app l.326 deploys, on V2 (V1 before it). The seed does not say what its script's
    // high-error-rate scenario does; the stand-in makes the release serving when it runs answer half its
    // requests with 500s (as a bad deploy would), so a rollback of the release takes the errors away.
    const stagingApp = `${APP}-staging`;
    appsAsDeployed();
    fly.addApp(stagingApp);
    for (let i = 0; i < 2; i++) fly.addMachine(stagingApp, { image: image('V2'), history: [image('V0'), image('V1')] });
    const faultFile = join(work, 'staging-fault');
    const scripts = join(work, 'scripts');
    mkdirSync(scripts, { recursive: true });
    writeFileSync(join(scripts, 'rollback_drill.sh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${scripts}/rollback_drill.calls"\ncase "$*" in *high-error-rate) echo "${image('V2')}" > "${faultFile}";; *"--scenario none") rm -f "${faultFile}";; *) exit 2;; esac\n`);
    chmodSync(join(scripts, 'rollback_drill.sh'), 0o755);
    const erring = () => existsSync(faultFile) && readFileSync(faultFile, 'utf8').trim() === fly.machines(stagingApp)[0]!.config.image;
    let ok = 0;
    let errors = 0;
    const tick = setInterval(() => { ok += 25; if (erring()) errors += 25; else ok += 25; }, 500);
    const staging = await startServiceStandIn({
      '/health': () => ({ status: 200, text: 'ok' }),
    }, () => [
      '# TYPE http_requests_total counter',
      `http_requests_total{status="200"} ${ok}`,
      `http_requests_total{status="500"} ${errors}`,
      '# TYPE http_request_duration_seconds histogram',
      `http_request_duration_seconds_bucket{le="0.05"} ${ok + errors}`,
      `http_request_duration_seconds_bucket{le="+Inf"} ${ok + errors}`,
      `http_request_duration_seconds_sum ${(ok + errors) * 0.02}`,
      `http_request_duration_seconds_count ${ok + errors}`,
      '',
    ].join('\n'));
    try {
      addSeedRunbook(t, STAGING_FILE, (doc) => {
        Object.assign(doc.release.settings, { baseUrl: fly.url, pollIntervalMs: 10, requestTimeoutMs: 15_000, waitTimeoutSeconds: 30 });
        doc.providers.scripts.settings.cwd = work;
        doc.health = rebase(doc.health, 'https://healthcare-clinic-backend-staging.fly.dev', staging.url);
        Object.assign(doc.health, { windowSeconds: 2, minRequests: 5 });
        doc.watch.intervalSeconds = 2;
      });
      const drill = t.runbooks.get(SYSTEM)!.drills['staging-high-error-rate']!;
      Object.assign(drill, { verifySeconds: 1, timeoutMinutes: 3 });

      const handle = await t.env.client.workflow.start('rollbackDrill', { taskQueue: TASK_QUEUE, workflowId: `drill-seed-000-staging-${Date.now()}`, args: [{ system: SYSTEM, drill: 'staging-high-error-rate', requestedBy: 'carol' }] });
      t.started.push(handle);
      const result: DrillResult = await handle.result();
      assert.equal(result.outcome, 'passed', result.why ?? '');
      assert.equal(result.target, 'seed-000-fly-staging');
      assert.equal(result.detectedBy, 'watchdog', 'l.28 error rate > 10%: the staging watchdog started the rollback');
      assert.equal(result.rollbackState, 'completed');
      assert.deepEqual(result.stages.map((s) => [s.stage, s.targetSeconds, s.unscored ?? s.met]), [
        ['detection', 120, true],
        ['decision', 300, true],
        ['execution', 600, true],
        ['verification', 300, true],
        ['total', 1320, true],
      ], "scored against seed-000-fly.yaml's rto (l.356-362)");
      assert.deepEqual(fly.machines(stagingApp).map((m) => m.config.image), [image('V1'), image('V1')], 'the staging app rolled back to V1');
      assert.deepEqual(readFileSync(join(scripts, 'rollback_drill.calls'), 'utf8').split('\n').filter(Boolean), ['--env staging --scenario high-error-rate', '--env staging --scenario none']);
      assert.equal(existsSync(faultFile), false, 'the scenario cleared');
      assert.equal(result.undo?.failed, null);
      assert.deepEqual([`${APP}-stable`, `${APP}-canary`].map(started), [2, 2], 'production untouched');
      assert.deepEqual(fly.machines(`${APP}-canary`).map((m) => m.config.image), [image('V2'), image('V2')], 'production untouched');
    } finally {
      clearInterval(tick);
      await t.env.client.workflow.getHandle('rollback-watchdog:seed-000-fly-staging').terminate('test over').catch(() => undefined);
      await staging.stop();
    }
  });

  test("immediate full rollback: stable scaled to 3 and the canary to 0, the seed's three stages met; the status page incident opened and resolved, both Slack channels told", async () => {
    appsAsDeployed();
    const handle = await startRollback(t, { system: SYSTEM, mode: 'immediate', reason: 'seed 000: error rate 14% on the canary', requestedBy: 'alice', baselineSeconds: 1 });
    // "Remove canary deployment (after verification)": the canary's last step waits for oncall.
    const gate = await waitForStatus(handle, (s) => s.pendingGate !== null || s.pendingDecision !== null, 180_000);
    assert.equal(gate.pendingGate?.gate, 'before-cleanup', gate.pendingDecision?.error);
    assert.deepEqual([started(`${APP}-stable`), started(`${APP}-canary`)], [3, 2], 'stable scaled up, the canary still running');
    await handle.signal(approveSignal, { by: 'bob' });
    const result = (await handle.result()) as FullRollbackResult;
    assert.deepEqual(result.plan.steps.map((s) => [s.name, s.from, s.to]), [['scale-stable', 2, 3], ['shift-traffic', 2, 0]]);
    assert.deepEqual([started(`${APP}-stable`), started(`${APP}-canary`)], [3, 0]);
    const status = await handle.query(statusQuery);
    assert.equal(status.healthAfter?.passed, true);
    assert.deepEqual(status.healthAfter?.stages?.map((s) => [s.name, s.outcome]), [['errors-below-1pct', 'met'], ['p95-at-baseline', 'met'], ['success-above-99pct', 'met']]);
    const [incident] = [...page.incidents.values()];
    assert.equal(incident?.status, 'resolved');
    for (const channel of ['C0ENGINEERING', 'C0INCIDENTS']) assert.equal(slack.channels.get(channel)!.messages.length, 1, channel);
    assert.ok(cliCalls(bin, 'python').includes('scripts/test_critical_endpoints.py'));
  });

  test('phases 6 to 1: the direct chat fails after phase 2; compensation puts back every env var and the image the app served', async () => {
    appsAsDeployed();
    chatFailsWhen = (env) => env.USE_LANGGRAPH === 'false';
    try {
      const handle = await startRollback(t, { system: SYSTEM, phases: { from: 6, to: 1 }, reason: 'seed 000: LangGraph answers wrong', requestedBy: 'alice', baselineSeconds: 1 }, undefined, 'phaseRollback');
      const gate = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
      assert.equal(gate.pendingGate?.gate, 'before-phase-5');
      assert.equal(envOf(APP).CANARY_PERCENTAGE, '0', 'phase 6 ran first');
      assert.equal(envOf(APP).CANARY_ENABLED, undefined);
      await handle.signal(approveSignal, { by: 'erin' });
      const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 180_000);
      assert.equal(waiting.pendingDecision?.step, 'verify:phase-2');
      assert.match(waiting.pendingDecision?.error ?? '', /check chat failed: expected 200, got 500/);
      assert.deepEqual(fly.machines(APP).map((m) => m.config.image), [image('V1'), image('V1')], "phase 2 deployed the stable version's image");
      assert.equal(envOf(APP).LLM_PROVIDER, 'openai');
      assert.ok(cliCalls(bin, 'python').includes('scripts/clear_rag_cache.py'));

      await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
      await failureOf(handle.result());
      assert.deepEqual(envOf(APP), SHIPPED_ENV);
      assert.deepEqual(fly.machines(APP).map((m) => [m.config.image, m.state]), [[image('V2'), 'started'], [image('V2'), 'started']]);
      const status = await handle.query(statusQuery);
      // The cache cleared stays cleared: the seed gives no way to put a corrupted cache back.
      assert.deepEqual(status.compensationFailures, ['phase-4/command python: not undone: command python scripts/clear_rag_cache.py has no undo in the runbook']);
      assert.deepEqual(steps(status).slice(-4), ['verify:phase-3:succeeded', 'phase-2/config USE_LANGGRAPH:compensated', 'phase-2/release app:compensated', 'verify:phase-2:failed']);
      assert.equal(steps(status).filter((step) => step.startsWith('phase-1/')).length, 0, 'phase 1 never ran');
    } finally {
      chatFailsWhen = () => false;
    }
  });

  test("phase 7 waits for the Database Admin, then drops the migrations' tables in one transaction after a safety dump", async () => {
    const tables = ['langgraph_checkpoints', 'langgraph_states', 'llm_metrics', 'grok_usage', 'rag_embeddings', 'memory_stores', 'appointment_locks', 'routing_decisions', 'compliance_logs', 'hmac_validations', 'rate_limit_buckets'];
    await sql(DB, `CREATE TABLE patients (id int PRIMARY KEY); ${tables.map((name) => `CREATE TABLE ${name} (id int);`).join(' ')}`);
    appsAsDeployed();
    const handle = await startRollback(t, { system: SYSTEM, phases: [7], reason: 'seed 000: schema rollback', requestedBy: 'alice', baselineSeconds: 1 }, undefined, 'phaseRollback');
    const waiting = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
    assert.deepEqual([waiting.pendingGate?.gate, waiting.pendingGate?.approvers], ['before-phase-7', ['dmitri']]);
    await handle.signal(approveSignal, { by: 'dmitri' });
    await handle.result();
    assert.deepEqual(await sql(DB, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"), [{ tablename: 'patients' }]);
    assert.ok(readdirSync(join(work, 'backups')).length > 0, 'a safety dump was taken first');
  });
});
