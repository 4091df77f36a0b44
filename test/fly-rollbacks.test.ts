/**
 * Seed 000's Fly procedures end to end, through the real worker on a Temporal dev server, against the
 * Fly Machines API emulator (test/emulators/fly-machines.ts and fly-secrets.ts; API reference:
 * https://fly.io/docs/machines/api/machines-resource/, https://fly.io/docs/apps/secrets/ and the
 * OpenAPI at https://docs.machines.dev/):
 * - fullRollback by instance counts (`fly scale count 0 -a app-canary`, `fly scale count 3 -a
 *   app-stable`): immediate, dry run, gradual behind before-cleanup, compensation after a failed
 *   health check;
 * - configRollback's `scale` (counts set and put back; bad counts and targets refused by name);
 * - the `secret` action (`fly secrets set/unset`): the value from a worker variable, in no history;
 * - the `release` action (`fly deploy --image`): to an image or a digest, gated, compensated;
 * - a watchdog's scaleAndAlert through a scaling provider it names.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { stringify } from 'yaml';
import { TASK_QUEUE, watchdogWorkflowId, type ChangeRollbackResult, type FullRollbackPlan, type FullRollbackResult, type RollbackStatus, type WatchdogStatus } from '../src/contract/index.ts';
import { approveSignal, decideSignal, statusQuery, watchdogStatusQuery } from '../src/contract/messages.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { FlyMachinesEmulator } from './emulators/fly-machines.ts';
import { sha256Digest } from './emulators/fly-secrets.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const TOKEN = 'fo1_test_fly_rollbacks_5e1a';
const STABLE_IMAGE = 'registry.fly.io/healthcare-clinic-backend:deployment-01JA4XK2';
const CANARY_IMAGE = 'registry.fly.io/healthcare-clinic-backend:deployment-01JB7QW9';

let t: RollbackTestEnv;
let fly: FlyMachinesEmulator;
let health: Server;
let healthUrl: string;
/** Systems whose health check answers 500. */
const failing = new Set<string>();

before(async () => {
  t = await startRollbackTestEnv();
  fly = await new FlyMachinesEmulator(TOKEN).start();
  t.secrets.FLY_API_TOKEN = TOKEN;
  // The service's own health URL, which the runbook's check calls: 500 for a system in `failing`.
  health = createServer((req, res) => {
    const bad = failing.has((req.url ?? '/').slice(1));
    res.writeHead(bad ? 500 : 200).end(bad ? 'errors' : 'ok');
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => health.once('listening', resolve));
  healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
});

after(async () => {
  await fly?.stop();
  health?.close();
  await t?.stop();
});

const flySettings = (apps: Record<string, string>) => ({ apps, baseUrl: fly.url, tokenEnv: 'FLY_API_TOKEN', pollIntervalMs: 10, requestTimeoutMs: 15_000, waitTimeoutSeconds: 30 });
// The check's server lives in this process, beside the worker and the emulator: a generous timeout, so a busy machine is not a failed check.
const healthOf = (system: string) => ({ checks: [{ name: 'app', url: `${healthUrl}/${system}`, timeoutMs: 15_000 }], windowSeconds: 1 });
const started = (app: string) => fly.machines(app).filter((m) => m.state === 'started').length;
/** Started Machines of a system's stable and canary apps. */
const counts = (system: string) => ({ stable: started(`${system}-stable`), canary: started(`${system}-canary`) });
/** Requests to an app that change something. */
const writesTo = (app: string) => fly.requests.filter((r) => r.method !== 'GET' && r.path.startsWith(`/v1/apps/${app}/`));
const count = (method: string, path: RegExp) => fly.calls(method, path).length;
const steps = (status: RollbackStatus) => status.steps.map((s) => `${s.name}:${s.outcome}`);

/** Seed 000's two apps: `stable` and `canary` Machines started, each app on its own image. */
function addApps(system: string, machines: { stable: number; canary: number }): void {
  fly.addApp(`${system}-stable`);
  fly.addApp(`${system}-canary`);
  for (let i = 0; i < machines.stable; i++) fly.addMachine(`${system}-stable`, { image: STABLE_IMAGE });
  for (let i = 0; i < machines.canary; i++) fly.addMachine(`${system}-canary`, { image: CANARY_IMAGE });
}

describe('fullRollback on Fly by instance counts, against the Fly Machines API emulator', () => {
  /** A traffic section on fly-machines: traffic follows the instances, stable scaled up to 3. */
  function system(name: string, machines: { stable: number; canary: number }, extra: Record<string, unknown> = {}): void {
    addApps(name, machines);
    addMinimalRunbook(t, name, {
      traffic: { provider: 'fly-machines', settings: flySettings({ stable: `${name}-stable`, canary: `${name}-canary` }), stableInstances: 3, gradualSteps: [50, 0], stepPauseSeconds: 0 },
      health: healthOf(name),
      ...extra,
    });
  }
  const immediatePlan = (name: string) => ({
    system: name,
    mode: 'immediate',
    steps: [
      { name: 'scale-stable', phase: 'capacity', action: 'scale', version: 'stable', from: 2, to: 3, description: 'scale stable from 2 to 3' },
      { name: 'shift-traffic', phase: 'shift', action: 'scale', version: 'canary', from: 2, to: 0, description: 'scale canary from 2 to 0 instance(s) (0% of instances beside 3 on stable)' },
    ],
    gates: [],
  });

  test("immediate (seed 000's Immediate Full Rollback): stable scaled to 3, canary to 0, health verified; the snapshot's weights are instance shares", async () => {
    system('fly-now', { stable: 2, canary: 2 });
    const handle = await startRollback(t, { system: 'fly-now', mode: 'immediate', reason: 'seed 000: canary error rate 14%', requestedBy: 'alice', baselineSeconds: 0 });
    const result = (await handle.result()) as FullRollbackResult;
    assert.equal(result.dryRun, false);
    assert.deepEqual(result.snapshot.traffic, { weights: { stable: 50, canary: 50 }, instances: { stable: 2, canary: 2 }, splits: false });
    assert.deepEqual(result.plan, immediatePlan('fly-now'));
    assert.deepEqual(counts('fly-now'), { stable: 3, canary: 0 });
    // One Machine created on stable from its config; the canary's two stopped, the newer destroyed, the last kept stopped.
    assert.equal(count('POST', /^\/v1\/apps\/fly-now-stable\/machines$/), 1);
    assert.deepEqual(fly.machines('fly-now-stable').map((m) => [m.state, m.config.image]), [['started', STABLE_IMAGE], ['started', STABLE_IMAGE], ['started', STABLE_IMAGE]]);
    assert.equal(count('POST', /^\/v1\/apps\/fly-now-canary\/machines\/[^/]+\/stop$/), 2);
    assert.equal(count('DELETE', /^\/v1\/apps\/fly-now-canary\/machines\/[^/]+$/), 1);
    assert.deepEqual(fly.machines('fly-now-canary').map((m) => m.state), ['stopped']);
    const status = await handle.query(statusQuery);
    assert.deepEqual(steps(status), ['preflight:succeeded', 'capture-snapshot:succeeded', 'notify-start:succeeded', 'scale-stable:succeeded', 'shift-traffic:succeeded', 'verify:shift-traffic:succeeded']);
    assert.equal(status.healthAfter?.passed, true);
  });

  test('a dry run shows the plan from the counts read live and changes nothing', async () => {
    system('fly-dry', { stable: 2, canary: 2 });
    const handle = await startRollback(t, { system: 'fly-dry', mode: 'immediate', reason: 'plan it', requestedBy: 'alice', dryRun: true, baselineSeconds: 0 });
    const result = (await handle.result()) as FullRollbackResult;
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.plan, immediatePlan('fly-dry'));
    assert.deepEqual((await handle.query(statusQuery)).plan, immediatePlan('fly-dry'));
    assert.deepEqual([...writesTo('fly-dry-stable'), ...writesTo('fly-dry-canary')], []);
    assert.deepEqual(counts('fly-dry'), { stable: 2, canary: 2 });
  });

  test('gradual with a before-cleanup gate: canary 4 -> 3 beside 3 stable (50%), then it waits at the gate before the canary goes to 0; approved, it completes', async () => {
    system('fly-gradual', { stable: 2, canary: 4 }, { gates: { 'before-cleanup': { role: 'oncall', timeoutSeconds: 120 } } });
    const handle = await startRollback(t, { system: 'fly-gradual', mode: 'gradual', reason: 'seed 000: gradual rollback', requestedBy: 'alice', baselineSeconds: 0 });
    const waiting = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
    assert.equal(waiting.pendingGate?.gate, 'before-cleanup');
    assert.equal(waiting.pendingGate?.before, 'scale canary from 3 to 0 instance(s) (0% of instances beside 3 on stable)');
    assert.deepEqual(waiting.pendingGate?.approvers, ['alice', 'bob']);
    assert.deepEqual(counts('fly-gradual'), { stable: 3, canary: 3 }, 'the canary is not scaled to 0 before the approval');
    assert.deepEqual(
      (waiting.plan as FullRollbackPlan).steps.map((s) => [s.name, s.version, s.from, s.to, s.gate ?? null]),
      [
        ['scale-stable', 'stable', 2, 3, null],
        ['shift-traffic-1', 'canary', 4, 3, null],
        ['shift-traffic-2', 'canary', 3, 0, 'before-cleanup'],
      ],
    );
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.deepEqual(counts('fly-gradual'), { stable: 3, canary: 0 });
    const status = await handle.query(statusQuery);
    assert.deepEqual(steps(status), [
      'preflight:succeeded',
      'capture-snapshot:succeeded',
      'notify-start:succeeded',
      'scale-stable:succeeded',
      'shift-traffic-1:succeeded',
      'verify:shift-traffic-1:succeeded',
      'pause:shift-traffic-1:succeeded',
      'gate:before-cleanup:succeeded',
      'shift-traffic-2:succeeded',
      'verify:shift-traffic-2:succeeded',
    ]);
    assert.deepEqual(status.events.filter((e) => e.kind === 'approved').map((e) => [e.by, e.gate]), [['bob', 'before-cleanup']]);
  });

  test('health not verified after the shift: compensation puts the counts back exactly as found', async () => {
    system('fly-undo', { stable: 2, canary: 2 });
    failing.add('fly-undo');
    try {
      const handle = await startRollback(t, { system: 'fly-undo', mode: 'immediate', reason: 'seed 000', requestedBy: 'alice', baselineSeconds: 0 });
      const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
      assert.equal(waiting.pendingDecision?.step, 'verify:shift-traffic');
      assert.equal(waiting.pendingDecision?.error, 'health not verified: check app failed: expected 200, got 500');
      assert.deepEqual(counts('fly-undo'), { stable: 3, canary: 0 }, 'the rollback itself happened');
      await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
      const failure = await failureOf(handle.result());
      assert.match(failure.message, /^fullRollback of fly-undo failed/);
      assert.deepEqual(counts('fly-undo'), { stable: 2, canary: 2 });
      const status = await handle.query(statusQuery);
      assert.deepEqual(status.compensationFailures, []);
      assert.deepEqual(
        status.steps.filter((s) => s.kind === 'change').map((s) => `${s.name}:${s.outcome}`),
        ['scale-stable:compensated', 'shift-traffic:compensated'],
      );
    } finally {
      failing.delete('fly-undo');
    }
  });
});

describe('configRollback with scale on Fly, against the Fly Machines API emulator', () => {
  /** No traffic section: the counts are set through the runbook's fly-machines provider. */
  function system(name: string): void {
    addApps(name, { stable: 2, canary: 2 });
    addMinimalRunbook(t, name, { providers: { fly: { provider: 'fly-machines', settings: flySettings({ stable: `${name}-stable`, canary: `${name}-canary` }) } }, health: healthOf(name) });
  }
  const scale = (name: string, asked: Record<string, number>) =>
    startRollback(t, { system: name, reason: 'seed 000: stop new deployments', requestedBy: 'alice', scale: asked, baselineSeconds: 0, verifyWindowSeconds: 1 }, undefined, 'configRollback');

  test('canary to 0 and stable to 3, as asked, each from the count read live', async () => {
    system('fly-scale');
    const handle = await scale('fly-scale', { canary: 0, stable: 3 });
    const result = (await handle.result()) as ChangeRollbackResult;
    assert.deepEqual(counts('fly-scale'), { stable: 3, canary: 0 });
    assert.deepEqual(
      result.plan.sets.flatMap((s) => s.changes.map((c) => [c.name, c.target, c.from, c.to])),
      [
        ['scale canary', 'instances of canary (fly)', '2', '0'],
        ['scale stable', 'instances of stable (fly)', '2', '3'],
      ],
    );
    assert.deepEqual(result.snapshot.values, [
      { kind: 'instances', provider: 'fly', target: 'canary', count: 2 },
      { kind: 'instances', provider: 'fly', target: 'stable', count: 2 },
    ]);
    const status = await handle.query(statusQuery);
    assert.deepEqual(steps(status), ['preflight:succeeded', 'capture-snapshot:succeeded', 'notify-start:succeeded', 'scale canary:succeeded', 'scale stable:succeeded', 'verify:config:succeeded']);
    // The start notification names the counts, as it names every other change a config rollback makes.
    assert.ok((await historyText(handle)).includes('Changes: scale canary to 0, scale stable to 3'), 'the notification says what changes');
  });

  test('health not verified: compensation scales each back to the count found', async () => {
    system('fly-scale-undo');
    failing.add('fly-scale-undo');
    try {
      const handle = await scale('fly-scale-undo', { canary: 0, stable: 3 });
      const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
      assert.equal(waiting.pendingDecision?.step, 'verify:config');
      assert.deepEqual(counts('fly-scale-undo'), { stable: 3, canary: 0 });
      await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
      await failureOf(handle.result());
      assert.deepEqual(counts('fly-scale-undo'), { stable: 2, canary: 2 });
      const status = await handle.query(statusQuery);
      assert.deepEqual(status.compensationFailures, []);
      assert.deepEqual(status.steps.filter((s) => s.kind === 'change').map((s) => `${s.name}:${s.outcome}`), ['scale canary:compensated', 'scale stable:compensated']);
    } finally {
      failing.delete('fly-scale-undo');
    }
  });

  test('a negative count, a count over 1000 and an unknown target are refused by name, and nothing changes', async () => {
    system('fly-scale-bad');
    const refused = async (asked: Record<string, number>) => failureOf((await scale('fly-scale-bad', asked)).result());
    const negative = await refused({ canary: -1 });
    assert.equal(negative.message, 'invalid configRollback input:\n  scale.canary: must be 0 or more');
    assert.equal(negative.type, 'InvalidInput');
    const tooMany = await refused({ stable: 1001 });
    assert.equal(tooMany.message, 'invalid configRollback input:\n  scale.stable: must be at most 1000');
    const unknown = await refused({ canry: 0 });
    assert.equal(unknown.message, "cannot roll back:\n  unknown scale target 'canry' in fly (did you mean 'canary'?); it has: canary, stable");
    assert.equal(unknown.type, 'InvalidInput');
    assert.deepEqual([...writesTo('fly-scale-bad-stable'), ...writesTo('fly-scale-bad-canary')], []);
    assert.deepEqual(counts('fly-scale-bad'), { stable: 2, canary: 2 });
  });
});

/** Every byte string decoded as UTF-8 text (payloads are JSON), the rest as it is: no toJSON turns bytes into base64 first. */
function decoded(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(decoded);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decoded(v)]));
  return value;
}

/** The workflow's whole history as the server keeps it, payloads decoded to their JSON text. */
async function historyText(handle: WorkflowHandle): Promise<string> {
  return JSON.stringify(decoded(await handle.fetchHistory()));
}

describe('the secret action (fly secrets set) in a phaseRollback, against the Fly Machines API emulator', () => {
  const APP_PREFIX = 'clinic';
  const OLD_VALUE = 'dual-lane-9f8e7d6c';
  const NEW_VALUE = 'single-lane-3c4d5e6f';
  const FAILS = { command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true };

  before(() => {
    // The worker's environment, where the runbook's secret actions find their values.
    t.secrets.ROUTING_MODE_SINGLE = NEW_VALUE;
    t.secrets.ROUTING_MODE_DUAL = OLD_VALUE;
  });

  /** App `<name>-app` (runbook version stable) with 3 started Machines; ROUTING_MODE set a day ago to OLD_VALUE. */
  function system(name: string, rollback: Record<string, unknown>[]): string {
    const app = `${APP_PREFIX}-${name}`;
    fly.addApp(app);
    fly.secrets.seed(app, 'ROUTING_MODE', OLD_VALUE);
    for (let i = 0; i < 3; i++) fly.addMachine(app, { image: STABLE_IMAGE });
    addMinimalRunbook(t, name, {
      providers: { fly: { provider: 'fly-machines', settings: flySettings({ stable: app }) }, scripts: { provider: 'command', settings: {} } },
      phases: [{ id: 3, name: 'Dual-lane routing', rollback, verify: false }],
    });
    return app;
  }
  const phase3 = (name: string) => startRollback(t, { system: name, phases: [3], reason: 'seed 000 phase 3: route all traffic through a single lane', requestedBy: 'alice', baselineSeconds: 0 }, undefined, 'phaseRollback');
  const secretSets = (app: string) => count('POST', new RegExp(`^/v1/apps/${app}/secrets/ROUTING_MODE$`));
  const updatesPerMachine = (app: string) => fly.machines(app).map((m) => count('POST', new RegExp(`^/v1/apps/${app}/machines/${m.id}$`)));
  const loaded = (app: string) => fly.machines(app).map((m) => m.loadedSecrets?.ROUTING_MODE);
  const setSingle = { secret: { target: 'stable', name: 'ROUTING_MODE', value: { env: 'ROUTING_MODE_SINGLE' }, previous: { env: 'ROUTING_MODE_DUAL' } } };

  test('set from a worker variable: written once, each Machine updated once and booted with it; the snapshot holds the digest and the value is nowhere in the history', async () => {
    const app = system('fly-secret', [setSingle]);
    const handle = await phase3('fly-secret');
    await handle.result();
    assert.deepEqual(fly.secrets.list(app).map((s) => [s.name, s.digest]), [['ROUTING_MODE', sha256Digest(NEW_VALUE)]]);
    assert.equal(secretSets(app), 1);
    assert.deepEqual(updatesPerMachine(app), [1, 1, 1]);
    assert.deepEqual(loaded(app), [sha256Digest(NEW_VALUE), sha256Digest(NEW_VALUE), sha256Digest(NEW_VALUE)]);
    assert.deepEqual(fly.machines(app).map((m) => [m.state, m.minSecretsVersion]), [['started', 2], ['started', 2], ['started', 2]], 'each booted with at least the secrets version the write made');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.snapshot?.values, [{ kind: 'app-secret', provider: 'fly', target: 'stable', name: 'ROUTING_MODE', digest: sha256Digest(OLD_VALUE), app }]);
    const step = status.steps.find((s) => s.kind === 'change');
    assert.deepEqual([step?.name, step?.outcome, step?.description], ['phase-3/secret ROUTING_MODE of stable', 'succeeded', `secret ROUTING_MODE of stable (fly): set (digest ${sha256Digest(OLD_VALUE).slice(0, 12)}) -> set from $ROUTING_MODE_SINGLE`]);
    const history = await historyText(handle);
    assert.ok(history.includes('ROUTING_MODE_SINGLE') && history.includes(sha256Digest(OLD_VALUE)), 'the payloads were decoded: the variable name and the digest are there');
    assert.ok(!history.includes(NEW_VALUE), 'the new value is not in the workflow history');
    assert.ok(!history.includes(OLD_VALUE), 'nor the old one');
    assert.ok(!JSON.stringify(status).includes(NEW_VALUE), 'nor in the status');
  });

  test('a later step fails: compensation sets the old value back from previous: {env}, the digest as before, each Machine updated again', async () => {
    const app = system('fly-secret-undo', [setSingle, FAILS]);
    const handle = await phase3('fly-secret-undo');
    const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
    assert.equal(waiting.pendingDecision?.step, `phase-3/command ${process.execPath}`);
    assert.equal(fly.secrets.list(app)[0]?.digest, sha256Digest(NEW_VALUE));
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.deepEqual(fly.secrets.list(app).map((s) => [s.name, s.digest]), [['ROUTING_MODE', sha256Digest(OLD_VALUE)]], 'the digest as before');
    assert.equal(secretSets(app), 2);
    assert.deepEqual(updatesPerMachine(app), [2, 2, 2]);
    assert.deepEqual(loaded(app), [sha256Digest(OLD_VALUE), sha256Digest(OLD_VALUE), sha256Digest(OLD_VALUE)]);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(status.steps.find((s) => s.name === 'phase-3/secret ROUTING_MODE of stable')?.outcome, 'compensated');
    const history = await historyText(handle);
    assert.ok(!history.includes(NEW_VALUE) && !history.includes(OLD_VALUE), 'neither value is in the history');
  });

  test('without previous, a secret that existed cannot be put back: compensation says so under Not restored, with the command to run by hand', async () => {
    const app = system('fly-secret-noway', [{ secret: { target: 'stable', name: 'ROUTING_MODE', value: { env: 'ROUTING_MODE_SINGLE' } } }, FAILS]);
    const handle = await phase3('fly-secret-noway');
    await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.equal(fly.secrets.list(app)[0]?.digest, sha256Digest(NEW_VALUE), 'still the new value: nothing could put the old one back');
    assert.equal(secretSets(app), 1);
    const status = await handle.query(statusQuery);
    const notRestored = `phase-3/secret ROUTING_MODE of stable: not undone: fly keeps no earlier values of secret ROUTING_MODE, and the runbook names none (previous: {env: VAR}); set it again by hand (fly secrets set ROUTING_MODE=... -a ${app})`;
    assert.deepEqual(status.compensationFailures, [notRestored]);
    assert.equal(status.steps.find((s) => s.name === 'phase-3/secret ROUTING_MODE of stable')?.outcome, 'compensation_failed');
    assert.ok(status.report?.includes(`## Not restored\n\n- ${notRestored}`), status.report ?? 'no report');
  });

  test('a variable not set on the worker is a blocker named in the refusal, and nothing is written', async () => {
    const app = system('fly-secret-unset-var', [{ secret: { target: 'stable', name: 'ROUTING_MODE', value: { env: 'ROUTING_MODE_NOWHERE' } } }]);
    const failure = await failureOf((await phase3('fly-secret-unset-var')).result());
    assert.equal(failure.message, "cannot roll back:\n  secret ROUTING_MODE of stable: environment variable ROUTING_MODE_NOWHERE is not set on the worker (clear it: set ROUTING_MODE_NOWHERE in the worker's environment and restart it)");
    assert.equal(failure.type, 'InvalidInput');
    assert.deepEqual(writesTo(app), []);
  });

  test('a secret value typed into a configRollback is refused without being echoed', async () => {
    addMinimalRunbook(t, 'fly-secret-typed', { providers: { fly: { provider: 'fly-machines', settings: flySettings({ stable: 'clinic-fly-secret-typed' }) } } });
    const handle = await startRollback(t, { system: 'fly-secret-typed', reason: 'paste', requestedBy: 'alice', secrets: { ROUTING_MODE: NEW_VALUE } }, undefined, 'configRollback');
    const failure = await failureOf(handle.result());
    assert.equal(failure.message, 'invalid configRollback input:\n  secrets.ROUTING_MODE: must be "previous" or a version number; a secret\'s value never goes into a rollback input (it would stay in the workflow history)');
    assert.equal(failure.type, 'InvalidInput');
    assert.ok(!JSON.stringify(failure.details).includes(NEW_VALUE), 'not in the failure details');
    const status = await handle.query(statusQuery).catch(() => null);
    assert.ok(!JSON.stringify(status).includes(NEW_VALUE), 'not in the status');
  });
});

describe('the release action (fly deploy --image) in a phaseRollback, against the Fly Machines API emulator', () => {
  /** Images of app `a` by deployment tag: V0 oldest, V2 serving. */
  const image = (app: string, tag: string) => `registry.fly.io/${app}:deployment-${tag}`;
  const DIGEST = `sha256:${'c4'.repeat(32)}`;
  const FAILS = { command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true };

  /** App `<name>` (runbook version stable): 3 started Machines on V2 that ran `history` before (oldest first). */
  function system(name: string, rollback: Record<string, unknown>[], options: { history?: string[]; gates?: Record<string, unknown> } = {}): { app: string; current: string } {
    const app = name;
    fly.addApp(app);
    const history = options.history ?? [image(app, 'V0'), image(app, 'V1')];
    for (let i = 0; i < 3; i++) fly.addMachine(app, { image: image(app, 'V2'), history });
    addMinimalRunbook(t, name, {
      providers: { fly: { provider: 'fly-machines', settings: flySettings({ stable: app }) }, scripts: { provider: 'command', settings: {} } },
      phases: [{ id: 2, name: 'LangGraph extraction', rollback, verify: false }],
      ...(options.gates ? { gates: options.gates } : {}),
    });
    // The serving release is named by its image and the digest Fly resolved it to.
    return { app, current: `${image(app, 'V2')} (${fly.machines(app)[0]!.image_ref.digest})` };
  }
  const phase2 = (name: string, extra: Record<string, unknown> = {}) =>
    startRollback(t, { system: name, phases: [2], reason: 'seed 000 phase 2: deploy stable', requestedBy: 'alice', baselineSeconds: 0, ...extra }, undefined, 'phaseRollback');
  const images = (app: string) => fly.machines(app).map((m) => m.config.image);
  const updatesPerMachine = (app: string) => fly.machines(app).map((m) => count('POST', new RegExp(`^/v1/apps/${app}/machines/${m.id}$`)));
  const releaseStep = (status: RollbackStatus) => status.steps.find((s) => s.name === 'phase-2/release stable');

  test('to a named image: every Machine updated once to it and started', async () => {
    const { app, current } = system('fly-release', [{ release: { target: 'stable', to: image('fly-release', 'V1') } }]);
    const handle = await phase2('fly-release');
    await handle.result();
    assert.deepEqual(images(app), Array(3).fill(image(app, 'V1')));
    assert.deepEqual(fly.machines(app).map((m) => m.state), ['started', 'started', 'started']);
    assert.deepEqual(updatesPerMachine(app), [1, 1, 1]);
    const step = releaseStep(await handle.query(statusQuery));
    assert.deepEqual([step?.outcome, step?.description], ['succeeded', `release of stable (fly): ${current} -> ${image(app, 'V1')}`]);
  });

  test('to a digest: the release pinned to it, found among those the Machines ran', async () => {
    const pinned = `registry.fly.io/fly-release-digest@${DIGEST}`;
    const { app, current } = system('fly-release-digest', [{ release: { target: 'stable', to: DIGEST } }], { history: [pinned, image('fly-release-digest', 'V1')] });
    const handle = await phase2('fly-release-digest');
    await handle.result();
    assert.deepEqual(images(app), [pinned, pinned, pinned]);
    assert.deepEqual(updatesPerMachine(app), [1, 1, 1]);
    assert.equal(releaseStep(await handle.query(statusQuery))?.description, `release of stable (fly): ${current} -> ${pinned} (${DIGEST})`);
  });

  test("a dry run shows current -> target read live (seed 000's fly deploy --image app@sha256:HASH, deployed new) and changes nothing", async () => {
    const fresh = `registry.fly.io/fly-release-dry@sha256:${'9e'.repeat(32)}`;
    const { app, current } = system('fly-release-dry', [{ release: { target: 'stable', to: fresh } }]);
    const handle = await phase2('fly-release-dry', { dryRun: true });
    const result = (await handle.result()) as ChangeRollbackResult;
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.plan.sets.flatMap((s) => s.changes.map((c) => [c.name, c.target, c.from, c.to, c.changes])), [['phase-2/release stable', 'release of stable (fly)', current, `${fresh} (deployed new)`, true]]);
    assert.deepEqual(result.blockers, []);
    assert.deepEqual(writesTo(app), []);
    assert.deepEqual(images(app), Array(3).fill(image(app, 'V2')));
  });

  test('a release name that does not exist is refused naming the last 10 releases, and nothing changes', async () => {
    const history = Array.from({ length: 11 }, (_, i) => image('fly-release-v41', `A${String(i).padStart(2, '0')}`));
    const { app, current } = system('fly-release-v41', [{ release: { target: 'stable', to: 'v41' } }], { history });
    const failure = await failureOf((await phase2('fly-release-v41')).result());
    const newestFirst = [...history].reverse().slice(0, 9);
    assert.equal(failure.message, `cannot roll back:\n  release 'v41' of stable not found on fly; the last 10 it has: ${[current, ...newestFirst].join(', ')}`);
    assert.equal(failure.type, 'InvalidInput');
    assert.deepEqual(writesTo(app), []);
  });

  test('with a before-release-stable gate it waits for approval before rolling; approved, it rolls', async () => {
    const { app, current } = system('fly-release-gate', [{ release: { target: 'stable', to: image('fly-release-gate', 'V1') } }], { gates: { 'before-release-stable': { role: 'oncall', timeoutSeconds: 120 } } });
    const handle = await phase2('fly-release-gate');
    const waiting = await waitForStatus(handle, (s) => s.pendingGate !== null, 120_000);
    assert.equal(waiting.pendingGate?.gate, 'before-release-stable');
    assert.equal(waiting.pendingGate?.before, `release of stable (fly): ${current} -> ${image(app, 'V1')}`);
    assert.deepEqual(writesTo(app), [], 'nothing rolled before the approval');
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.deepEqual(images(app), Array(3).fill(image(app, 'V1')));
    assert.deepEqual(updatesPerMachine(app), [1, 1, 1]);
  });

  test('a later step fails: compensation rolls the Machines back to the image that served', async () => {
    const { app } = system('fly-release-undo', [{ release: { target: 'stable', to: image('fly-release-undo', 'V1') } }, FAILS]);
    const handle = await phase2('fly-release-undo');
    await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
    assert.deepEqual(images(app), Array(3).fill(image(app, 'V1')));
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.deepEqual(images(app), Array(3).fill(image(app, 'V2')));
    assert.deepEqual(fly.machines(app).map((m) => m.state), ['started', 'started', 'started']);
    assert.deepEqual(updatesPerMachine(app), [2, 2, 2]);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(releaseStep(status)?.outcome, 'compensated');
  });

  test('the runbook loader refuses a before-release-<target> gate for a target no release rolls, naming the targets', () => {
    const doc = {
      system: 'fly-release-typo',
      approvers: { oncall: ['alice', 'bob'] },
      rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
      providers: { fly: { provider: 'fly-machines', settings: { apps: { stable: 'clinic-app', canary: 'clinic-app-canary' }, tokenEnv: 'FLY_API_TOKEN' } } },
      phases: [{ id: 2, name: 'LangGraph extraction', rollback: [{ release: { target: 'stable', to: 'previous' } }, { release: { target: 'canary', to: 'previous' } }] }],
      gates: { 'before-release-stabel': { role: 'oncall' } },
    };
    assert.throws(() => parseRunbook(stringify(doc), 'runbooks/fly-release-typo.yaml'), {
      name: 'RunbookError',
      message: "runbooks/fly-release-typo.yaml: gates.before-release-stabel: gate before-release-stabel names release target 'stabel', which no release action or release section of this runbook rolls (did you mean 'stable'?) (its release targets: canary, stable)",
    });
  });
});

describe("a watchdog's scaleAndAlert through the fly provider it names, against the Fly Machines API emulator", () => {
  let metrics: Server;
  let metricsUrl: string;
  /** The gauge the rule watches, as the app's /metrics exposes it. */
  let memory = 0.5;

  before(async () => {
    metrics = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE memory_usage_ratio gauge\nmemory_usage_ratio{app="clinic-watched-stable"} ${memory}\n`);
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => metrics.once('listening', resolve));
    metricsUrl = `http://127.0.0.1:${(metrics.address() as AddressInfo).port}/metrics`;
  });
  after(() => metrics?.close());

  async function watchUntil(handle: WorkflowHandle, predicate: (s: WatchdogStatus) => boolean, timeoutMs = 90_000): Promise<WatchdogStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: WatchdogStatus | undefined;
    while (Date.now() < deadline) {
      last = await handle.query(watchdogStatusQuery);
      if (predicate(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.fail(`watchdog condition not reached in ${timeoutMs} ms; last status: ${JSON.stringify(last, null, 2)}`);
  }

  test("seed 000's memory > 95%: the breach scales the Fly app's Machines to 4 through providers.fly; resolved before the deadline, no rollback", async () => {
    const name = 'fly-watched';
    addApps(name, { stable: 2, canary: 1 });
    addMinimalRunbook(t, name, {
      traffic: { provider: 'fly-machines', settings: flySettings({ stable: `${name}-stable`, canary: `${name}-canary` }), stableInstances: 3 },
      providers: { fly: { provider: 'fly-machines', settings: flySettings({ stable: `${name}-stable`, canary: `${name}-canary` }) } },
      health: { metrics: { provider: 'prometheus', settings: { url: metricsUrl, requestsMetric: 'http_requests_total', latencyMetric: 'http_request_duration_seconds' } }, windowSeconds: 1 },
      watch: {
        intervalSeconds: 1,
        rules: [{ name: 'memory', gauge: 'memory_usage_ratio', above: 0.95, consecutive: 2, action: { scaleAndAlert: { version: 'stable', provider: 'fly', instances: 4, deadlineSeconds: 600, thenRollback: 'immediate' } } }],
      },
    });
    const watchdog = await t.env.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId: watchdogWorkflowId(name), args: [{ system: name, startedBy: 'alice' }] });
    t.started.push(watchdog);
    try {
      const calm = await watchUntil(watchdog, (s) => s.evaluationsTotal >= 1);
      assert.equal(calm.rules[0]?.last?.detail, 'memory_usage_ratio 0.5, at most 0.95');
      memory = 0.97;
      const scaled = await watchUntil(watchdog, (s) => s.state === 'following');
      assert.equal(scaled.following?.what, 'scaled stable to 4; immediate fullRollback if still breached at the deadline');
      assert.deepEqual(counts(name), { stable: 4, canary: 1 }, 'stable scaled through the provider; the canary untouched');
      assert.equal(count('POST', new RegExp(`^/v1/apps/${name}-stable/machines$`)), 2);
      assert.deepEqual(writesTo(`${name}-canary`), []);
      memory = 0.5;
      const resolved = await watchUntil(watchdog, (s) => s.state === 'watching' && s.actions[0]?.outcome != null);
      assert.equal(resolved.actions.length, 1);
      assert.equal(resolved.actions[0]!.outcome, 'resolved before the deadline');
      assert.equal(resolved.actions[0]!.workflowId, null, 'no rollback started');
      assert.deepEqual(counts(name), { stable: 4, canary: 1 });
    } finally {
      memory = 0.5;
      await watchdog.cancel();
    }
  });
});
