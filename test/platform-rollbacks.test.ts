/**
 * fullRollback end to end on platforms other than the sandbox, through the real worker on a Temporal
 * dev server:
 * - a Docker Compose stack on a real Docker engine (a private dockerd, Compose v2, imported images):
 *   the runbook's release section rolls web back to the image its previous compose file names, health
 *   is verified on the service; compensation puts the new image back;
 * - a Cloud Run service against an emulator of the documented Admin API v2 (test/emulators/cloud-run.ts):
 *   a gradual split (50/50, then all on the previous revision), with no instance steps, since Cloud
 *   Run scales itself.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RollbackStatus } from '../src/contract/index.ts';
import type { FullRollbackResult } from '../src/contract/index.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { CloudRunEmulator } from './emulators/cloud-run.ts';
import { SlackEmulator } from './emulators/slack.ts';
import { StatuspageEmulator } from './emulators/statuspage.ts';
import { freePort } from './harness.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { statusQuery } from '../src/contract/messages.ts';

const PROJECT = 'rrplatform';

/** A runbook for a system without the sandbox: just what these rollbacks need. */
function runbookFor(system: string, sections: Record<string, unknown>): void {
  addMinimalRunbook(t, system, sections);
}

let t: RollbackTestEnv;

before(async () => {
  t = await startRollbackTestEnv();
});

after(async () => {
  await t?.stop();
});

const steps = (status: RollbackStatus) => status.steps.map((s) => `${s.name}:${s.outcome}`);

describe('fullRollback of a Docker Compose stack on a real Docker engine', () => {
  let engine: DockerEngine;
  let repo: string;
  let file: string;
  let port: number;

  const composeFile = (image: string) => `services:
  web:
    image: ${image}
    network_mode: host
    command: ["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:${port}/health"]
      interval: 1s
      retries: 20
`;
  const running = async () => {
    const id = (await engine.docker(['compose', '-p', PROJECT, '-f', file, 'ps', '-q', 'web'], { cwd: repo })).trim();
    const [info] = JSON.parse(await engine.docker(['inspect', '--type', 'container', id])) as { Config: { Image: string }; State: { Health?: { Status: string } } }[];
    return { image: info!.Config.Image, health: info!.State.Health?.Status };
  };
  const served = async (path = '/health') => (await (await fetch(`http://127.0.0.1:${port}${path}`)).text()).trim();
  const system = (name: string, checkPath: string) =>
    runbookFor(name, {
      release: {
        provider: 'docker-compose',
        settings: { projectDir: repo, project: PROJECT, dockerHostEnv: 'TEST_DOCKER_HOST', healthUrls: { web: `http://127.0.0.1:${port}/health` }, timeoutSeconds: 90 },
        targets: ['web'],
      },
      health: { checks: [{ name: 'web', url: `http://127.0.0.1:${port}${checkPath}` }], windowSeconds: 1 },
    });

  before(async () => {
    engine = await startDockerEngine();
    await engine.importImage('app:1', { 'www/health': '1\n' });
    // Only the new release serves /v2: a health check on it fails once web is back on app:1.
    await engine.importImage('app:2', { 'www/health': '2\n', 'www/v2': 'yes\n' });
    port = await freePort();
    repo = mkdtempSync(join(tmpdir(), 'rr-platform-compose-'));
    file = join(repo, 'docker-compose.yml');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], { cwd: repo, stdio: 'ignore' });
    git('init', '-q');
    for (const image of ['app:1', 'app:2']) {
      writeFileSync(file, composeFile(image));
      git('add', 'docker-compose.yml');
      git('commit', '-q', '-m', `web on ${image}`);
    }
    await engine.docker(['compose', '-p', PROJECT, '-f', file, 'up', '-d', '--wait'], { cwd: repo });
    // The worker's environment, as a production worker has it: the docker CLI and its Compose plugin, the engine's socket.
    Object.assign(t.secrets, { PATH: engine.env.PATH, HOME: engine.env.HOME, DOCKER_CONFIG: engine.env.DOCKER_CONFIG, TEST_DOCKER_HOST: engine.host });
  });

  after(async () => {
    await engine?.stop();
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  test('a dry run plans web from app:2 back to app:1 and changes nothing', async () => {
    system('compose-dry', '/health');
    const handle = await startRollback(t, { system: 'compose-dry', mode: 'immediate', reason: 'plan it', requestedBy: 'alice', dryRun: true });
    const result = (await handle.result()) as FullRollbackResult;
    assert.deepEqual(
      result.plan.steps.map((s) => s.description),
      ['roll web back from app:2 to app:1'],
    );
    assert.deepEqual((await running()).image, 'app:2');
  });

  test('a gradual mode is refused before anything changes: a release has no traffic to split', async () => {
    system('compose-gradual', '/health');
    const failure = await failureOf(startRollback(t, { system: 'compose-gradual', mode: 'gradual', reason: 'split it', requestedBy: 'alice' }).then((h) => h.result()));
    assert.match(failure.message, /rolls back releases \(docker-compose\), which cannot be done gradually: there is no traffic to split; use mode immediate/);
    assert.equal((await running()).image, 'app:2');
  });

  test('immediate: web runs app:1 again, healthy, and answers 1; the compose file names app:1', async () => {
    system('compose-ok', '/health');
    const handle = await startRollback(t, { system: 'compose-ok', mode: 'immediate', reason: 'bad release app:2', requestedBy: 'alice' });
    const result = (await handle.result()) as FullRollbackResult;
    assert.equal(result.dryRun, false);
    assert.deepEqual(await running(), { image: 'app:1', health: 'healthy' });
    assert.equal(await served(), '1');
    assert.match(readFileSync(file, 'utf8'), /image: app:1\n/);
    const status = await handle.query(statusQuery);
    assert.deepEqual(steps(status), ['preflight:succeeded', 'capture-snapshot:succeeded', 'notify-start:succeeded', 'roll-back-web:succeeded', 'verify:release rollback:succeeded']);
    assert.deepEqual(status.snapshot?.releases?.map((r) => [r.target, r.current?.label, r.previous?.label]), [['web', 'app:2', 'app:1']]);
    assert.match(status.report ?? '', /roll web back from app:2 to app:1/);
  });

  test('health not verified after the rollback: compensation puts app:2 back, running and healthy', async () => {
    // Back to the starting point: web on app:2, as committed.
    writeFileSync(file, composeFile('app:2'));
    await engine.docker(['compose', '-p', PROJECT, '-f', file, 'up', '-d', '--no-deps', '--wait', 'web'], { cwd: repo });
    system('compose-undo', '/v2');
    const handle = await startRollback(t, { system: 'compose-undo', mode: 'immediate', reason: 'bad release app:2', requestedBy: 'alice' });
    const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
    assert.equal(waiting.pendingDecision?.step, 'verify:release rollback');
    assert.match(waiting.pendingDecision?.error ?? '', /check web failed/);
    assert.equal((await running()).image, 'app:1', 'the rollback itself happened');
    await handle.signal('decide', { by: 'bob', action: 'compensate' });
    const failure = await failureOf(handle.result());
    assert.match(failure.message, /^fullRollback of compose-undo failed/);
    assert.deepEqual(await running(), { image: 'app:2', health: 'healthy' });
    assert.equal(await served('/v2'), 'yes');
    assert.match(readFileSync(file, 'utf8'), /image: app:2\n/);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(status.state, 'failed');
  });
});

describe('fullRollback of a Cloud Run service against an emulator of the documented Admin API v2', () => {
  const TOKEN = 'ya29.test-access-token';
  let emulator: CloudRunEmulator;
  let service: Server;
  let serviceUrl: string;
  let revisions: string[];

  before(async () => {
    emulator = await new CloudRunEmulator(TOKEN).start();
    emulator.pollsUntilDone = 2;
    // The service's own URL, which the runbook's health check calls: it answers while the test runs.
    service = createServer((_req, res) => {
      const failing = failWhenAllOn !== null && served(failWhenAllOn.service)[failWhenAllOn.revision] === 100;
      res.writeHead(failing ? 503 : 200).end(failing ? 'errors on the previous revision' : 'ok');
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => service.once('listening', resolve));
    serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
    t.secrets.CLOUD_RUN_TOKEN = TOKEN;
  });

  after(async () => {
    await emulator?.stop();
    service?.close();
  });

  /** Healthy until all traffic is on `failWhenAllOn` (the previous revision), for the compensation test. */
  let failWhenAllOn: { service: string; revision: string } | null = null;

  const system = (name: string, extra: Record<string, unknown> = {}) => {
    revisions = emulator.addService(name, [{ image: 'europe-docker.pkg.dev/p/api:41' }, { image: 'europe-docker.pkg.dev/p/api:42' }]);
    runbookFor(name, {
      traffic: {
        provider: 'cloud-run',
        settings: { project: emulator.project, location: emulator.location, service: name, baseUrl: emulator.url, tokenEnv: 'CLOUD_RUN_TOKEN', pollIntervalMs: 20, timeoutMs: 30_000 },
        gradualSteps: [50, 0],
        stepPauseSeconds: 0,
      },
      health: { checks: [{ name: 'service', url: serviceUrl }], windowSeconds: 1 },
      ...extra,
    });
  };
  /** Percent per revision as the service reports serving it (trafficStatuses), 0% left out. */
  const served = (name: string) =>
    Object.fromEntries(
      ((emulator.service(name).trafficStatuses ?? []) as { revision?: string; percent?: number; type: string }[]).filter((s) => (s.percent ?? 0) > 0).map((s) => [s.revision ?? 'LATEST', s.percent ?? 0]),
    );
  /** Each PATCH's traffic split, `revision=percent` sorted, 0% left out. */
  const patches = (name: string) =>
    emulator.calls('PATCH', new RegExp(`services/${name}$`)).map((r) =>
      ((r.body as { traffic?: { revision?: string; percent?: number }[] }).traffic ?? [])
        .filter((x) => (x.percent ?? 0) > 0)
        .map((x) => `${x.revision}=${x.percent}`)
        .sort(),
    );

  test('gradual: 50/50 between the previous and the latest revision, then all on the previous; no instance steps', async () => {
    system('api-gradual');
    const [previous, latest] = revisions as [string, string];
    const handle = await startRollback(t, { system: 'api-gradual', mode: 'gradual', reason: 'seed 002: errors on api:42', requestedBy: 'alice' });
    const result = (await handle.result()) as FullRollbackResult;
    assert.deepEqual(result.snapshot.traffic, { weights: { stable: 0, canary: 100 }, instances: {}, scales: false });
    assert.deepEqual(
      result.plan.steps.map((s) => s.name),
      ['shift-traffic-1', 'shift-traffic-2'],
    );
    assert.deepEqual(patches('api-gradual'), [[`${latest}=50`, `${previous}=50`].sort(), [`${previous}=100`]], 'two changes, in order');
    assert.deepEqual(served('api-gradual'), { [previous]: 100 });
    const status = await handle.query(statusQuery);
    assert.deepEqual(steps(status), [
      'preflight:succeeded',
      'capture-snapshot:succeeded',
      'notify-start:succeeded',
      'shift-traffic-1:succeeded',
      'verify:shift-traffic-1:succeeded',
      'pause:shift-traffic-1:succeeded',
      'shift-traffic-2:succeeded',
      'verify:shift-traffic-2:succeeded',
    ]);
  });

  test('health fails once all traffic is on the previous revision: compensation puts it back where the snapshot found it', async () => {
    system('api-undo');
    const [previous, latest] = revisions as [string, string];
    failWhenAllOn = { service: 'api-undo', revision: previous };
    try {
      const handle = await startRollback(t, { system: 'api-undo', mode: 'gradual', reason: 'seed 002', requestedBy: 'alice' });
      const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 60_000);
      assert.equal(waiting.pendingDecision?.step, 'verify:shift-traffic-2');
      assert.deepEqual(served('api-undo'), { [previous]: 100 });
      await handle.signal('decide', { by: 'bob', action: 'compensate' });
      await failureOf(handle.result());
      assert.deepEqual(served('api-undo'), { [latest]: 100 });
      assert.deepEqual(patches('api-undo'), [[`${latest}=50`, `${previous}=50`].sort(), [`${previous}=100`], [`${latest}=50`, `${previous}=50`].sort(), [`${latest}=100`]], 'undone in reverse order');
      assert.deepEqual((await handle.query(statusQuery)).compensationFailures, []);
    } finally {
      failWhenAllOn = null;
    }
  });

  test('notifications: one Slack message per rollback (state, who may approve, a link to the Temporal UI) and a status page incident opened, updated at the gate, resolved at the end', async () => {
    const slack = await new SlackEmulator('xoxb-test', [{ id: 'C0ONCALL01', name: 'oncall' }]).start();
    const page = await new StatuspageEmulator('pg1', 'sp-key', { cmpapi0001: 'API' }).start();
    Object.assign(t.secrets, { SLACK_BOT_TOKEN: 'xoxb-test', STATUSPAGE_API_KEY: 'sp-key', TEMPORAL_UI_URL: 'http://localhost:8233' });
    try {
      system('api-notify', {
        notify: [{ provider: 'slack', settings: { channel: 'C0ONCALL01', tokenEnv: 'SLACK_BOT_TOKEN', baseUrl: `${slack.url}/api` } }],
        statusPage: { provider: 'statuspage', settings: { pageId: 'pg1', apiKeyEnv: 'STATUSPAGE_API_KEY', baseUrl: `${page.url}/v1`, components: { cmpapi0001: 'partial_outage' } } },
        gates: { 'gradual-step': { role: 'oncall' } },
      });
      const handle = await startRollback(t, { system: 'api-notify', mode: 'gradual', reason: 'seed 002: errors on api:42', requestedBy: 'alice' }, 'notify-rollback-1');
      await waitForStatus(handle, (s) => s.pendingGate?.gate === 'gradual-step', 60_000);
      const [incident] = [...page.incidents.values()];
      assert.equal(incident?.status, 'identified');
      assert.equal(page.components.get('cmpapi0001')?.status, 'partial_outage');
      const channel = slack.channels.get('C0ONCALL01')!;
      assert.equal(channel.messages.length, 1, 'one message per rollback, edited as it goes');
      const shown = JSON.stringify(channel.messages[0]!.blocks);
      assert.match(shown, /may approve: alice, bob/);
      assert.match(shown, /http:\/\/localhost:8233\/namespaces\/default\/workflows\/notify-rollback-1/);
      await handle.signal('approve', { by: 'bob' });
      await handle.result();
      assert.equal(page.incidents.size, 1, 'one incident for the rollback');
      assert.equal(incident?.status, 'resolved');
      assert.equal(page.components.get('cmpapi0001')?.status, 'operational');
      // The API lists an incident's updates newest first: opened at the start, updated at the gate, resolved.
      const updates = incident!.incident_updates.map((u) => u.status).reverse();
      assert.equal(updates[0], 'identified');
      assert.equal(updates.at(-1), 'resolved');
      assert.ok(updates.length >= 3, updates.join(', '));
      assert.equal(channel.messages.length, 1);
      assert.match(JSON.stringify(channel.messages[0]!.blocks), /completed/);
      assert.ok((channel.threads.get(channel.messages[0]!.ts)?.length ?? 0) >= 2, 'each change threaded under the message');
    } finally {
      await slack.stop();
      await page.stop();
    }
  });
});
