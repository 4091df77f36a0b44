/**
 * The secret-version action (seed 002's "Secret Rollback": `gcloud secrets versions enable
 * --version=PREV`, then `gcloud run services update --update-secrets NAME=NAME:PREV`) in a
 * phaseRollback through the real worker on a Temporal dev server, against emulators of the documented
 * Cloud Run Admin API v2 and Secret Manager API v1: the service ends up pinned to the previous version,
 * in a new revision; compensation puts the states and the pin back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decideSignal, statusQuery } from '../src/contract/messages.ts';
import { CloudRunEmulator, type EnvVar } from './emulators/cloud-run.ts';
import { SecretManagerEmulator } from './emulators/secret-manager.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const TOKEN = 'ya29.test-access-token';
let t: RollbackTestEnv;
let run: CloudRunEmulator;
let sm: SecretManagerEmulator;

/** A service `name` whose latest revision loads API_SECRET_KEY version 3; version 2 was disabled when 3 replaced it. */
function system(name: string, rollback: Record<string, unknown>[]): void {
  sm.addSecret('API_SECRET_KEY', ['sk_live_one_51c2', 'sk_live_two_9be0', 'sk_live_three_07ad'], { states: ['ENABLED', 'DISABLED', 'ENABLED'] });
  const env: EnvVar[] = [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'API_SECRET_KEY', valueSource: { secretKeyRef: { secret: 'API_SECRET_KEY', version: '3' } } }];
  run.addService(name, [{ image: 'europe-docker.pkg.dev/p/api:42', env }]);
  addMinimalRunbook(t, name, {
    providers: {
      api: {
        provider: 'cloud-run',
        settings: { project: run.project, location: run.location, service: name, baseUrl: run.url, secretManagerUrl: sm.url, tokenEnv: 'GCP_ACCESS_TOKEN', pollIntervalMs: 20, timeoutMs: 30_000 },
      },
      scripts: { provider: 'command', settings: {} },
    },
    phases: [{ id: 1, name: 'API secret', rollback, verify: false }],
  });
}

const phase = (name: string) => startRollback(t, { system: name, phases: [1], reason: 'seed 002: the rotated API key is refused by the partner', requestedBy: 'alice', baselineSeconds: 0 }, undefined, 'phaseRollback');
/** The API key's version each revision of the service loads, oldest first. */
const pinsOf = (name: string) =>
  [...run.revisions.values()].filter((r) => r.service.endsWith(`/services/${name}`)).map((r) => r.containers[0]!.env!.find((e) => e.name === 'API_SECRET_KEY')!.valueSource!.secretKeyRef.version);

describe('secret-version on Cloud Run and Secret Manager (emulators) in a phaseRollback', { timeout: 180_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    run = await new CloudRunEmulator(TOKEN).start();
    sm = await new SecretManagerEmulator(TOKEN).start();
    run.secretAccess = (secret, version) => sm.problem(secret, version);
    t.secrets.GCP_ACCESS_TOKEN = TOKEN;
  });
  after(async () => {
    await run?.stop();
    await sm?.stop();
    await t?.stop();
  });

  test('to the previous version: 2 enabled, 3 disabled, and a new revision pins secret:2', async () => {
    system('api-secret', [{ 'secret-version': 'API_SECRET_KEY' }]);
    const handle = await phase('api-secret');
    await handle.result();
    assert.deepEqual(sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'ENABLED', 3: 'DISABLED' });
    assert.deepEqual(pinsOf('api-secret'), ['3', '2']);
    const status = await handle.query(statusQuery);
    const step = status.steps.find((s) => s.name.startsWith('phase-1/secret'));
    assert.equal(step?.outcome, 'succeeded', JSON.stringify(status.steps));
    assert.match(step?.description ?? '', /secret API_SECRET_KEY \(api\): version 3 -> version 2/);
    assert.deepEqual(sm.accessed, [], 'no value read');
  });

  test('a later step fails: compensation enables 3 again, pins the service back on it and disables 2', async () => {
    system('api-secret-undo', [{ 'secret-version': 'API_SECRET_KEY' }, { command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true }]);
    const handle = await phase('api-secret-undo');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 60_000);
    assert.equal(waiting.pendingDecision?.step, `phase-1/command ${process.execPath}`, waiting.pendingDecision?.error);
    assert.deepEqual(sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'ENABLED', 3: 'DISABLED' });
    assert.deepEqual(pinsOf('api-secret-undo'), ['3', '2']);

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.deepEqual(sm.states('API_SECRET_KEY'), { 1: 'ENABLED', 2: 'DISABLED', 3: 'ENABLED' }, 'the states found');
    assert.deepEqual(pinsOf('api-secret-undo'), ['3', '2', '3'], 'pinned back, in a revision of its own');
    const service = run.service('api-secret-undo');
    assert.equal(service.latestReadyRevision, service.latestCreatedRevision);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(status.steps.find((s) => s.name.startsWith('phase-1/secret'))?.outcome, 'compensated');
  });
});
