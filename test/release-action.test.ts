/**
 * The release action (seed 001's "Render Rollback": a service's deploys, "Rollback to this deploy";
 * "Railway Rollback": pick the last known good deployment) through the real worker on a Temporal dev
 * server, against emulators of the Render REST API (test/emulators/render.ts) and Railway's public
 * GraphQL API (test/emulators/railway.ts):
 * - in a phaseRollback: rolled to a chosen deploy id (not the previous one), its dry run planning
 *   current -> chosen as read live, an unknown id refused naming the last ten releases, the
 *   before-release-<target> gate waited at, and compensation rolling back to what served;
 * - in a fullRollback: the release section's `targets: [{target, to: <deploy id>}]` rolled to the
 *   deploy named, and an unknown one refused before anything changes, naming those that exist.
 *
 * References: https://api-docs.render.com/reference/rollback-deploy, .../list-deploys,
 * .../retrieve-deploy; https://docs.railway.com/integrations/api/manage-deployments.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ChangeRollbackResult, FullRollbackResult } from '../src/contract/index.ts';
import { approveSignal, decideSignal, statusQuery } from '../src/contract/messages.ts';
import { RailwayEmulator, type RailwayDeployment } from './emulators/railway.ts';
import { RenderEmulator, type RenderDeploy } from './emulators/render.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const RENDER_KEY = 'rnd_releaseActionKey4b1e';
const RAILWAY_TOKEN = 'rw-release-action-9c2f';

let t: RollbackTestEnv;
let render: RenderEmulator;
let railway: RailwayEmulator;
let health: Server;
let healthUrl: string;

before(async () => {
  t = await startRollbackTestEnv();
  render = await new RenderEmulator(RENDER_KEY).start();
  railway = await new RailwayEmulator(RAILWAY_TOKEN).start();
  health = createServer((_req, res) => res.writeHead(200).end('ok')).listen(0, '127.0.0.1');
  await new Promise((resolve) => health.once('listening', resolve));
  healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}/health`;
  Object.assign(t.secrets, { RENDER_API_KEY: RENDER_KEY, RAILWAY_API_TOKEN: RAILWAY_TOKEN });
});
after(async () => {
  await render?.stop();
  await railway?.stop();
  health?.close();
  await t?.stop();
});

/** A release as plans and refusals name it: "dep-... (b4d5e6f Switch TTS provider)". */
const named = (d: { id: string; commit?: { id: string; message: string } }) => `${d.id} (${d.commit!.id.slice(0, 7)} ${d.commit!.message.split('\n')[0]})`;
const start = (system: string, extra: Record<string, unknown> = {}) =>
  startRollback(t, { system, phases: [1], reason: 'seed 001: voice replies time out since the TTS switch', requestedBy: 'alice', baselineSeconds: 0, ...extra }, undefined, 'phaseRollback');

interface RenderService {
  srv: string;
  /** The first deploy (the one chosen), the one before the live one (previous), and the live one. */
  initial: RenderDeploy;
  good: RenderDeploy;
  bad: RenderDeploy;
  settings: Record<string, unknown>;
}

/** A Render service that went live as initial, then `between` more deploys, then good, then bad (live). */
function renderService(name: string, between = 0): RenderService {
  const srv = render.addService({ name, autoDeploy: 'no' }).id;
  const initial = render.addDeploy(srv, { status: 'deactivated', minutesAgo: 600, commit: '0f0e0d0c0b0a09080706050403020100ffeeddcc', message: 'Initial voice companion' });
  for (let n = 1; n <= between; n++) render.addDeploy(srv, { status: 'deactivated', minutesAgo: 600 - n, commit: `${String(n).padStart(2, '0')}aa${'0'.repeat(36)}`, message: `Tune prompts ${n}` });
  render.addDeploy(srv, { status: 'build_failed', minutesAgo: 200, commit: 'c0ffee00112233445566778899aabbccddeeff00', message: 'Bump deps' });
  const good = render.addDeploy(srv, { status: 'deactivated', minutesAgo: 120, commit: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', message: 'Add voice input retries\n\nRetries twice.' });
  const bad = render.addDeploy(srv, { status: 'live', minutesAgo: 30, commit: 'b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', message: 'Switch TTS provider' });
  return { srv, initial, good, bad, settings: { services: { api: srv }, baseUrl: `${render.url}/v1`, tokenEnv: 'RENDER_API_KEY', pollIntervalMs: 10 } };
}

/** A runbook whose phase 1 rolls Render target `api` to `to`, then runs `after`. */
function renderPhase(system: string, service: RenderService, to: string, options: { after?: Record<string, unknown>[]; gates?: Record<string, unknown> } = {}): void {
  addMinimalRunbook(t, system, {
    providers: { render: { provider: 'render', settings: service.settings }, scripts: { provider: 'command', settings: {} } },
    phases: [{ id: 1, name: 'TTS provider switch', rollback: [{ release: { target: 'api', to }, provider: 'render' }, ...(options.after ?? [])], verify: false }],
    ...(options.gates ? { gates: options.gates } : {}),
  });
}

const rollbacksOf = (srv: string) => render.calls('POST', new RegExp(`/services/${srv}/rollback$`)).map((r) => (r.body as { deployId: string }).deployId);
const liveOf = (srv: string) => render.deploysOf(srv).find((d) => d.status === 'live')!;

describe('release action on Render (emulator) in a phaseRollback', { timeout: 240_000 }, () => {
  test('rolls api to the chosen deploy, two back, not the previous one: one rollback sent, its new deploy live with the chosen build', async () => {
    const service = renderService('rose-chosen');
    renderPhase('render-chosen', service, service.initial.id);
    const handle = await start('render-chosen');
    await handle.result();
    assert.deepEqual(rollbacksOf(service.srv), [service.initial.id]);
    const live = liveOf(service.srv);
    assert.equal(live.trigger, 'rollback');
    assert.deepEqual(live.commit, service.initial.commit, 'the chosen deploy\'s build serves');
    assert.equal(render.deploysOf(service.srv).find((d) => d.id === service.bad.id)!.status, 'deactivated');
    const status = await handle.query(statusQuery);
    const step = status.steps.find((s) => s.name === 'phase-1/release api');
    assert.equal(step?.outcome, 'succeeded', JSON.stringify(status.steps));
    assert.equal(step?.description, `release of api (render): ${named(service.bad)} -> ${named(service.initial)}`);
    assert.ok(status.report?.includes(`- rolled api to ${named(service.initial)} (render)`), status.report ?? 'no report');
  });

  test('a dry run plans current -> chosen as read live, and changes nothing; a newer deploy is planned from on the next dry run', async () => {
    const service = renderService('rose-dry');
    renderPhase('render-dry', service, service.good.id);
    const plan = async () => {
      const result = (await (await start('render-dry', { dryRun: true })).result()) as ChangeRollbackResult;
      assert.equal(result.dryRun, true);
      assert.deepEqual(result.blockers, []);
      return result.plan.sets.flatMap((s) => s.changes.map((c) => ({ name: c.name, target: c.target, from: c.from, to: c.to, changes: c.changes })));
    };
    assert.deepEqual(await plan(), [{ name: 'phase-1/release api', target: 'release of api (render)', from: named(service.bad), to: named(service.good), changes: true }]);
    // Someone pushes a fix meanwhile: the plan starts from what is live now.
    render.deploysOf(service.srv).find((d) => d.id === service.bad.id)!.status = 'deactivated';
    const fix = render.addDeploy(service.srv, { status: 'live', minutesAgo: 1, commit: 'f1f2f3f4f5f6f7f8f9f0e1e2e3e4e5e6e7e8e9e0', message: 'Retry TTS once' });
    assert.deepEqual((await plan()).map((c) => `${c.from} -> ${c.to}`), [`${named(fix)} -> ${named(service.good)}`]);
    assert.deepEqual(render.writes().filter((r) => r.path.includes(service.srv)), [], 'nothing sent');
  });

  test('an unknown deploy id is refused before anything is sent, naming the last 10 releases that went live, newest first', async () => {
    const service = renderService('rose-unknown', 10);
    renderPhase('render-unknown', service, 'dep-d0esn0tex1st000000');
    const failure = await failureOf(start('render-unknown').then((h) => h.result()));
    const wentLive = render.deploysOf(service.srv).filter((d) => d.status === 'live' || d.status === 'deactivated');
    assert.equal(wentLive.length, 13);
    const listed = wentLive.slice(0, 10).map(named);
    assert.equal(listed[0], named(service.bad));
    assert.equal(listed[1], named(service.good));
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(failure.message, `cannot roll back:\n  release 'dep-d0esn0tex1st000000' of api not found on render; the last 10 it has: ${listed.join(', ')}`);
    assert.deepEqual(rollbacksOf(service.srv), []);
    assert.equal(liveOf(service.srv).id, service.bad.id);
  });

  test('the before-release-api gate holds the rollback until approved, then it rolls', async () => {
    const service = renderService('rose-gate');
    renderPhase('render-gate', service, service.initial.id, { gates: { 'before-release-api': { role: 'oncall', timeoutSeconds: 60 } } });
    const handle = await start('render-gate');
    const waiting = await waitForStatus(handle, (s) => s.pendingGate !== null, 60_000);
    assert.equal(waiting.pendingGate?.gate, 'before-release-api');
    assert.deepEqual(waiting.pendingGate?.approvers, ['alice', 'bob']);
    assert.deepEqual(rollbacksOf(service.srv), [], 'nothing rolled while waiting');
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.deepEqual(rollbacksOf(service.srv), [service.initial.id]);
    assert.deepEqual(liveOf(service.srv).commit, service.initial.commit);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.steps.filter((s) => s.name === 'gate:before-release-api' || s.name === 'phase-1/release api').map((s) => `${s.name}:${s.outcome}`), ['gate:before-release-api:succeeded', 'phase-1/release api:succeeded']);
    assert.ok(status.events.some((e) => e.kind === 'approved' && e.by === 'bob' && e.gate === 'before-release-api'), JSON.stringify(status.events));
  });

  test('a later step fails: compensation rolls api back to the deploy that served, whose build is live again', async () => {
    const service = renderService('rose-undo');
    renderPhase('render-undo', service, service.initial.id, { after: [{ command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true }] });
    const handle = await start('render-undo');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 60_000);
    assert.equal(waiting.pendingDecision?.step, `phase-1/command ${process.execPath}`);
    assert.deepEqual(liveOf(service.srv).commit, service.initial.commit);
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.deepEqual(rollbacksOf(service.srv), [service.initial.id, service.bad.id], 'to the chosen deploy, then back to the one that served');
    const live = liveOf(service.srv);
    assert.equal(live.trigger, 'rollback');
    assert.deepEqual(live.commit, service.bad.commit, 'what served before the rollback serves again');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(status.steps.find((s) => s.name === 'phase-1/release api')?.outcome, 'compensated');
  });
});

describe('release section of a fullRollback on Render (emulator): targets [{target, to}]', { timeout: 120_000 }, () => {
  const fullRunbook = (system: string, service: RenderService, to: string) =>
    addMinimalRunbook(t, system, {
      release: { provider: 'render', settings: service.settings, targets: [{ target: 'api', to }] },
      health: { checks: [{ name: 'api', url: healthUrl }], windowSeconds: 1 },
    });

  test('rolls api to the deploy named, not the previous one, and verifies health', async () => {
    const service = renderService('rose-full');
    fullRunbook('render-full', service, service.initial.id);
    const handle = await startRollback(t, { system: 'render-full', mode: 'immediate', reason: 'seed 001: back to the first release', requestedBy: 'alice' });
    const result = (await handle.result()) as FullRollbackResult;
    assert.deepEqual(result.plan.steps.map((s) => s.description), ['roll api back from b4d5e6f Switch TTS provider to 0f0e0d0 Initial voice companion']);
    assert.deepEqual(rollbacksOf(service.srv), [service.initial.id]);
    assert.deepEqual(liveOf(service.srv).commit, service.initial.commit);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.snapshot?.releases?.map((r) => [r.target, r.current?.id, r.previous?.id]), [['api', service.bad.id, service.initial.id]]);
    assert.equal(status.healthAfter?.passed, true);
  });

  test('an unknown deploy id is refused before anything changes, naming what exists', async () => {
    const service = renderService('rose-full-unknown');
    fullRunbook('render-full-unknown', service, 'dep-n0such0ne0000000');
    const failure = await failureOf(startRollback(t, { system: 'render-full-unknown', mode: 'immediate', reason: 'seed 001', requestedBy: 'alice' }).then((h) => h.result()));
    assert.equal(failure.type, 'InvalidRunbook');
    assert.equal(failure.message, `nothing was changed: api: release 'dep-n0such0ne0000000' of api not found; the last 10 it has: ${[service.bad, service.good, service.initial].map(named).join(', ')}`);
    assert.deepEqual(rollbacksOf(service.srv), []);
    assert.equal(liveOf(service.srv).id, service.bad.id);
  });
});

describe('release action on Railway (emulator) in a phaseRollback', { timeout: 120_000 }, () => {
  /** A Railway service that served initial, then good, then bad (live), with a failed build between. */
  function railwayService(system: string) {
    const where = { serviceId: randomUUID(), environmentId: randomUUID() };
    const initial = railway.addDeployment({ ...where, status: 'REMOVED', minutesAgo: 600, commit: '0f0e0d0c0b0a09080706050403020100ffeeddcc', message: 'Initial voice companion' });
    const good = railway.addDeployment({ ...where, status: 'REMOVED', minutesAgo: 120, commit: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', message: 'Add voice input retries' });
    railway.addDeployment({ ...where, status: 'FAILED', minutesAgo: 60, commit: 'c0ffee00112233445566778899aabbccddeeff00', message: 'Bump deps' });
    const bad = railway.addDeployment({ ...where, status: 'SUCCESS', minutesAgo: 30, commit: 'b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', message: 'Switch TTS provider' });
    const phase = (to: string) =>
      addMinimalRunbook(t, system, {
        providers: { railway: { provider: 'railway', settings: { services: { api: where }, baseUrl: `${railway.url}/graphql/v2`, tokenEnv: 'RAILWAY_API_TOKEN', pollIntervalMs: 10 } } },
        phases: [{ id: 1, name: 'TTS provider switch', rollback: [{ release: { target: 'api', to }, provider: 'railway' }], verify: false }],
      });
    const of = () => railway.deployments.filter((d) => d.serviceId === where.serviceId);
    return { initial, good, bad, phase, of };
  }
  const label = (d: RailwayDeployment) => `${d.id} (${String(d.meta.commitHash).slice(0, 7)} ${String(d.meta.commitMessage)})`;
  const rollbacksTo = (ids: string[]) => railway.mutations('deploymentRollback').map((r) => (r.body as { variables: { id: string } }).variables.id).filter((id) => ids.includes(id));

  test('rolls api to the chosen deployment (two back): one deploymentRollback, its new deployment SUCCESS with the chosen commit', async () => {
    const service = railwayService('railway-chosen');
    service.phase(service.initial.id);
    const handle = await start('railway-chosen');
    await handle.result();
    assert.deepEqual(rollbacksTo(service.of().map((d) => d.id)), [service.initial.id]);
    const live = service.of().filter((d) => d.status === 'SUCCESS');
    assert.equal(live.length, 1);
    assert.equal(live[0]!.meta.commitHash, service.initial.meta.commitHash);
    assert.equal(live[0]!.meta.reason, 'rollback');
    assert.equal(service.bad.status, 'REMOVED');
    const step = (await handle.query(statusQuery)).steps.find((s) => s.name === 'phase-1/release api');
    assert.equal(step?.description, `release of api (railway): ${label(service.bad)} -> ${label(service.initial)}`);
  });

  test('an unknown deployment id is refused before anything is sent, naming the deployments that served', async () => {
    const service = railwayService('railway-unknown');
    const unknown = randomUUID();
    service.phase(unknown);
    const failure = await failureOf(start('railway-unknown').then((h) => h.result()));
    assert.equal(failure.message, `cannot roll back:\n  release '${unknown}' of api not found on railway; the last 10 it has: ${[service.bad, service.good, service.initial].map(label).join(', ')}`);
    assert.deepEqual(rollbacksTo(service.of().map((d) => d.id)), []);
    assert.equal(service.bad.status, 'SUCCESS');
  });
});
