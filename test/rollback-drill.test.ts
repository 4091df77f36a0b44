/**
 * rollbackDrill end to end on a real dev server, a production-wired worker and the real sandbox:
 * the drill injects its scenario through the sandbox router's fault switches, the real watchdog
 * detects it from real scrapes and starts the rollback, the drill approves as its approver, verifies,
 * puts the sandbox back, scores each stage and writes its report and chart. Schedules are created,
 * listed, triggered and paused through the operator CLI against the same server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { TASK_QUEUE, watchdogWorkflowId, type DrillResult } from '../src/contract/index.ts';
import { failureOf, runCli, startRollbackTestEnv, type RollbackTestEnv, type TestSystem } from './rollback-harness.ts';
import { statusQuery } from '../src/contract/messages.ts';

let t: RollbackTestEnv;
let runbooksDir: string;

/** A system watched every second, with a fast canary-errors drill and its production (dry-run) drill. */
async function drilledSystem(edit?: (doc: Record<string, any>) => void): Promise<TestSystem & { doc: Record<string, any> }> {
  let kept: Record<string, any> = {};
  const system = await t.newSystem((doc) => {
    doc.watch.intervalSeconds = 1;
    doc.drills['canary-errors'].scenario = { fault: { version: 'canary', errorRatePct: 100 } };
    doc.drills['canary-errors'].detectWithinMinutes = 1;
    doc.drills['canary-errors'].timeoutMinutes = 2;
    doc.drills['canary-errors'].verifySeconds = 1;
    edit?.(doc);
    kept = doc;
  });
  // The CLI reads drills and their schedules from the runbook files, as an operator's checkout has them.
  writeFileSync(join(runbooksDir, `${system.name}.yaml`), stringify(kept));
  return { ...system, doc: kept };
}

async function runDrill(system: string, drill: string, id = `drill-${system}-${drill}-${Date.now()}`) {
  const handle = await t.env.client.workflow.start('rollbackDrill', { taskQueue: TASK_QUEUE, workflowId: id, args: [{ system, drill, requestedBy: 'alice' }] });
  t.started.push(handle); // RECORD_HISTORIES keeps its history as a replay fixture
  return handle;
}

describe('rollbackDrill', { timeout: 300_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    runbooksDir = mkdtempSync(join(tmpdir(), 'drill-runbooks-'));
  });
  after(async () => {
    await t?.stop();
    rmSync(runbooksDir, { recursive: true, force: true });
  });

  test('a drill injects its fault, the watchdog detects it, the drill approves as carol, verifies, puts the sandbox back and scores every stage', async () => {
    const system = await drilledSystem();
    const before = system.sandbox.router.state();
    const result: DrillResult = await (await runDrill(system.name, 'canary-errors')).result();
    assert.equal(result.outcome, 'passed', result.why ?? '');
    assert.deepEqual(result.stages.map((s) => s.stage), ['detection', 'decision', 'execution', 'verification', 'total']);
    for (const stage of result.stages) {
      assert.equal(typeof stage.seconds, 'number', `${stage.stage} measured`);
      assert.equal(stage.met, true, `${stage.stage}: ${stage.seconds} s within ${stage.targetSeconds} s`);
    }
    const [detection, , , , total] = result.stages;
    assert.ok(detection!.seconds! >= 1 && detection!.seconds! < 15, `detection took ${detection!.seconds} s: two 1 s intervals and the start`);
    assert.equal(total!.targetSeconds, (2 + 5 + 10 + 5) * 60, 'total target: the sum of the runbook rto (minutes)');

    // The rollback the watchdog started, approved by the drill's approver at the gate it may pass.
    const rollback = await t.env.client.workflow.getHandle(result.rollbackWorkflowId!).query(statusQuery);
    assert.equal(rollback.state, 'completed');
    assert.equal(rollback.requestedBy, 'rollback-watchdog');
    assert.deepEqual(rollback.events.filter((e) => e.kind === 'approved').map((e) => [e.by, e.gate]), [['carol', 'before-cleanup']]);

    // Put back as it was, so the next drill starts clean.
    assert.deepEqual(system.sandbox.router.state(), before);
    assert.equal(system.sandbox.deployments.get('canary')!.fault.errorRatePct, 0);
    assert.deepEqual(result.restored, [
      'fault canary: 100% errors +0 ms -> 0% +0 ms',
      'instances stable: 3 -> 2',
      'instances canary: 0 -> 1',
      'weights: {"stable":100,"canary":0} -> {"stable":75,"canary":25}',
    ]);
    assert.ok(result.reportPath && existsSync(result.reportPath));
    const report = readFileSync(result.reportPath, 'utf8');
    assert.match(report, /^\| detection \| \d+(\.\d)? \| 120 \| yes \|$/m);
    assert.match(report, /!\[stage seconds per drill against the targets\]\(drills\.svg\)/);
    const chart = readFileSync(result.chartPath!, 'utf8');
    assert.match(chart, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((chart.match(/<rect x=/g) ?? []).length, 5, 'one bar per stage for one drill');
  });

  test('a production drill is a dry run: nothing injected, nothing changed, the plan timed', async () => {
    const system = await drilledSystem();
    const changes = system.sandbox.router.changes.length;
    const result: DrillResult = await (await runDrill(system.name, 'production-readonly')).result();
    assert.equal(result.outcome, 'passed', result.why ?? '');
    assert.equal(result.dryRun, true);
    assert.equal(result.injectedAt, null);
    assert.equal(result.rollbackState, 'completed');
    const total = result.stages.find((s) => s.stage === 'total')!;
    // Timed (a number, not left unscored) and met; a fast dry run may round to 0.0 s.
    assert.ok(typeof total.seconds === 'number' && total.seconds >= 0 && total.met, `the dry run timed: ${total.seconds} s`);
    assert.equal(result.stages[0]!.seconds, null, 'nothing to detect');
    assert.equal(system.sandbox.router.changes.length, changes, 'nothing changed');
    assert.deepEqual(result.restored, []);
  });

  test('a scenario no rule detects fails the drill as not detected, and the target is still put back', async () => {
    const system = await drilledSystem((doc) => {
      doc.drills['memory-only'] = { scenario: { memory: { version: 'canary', ratio: 0.99 } }, approver: 'carol', detectWithinMinutes: 0.05 };
      doc.watch.rules = doc.watch.rules.filter((r: { name: string }) => r.name !== 'memory');
    });
    const result: DrillResult = await (await runDrill(system.name, 'memory-only')).result();
    assert.equal(result.outcome, 'failed');
    assert.equal(result.why, 'not detected: the watchdog did not act within 0.05 min of the injection');
    assert.deepEqual(result.restored, ['memory canary: 0.99 -> 0.4']);
    assert.equal(result.stages[0]!.seconds, null);
  });

  test('a flag scenario is injected through the runbook\'s flags provider and the flag put back, even when no rule detects it', async () => {
    const system = await drilledSystem((doc) => {
      doc.drills['flag-flip'] = { scenario: { flag: { provider: 'flagd', name: 'legacy_entity_paths', value: true } }, approver: 'carol', detectWithinMinutes: 0.05 };
    });
    const served = async () => ((await (await fetch(`${system.sandbox.urls.router}/api/flags`)).json()) as { flags: Record<string, boolean> }).flags.legacy_entity_paths;
    assert.equal(await served(), false);
    const handle = await runDrill(system.name, 'flag-flip');
    let seenOn = false;
    for (const deadline = Date.now() + 20_000; !seenOn && Date.now() < deadline; ) seenOn = (await served()) === true;
    assert.ok(seenOn, 'the replicas served the drilled flag');
    const result: DrillResult = await handle.result();
    assert.equal(result.why, 'not detected: the watchdog did not act within 0.05 min of the injection');
    assert.deepEqual(result.restored, ['flag legacy_entity_paths: true -> false']);
    assert.equal(await served(), false, 'put back');
  });

  test('an HTTP scenario sets the fault through the router\'s admin API, the watchdog detects it, and the undo call takes it away; the rollback\'s own changes stay', async () => {
    const system = await drilledSystem((doc) => {
      doc.drills['http-fault'] = {
        scenario: {
          http: {
            request: { method: 'PUT', url: `${doc.traffic.settings.url}/admin/fault`, body: { version: 'canary', errorRatePct: 100 } },
            undo: { method: 'PUT', url: `${doc.traffic.settings.url}/admin/fault`, body: { version: 'canary', errorRatePct: 0 } },
          },
        },
        approver: 'carol',
        approveGates: ['before-cleanup'],
        detectWithinMinutes: 1,
        timeoutMinutes: 2,
        verifySeconds: 1,
      };
    });
    const result: DrillResult = await (await runDrill(system.name, 'http-fault')).result();
    assert.equal(result.outcome, 'passed', result.why ?? '');
    assert.equal(result.detectedBy, 'watchdog');
    assert.equal(typeof result.stages[0]!.seconds, 'number', 'detection measured: the watchdog acted');
    assert.equal(result.stages[0]!.unscored, undefined);
    assert.deepEqual(result.undo, { done: [`PUT ${system.sandbox.urls.router}/admin/fault: 200`], failed: null });
    assert.equal(system.sandbox.deployments.get('canary')!.fault.errorRatePct, 0, 'the undo call took the fault away');
    assert.deepEqual(result.restored, [], 'an HTTP scenario is undone by its call, not by the sandbox restore');
    assert.deepEqual(system.sandbox.router.state().weights, { stable: 100, canary: 0 }, 'what the rollback did stays: it is its outcome');
  });

  test('a fault into a version that serves no traffic is not run, saying why, and nothing is injected', async () => {
    const system = await drilledSystem();
    await fetch(`${system.sandbox.urls.router}/admin/weights`, { method: 'PUT', body: JSON.stringify({ weights: { stable: 100, canary: 0 } }) });
    const changes = system.sandbox.router.changes.length;
    const result: DrillResult = await (await runDrill(system.name, 'canary-errors')).result();
    assert.equal(result.outcome, 'failed');
    assert.equal(result.why, 'not run: canary serves no traffic (weight 0%, 1 instance(s)), so a fault there cannot be detected; put the release back as it is during a canary first');
    assert.equal(result.injectedAt, null);
    assert.equal(system.sandbox.router.changes.length, changes, 'nothing injected or changed');
  });

  test('an unknown drill, and a paused watchdog, end the drill at once naming the problem', async () => {
    const system = await drilledSystem();
    const unknown = await failureOf((await runDrill(system.name, 'nope')).result());
    assert.equal(unknown.message, `no drill 'nope' in the ${system.name} runbook; its drills: canary-errors, production-readonly`);
    const watchdog = await t.env.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId: watchdogWorkflowId(system.name), args: [{ system: system.name }] });
    await watchdog.signal('pause', { by: 'bob', reason: 'load test' });
    const paused = await failureOf((await runDrill(system.name, 'canary-errors')).result());
    assert.equal(paused.message, `the ${system.name} watchdog is paused by bob (load test): a drill of detection cannot run; resume it first`);
    assert.equal(system.sandbox.deployments.get('canary')!.fault.errorRatePct, 0, 'nothing injected');
    await watchdog.cancel();
  });

  test('the CLI schedules the drills (overlap SKIP), lists them, triggers one, pauses them, and reports the last drills with a chart', async () => {
    const system = await drilledSystem();
    process.env.RUNBOOKS_DIR = runbooksDir;
    const cli = (...args: string[]) => runCli(t.env.address, args);
    try {
      const scheduled = await cli('drill', 'schedule', '--system', system.name);
      assert.equal(scheduled.code, 0, scheduled.stderr);
      assert.match(scheduled.stdout, new RegExp(`^created rollback-drill:${system.name}:canary-errors \\(cron 0 3 \\* \\* 1; next \\d{4}-\\d\\d-\\d\\d 03:00:00Z\\)$`, 'm'));
      const described = await t.env.client.schedule.getHandle(`rollback-drill:${system.name}:canary-errors`).describe();
      assert.equal(described.policies.overlap, 'SKIP');
      const again = await cli('drill', 'schedule', '--system', system.name, '--drill', 'canary-errors');
      assert.match(again.stdout, /^updated rollback-drill:/m);

      const triggered = await cli('drill', 'trigger', '--system', system.name, '--drill', 'canary-errors');
      assert.equal(triggered.code, 0, triggered.stderr);
      let listed = await cli('drill', 'list', '--system', system.name);
      for (let deadline = Date.now() + 15_000; !/drill-/.test(listed.stdout) && Date.now() < deadline; ) listed = await cli('drill', 'list', '--system', system.name);
      assert.match(listed.stdout, /^ {2}canary-errors +cron 0 3 \* \* 1 +active +\S+ \S+ +\S+ \S+ drill-/m);
      const runId = /(drill-\S+)$/m.exec(listed.stdout)![1]!;
      const result: DrillResult = await t.env.client.workflow.getHandle(runId).result();
      assert.equal(result.outcome, 'passed', result.why ?? '');

      const paused = await cli('drill', 'pause', '--system', system.name, '--reason', 'change freeze');
      assert.equal(paused.code, 0, paused.stderr);
      assert.equal((await t.env.client.schedule.getHandle(`rollback-drill:${system.name}:canary-errors`).describe()).state.paused, true);

      const out = join(runbooksDir, 'chart.svg');
      let report = await cli('drill', 'report', '--system', system.name, '--out', out);
      for (let deadline = Date.now() + 10_000; !/canary-errors/.test(report.stdout) && Date.now() < deadline; ) report = await cli('drill', 'report', '--system', system.name, '--out', out);
      assert.equal(report.code, 0, report.stderr);
      assert.match(report.stdout, /^ {2}STARTED +DRILL +OUTCOME +DETECTION +DECISION +EXECUTION +VERIFICATION +TOTAL$/m);
      assert.match(report.stdout, /^ {2}\S+ \S+ +canary-errors +passed +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+$/m);
      assert.match(readFileSync(out, 'utf8'), /<svg/);
      const bad = await cli('drill', 'trigger', '--system', system.name);
      assert.equal(bad.code, 2);
      assert.equal(bad.stderr.split('\n')[0], 'rollback drill: missing --drill <name>');
    } finally {
      delete process.env.RUNBOOKS_DIR;
      for (const name of ['canary-errors', 'production-readonly']) await t.env.client.schedule.getHandle(`rollback-drill:${system.name}:${name}`).delete().catch(() => undefined);
    }
  });
});
