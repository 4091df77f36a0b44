/**
 * Durability on Fly: a worker process SIGKILLed while a secret or release action is updating the
 * Machines of an app (the Fly Machines API emulator, test/emulators/fly-machines.ts, booting each
 * Machine slowly so the worker dies while it waits; API reference:
 * https://fly.io/docs/machines/api/machines-resource/), a new worker process started, and the
 * action finished with every write made once: the secret written once, each Machine updated once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { stringify } from 'yaml';
import { waitForPoller } from '../scripts/lib/temporal.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { statusQuery } from '../src/contract/messages.ts';
import { workerProcesses } from './crash-harness.ts';
import { FlyMachinesEmulator } from './emulators/fly-machines.ts';
import { sha256Digest } from './emulators/fly-secrets.ts';
import { kill9, sleep, startTemporal } from './harness.ts';

const TOKEN = 'fo1_test_crash_a41c';
const SYSTEM = 'clinic-fly';
const SECRETS_APP = 'healthcare-clinic-backend';
const RELEASE_APP = 'healthcare-clinic-backend-stable';
const OLD_VALUE = 'dual-lane-9f8e7d6c';
const NEW_VALUE = 'single-lane-3c4d5e6f';
const V1 = `registry.fly.io/${RELEASE_APP}:deployment-01JA4XK2`;
const V2 = `registry.fly.io/${RELEASE_APP}:deployment-01JB7QW9`;
/** How long a Machine takes to boot after an update: the worker is killed while it waits for the first. */
const BOOT_MS = 5000;

let env: TestWorkflowEnvironment;
let fly: FlyMachinesEmulator;
let dir: string;
/** Workers exactly as production runs them, with the Fly token and the secret's variable. */
const workers = workerProcesses(() => ({ address: env.address, runbooksDir: dir, env: { FLY_API_TOKEN: TOKEN, ROUTING_MODE_SINGLE: NEW_VALUE } }));

/** Update requests (the whole config POSTed) per Machine of `app`, oldest Machine first. */
const updatesPerMachine = (app: string) => fly.machines(app).map((m) => fly.calls('POST', new RegExp(`^/v1/apps/${app}/machines/${m.id}$`)).length);
const updates = (app: string) => fly.calls('POST', new RegExp(`^/v1/apps/${app}/machines/[^/]+$`)).length;

/** Starts phaseRollback of `phase` and kills the worker right after the first Machine update of `app`, while it waits for the Machine to boot. */
async function killedMidRollout(phase: number, app: string) {
  await workers.killAll();
  const first = await workers.start();
  await waitForPoller(env.connection, 'default', 60_000);
  const handle = await env.client.workflow.start('phaseRollback', {
    taskQueue: TASK_QUEUE,
    workflowId: `crash-fly-${phase}-${Date.now()}`,
    args: [{ system: SYSTEM, phases: [phase], reason: 'crash drill', requestedBy: 'alice', baselineSeconds: 0 }],
  });
  for (const deadline = Date.now() + 60_000; updates(app) === 0 && Date.now() < deadline; ) await sleep(20);
  await kill9(first);
  assert.equal(updates(app), 1, 'killed after the first Machine update, before the second');
  await workers.start();
  return handle;
}

describe('a worker killed while a Fly action updates Machines', { timeout: 240_000 }, () => {
  before(async () => {
    env = await startTemporal();
    fly = await new FlyMachinesEmulator(TOKEN, 'oncall@clinic.example', BOOT_MS).start();
    fly.addApp(SECRETS_APP);
    fly.secrets.seed(SECRETS_APP, 'ROUTING_MODE', OLD_VALUE);
    fly.addApp(RELEASE_APP);
    for (let i = 0; i < 3; i++) {
      fly.addMachine(SECRETS_APP, { image: V2 });
      fly.addMachine(RELEASE_APP, { image: V2, history: [V1] });
    }
    dir = mkdtempSync(join(tmpdir(), 'crash-fly-'));
    const settings = { apps: { stable: SECRETS_APP, 'stable-release': RELEASE_APP }, baseUrl: fly.url, tokenEnv: 'FLY_API_TOKEN', pollIntervalMs: 20, requestTimeoutMs: 5000, waitTimeoutSeconds: 30 };
    const runbook = {
      system: SYSTEM,
      approvers: { oncall: ['alice', 'bob'] },
      rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
      notify: [{ provider: 'log' }],
      decisions: { timeoutSeconds: 120, onTimeout: 'abort' },
      providers: { fly: { provider: 'fly-machines', settings } },
      phases: [
        { id: 2, name: 'LangGraph extraction', rollback: [{ release: { target: 'stable-release', to: V1 } }], verify: false },
        { id: 3, name: 'Dual-lane routing', rollback: [{ secret: { target: 'stable', name: 'ROUTING_MODE', value: { env: 'ROUTING_MODE_SINGLE' } } }], verify: false },
      ],
    };
    writeFileSync(join(dir, `${SYSTEM}.yaml`), stringify(runbook));
  });
  after(async () => {
    await workers.killAll();
    await fly?.stop();
    await env?.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  test('during a secret action: the new worker finishes it with the secret written once and each Machine updated once, booted with it', async () => {
    const handle = await killedMidRollout(3, SECRETS_APP);
    await handle.result();
    assert.equal(fly.calls('POST', new RegExp(`^/v1/apps/${SECRETS_APP}/secrets/ROUTING_MODE$`)).length, 1, 'the secret written once');
    assert.deepEqual(updatesPerMachine(SECRETS_APP), [1, 1, 1]);
    // The first Machine booted while no worker waited for it; the new worker waited for the other two.
    for (let deadline = Date.now() + 10_000; fly.machines(SECRETS_APP).some((m) => m.state !== 'started') && Date.now() < deadline; ) await sleep(50);
    assert.deepEqual(fly.machines(SECRETS_APP).map((m) => [m.state, m.loadedSecrets?.ROUTING_MODE]), Array(3).fill(['started', sha256Digest(NEW_VALUE)]));
    const status = await handle.query(statusQuery);
    assert.equal(status.steps.find((s) => s.name === 'phase-3/secret ROUTING_MODE of stable')?.runs, 1, 'one step run, retried inside Temporal');
    const attempts = (await handle.fetchHistory()).events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(attempts.includes(2), 'the secret activity ran a second attempt on the new worker');
  });

  test('during a release action: the new worker finishes the rollout with each Machine updated once, all on the image asked for', async () => {
    const handle = await killedMidRollout(2, RELEASE_APP);
    await handle.result();
    assert.deepEqual(updatesPerMachine(RELEASE_APP), [1, 1, 1]);
    for (let deadline = Date.now() + 10_000; fly.machines(RELEASE_APP).some((m) => m.state !== 'started') && Date.now() < deadline; ) await sleep(50);
    assert.deepEqual(fly.machines(RELEASE_APP).map((m) => [m.state, m.config.image]), Array(3).fill(['started', V1]));
    const status = await handle.query(statusQuery);
    assert.equal(status.steps.find((s) => s.name === 'phase-2/release stable-release')?.runs, 1);
    const attempts = (await handle.fetchHistory()).events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(attempts.includes(2), 'the rollout ran a second attempt on the new worker');
  });
});
