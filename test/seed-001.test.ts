/**
 * Seed 001's runbooks, one per platform (runbooks/seeds/seed-001-railway.yaml, -render.yaml, -fly.yaml)
 * as committed: each loads with the worker's loader, passes the JSON Schema, and runs end to end through
 * the real worker on a Temporal dev server against emulators of the documented Railway GraphQL API,
 * Render REST API and Fly Machines API (test/emulators/; https://docs.railway.com/integrations/api,
 * https://api-docs.render.com/reference, https://fly.io/docs/machines/api/). The SQLite restore runs on
 * real files read with sqlite3, `railway` a stand-in on the worker's PATH recording `down`, `up` and
 * printing its logs. The health checks reach a local stand-in of the app. Only endpoints, paths, windows
 * and timeouts are changed for the test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FullRollbackResult } from '../src/contract/index.ts';
import { approveSignal, decideSignal, statusQuery } from '../src/contract/messages.ts';
import { FlyMachinesEmulator } from './emulators/fly-machines.ts';
import { RailwayEmulator } from './emulators/railway.ts';
import { RenderEmulator } from './emulators/render.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { addSeedRunbook, cliCalls, fakeCli, jsonSchemaProblems, loadSeed, rebase, startServiceStandIn, type ServiceStandIn } from './seed-runbooks.ts';

const FILES = ['seed-001-railway.yaml', 'seed-001-render.yaml', 'seed-001-fly.yaml'];
const TOKEN = 'test-token-seed-001';
/** The runbook's example ids of the api service on Railway. */
const WHERE = { serviceId: '0b6c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3', environmentId: '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a' };

let t: RollbackTestEnv;
let railway: RailwayEmulator;
let render: RenderEmulator;
let fly: FlyMachinesEmulator;
let app: ServiceStandIn;
let work: string;
let bin: string;
/** When /api/health answers "degraded" (the seed's health check failing). */
let unhealthyWhen: () => boolean = () => false;

const sqlite = (file: string, sql: string) => execFileSync('sqlite3', [file, sql], { encoding: 'utf8' }).trim();
/** A SQLite memory store holding `n` sessions. */
function memoryDb(file: string, n: number): void {
  rmSync(file, { force: true });
  sqlite(file, `CREATE TABLE sessions (id INTEGER PRIMARY KEY, state TEXT); ${Array.from({ length: n }, (_, i) => `INSERT INTO sessions (state) VALUES ('session ${i + 1}');`).join(' ')}`);
}
const sessions = (file: string) => Number(sqlite(file, 'SELECT count(*) FROM sessions'));

/** Test settings common to the three runbooks: the app's URLs to the stand-in, short windows and timeouts. */
function forTest(doc: Record<string, any>, host: string): void {
  doc.health = rebase(doc.health, host, app.url);
  doc.health.windowSeconds = 1;
  doc.health.minRequests = 5;
  doc.decisions = { timeoutSeconds: 120, onTimeout: 'abort' };
  for (const gate of Object.values(doc.gates ?? {}) as { timeoutSeconds: number }[]) gate.timeoutSeconds = 120;
}

before(async () => {
  t = await startRollbackTestEnv();
  railway = await new RailwayEmulator(TOKEN).start();
  render = await new RenderEmulator(TOKEN).start();
  fly = await new FlyMachinesEmulator(TOKEN).start();
  app = await startServiceStandIn({
    '/api/health': () => (unhealthyWhen() ? { status: 200, json: { status: 'degraded' } } : { status: 200, json: { status: 'healthy' } }),
    '/hooks/team': () => ({ status: 200, text: 'ok' }),
  });
  work = mkdtempSync(join(tmpdir(), 'seed-001-'));
  bin = join(work, 'bin');
  // railway: logs with no ERROR line; down and up answer as the CLI does.
  fakeCli(bin, 'railway', 'case "$1" in logs) echo "INFO session created";; down) echo "Removed the latest deployment";; up) echo "Deploying";; *) exit 2;; esac');
  Object.assign(t.secrets, {
    RAILWAY_API_TOKEN: TOKEN,
    RAILWAY_CLI_TOKEN: 'railway-cli-test-token',
    RENDER_API_KEY: TOKEN,
    FLY_API_TOKEN: TOKEN,
    TEAM_WEBHOOK_URL: `${app.url}/hooks/team`,
    PATH: `${bin}:${process.env.PATH}`,
  });
});

after(async () => {
  await railway?.stop();
  await render?.stop();
  await fly?.stop();
  await app?.stop();
  await t?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('seed 001 runbooks (Railway, Render, Fly; the SQLite memory store)', { timeout: 600_000 }, () => {
  test("each loads with the worker's loader and passes the JSON Schema, with seed 001's time targets", () => {
    for (const file of FILES) {
      assert.deepEqual(jsonSchemaProblems(file), [], file);
      const runbook = loadSeed(file);
      assert.equal(runbook.system, file.replace('.yaml', ''));
      assert.deepEqual(runbook.rto, { detectionMinutes: 5, decisionMinutes: 2, executionMinutes: 5, verificationMinutes: 3 }, `${file}: l.42-45, 15 minutes in all`);
      assert.equal(runbook.health.checks[0]?.name, 'api');
    }
    const railwayRunbook = loadSeed('seed-001-railway.yaml');
    assert.deepEqual(railwayRunbook.sqlite.memory?.backupPattern, 'memory_*.db');
    assert.equal(railwayRunbook.drills['quarterly-readonly']?.dryRun, true, 'l.489 quarterly drills, read-only');
    assert.deepEqual(railwayRunbook.watch?.rules[0], { name: 'error-rate', metric: 'errorRatePct', above: 10, forSeconds: 300, action: { rollback: 'immediate' } });
  });

  test('Railway: the api back on the deployment before the live one; health failing after it, compensation puts the live one back', async () => {
    const good = railway.addDeployment({ ...WHERE, status: 'REMOVED', minutesAgo: 120, commit: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', message: 'Add voice input retries' });
    const bad = railway.addDeployment({ ...WHERE, status: 'SUCCESS', minutesAgo: 30, commit: 'b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', message: 'Switch TTS provider' });
    const live = () => railway.deployments.filter((d) => d.serviceId === WHERE.serviceId && d.status === 'SUCCESS').map((d) => d.meta.commitHash);
    const sessionsFile = join(work, 'railway-unused.db');
    addSeedRunbook(t, 'seed-001-railway.yaml', (doc) => {
      forTest(doc, 'https://your-app.railway.app');
      Object.assign(doc.release.settings, { baseUrl: `${railway.url}/graphql/v2`, pollIntervalMs: 10 });
      doc.sqlite.memory.path = sessionsFile;
    });
    const dry = (await (await startRollback(t, { system: 'seed-001-railway', mode: 'immediate', reason: 'plan it', requestedBy: 'maya', dryRun: true, baselineSeconds: 1 })).result()) as FullRollbackResult;
    assert.match(dry.plan.steps[0]?.description ?? '', /roll api back from .*b4d5e6f.* to .*a1b2c3d/);
    assert.deepEqual(live(), [bad.meta.commitHash], 'the dry run changed nothing');

    // The seed's "Expected: All services healthy" fails once the good deployment serves again.
    unhealthyWhen = () => live()[0] === good.meta.commitHash;
    try {
      const handle = await startRollback(t, { system: 'seed-001-railway', mode: 'immediate', reason: 'seed 001: critical bug, P0', requestedBy: 'maya', baselineSeconds: 1 });
      const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
      assert.match(waiting.pendingDecision?.error ?? '', /check api failed: \$\.status is "degraded", expected "healthy"/);
      assert.deepEqual(live(), [good.meta.commitHash]);
      assert.ok(cliCalls(bin, 'railway').includes('logs --service api'), 'the log check ran railway logs');
      await handle.signal(decideSignal, { by: 'tomas', action: 'compensate' });
      await failureOf(handle.result());
      assert.deepEqual(live(), [bad.meta.commitHash]);
      assert.deepEqual((await handle.query(statusQuery)).compensationFailures, []);
    } finally {
      unhealthyWhen = () => false;
    }
  });

  test('Railway phase 2: the latest memory_*.db checked and put in place with the app stopped (railway down) and started (railway up); compensation puts the file from before back', async () => {
    const dir = join(work, 'app-data');
    const backups = join(dir, 'backups');
    mkdirSync(backups, { recursive: true });
    const live = join(dir, 'memory.db');
    memoryDb(join(backups, 'memory_20240114_020000.db'), 3);
    memoryDb(join(backups, 'memory_20240115_020000.db'), 5);
    memoryDb(live, 1); // what the bad deploy left
    addSeedRunbook(t, 'seed-001-railway.yaml', (doc) => {
      forTest(doc, 'https://your-app.railway.app');
      Object.assign(doc.release.settings, { baseUrl: `${railway.url}/graphql/v2`, pollIntervalMs: 10 });
      Object.assign(doc.sqlite.memory, { path: live, backupDir: backups });
    });
    unhealthyWhen = () => sessions(live) === 5;
    const callsBefore = cliCalls(bin, 'railway').length;
    try {
      const handle = await startRollback(t, { system: 'seed-001-railway', phases: [2], reason: 'seed 001: data corruption', requestedBy: 'maya', baselineSeconds: 1 }, undefined, 'phaseRollback');
      const gate = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
      assert.deepEqual([gate.pendingGate?.gate, gate.pendingGate?.approvers], ['before-phase-2', ['ines']]);
      await handle.signal(approveSignal, { by: 'ines' });
      const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
      assert.equal(waiting.pendingDecision?.step, 'verify:phase-2');
      assert.equal(sessions(live), 5, 'the latest backup is live');
      assert.deepEqual(cliCalls(bin, 'railway').slice(callsBefore).filter((c) => !c.startsWith('logs')), ['down', 'up --detach']);
      await handle.signal(decideSignal, { by: 'tomas', action: 'compensate' });
      await failureOf(handle.result());
      assert.equal(sessions(live), 1, 'the file from before is back');
      assert.ok(readdirSync(dir).some((f) => f.startsWith('memory.db.undone-')), 'the restored file is kept aside');
      assert.deepEqual(cliCalls(bin, 'railway').slice(callsBefore).filter((c) => !c.startsWith('logs')), ['down', 'up --detach', 'down', 'up --detach']);
    } finally {
      unhealthyWhen = () => false;
    }
  });

  test('Render: a dry run plans the deploy before the live one, then the real run makes it live and verifies health', async () => {
    const service = render.addService({ name: 'rose-api', autoDeploy: 'no' });
    const good = render.addDeploy(service.id, { status: 'deactivated', minutesAgo: 120, commit: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', message: 'Add voice input retries' });
    render.addDeploy(service.id, { status: 'live', minutesAgo: 30, commit: 'b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', message: 'Switch TTS provider' });
    addSeedRunbook(t, 'seed-001-render.yaml', (doc) => {
      forTest(doc, 'https://your-app.onrender.com');
      Object.assign(doc.release.settings, { baseUrl: `${render.url}/v1`, pollIntervalMs: 10, services: { api: service.id } });
    });
    const dry = (await (await startRollback(t, { system: 'seed-001-render', mode: 'immediate', reason: 'plan it', requestedBy: 'maya', dryRun: true, baselineSeconds: 1 })).result()) as FullRollbackResult;
    assert.match(dry.plan.steps[0]?.description ?? '', /a1b2c3d/);
    assert.equal(render.writes().length, 0);
    const handle = await startRollback(t, { system: 'seed-001-render', mode: 'immediate', reason: 'seed 001: performance degradation', requestedBy: 'maya', baselineSeconds: 1 });
    await handle.result();
    const [newest] = render.deploysOf(service.id);
    assert.deepEqual([newest?.status, newest?.commit?.id], ['live', good.commit?.id]);
    assert.equal((await handle.query(statusQuery)).healthAfter?.passed, true);
  });

  test('Fly: fly releases rollback as a release section: every Machine back on the image it ran before', async () => {
    const image = (tag: string) => `registry.fly.io/your-app:deployment-${tag}`;
    fly.addApp('your-app');
    for (let i = 0; i < 2; i++) fly.addMachine('your-app', { image: image('V2'), history: [image('V0'), image('V1')] });
    addSeedRunbook(t, 'seed-001-fly.yaml', (doc) => {
      forTest(doc, 'https://your-app.fly.dev');
      Object.assign(doc.release.settings, { baseUrl: fly.url, pollIntervalMs: 10, waitTimeoutSeconds: 30 });
    });
    const handle = await startRollback(t, { system: 'seed-001-fly', mode: 'immediate', reason: 'seed 001: external API incompatibility', requestedBy: 'maya', baselineSeconds: 1 });
    await handle.result();
    assert.deepEqual(fly.machines('your-app').map((m) => [m.config.image, m.state]), [[image('V1'), 'started'], [image('V1'), 'started']]);
  });
});
