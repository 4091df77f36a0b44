/**
 * rollbackDrill on a platform other than the sandbox, through the real worker on a Temporal dev server,
 * against the Fly Machines API emulator (test/emulators/fly-machines.ts; API reference:
 * https://fly.io/docs/machines/api/machines-resource/):
 * - a live drill defined in a production runbook, run against its staging system: the scenario deploys a
 *   known-bad image to the staging canary through the release action (`fly deploy --image`), the staging
 *   runbook has no watch rules so the drill starts the fullRollback itself, the rollback rolls the
 *   canary back, health is verified, the scenario's undo runs and every stage is scored against the rto;
 * - the undo runs when the rollback does not finish (a gate the drill may not pass);
 * - a read-only production drill: gates and channels checked, a dry run reading every Machine, no write;
 * - the schema's refusals, with their exact messages.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { TASK_QUEUE, type DrillResult } from '../src/contract/index.ts';
import { statusQuery } from '../src/contract/messages.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { FlyMachinesEmulator } from './emulators/fly-machines.ts';
import { addMinimalRunbook, failureOf, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const TOKEN = 'fo1_test_drill_platforms_7c2d';
const image = (app: string, tag: string) => `registry.fly.io/${app}:deployment-${tag}`;
/** The known-bad build, pinned by digest as a release manager would name it. */
const badImage = (app: string) => `registry.fly.io/${app}@sha256:${'ba'.repeat(32)}`;

let t: RollbackTestEnv;
let fly: FlyMachinesEmulator;
let health: Server;
let healthUrl: string;

before(async () => {
  t = await startRollbackTestEnv();
  fly = await new FlyMachinesEmulator(TOKEN).start();
  t.secrets.FLY_API_TOKEN = TOKEN;
  // The app's own health URL: 500 while any of its Machines runs the bad image, as a broken build would answer.
  health = createServer((req, res) => {
    const app = (req.url ?? '/').slice(1);
    const bad = fly.machines(app).some((m) => m.config.image === badImage(app));
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

const flySettings = (app: string) => ({ apps: { canary: app }, baseUrl: fly.url, tokenEnv: 'FLY_API_TOKEN', pollIntervalMs: 10, requestTimeoutMs: 15_000, waitTimeoutSeconds: 30 });
/** Requests to an app that change something. */
const writesTo = (app: string) => fly.requests.filter((r) => r.method !== 'GET' && r.path.startsWith(`/v1/apps/${app}/`));
const images = (app: string) => fly.machines(app).map((m) => m.config.image);

/** A Fly app (runbook version canary) with 2 started Machines on V2, which ran V0 and V1 before. */
function flyApp(app: string): void {
  fly.addApp(app);
  for (let i = 0; i < 2; i++) fly.addMachine(app, { image: image(app, 'V2'), history: [image(app, 'V0'), image(app, 'V1')] });
}

/** A Fly system's sections: a release section rolling the canary app, its provider, its health URL; no watch rules. */
const flySystem = (app: string, extra: Record<string, unknown> = {}) => ({
  providers: { fly: { provider: 'fly-machines', settings: flySettings(app) } },
  release: { provider: 'fly-machines', settings: flySettings(app), targets: ['canary'] },
  health: { checks: [{ name: 'app', url: `${healthUrl}/${app}`, timeoutMs: 15_000 }], windowSeconds: 1 },
  ...extra,
});

async function runDrill(system: string, drill: string): Promise<DrillResult> {
  const handle = await t.env.client.workflow.start('rollbackDrill', { taskQueue: TASK_QUEUE, workflowId: `drill-${system}-${drill}-${Date.now()}`, args: [{ system, drill, requestedBy: 'alice' }] });
  t.started.push(handle); // RECORD_HISTORIES keeps its history as a replay fixture
  return handle.result();
}

describe('a drill on Fly, defined in production and run against staging', { timeout: 240_000 }, () => {
  test('the bad image is deployed to the staging canary, the drill starts the rollback, the canary is rolled back and verified, the undo runs, every stage but detection is scored', async () => {
    const app = 'drill-fly-staging';
    flyApp(app);
    addMinimalRunbook(t, 'fly-staging', flySystem(app));
    addMinimalRunbook(t, 'fly-prod', {
      ...flySystem('drill-fly-prod-unused'),
      drills: {
        'bad-canary': { system: 'fly-staging', scenario: { action: { release: { target: 'canary', to: badImage(app) } } }, approver: 'alice', verifySeconds: 1, timeoutMinutes: 2 },
      },
    });
    const serving = images(app);

    const result = await runDrill('fly-prod', 'bad-canary');
    assert.equal(result.outcome, 'passed', result.why ?? '');
    assert.equal(result.target, 'fly-staging');
    assert.equal(result.detectedBy, 'drill');
    assert.equal(result.rollbackState, 'completed');
    assert.deepEqual(
      result.stages.map((s) => [s.stage, s.unscored ?? (typeof s.seconds === 'number' && s.met === true ? 'met' : `${s.seconds} s, met ${s.met}`)]),
      [
        ['detection', 'not measured: the target has no watch rules, so the drill started the rollback itself'],
        ['decision', 'met'],
        ['execution', 'met'],
        ['verification', 'met'],
        ['total', 'met'],
      ],
    );
    assert.deepEqual(result.stages.map((s) => s.targetSeconds), [300, 300, 600, 300, 1500], 'against the production runbook rto');

    // The rollback the drill started on staging rolled the canary from the bad image back to V2.
    const rollback = await t.env.client.workflow.getHandle(result.rollbackWorkflowId!).query(statusQuery);
    assert.equal(rollback.system, 'fly-staging');
    assert.equal(rollback.requestedBy, 'rollback-drill');
    assert.deepEqual(rollback.snapshot?.releases?.map((r) => [r.target, r.current?.id, r.previous?.label]), [['canary', badImage(app), image(app, 'V2')]]);
    assert.deepEqual(images(app), serving, 'the canary runs V2 again');
    // Each Machine updated twice: to the bad image (the scenario) and back (the rollback); the undo found V2 and changed nothing.
    for (const machine of fly.machines(app)) assert.equal(fly.calls('POST', new RegExp(`^/v1/apps/${app}/machines/${machine.id}$`)).length, 2, machine.id);
    assert.equal(result.undo?.failed, null);
    assert.equal(result.undo?.done.length, 1);
    assert.match(result.undo!.done[0]!, new RegExp(`^release of canary \\(fly\\): back to ${image(app, 'V2').replace(/[.]/g, '\\.')} \\(`));

    const report = readFileSync(result.reportPath!, 'utf8');
    assert.match(report, /^- \*\*Drilled system\*\*: fly-staging \(staging, in place of fly-prod\)$/m);
    assert.match(report, /^\| detection \| not scored \(not measured: the target has no watch rules, so the drill started the rollback itself\) \| 300 \| n\/a \|$/m);
    assert.match(report, /^\| execution \| \d+(\.\d)? \| 600 \| yes \|$/m);
    assert.match(report, /^## Scenario undone$/m);
    assert.ok(existsSync(result.chartPath!));
  });

  test('the undo runs when the rollback does not finish: waiting at a gate the drill may not pass, the bad image is taken away again', async () => {
    const app = 'drill-fly-gated';
    flyApp(app);
    addMinimalRunbook(t, 'fly-gated', flySystem(app, { gates: { 'before-release-canary': { role: 'oncall', timeoutSeconds: 300 } } }));
    addMinimalRunbook(t, 'fly-gated-prod', {
      ...flySystem('drill-fly-prod-unused'),
      drills: { 'bad-canary': { system: 'fly-gated', scenario: { action: { release: { target: 'canary', to: badImage(app) } } }, approver: 'alice', verifySeconds: 1, timeoutMinutes: 0.1 } },
    });
    const result = await runDrill('fly-gated-prod', 'bad-canary');
    assert.equal(result.outcome, 'failed');
    assert.equal(result.why, `the rollback ended awaiting_approval: awaiting approval from oncall (0 of 1) before roll canary back from ${badImage(app)} to ${image(app, 'V2')}; may approve: alice, bob`);
    assert.deepEqual(images(app), [image(app, 'V2'), image(app, 'V2')], 'the undo rolled the canary back from the bad image');
    assert.equal(result.undo?.failed, null);
    assert.equal(result.undo?.done.length, 1);
    const waiting = await waitForStatus(t.env.client.workflow.getHandle(result.rollbackWorkflowId!), (s) => s.state === 'awaiting_approval');
    assert.equal(waiting.pendingGate?.gate, 'before-release-canary');
    await t.env.client.workflow.getHandle(result.rollbackWorkflowId!).signal('reject', { by: 'bob', reason: 'drill over' });
  });

  test('a drill naming a system with no runbook ends at once, naming the known systems, and changes nothing', async () => {
    addMinimalRunbook(t, 'fly-typo-prod', { ...flySystem('drill-fly-prod-unused'), drills: { d: { system: 'fly-stagign', scenario: { action: { release: { target: 'canary', to: 'previous' } } }, approver: 'alice' } } });
    const handle = await t.env.client.workflow.start('rollbackDrill', { taskQueue: TASK_QUEUE, workflowId: `drill-typo-${Date.now()}`, args: [{ system: 'fly-typo-prod', drill: 'd' }] });
    t.started.push(handle);
    const failure = await failureOf(handle.result());
    assert.equal(failure.message, `drill d of fly-typo-prod names system 'fly-stagign', which has no runbook; known systems: ${[...t.runbooks.keys()].sort().join(', ')}`);
  });
});

describe('a read-only production drill of a Fly runbook', { timeout: 120_000 }, () => {
  test('checks the gates and channels, reads every Machine through a dry run, scores only the total, and writes nothing', async () => {
    const app = 'drill-fly-readonly';
    flyApp(app);
    addMinimalRunbook(t, 'fly-readonly', flySystem(app, {
      gates: { 'before-release-canary': { role: 'oncall', required: 2 } },
      drills: { production: { dryRun: true, approver: 'alice' } },
    }));
    const before = fly.requests.length;
    const result = await runDrill('fly-readonly', 'production');
    assert.equal(result.outcome, 'passed', result.why ?? '');
    assert.equal(result.injectedAt, null);
    assert.equal(result.rollbackState, 'completed');
    assert.deepEqual(result.checks, [
      { check: 'gate before-release-canary', ok: true, detail: 'role oncall: alice, bob (needs 2)' },
      { check: 'notify log', ok: true, detail: 'needs no credentials; nothing sent' },
      { check: 'fullRollback dry run', ok: true, detail: 'every target read from live state and planned; nothing changed' },
    ]);
    assert.deepEqual(result.stages.map((s) => [s.stage, s.unscored ?? null]), [
      ['detection', 'read-only: nothing injected to detect'],
      ['decision', 'read-only: gates checked for approvers, not waited at'],
      ['execution', 'read-only: planned from live state, nothing changed'],
      ['verification', 'read-only: nothing changed to verify'],
      ['total', null],
    ]);
    // Timed (a number, not left unscored) and met; a dry run on the emulator may take under 50 ms, 0.0 s to a tenth.
    assert.ok(typeof result.stages[4]!.seconds === 'number' && result.stages[4]!.seconds >= 0 && result.stages[4]!.met === true, `the dry run timed: ${result.stages[4]!.seconds} s`);
    // Read, never written: the Machines were listed, and no request changed anything.
    assert.ok(fly.requests.slice(before).some((r) => r.method === 'GET' && r.path === `/v1/apps/${app}/machines`), 'the dry run read the Machines');
    assert.deepEqual(writesTo(app), []);
    assert.deepEqual(images(app), [image(app, 'V2'), image(app, 'V2')]);
  });

  test('a runbook with phases only (no traffic or release section) is read through a phaseRollback dry run of every phase', async () => {
    const app = 'drill-fly-phases';
    flyApp(app);
    const { providers, health } = flySystem(app);
    addMinimalRunbook(t, 'fly-phases', {
      providers,
      health,
      phases: [{ id: 2, name: 'canary deploy', rollback: [{ release: { target: 'canary', to: 'previous' } }] }],
      drills: { production: { dryRun: true, approver: 'alice' } },
    });
    const result = await runDrill('fly-phases', 'production');
    assert.equal(result.outcome, 'passed', result.why ?? '');
    assert.deepEqual(result.checks?.at(-1), { check: 'phaseRollback dry run', ok: true, detail: 'every target read from live state and planned; nothing changed' });
    const dryRun = await t.env.client.workflow.getHandle(result.rollbackWorkflowId!).describe();
    assert.equal(dryRun.type, 'phaseRollback');
    assert.deepEqual(writesTo(app), []);
  });

  test('a gate with too few approvers and a channel whose credentials are not set fail the drill, naming each, and still nothing is written', async () => {
    const app = 'drill-fly-unready';
    flyApp(app);
    addMinimalRunbook(t, 'fly-unready', flySystem(app, {
      gates: { 'before-release-canary': { role: 'oncall', required: 2, forbidRequester: true } },
      notify: [{ provider: 'log' }, { provider: 'webhook', settings: { urlEnv: 'DRILL_PAGER_URL' } }],
      drills: { production: { dryRun: true, approver: 'alice' } },
    }));
    const result = await runDrill('fly-unready', 'production');
    assert.equal(result.outcome, 'failed');
    assert.deepEqual(result.checks?.filter((c) => !c.ok), [
      { check: 'gate before-release-canary', ok: false, detail: 'role oncall lists alice, bob; it needs 3 approver(s) (the requester may not approve)' },
      { check: 'notify webhook #2', ok: false, detail: 'cannot reach approvers: urlEnv DRILL_PAGER_URL is not set on the worker' },
    ]);
    assert.equal(result.why, 'read-only checks failed: gate before-release-canary: role oncall lists alice, bob; it needs 3 approver(s) (the requester may not approve); notify webhook #2: cannot reach approvers: urlEnv DRILL_PAGER_URL is not set on the worker');
    assert.deepEqual(writesTo(app), []);
  });
});

describe('drill scenarios the runbook loader refuses', () => {
  const base = {
    approvers: { oncall: ['alice', 'bob'] },
    rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
    providers: { scripts: { provider: 'command', settings: {} } },
    release: { provider: 'fly-machines', settings: { apps: { web: 'shop-web' }, tokenEnv: 'FLY_API_TOKEN' }, targets: ['web'] },
  };
  const problem = (drill: Record<string, unknown>, sections: Record<string, unknown> = {}) => {
    try {
      parseRunbook(stringify({ system: 'shop', ...base, ...sections, drills: { d: { approver: 'alice', ...drill } } }), 'runbooks/shop.yaml');
    } catch (err) {
      return (err as Error).message;
    }
    return assert.fail('the runbook loaded');
  };

  test('a command scenario without its undo', () => {
    assert.equal(problem({ scenario: { action: { command: ['fly', 'scale', 'count', '0'] } } }), 'runbooks/shop.yaml: drills.d.scenario.action.undo: a command scenario needs its undo: the drill runs it afterwards to put the target back');
  });

  test('an action no drill can undo', () => {
    assert.match(problem({ scenario: { action: { 'down-sql': 'phase-5' } } }), /drills\.d\.scenario: .*a down-sql action cannot be a drill scenario: the drill must undo what it injects; use one of release, flag, config, scale, secret, secret-version, kill-switch, command/);
  });

  test('an HTTP scenario with a credential written in its headers', () => {
    assert.match(
      problem({ scenario: { http: { request: { url: 'http://canary.internal/fault', method: 'PUT', headers: { Authorization: 'Bearer abc' }, body: { errorRatePct: 50 } }, undo: { url: 'http://canary.internal/fault', method: 'DELETE' } } } }),
      /drills\.d\.scenario\.http\.request\.headers\.Authorization: carries a credential; name the environment variable holding it under headersFromEnv \(Authorization: SOME_VARIABLE\)/,
    );
  });

  test('a drill naming its own runbook as system', () => {
    assert.equal(problem({ system: 'shop', scenario: { action: { release: { target: 'web' } } } }), 'runbooks/shop.yaml: drills.d.system: drill d names its own runbook as system: leave system: out, or name the staging system it drills');
  });

  test('a live drill of a system with neither traffic nor release section, and no staging system named', () => {
    assert.equal(
      problem({ scenario: { action: { release: { target: 'web' } } } }, { release: undefined, providers: { scripts: { provider: 'command', settings: {} } } }),
      'runbooks/shop.yaml: drills.d: drill d rehearses a fullRollback, which needs a traffic or release section (or a staging system: that has one)',
    );
  });

  test('a read-only drill loads on any runbook: no traffic, no watch rules', () => {
    const runbook = parseRunbook(stringify({ system: 'shop', ...base, drills: { production: { dryRun: true, approver: 'alice' } } }), 'runbooks/shop.yaml');
    assert.equal(runbook.drills.production?.dryRun, true);
  });
});
