/**
 * phaseRollback of a Docker Compose project end to end: the real worker on a Temporal dev server, a
 * real Docker engine (a private dockerd, Compose v2, imported busybox images) and a compose file in a
 * git repository whose releases are tagged v1 and v2 (seed 003: "git checkout [last-known-good-tag]",
 * "docker compose stop api worker"):
 * - a `scale` action stops the worker service (scaled to 0) and compensation scales it back to the
 *   count found, counted by the engine itself;
 * - a `release` action rolls web to the tag v1, read back over HTTP from the service; a dry run plans
 *   it, an unknown tag is refused naming the releases there are, a before-release-web gate holds it
 *   until approved, and compensation rolls back to the release that served.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ChangeRollbackResult, RollbackStatus } from '../src/contract/index.ts';
import { approveSignal, decideSignal, rejectSignal, statusQuery } from '../src/contract/messages.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { freePort } from './harness.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const PROJECT = 'rrcomposerollbacks';
/** A later step of the phase that fails, so a person decides (and compensates). */
const EXITS_1 = { command: [process.execPath, '-e', 'process.exit(1)'], repeatable: true };

let t: RollbackTestEnv;
let engine: DockerEngine;
let repo: string;
let file: string;
let port: number;
let committed: string;
const images: Record<string, string> = {};

const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const composeFile = (image: string) => `services:
  web:
    image: ${image}
    network_mode: host
    command: ["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]
    stop_grace_period: 1s   # httpd as PID 1 ignores SIGTERM
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:${port}/health"]
      interval: 1s
      retries: 20
  worker:
    image: tick:1
    network_mode: none
    command: ["/bin/sleep", "3600"]
    stop_grace_period: 1s
`;
const compose = (...args: string[]) => engine.docker(['compose', '-p', PROJECT, '-f', file, ...args], { cwd: repo });
/** The worker containers running, counted by the engine itself (not through Compose). */
const workers = async () =>
  (await engine.docker(['ps', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=worker', '--filter', 'status=running'])).split('\n').filter(Boolean).length;
/** What web serves on /health. */
const served = async () => (await (await fetch(`http://127.0.0.1:${port}/health`)).text()).trim();
/** The image web's container runs, as the engine reports it. */
const webImage = async () => {
  const id = (await compose('ps', '-q', 'web')).trim();
  return (JSON.parse(await engine.docker(['inspect', '--type', 'container', id])) as { Config: { Image: string } }[])[0]!.Config.Image;
};

/** A runbook for the project: these phases (health not verified after them) and gates, the compose provider and one for commands. */
function runbook(system: string, phases: { id: number; rollback: Record<string, unknown>[] }[], gates: Record<string, unknown> = {}): void {
  addMinimalRunbook(t, system, {
    providers: {
      compose: { provider: 'docker-compose', settings: { projectDir: repo, project: PROJECT, dockerHostEnv: 'TEST_DOCKER_HOST', healthUrls: { web: `http://127.0.0.1:${port}/health` }, timeoutSeconds: 90 } },
      scripts: { provider: 'command', settings: {} },
    },
    phases: phases.map((p) => ({ ...p, name: `Phase ${p.id}`, verify: false })),
    gates,
  });
}
const phaseRollback = (system: string, phases: number[], extra: Record<string, unknown> = {}) =>
  startRollback(t, { system, phases, reason: 'seed 003: the release broke the api', requestedBy: 'alice', baselineSeconds: 0, ...extra }, undefined, 'phaseRollback');
const step = (status: RollbackStatus, name: string) => status.steps.find((s) => s.name === name);

before(async () => {
  t = await startRollbackTestEnv();
  engine = await startDockerEngine();
  images['site:1'] = await engine.importImage('site:1', { 'www/health': 'v1\n' });
  images['site:2'] = await engine.importImage('site:2', { 'www/health': 'v2\n' });
  await engine.importImage('tick:1', {}, { applets: ['sh', 'sleep'] });
  port = await freePort();
  repo = mkdtempSync(join(tmpdir(), 'rr-compose-rollbacks-'));
  file = join(repo, 'docker-compose.yml');
  git('init', '-q');
  for (const version of ['1', '2']) {
    writeFileSync(file, composeFile(`site:${version}`));
    git('add', 'docker-compose.yml');
    git('commit', '-q', '-m', `release ${version}`);
    git('tag', `v${version}`);
  }
  committed = readFileSync(file, 'utf8');
  await compose('up', '-d', '--wait', '--scale', 'worker=2');
  // The worker reaches the engine as a production worker would: the docker CLI, its Compose plugin, the socket; git for releases.
  Object.assign(t.secrets, { PATH: engine.env.PATH, HOME: engine.env.HOME, DOCKER_CONFIG: engine.env.DOCKER_CONFIG, TEST_DOCKER_HOST: engine.host });
});

after(async () => {
  await engine?.stop();
  await t?.stop();
  if (repo) rmSync(repo, { recursive: true, force: true });
});

describe('the scale action on a Compose service (seed 003: docker compose stop worker)', { timeout: 300_000 }, () => {
  const stopWorker = { scale: { target: 'worker', instances: 0 } };

  test('a dry run plans worker 2 -> 0 and changes nothing; the real run leaves the engine running no worker container', async () => {
    runbook('compose-scale', [{ id: 1, rollback: [stopWorker] }]);
    const dry = (await (await phaseRollback('compose-scale', [1], { dryRun: true })).result()) as ChangeRollbackResult;
    assert.deepEqual(dry.plan.sets.flatMap((s) => s.changes.map((c) => [c.name, c.target, c.from, c.to, c.changes])), [['phase-1/scale worker', 'instances of worker (compose)', '2', '0', true]]);
    assert.deepEqual(dry.blockers, []);
    assert.equal(await workers(), 2, 'the dry run changed nothing');

    const handle = await phaseRollback('compose-scale', [1]);
    const result = (await handle.result()) as ChangeRollbackResult;
    assert.equal(result.dryRun, false);
    assert.deepEqual(result.snapshot.values, [{ kind: 'instances', provider: 'compose', target: 'worker', count: 2 }]);
    assert.equal(await workers(), 0);
    assert.equal(await served(), 'v2', 'web untouched (--no-deps, one service)');
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'completed');
    assert.deepEqual([step(status, 'phase-1/scale worker')?.outcome, step(status, 'phase-1/scale worker')?.description], ['succeeded', 'instances of worker (compose): 2 -> 0']);
    assert.match(status.report ?? '', /- scaled worker to 0 instance\(s\) \(compose\); now \{"web":1,"worker":0\}/);
    await compose('up', '-d', '--wait', '--scale', 'worker=2', 'worker');
  });

  test('a later step exits 1: compensation scales worker back to the 2 containers found', async () => {
    runbook('compose-scale-undo', [{ id: 1, rollback: [stopWorker, EXITS_1] }]);
    const handle = await phaseRollback('compose-scale-undo', [1]);
    const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
    assert.equal(waiting.pendingDecision?.step, `phase-1/command ${process.execPath}`);
    assert.equal(await workers(), 0, 'stopped before the command failed');
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackFailed');
    assert.equal(await workers(), 2, 'scaled back to the count the snapshot found');
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'failed');
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(step(status, 'phase-1/scale worker')?.outcome, 'compensated');
  });

  test('a rejected gate after the scale stops the rollback there: aborted, the worker left at 0, as an abort leaves what was done', async () => {
    runbook('compose-scale-gate', [{ id: 2, rollback: [stopWorker] }, { id: 1, rollback: [EXITS_1] }], { 'before-phase-1': { role: 'oncall', timeoutSeconds: 120 } });
    const handle = await phaseRollback('compose-scale-gate', [2, 1]);
    const waiting = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
    assert.equal(waiting.pendingGate?.gate, 'before-phase-1');
    assert.equal(await workers(), 0);
    await handle.signal(rejectSignal, { by: 'bob', reason: 'the workers stay stopped' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackAborted');
    assert.equal(failure.message, `phaseRollback of compose-scale-gate aborted: rejected by bob at gate before-phase-1: the workers stay stopped`);
    assert.equal(await workers(), 0, 'an abort leaves what was done as it is; only a failure compensates');
    await compose('up', '-d', '--wait', '--scale', 'worker=2', 'worker');
  });
});

describe('the release action to a git tag of the compose file (seed 003: git checkout [last-known-good-tag])', { timeout: 300_000 }, () => {
  const toV1 = { release: { target: 'web', to: 'v1' } };
  /** How the plan names what serves (site:2, no tag on the running container) and the tagged release v1. */
  const current = () => `${images['site:2']} (site:2)`;
  const v1 = () => `${images['site:1']} (v1, site:1)`;
  /** Back to the release committed last (v2), as a person would put it back between tests. */
  const reset = async () => {
    writeFileSync(file, committed);
    await compose('up', '-d', '--no-deps', '--wait', 'web');
    assert.equal(await served(), 'v2');
  };

  test('a dry run plans web from what serves to v1 and changes nothing', async () => {
    runbook('compose-release-dry', [{ id: 2, rollback: [toV1] }]);
    const result = (await (await phaseRollback('compose-release-dry', [2], { dryRun: true })).result()) as ChangeRollbackResult;
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.plan.sets.flatMap((s) => s.changes.map((c) => [c.name, c.target, c.from, c.to, c.changes])), [['phase-2/release web', 'release of web (compose)', current(), v1(), true]]);
    assert.deepEqual(result.blockers, []);
    assert.equal(await served(), 'v2');
    assert.equal(readFileSync(file, 'utf8'), committed);
  });

  test('rolled to v1: web serves v1 over HTTP, runs site:1, and the compose file names it', async () => {
    runbook('compose-release', [{ id: 2, rollback: [toV1] }]);
    const handle = await phaseRollback('compose-release', [2]);
    await handle.result();
    assert.equal(await served(), 'v1');
    assert.equal(await webImage(), 'site:1');
    assert.equal(readFileSync(file, 'utf8'), committed.replace('image: site:2', 'image: site:1'));
    assert.equal(await workers(), 2, 'the worker was not touched');
    const status = await handle.query(statusQuery);
    assert.deepEqual([step(status, 'phase-2/release web')?.outcome, step(status, 'phase-2/release web')?.description], ['succeeded', `release of web (compose): ${current()} -> ${v1()}`]);
    await reset();
  });

  test('an unknown tag is refused before anything changes, naming the releases there are, newest first', async () => {
    runbook('compose-release-v9', [{ id: 2, rollback: [{ release: { target: 'web', to: 'v9' } }] }]);
    const failure = await failureOf((await phaseRollback('compose-release-v9', [2])).result());
    assert.equal(failure.message, `cannot roll back:\n  release 'v9' of web not found on compose; the last 10 it has: ${images['site:2']} (v2, site:2), ${v1()}`);
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(await served(), 'v2');
    assert.equal(readFileSync(file, 'utf8'), committed);
  });

  test('with a before-release-web gate it waits for approval and rolls nothing before; approved, web serves v1', async () => {
    runbook('compose-release-gate', [{ id: 2, rollback: [toV1] }], { 'before-release-web': { role: 'oncall', timeoutSeconds: 120 } });
    const handle = await phaseRollback('compose-release-gate', [2]);
    const waiting = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
    assert.equal(waiting.pendingGate?.gate, 'before-release-web');
    assert.equal(waiting.pendingGate?.before, `release of web (compose): ${current()} -> ${v1()}`);
    assert.equal(await served(), 'v2', 'nothing rolled before the approval');
    assert.equal(readFileSync(file, 'utf8'), committed);
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.equal(await served(), 'v1');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.steps.map((s) => `${s.name}:${s.outcome}`).slice(-2), ['gate:before-release-web:succeeded', 'phase-2/release web:succeeded']);
    await reset();
  });

  test('a later step exits 1: compensation rolls web back to the release that served, v2 over HTTP, the file as committed', async () => {
    runbook('compose-release-undo', [{ id: 2, rollback: [toV1, EXITS_1] }]);
    const handle = await phaseRollback('compose-release-undo', [2]);
    const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
    assert.equal(waiting.pendingDecision?.step, `phase-2/command ${process.execPath}`);
    assert.equal(await served(), 'v1', 'rolled before the command failed');
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackFailed');
    assert.equal(await served(), 'v2');
    assert.equal(await webImage(), 'site:2');
    assert.equal(readFileSync(file, 'utf8'), committed);
    assert.equal(git('status', '--porcelain', '--', 'docker-compose.yml'), '', 'the working tree matches the last commit again');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(step(status, 'phase-2/release web')?.outcome, 'compensated');
  });
});
