/**
 * Seed 003's runbook (runbooks/seeds/seed-003-compose.yaml) as written, run by the real worker on a
 * Temporal dev server against a real Docker engine (a private dockerd, Compose v2, busybox images named
 * as the runbook names them: ai_workflow_engine-api:20240815 and so on), projects ai_workflow_engine,
 * ai_workflow_engine_blue and ai_workflow_engine_green, and the local PostgreSQL. Only where things are
 * on this machine changes for the test (the project folder, the engine's socket, the helper image, the
 * backup folders, health URLs on free ports, and health checks against this stack instead of the seed's
 * services); every phase and action runs as the file has it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse, stringify } from 'yaml';
import type { ChangeRollbackResult } from '../src/contract/index.ts';
import { approveSignal, decideSignal, statusQuery } from '../src/contract/messages.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { dropTestDatabase, freePort, POSTGRES, sql } from './harness.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const root = join(import.meta.dirname, '..');
const FILE = 'runbooks/seeds/seed-003-compose.yaml';
const SYSTEM = 'seed-003-compose';
const text = readFileSync(join(root, FILE), 'utf8');
const DATABASE = `sandbox_test_seed003_${process.pid}`;

let t: RollbackTestEnv;
let engine: DockerEngine;
let dir: string;
const ports: Record<string, number> = {};

/** A service answering /health with `body` on its port (busybox httpd, host network), with a Compose healthcheck. */
const httpService = (image: string, port: number, extra = '') => `    image: ${image}
    network_mode: host
    command: ["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:${port}/health"]
      interval: 1s
      retries: 20
${extra}`;
const sleeper = `    image: tick:1
    network_mode: none
    command: ["/bin/sleep", "3600"]
    stop_grace_period: 1s
`;
/** The stack as a release's compose file has it: api and worker on that date's images, postgres serving its data volume. */
const composeFile = (date: string) => `services:
  api:
${httpService(`ai_workflow_engine-api:${date}`, ports.api!)}  worker:
${httpService(`ai_workflow_engine-worker:${date}`, ports.worker!)}  postgres:
${httpService('tools:1', ports.postgres!, '    volumes: ["postgres_data:/www"]\n')}volumes:
  postgres_data: {}
`;
const blueGreenFile = () => `services:
  api:
${sleeper}  worker:
${sleeper}`;

const compose = (project: string, file: string, ...args: string[]) => engine.docker(['compose', '-p', project, '-f', join(dir, file), ...args], { cwd: dir });
/** Containers of a project's service running, counted by the engine itself. */
const running = async (project: string, service: string) =>
  (await engine.docker(['ps', '--quiet', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`, '--filter', 'status=running'])).split('\n').filter(Boolean).length;
const served = async (port: number, path = '/health') => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`).catch(() => null);
  return response?.status === 200 ? (await response.text()).trim() : (response?.status ?? 'down');
};
const backupsDir = () => join(dir, 'backups');

/** The seed's runbook with only where things are on this machine changed (see the file's docblock). */
function runbookForThisMachine(): void {
  const doc = parse(text) as Record<string, any>;
  const healthUrls = { api: `http://127.0.0.1:${ports.api}/health`, worker: `http://127.0.0.1:${ports.worker}/health` };
  for (const ref of [doc.release, doc.providers.compose, doc.providers.blue, doc.providers.green]) {
    Object.assign(ref.settings, { projectDir: dir, dockerHostEnv: 'TEST_DOCKER_HOST', timeoutSeconds: 90 });
    if (ref.settings.healthUrls) ref.settings.healthUrls = healthUrls;
  }
  doc.providers.compose.settings.helperImage = 'tools:1';
  doc.providers.shell.settings.cwd = dir;
  doc.volumes['postgres-data'].backupDir = backupsDir();
  doc.databases.ai_workflow_engine.backupDir = join(dir, 'safety-dumps');
  doc.databases.ai_workflow_engine.dumpsDir = dir;
  // The seed's checks ask its services (curl inside them, Caddy, aiwfe.com): here, this stack's.
  doc.health = { checks: [{ name: 'api', url: healthUrls.api }, { name: 'postgres', url: `http://127.0.0.1:${ports.postgres}/health` }], windowSeconds: 1 };
  t.runbooks.set(SYSTEM, parseRunbook(stringify(doc), FILE));
}

const phaseRollback = (phases: number[], extra: Record<string, unknown> = {}) =>
  startRollback(t, { system: SYSTEM, phases, reason: 'seed 003: the 2024-09-01 release broke the api', requestedBy: 'oncall-carol', baselineSeconds: 0, verifyWindowSeconds: 1, ...extra }, undefined, 'phaseRollback');
const changeNames = (result: ChangeRollbackResult) => result.plan.sets.flatMap((set) => set.changes.map((c) => c.name));

describe("seed 003's runbook as written", () => {
  test('loads with the worker loader, passes the JSON Schema, cites the seed lines of each phase, and checks what the seed checks', () => {
    const runbook = parseRunbook(text, FILE);
    assert.equal(runbook.system, SYSTEM);
    assert.deepEqual(runbook.phases.map((p) => p.id), [1, 3, 4, 5, 6]);
    for (const phase of runbook.phases) assert.match(phase.description ?? '', /^seed lines \d+-\d+/, `phase ${phase.id}`);
    assert.deepEqual(runbook.health.checks.map((c) => c.name), ['services-running', 'api', 'worker', 'perception-service', 'memory-service', 'reasoning-service', 'proxy', 'import-errors', 'database', 'external']);
    const schema = JSON.parse(readFileSync(join(root, 'schemas', 'runbook.schema.json'), 'utf8')) as Record<string, unknown>;
    const check = new Ajv2020({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
    assert.equal(check(parse(text)), true, JSON.stringify(check.errors));
    const commands = text.split('\n').filter((line) => !line.trimStart().startsWith('#')).join('\n');
    assert.doesNotMatch(commands, /prune|volume, rm|reset/, 'no prune, volume rm or reset but in comments');
  });
});

describe("seed 003's phases on a real Docker engine and PostgreSQL", { timeout: 600_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    engine = await startDockerEngine();
    for (const name of ['api', 'worker', 'postgres']) ports[name] = await freePort();
    for (const date of ['20240815', '20240901']) {
      for (const service of ['api', 'worker']) await engine.importImage(`ai_workflow_engine-${service}:${date}`, { 'www/health': `${service} ${date}\n` });
    }
    // /www/health in the image: Docker copies it into postgres_data when the volume is first mounted;
    // an empty volume would leave postgres unhealthy and `up --wait` failing before any phase runs.
    await engine.importImage('tools:1', { 'www/health': 'data-initial\n' }, { applets: ['sh', 'httpd', 'wget', 'tar', 'gzip', 'find', 'mkdir', 'echo', 'rm'] });
    await engine.importImage('tick:1', {}, { applets: ['sh', 'sleep'] });
    dir = mkdtempSync(join(tmpdir(), 'rr-seed-003-'));
    mkdirSync(backupsDir());
    writeFileSync(join(dir, 'docker-compose.blue.yml'), blueGreenFile());
    writeFileSync(join(dir, 'docker-compose.green.yml'), blueGreenFile());
    execFileSync('git', ['init', '-q'], { cwd: dir });
    // Two releases of the compose file: HEAD~1 names the 2024-08-15 images, HEAD the 2024-09-01 ones.
    for (const date of ['20240815', '20240901']) {
      writeFileSync(join(dir, 'docker-compose.yml'), composeFile(date));
      execFileSync('git', ['add', 'docker-compose.yml', 'docker-compose.blue.yml', 'docker-compose.green.yml'], { cwd: dir });
      execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '-m', `the ${date} release`], { cwd: dir });
    }
    await compose('ai_workflow_engine', 'docker-compose.yml', 'up', '-d', '--wait');
    // Green serves; blue was stopped when green went live (seed lines 177-188).
    await compose('ai_workflow_engine_green', 'docker-compose.green.yml', 'up', '-d', '--wait');
    await compose('ai_workflow_engine_blue', 'docker-compose.blue.yml', 'create');
    // The worker reaches the engine as a production worker would: the docker CLI, its Compose plugin, the socket.
    Object.assign(t.secrets, { PATH: engine.env.PATH, HOME: engine.env.HOME, DOCKER_CONFIG: engine.env.DOCKER_CONFIG, TEST_DOCKER_HOST: engine.host, AI_WORKFLOW_ENGINE_DATABASE_URL: `${POSTGRES}/${DATABASE}` });

    // ai_workflow_engine after its last Alembic migration (b2c3d4e5f6a7 added workflow_runs.priority).
    await dropTestDatabase(DATABASE);
    await sql('postgres', `CREATE DATABASE ${DATABASE}`);
    await sql(DATABASE, `CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
      INSERT INTO alembic_version VALUES ('b2c3d4e5f6a7');
      CREATE TABLE workflow_runs (id serial PRIMARY KEY, name text NOT NULL, priority int NOT NULL DEFAULT 0);
      INSERT INTO workflow_runs (name, priority) SELECT 'run ' || i, i % 3 FROM generate_series(1, 50) i;`);
    runbookForThisMachine();
  });
  after(async () => {
    await engine?.stop();
    await t?.stop();
    await dropTestDatabase(DATABASE).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The postgres_data volume's backup as seed line 198 takes it, then the bad release's writes over it. */
  async function backUpVolumeThenBreakIt(): Promise<void> {
    const inVolume = (script: string) => engine.docker(['run', '--rm', '--network', 'none', '--volume', 'ai_workflow_engine_postgres_data:/www', 'tools:1', 'sh', '-c', script]);
    await inVolume('echo data-20240815 > /www/health');
    await engine.docker(['run', '--rm', '--network', 'none', '--volume', 'ai_workflow_engine_postgres_data:/data:ro', '--volume', `${backupsDir()}:/backup`, 'tools:1', 'tar', '-czf', '/backup/postgres_data_20240815_120000.tar.gz', '-C', '/data', '.']);
    await inVolume('echo data-20240901 > /www/health && echo half-migrated > /www/base');
  }

  test('a dry run of phases 6, 5, 3 and 1 plans every action from live state, with no blocker, and changes nothing', async () => {
    await backUpVolumeThenBreakIt();
    const result = (await (await phaseRollback([6, 5, 3, 1], { dryRun: true })).result()) as ChangeRollbackResult;
    assert.deepEqual(result.blockers, []);
    assert.deepEqual(changeNames(result), [
      'phase-6/scale api',
      'phase-6/scale worker',
      'phase-6/scale api #2',
      'phase-6/scale worker #2',
      'phase-5/restore volume postgres-data',
      'phase-3/scale api',
      'phase-3/scale worker',
      'phase-3/down SQL on ai_workflow_engine',
      'phase-3/scale api #2',
      'phase-3/scale worker #2',
      'phase-1/release api',
      'phase-1/release worker',
    ]);
    const plan = result.plan.sets.flatMap((set) => set.changes);
    assert.deepEqual(plan.filter((c) => c.name.startsWith('phase-6/')).map((c) => [c.target, c.from, c.to]), [
      ['instances of api (blue)', '0', '1'],
      ['instances of worker (blue)', '0', '1'],
      ['instances of api (green)', '1', '0'],
      ['instances of worker (green)', '1', '0'],
    ]);
    assert.match(plan.find((c) => c.name === 'phase-1/release api')!.to, /\(ai_workflow_engine-api:20240815\)$/);
    assert.equal(await served(ports.api!), 'api 20240901', 'nothing changed');
    assert.equal(await running('ai_workflow_engine_green', 'api'), 1);
  });

  test('phases 5, 3 and 1 at their gates: the volume holds the backup, the migration is undone with api and worker stopped, and both run the 20240815 images', async () => {
    const handle = await phaseRollback([5, 3, 1]);
    let waiting = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
    assert.equal(waiting.pendingGate?.gate, 'before-phase-5');
    await handle.signal(approveSignal, { by: 'oncall-carol' }); // the requester: refused by the two-person rule
    await handle.signal(approveSignal, { by: 'infra-alice' });
    waiting = await waitForStatus(handle, (s) => s.pendingGate?.gate === 'before-phase-3', 180_000);
    assert.equal(await served(ports.postgres!), 'data-20240815', 'phase 5 restored the volume before phase 3');
    assert.equal(await served(ports.postgres!, '/base'), 404, 'what the release left is gone');
    await handle.signal(approveSignal, { by: 'infra-bob' });
    await handle.result();

    assert.deepEqual(await sql(DATABASE, 'SELECT version_num FROM alembic_version'), [{ version_num: 'a1b2c3d4e5f6' }]);
    assert.deepEqual((await sql(DATABASE, "SELECT column_name FROM information_schema.columns WHERE table_name = 'workflow_runs' ORDER BY column_name")).map((r) => r.column_name), ['id', 'name']);
    assert.equal((await sql(DATABASE, 'SELECT count(*)::int AS n FROM workflow_runs'))[0].n, 50);
    assert.equal(readdirSync(join(dir, 'safety-dumps')).length > 0, true, 'a safety dump was taken before the down SQL');
    assert.equal(await served(ports.api!), 'api 20240815');
    assert.equal(await served(ports.worker!), 'worker 20240815');
    assert.deepEqual([await running('ai_workflow_engine', 'api'), await running('ai_workflow_engine', 'worker'), await running('ai_workflow_engine', 'postgres')], [1, 1, 1]);
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'completed');
    assert.deepEqual(status.events.filter((e) => e.kind === 'refused').map((e) => [e.gate, e.by]), [['before-phase-5', 'oncall-carol']], 'the requester approving is refused');
    assert.deepEqual(
      status.steps.filter((s) => s.name.startsWith('phase-')).map((s) => `${s.name}:${s.outcome}`),
      [
        'phase-5/restore volume postgres-data:succeeded',
        'phase-3/scale api:succeeded',
        'phase-3/scale worker:succeeded',
        'phase-3/down SQL on ai_workflow_engine:succeeded',
        'phase-3/scale api #2:succeeded',
        'phase-3/scale worker #2:succeeded',
        'phase-1/release api:succeeded',
        'phase-1/release worker:succeeded',
      ],
    );
  });

  test("blue-green with blue's worker image gone: the switch fails, and compensation stops blue and starts green again", async () => {
    await compose('ai_workflow_engine_blue', 'docker-compose.blue.yml', 'rm', '-f');
    writeFileSync(join(dir, 'docker-compose.blue.yml'), blueGreenFile().replace(/( {2}worker:\n {4}image: )tick:1/, '$1tick:gone'));
    const handle = await phaseRollback([6]);
    const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 180_000);
    assert.equal(waiting.pendingDecision?.step, 'phase-6/scale worker');
    assert.equal(await running('ai_workflow_engine_blue', 'api'), 1, 'blue api started before the worker failed');
    await handle.signal(decideSignal, { by: 'infra-alice', action: 'compensate' });
    assert.equal((await failureOf(handle.result())).type, 'RollbackFailed');
    assert.deepEqual([await running('ai_workflow_engine_blue', 'api'), await running('ai_workflow_engine_blue', 'worker')], [0, 0]);
    assert.deepEqual([await running('ai_workflow_engine_green', 'api'), await running('ai_workflow_engine_green', 'worker')], [1, 1], 'green serves as before');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
  });

  test("fullRollback (seed lines 20-31's configuration rollback): api and worker back to the images the previous compose file names, one at a time", async () => {
    // Back to the 2024-09-01 release as committed, as before the phases above.
    execFileSync('git', ['checkout', '--', 'docker-compose.yml'], { cwd: dir });
    await compose('ai_workflow_engine', 'docker-compose.yml', 'up', '-d', '--wait');
    assert.equal(await served(ports.api!), 'api 20240901');
    const handle = await startRollback(t, { system: SYSTEM, mode: 'immediate', reason: 'seed 003: the 2024-09-01 release broke the api', requestedBy: 'oncall-carol', baselineSeconds: 0, verifyWindowSeconds: 1 });
    await handle.result();
    assert.equal(await served(ports.api!), 'api 20240815');
    assert.equal(await served(ports.worker!), 'worker 20240815');
    assert.equal(readFileSync(join(dir, 'docker-compose.yml'), 'utf8'), composeFile('20240815'), "the file's image lines are HEAD~1's");
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'completed');
  });

  test('blue-green: blue up, green stopped, counted by the engine', async () => {
    writeFileSync(join(dir, 'docker-compose.blue.yml'), blueGreenFile());
    const handle = await phaseRollback([6]);
    await handle.result();
    assert.deepEqual([await running('ai_workflow_engine_blue', 'api'), await running('ai_workflow_engine_blue', 'worker')], [1, 1]);
    assert.deepEqual([await running('ai_workflow_engine_green', 'api'), await running('ai_workflow_engine_green', 'worker')], [0, 0]);
    assert.equal(await served(ports.api!), 'api 20240815', 'the main stack untouched');
  });
});
