/**
 * The volume-restore action (seed 003: `docker run --rm -v <volume>:/data -v $(pwd)/backups:/backup
 * alpine tar xzf /backup/<file> -C /data`) in a phaseRollback through the real worker, on a real Docker
 * engine (a private dockerd, Compose v2, an imported busybox image): a Compose service serves files
 * from a named volume, so what the volume holds is read back over HTTP from the service itself.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decideSignal } from '../src/contract/messages.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { freePort } from './harness.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const PROJECT = 'rrvolume';
const VOLUME = `${PROJECT}_webdata`;
let t: RollbackTestEnv;
let engine: DockerEngine;
let dir: string;
let backups: string;
let port: number;

/** Runs `sh -c script` in a container with the volume at /www (the test's own writes, as a person would make them). */
const inVolume = (script: string) => engine.docker(['run', '--rm', '--network', 'none', '--volume', `${VOLUME}:/www`, 'tools:1', 'sh', '-c', script]);
const served = async (path: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return response.status === 200 ? (await response.text()).trim() : response.status;
};

function runbook(system: string): void {
  addMinimalRunbook(t, system, {
    providers: {
      compose: { provider: 'docker-compose', settings: { projectDir: dir, project: PROJECT, dockerHostEnv: 'TEST_DOCKER_HOST', helperImage: 'tools:1', timeoutSeconds: 90 } },
      scripts: { provider: 'command', settings: {} },
    },
    volumes: { 'web-data': { volume: VOLUME, backupDir: backups, backupPattern: 'web_data_*.tar.gz', services: ['web'] } },
    phases: [
      { id: 1, name: 'Web data', rollback: [{ 'volume-restore': 'web-data' }, { command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true }], verify: false },
    ],
  });
}

const phase = (system: string) => startRollback(t, { system, phases: [1], reason: 'the release corrupted the uploads', requestedBy: 'alice', baselineSeconds: 0 }, undefined, 'phaseRollback');
const archives = (what: string) => readdirSync(backups).filter((f) => f.startsWith(`${VOLUME}.${what}-`));

describe('volume-restore on a real Docker engine', { timeout: 300_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    engine = await startDockerEngine();
    await engine.importImage('tools:1', {}, { applets: ['sh', 'httpd', 'wget', 'tar', 'gzip', 'find', 'mkdir', 'echo', 'rm'] });
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'rr-volume-'));
    backups = join(dir, 'backups');
    mkdirSync(backups);
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      `services:
  web:
    image: tools:1
    network_mode: host
    command: ["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]
    stop_grace_period: 1s
    volumes: ["webdata:/www"]
volumes:
  webdata: {}
`,
    );
    await engine.docker(['compose', '-p', PROJECT, '-f', join(dir, 'docker-compose.yml'), 'up', '-d', '--wait'], { cwd: dir });
    // The worker reaches the engine as a production worker would: the docker CLI, its Compose plugin, the socket.
    Object.assign(t.secrets, { PATH: engine.env.PATH, HOME: engine.env.HOME, DOCKER_CONFIG: engine.env.DOCKER_CONFIG, TEST_DOCKER_HOST: engine.host });
  });
  after(async () => {
    await engine?.stop();
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the volume holds exactly the backup, what it held is archived first; compensation puts that back and keeps the restored contents', async () => {
    await inVolume('echo v1 > /www/health && mkdir -p /www/docs && echo manual > /www/docs/index');
    // The team's backup, taken as seed 003 takes it.
    await engine.docker(['run', '--rm', '--network', 'none', '--volume', `${VOLUME}:/data:ro`, '--volume', `${backups}:/backup`, 'tools:1', 'tar', '-czf', '/backup/web_data_20240815_120000.tar.gz', '-C', '/data', '.']);
    await inVolume('echo v2 > /www/health && echo left-over > /www/extra'); // the bad release
    assert.equal(await served('/health'), 'v2');
    runbook('volumes-a');
    const handle = await phase('volumes-a');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 120_000);
    assert.equal(waiting.pendingDecision?.step, `phase-1/command ${process.execPath}`, waiting.pendingDecision?.error);
    assert.equal(await served('/health'), 'v1', 'the service serves the backup');
    assert.equal(await served('/docs/index'), 'manual');
    assert.equal(await served('/extra'), 404, 'emptied first: nothing the release left stays beside the backup');
    assert.equal(archives('pre-restore').length, 1, 'what the volume held was archived before it was emptied');

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.equal(await served('/health'), 'v2', 'compensation put back what was there');
    assert.equal(await served('/extra'), 'left-over');
    assert.equal(archives('undone').length, 1, 'the restored contents are kept too');
  });

  test('a backup that is not a readable archive is refused before the service stops or the volume changes', async () => {
    writeFileSync(join(backups, 'web_data_20240901_000000.tar.gz'), 'not a tar file'); // the latest by name
    runbook('volumes-b');
    const before = readdirSync(backups).length;
    const handle = await phase('volumes-b');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 120_000);
    assert.match(waiting.pendingDecision!.error, /^web_data_20240901_000000\.tar\.gz is not a readable tar\.gz archive: .*; nothing was stopped or changed$/);
    assert.equal(await served('/health'), 'v2', 'the service runs on, its volume untouched');
    assert.equal(readdirSync(backups).length, before, 'no archive was taken');
    await handle.signal(decideSignal, { by: 'bob', action: 'abort' });
    await failureOf(handle.result());
  });
});
