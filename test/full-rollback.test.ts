/**
 * fullRollback end to end on a real dev server, a production-wired worker and the real sandbox:
 * the router's weights, instance counts and change log are checked afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolveTemporalCli } from '../scripts/temporal-cli.ts';
import { searchAttributes } from '../src/contract/index.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { abortSignal, approveSignal, decideSignal, rejectSignal, statusQuery } from '../src/contract/messages.ts';

const execFileAsync = promisify(execFile);
let t: RollbackTestEnv;
const base = { reason: 'canary error rate 14%', requestedBy: 'alice', baselineSeconds: 0 };


/** The real `temporal` CLI against this file's dev server, as an operator would type it. */
async function temporalCli(args: string[]): Promise<string> {
  const cli = await resolveTemporalCli();
  const { stdout } = await execFileAsync(cli.path, [...args, '--address', t.env.address], { encoding: 'utf8' });
  return stdout;
}

const changesOf = (sandbox: { router: { changes: { kind: string; after: unknown }[] } }) => sandbox.router.changes.map((c) => [c.kind, c.after]);

describe('fullRollback', { timeout: 120_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
  });

  test('immediate: stable scaled up, all traffic to stable, approval, canary scaled to 0, report written', async () => {
    const { name, sandbox } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    assert.equal(waiting.details, 'awaiting approval from oncall (0 of 1) before cleanup (canary scaled to 0); may approve: bob, carol');
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 1 } });
    const described = await handle.describe();
    assert.equal(described.typedSearchAttributes.get(searchAttributes.state), 'awaiting_approval');
    assert.equal(described.typedSearchAttributes.get(searchAttributes.system), name);
    // The UI's stack trace tab: through the bundle's source map (line mappings, no sources) to our TypeScript.
    const stack = await handle.query<string>('__stack_trace');
    assert.match(stack, /at awaitApproval \(\S*\/src\/workflows\/gates\.ts:\d+:\d+\)/);

    await handle.signal(approveSignal, { by: 'bob', comment: 'error rate back under 1%' });
    const result = await handle.result();
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });
    assert.deepEqual(changesOf(sandbox), [
      ['instances', { version: 'stable', count: 3 }],
      ['weights', { stable: 100, canary: 0 }],
      ['instances', { version: 'canary', count: 0 }],
    ]);
    assert.equal(result.healthAfter.passed, true);
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'completed');
    assert.deepEqual(
      status.steps.map((s) => [s.name, s.outcome]),
      [
        ['preflight', 'succeeded'],
        ['capture-snapshot', 'succeeded'],
        ['notify-start', 'succeeded'],
        ['scale-stable', 'succeeded'],
        ['shift-traffic', 'succeeded'],
        ['verify:shift-traffic', 'succeeded'],
        ['gate:before-cleanup', 'succeeded'],
        ['cleanup', 'succeeded'],
      ],
    );
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.gate, e.detail]), [['approved', 'bob', 'before-cleanup', 'error rate back under 1%']]);
    assert.match(result.report, /\| cleanup \| .* \| succeeded \| 1 \|/);
    assert.match(result.report, /\*\*approved\*\* by bob at gate before-cleanup: error rate back under 1%/);
    assert.match(result.report, /\| execution \| [\d.]+ \| 600 \| yes \|/);
    assert.equal(readFileSync(join(t.reportsDir, name, `${handle.workflowId}.md`), 'utf8'), result.report);
    const notes = sandbox.router.notifications as { text: string }[];
    assert.deepEqual(
      notes.map((n) => n.text.split('\n')[0]),
      [`:warning: *${name}*: immediate rollback started by alice`, `:warning: *${name}*: fullRollback waits for approval at gate before-cleanup`, `:information_source: *${name}*: rollback completed`],
    );
    assert.equal((await handle.describe()).typedSearchAttributes.get(searchAttributes.state), 'completed');
  });

  test('gradual: each canary step is verified and waits for its approval before the next', async () => {
    const { name, sandbox } = await t.newSystem((doc) => {
      doc.gates['gradual-step'] = { role: 'oncall', required: 1, timeoutSeconds: 60 };
    });
    const handle = await startRollback(t, { ...base, system: name, mode: 'gradual', steps: [50, 10, 0] });
    await waitForStatus(handle, (s) => s.pendingGate?.gate === 'gradual-step');
    assert.deepEqual(sandbox.router.state().weights, { stable: 50, canary: 50 });
    await handle.signal(approveSignal, { by: 'carol' });
    await waitForStatus(handle, (s) => s.pendingGate?.gate === 'gradual-step' && s.steps.some((x) => x.name === 'gate:gradual-step' && x.outcome === 'running' && s.currentStep === 'gate:gradual-step') && sandbox.router.state().weights.canary === 10);
    await handle.signal(approveSignal, { by: 'alice' }); // alice requested, but gradual-step has no two-person rule
    await waitForStatus(handle, (s) => s.pendingGate?.gate === 'before-cleanup');
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    assert.deepEqual(changesOf(sandbox), [
      ['instances', { version: 'stable', count: 3 }],
      ['weights', { stable: 50, canary: 50 }],
      ['weights', { stable: 90, canary: 10 }],
      ['weights', { stable: 100, canary: 0 }],
      ['instances', { version: 'canary', count: 0 }],
    ]);
    const status = await handle.query(statusQuery);
    assert.deepEqual(
      status.steps.filter((s) => s.kind === 'verify').map((s) => s.name),
      ['verify:shift-traffic-1', 'verify:shift-traffic-2', 'verify:shift-traffic-3'],
    );
  });

  test('gradual without a step gate pauses for the runbook time between steps', async () => {
    const { name, sandbox } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'gradual', stepPauseSeconds: 1 });
    await waitForStatus(handle, (s) => s.pendingGate?.gate === 'before-cleanup');
    await handle.signal(approveSignal, { by: 'carol' });
    await handle.result();
    const status = await handle.query(statusQuery);
    const pause = status.steps.find((s) => s.name === 'pause:shift-traffic-1');
    assert.ok(pause && Date.parse(pause.endedAt!) - Date.parse(pause.startedAt) >= 1000, 'paused at least 1 s');
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });
  });

  test('an unlisted approver and the requester under the two-person rule are refused and recorded', async () => {
    const { name, sandbox } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(approveSignal, { by: 'mallory' });
    await handle.signal(approveSignal, { by: 'alice' });
    await handle.signal(approveSignal, { by: 'dana' }); // a DBA, but not oncall
    const status = await waitForStatus(handle, (s) => s.events.length === 3);
    assert.equal(status.state, 'awaiting_approval', 'still waiting');
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.detail]), [
      ['refused', 'mallory', 'approval refused: mallory is not an approver for role oncall (alice, bob, carol)'],
      ['refused', 'alice', 'approval refused: alice requested this rollback and cannot approve it (two-person rule)'],
      ['refused', 'dana', 'approval refused: dana is not an approver for role oncall (alice, bob, carol)'],
    ]);
    assert.equal(sandbox.router.state().instances.canary, 1, 'cleanup has not run');
    await handle.signal(approveSignal, { by: 'bob' });
    const result = await handle.result();
    assert.match(result.report, /\*\*refused\*\* by mallory at gate before-cleanup: approval refused: mallory is not an approver/);
  });

  test('an approval sent before its gate opens does not count, and is recorded as refused', async () => {
    const { name } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate', verifyWindowSeconds: 3 });
    await waitForStatus(handle, (s) => s.currentStep === 'verify:shift-traffic');
    await handle.signal(approveSignal, { by: 'bob' });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    assert.deepEqual(waiting.events.map((e) => [e.kind, e.by, e.detail]), [['refused', 'bob', 'approval refused: no gate was waiting for approval']]);
    assert.equal(waiting.pendingGate?.approvedBy.length, 0);
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
  });

  test('signals without a payload (UI dialog left empty, temporal CLI without --input), null ones and unknown names are refused and recorded; the rollback still answers and a valid abort stops it', async () => {
    const { name, sandbox } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    // What an operator actually sends: the `temporal` CLI with no --input, or with null.
    await temporalCli(['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'approve']);
    await temporalCli(['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'decide', '--input', 'null']);
    await temporalCli(['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'abort', '--input', 'null']);
    await temporalCli(['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'approv', '--input', '{"by":"bob"}']);
    await handle.signal('approve', { comment: 'lgtm' });
    await handle.signal('reject', { by: 'bob' });
    await handle.signal('approve', { by: 'b\u0000ob' });
    await handle.signal('approve', ['bob']);
    const status = await waitForStatus(handle, (s) => s.events.length === 8);
    assert.equal(status.state, 'awaiting_approval', 'still waiting at its gate, and the status query still answers');
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.detail]), [
      ['refused', '(unknown)', 'approve: no payload; send JSON like {"by": "bob", "comment": "error rate back under 1%"}'],
      ['refused', '(unknown)', 'decide: no payload; send JSON like {"by": "bob", "action": "retry|skip|compensate|abort"}'],
      ['refused', '(unknown)', 'abort: no payload; send JSON like {"by": "bob", "reason": "wrong system"}'],
      ['refused', 'bob', `unknown signal "approv"; this workflow takes approve, reject, decide, abort`],
      ['refused', '(unknown)', "approve: 'by' is required"],
      ['refused', 'bob', "reject: 'reason' is required"],
      ['refused', '(unknown)', "approve: 'by' must not contain control characters"],
      ['refused', '(unknown)', 'approve: the payload must be a JSON object like {"by": "bob", "comment": "error rate back under 1%"}'],
    ]);
    assert.equal(status.pendingGate?.approvedBy.length, 0, 'none of them counted');
    await handle.signal(abortSignal, { by: 'carol', reason: 'taking over by hand' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.message, `fullRollback of ${name} aborted: aborted by carol: taking over by hand`);
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 1 } }, 'left as it stood');
    // The system is free again: the next rollback is not refused as "another rollback is running".
    const next = await startRollback(t, { ...base, system: name, mode: 'immediate', dryRun: true });
    assert.equal((await next.result()).dryRun, true);
  });

  test('names are trimmed before they are judged: "bob " approves as bob, and a refusal names the trimmed name', async () => {
    const { name } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate', requestedBy: '  alice ' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(approveSignal, { by: ' alice' });
    await handle.signal(approveSignal, { by: 'mallory  ' });
    await handle.signal(approveSignal, { by: 'bob ', comment: ' ok ' });
    await handle.result();
    const status = await handle.query(statusQuery);
    assert.equal(status.requestedBy, 'alice');
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.detail]), [
      ['refused', 'alice', 'approval refused: alice requested this rollback and cannot approve it (two-person rule)'],
      ['refused', 'mallory', 'approval refused: mallory is not an approver for role oncall (alice, bob, carol)'],
      ['approved', 'bob', 'ok'],
    ]);
  });

  test('a 2-of-N gate needs two distinct approvers; the same person twice counts once', async () => {
    const { name, sandbox } = await t.newSystem((doc) => {
      doc.gates['before-cleanup'].required = 2;
    });
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.signal(approveSignal, { by: 'bob' });
    const waiting = await waitForStatus(handle, (s) => s.events.length === 2);
    assert.equal(waiting.details, 'awaiting approval from oncall (1 of 2) before cleanup (canary scaled to 0); may approve: bob, carol');
    assert.equal(waiting.events[1]?.detail, 'approval refused: bob already approved this gate');
    assert.equal(sandbox.router.state().instances.canary, 1);
    await handle.signal(approveSignal, { by: 'carol' });
    await handle.result();
    assert.equal(sandbox.router.state().instances.canary, 0);
  });

  test('a rejection stops the rollback at the gate and leaves the completed steps as they are', async () => {
    const { name, sandbox } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(rejectSignal, { by: 'carol', reason: 'keep the canary for debugging' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackAborted');
    assert.equal(failure.message, `fullRollback of ${name} aborted: rejected by carol at gate before-cleanup: keep the canary for debugging`);
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 1 } });
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'aborted');
    assert.deepEqual(status.events.map((e) => [e.kind, e.by]), [['rejected', 'carol']]);
  });

  test('a gate that times out escalates first, then applies the runbook default (abort)', async () => {
    const { name, sandbox } = await t.newSystem((doc) => {
      doc.gates['before-cleanup'].escalateAfterSeconds = 1;
      doc.gates['before-cleanup'].timeoutSeconds = 2;
    });
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.message, `fullRollback of ${name} aborted: gate before-cleanup timed out after 2 s without 1 approval(s)`);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.detail]), [
      ['escalated', 'runbook', 'no approval after 1 s; escalation sent'],
      ['timed_out', 'runbook', 'no approval within 2 s: abort'],
    ]);
    const escalation = (sandbox.router.notifications as { text: string }[]).find((n) => n.text.includes('approval needed'));
    assert.ok(escalation, 'an escalation notification was sent');
    assert.match(escalation.text, /awaiting approval from oncall \(0 of 1\) before cleanup/);
    assert.equal(sandbox.router.state().instances.canary, 1, 'no cleanup without approval');
  });

  test('a gate whose runbook approves on timeout goes on after the timeout', async () => {
    const { name, sandbox } = await t.newSystem((doc) => {
      doc.gates['before-cleanup'].timeoutSeconds = 1;
      doc.gates['before-cleanup'].onTimeout = 'approve';
    });
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await handle.result();
    assert.equal(sandbox.router.state().instances.canary, 0);
  });

  test('failed verification then decide compensate restores the snapshot exactly', async () => {
    const { name, sandbox } = await t.newSystem();
    sandbox.deployments.get('stable')!.fault = { errorRatePct: 50, addedLatencyMs: 0 };
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision');
    assert.equal(waiting.pendingDecision?.step, 'verify:shift-traffic');
    assert.match(waiting.pendingDecision!.error, /^health not verified: error rate \d+\.\d% above 10%; success rate \d+\.\d% below 90%$/);
    assert.deepEqual(waiting.pendingDecision?.actions, ['retry', 'skip', 'compensate', 'abort']);
    await handle.signal(decideSignal, { by: 'mallory', action: 'skip' });
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackFailed');
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 75, canary: 25 }, instances: { stable: 2, canary: 1 } }, 'snapshot restored');
    assert.deepEqual(changesOf(sandbox), [
      ['instances', { version: 'stable', count: 3 }],
      ['weights', { stable: 100, canary: 0 }],
      ['weights', { stable: 75, canary: 25 }],
      ['instances', { version: 'stable', count: 2 }],
    ]);
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'failed');
    assert.deepEqual(status.steps.filter((s) => s.kind === 'change').map((s) => [s.name, s.outcome]), [
      ['scale-stable', 'compensated'],
      ['shift-traffic', 'compensated'],
    ]);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.detail.split(':')[0]]), [
      ['refused', 'mallory', 'decision refused'],
      ['decided', 'bob', 'compensate'],
    ]);
    assert.equal(status.healthAfter?.passed, false);
  });

  test('decide retry runs the failed step again, and it passes once the cause is fixed', async () => {
    const { name, sandbox } = await t.newSystem();
    sandbox.deployments.get('stable')!.fault = { errorRatePct: 50, addedLatencyMs: 0 };
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_decision');
    sandbox.deployments.get('stable')!.fault = { errorRatePct: 0, addedLatencyMs: 0 };
    await handle.signal(decideSignal, { by: 'alice', action: 'retry' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    const status = await handle.query(statusQuery);
    const verify = status.steps.find((s) => s.name === 'verify:shift-traffic')!;
    assert.deepEqual([verify.outcome, verify.runs], ['succeeded', 2]);
    assert.equal(status.healthAfter?.passed, true);
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });
  });

  test('decide skip goes on without the failed step and the report says so', async () => {
    const { name, sandbox } = await t.newSystem();
    sandbox.deployments.get('stable')!.fault = { errorRatePct: 50, addedLatencyMs: 0 };
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_decision');
    await handle.signal(decideSignal, { by: 'carol', action: 'skip' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(approveSignal, { by: 'bob' });
    const result = await handle.result();
    assert.match(result.report, /\| verify:shift-traffic \| .* \| skipped \| 1 \| health not verified: /);
    assert.match(result.report, /\*\*After\*\*: NOT verified/);
    assert.equal(sandbox.router.state().instances.canary, 0);
  });

  test('abort stops mid-rollback and leaves what was done as it is', async () => {
    const { name, sandbox } = await t.newSystem();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate', verifyWindowSeconds: 30 });
    await waitForStatus(handle, (s) => s.currentStep === 'verify:shift-traffic');
    await handle.signal(abortSignal, { by: 'mallory', reason: 'no' });
    await handle.signal(abortSignal, { by: 'carol', reason: 'wrong system' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackAborted');
    assert.equal(failure.message, `fullRollback of ${name} aborted: aborted by carol during verify:shift-traffic: wrong system`);
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 1 } });
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by]), [['refused', 'mallory'], ['abort_requested', 'carol']]);
    assert.equal(status.steps.at(-1)?.outcome, 'aborted');
  });

  test('compensation goes on past an undo that fails and reports what was not restored', async () => {
    const { name, sandbox } = await t.newSystem();
    sandbox.deployments.get('stable')!.fault = { errorRatePct: 50, addedLatencyMs: 0 };
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(handle, (s) => s.state === 'awaiting_decision');
    // Weight changes fail for longer than the activity's retries last (1+2+4 s); scaling still works.
    await fetch(`${sandbox.urls.router}/admin/outage`, { method: 'PUT', body: JSON.stringify({ seconds: 60, routes: ['weights'] }) });
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.steps.filter((s) => s.kind === 'change').map((s) => [s.name, s.outcome]), [
      ['scale-stable', 'compensated'],
      ['shift-traffic', 'compensation_failed'],
    ]);
    assert.deepEqual(sandbox.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 2, canary: 1 } }, 'the later undo still ran');
    assert.equal(status.compensationFailures.length, 1);
    assert.match(status.compensationFailures[0]!, /^shift-traffic: router PUT \/admin\/weights answered 503/);
    assert.match(status.report!, /## Not restored\n\n- shift-traffic: router PUT/);
  });

  test('a second rollback of the same system is refused, naming the running one', async () => {
    const { name, sandbox } = await t.newSystem();
    const first = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    await waitForStatus(first, (s) => s.state === 'awaiting_approval');
    const changes = sandbox.router.changes.length;
    const second = await startRollback(t, { ...base, system: name, mode: 'gradual', requestedBy: 'bob' });
    const failure = await failureOf(second.result());
    assert.equal(failure.type, 'RollbackAlreadyRunning');
    assert.match(failure.message, new RegExp(`^another rollback of ${name} is running: ${first.workflowId} \\(fullRollback, started .+\\); wait for it to finish or abort it first$`));
    assert.equal(sandbox.router.changes.length, changes, 'the second changed nothing');
    assert.equal((await second.describe()).typedSearchAttributes.get(searchAttributes.state), 'failed');
    await first.signal(approveSignal, { by: 'bob' });
    await first.result();
  });

  test('a dry run returns the plan from live state and changes nothing', async () => {
    const { name, sandbox } = await t.newSystem();
    await fetch(`${sandbox.urls.router}/admin/weights`, { method: 'PUT', body: JSON.stringify({ weights: { stable: 40, canary: 60 } }) });
    const before = sandbox.router.changes.length;
    const result = await (await startRollback(t, { ...base, system: name, mode: 'gradual', dryRun: true })).result();
    assert.deepEqual(result.plan.steps.map((s: any) => [s.name, s.from, s.to]), [
      ['scale-stable', 2, 3],
      ['shift-traffic-1', { stable: 40, canary: 60 }, { stable: 50, canary: 50 }],
      ['shift-traffic-2', { stable: 50, canary: 50 }, { stable: 100, canary: 0 }],
      ['cleanup', 1, 0],
    ]);
    assert.deepEqual(result.plan.gates, [{ gate: 'before-cleanup', role: 'oncall', approvers: ['alice', 'bob', 'carol'], required: 1, forbidRequester: true }]);
    assert.equal(sandbox.router.changes.length, before);
    assert.deepEqual(sandbox.router.notifications, [], 'a dry run notifies nobody');
  });

  test('invalid inputs fail at once, each with its own message, and change nothing', async () => {
    const { name, sandbox } = await t.newSystem();
    const valid = { ...base, system: name, mode: 'immediate' };
    const cases: [Record<string, unknown> | unknown, string][] = [
      [{ ...valid, mode: 'fast' }, 'mode: must be one of: "immediate", "gradual"; received "fast"'],
      [{ ...valid, reason: '' }, 'reason: must say why the rollback is needed'],
      [{ ...valid, requestedBy: undefined }, 'requestedBy: required (expected string)'],
      [{ ...valid, system: '' }, 'system: must name a runbook (lower-case letters, digits, "-" or "_", e.g. "sandbox")'],
      [{ ...valid, mode: 'x'.repeat(1 << 20) }, `mode: must be one of: "immediate", "gradual"; received "${'x'.repeat(40)}…" (1048576 characters)`],
      [{ ...valid, requestedBy: 'ali\u0000ce' }, 'requestedBy: must not contain control characters'],
      [{ ...valid, requestedBy: 'a'.repeat(101) }, 'requestedBy: must be at most 100 characters'],
      [{ ...valid, reason: 'r'.repeat(2001) }, 'reason: must be at most 2000 characters'],
      [{ ...valid, steps: [50, 0] }, 'steps: only a gradual rollback takes steps; remove them or use mode "gradual"'],
      [{ ...valid, dryRun: 'yes' }, 'dryRun: expected boolean, received string'],
      [{ ...valid, mode: 'gradual', steps: [50, 20] }, 'steps: the last step must take the canary to 0'],
      [{ ...valid, mode: 'gradual', steps: [150, 0] }, 'steps[0]: Too big: expected number to be <=100'],
      [{ ...valid, verifyWindowSeconds: -1 }, 'verifyWindowSeconds: Too small: expected number to be >=0'],
      [{ ...valid, detectedAt: 'yesterday' }, 'detectedAt: Invalid ISO datetime'],
      [{ ...valid, weight: 5 }, "unknown key 'weight'"],
      ['sandbox', 'expected object, received string'],
    ];
    for (const [input, problem] of cases) {
      const failure = await failureOf(startRollback(t, input as Record<string, unknown>).then((h) => h.result()));
      assert.equal(failure.type, 'InvalidInput');
      assert.equal(failure.message, `invalid fullRollback input:\n  ${problem}`);
    }
    const unknown = await failureOf(startRollback(t, { ...valid, system: 'payments' }).then((h) => h.result()));
    assert.match(unknown.message, /^unknown system 'payments'; known systems: .*sys-/);
    assert.deepEqual(sandbox.router.changes, []);
  });
});
