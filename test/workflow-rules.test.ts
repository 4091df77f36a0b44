/**
 * The fast tier: the rules every rollback workflow shares (gates, decisions, timeouts, abort, stale
 * signals, non-skippable steps, Updates), tested as pure workflow logic with STUBBED ACTIVITIES on a
 * real dev server. The stubs record their calls and fail when a test says so; no sandbox, database or
 * Redis is involved. What the activities do to real targets is tested end to end in
 * full-rollback.test.ts and phase-rollback.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { parseDocument, stringify } from 'yaml';
import { TASK_QUEUE, type HealthVerdict, type RollbackStatus } from '../src/contract/index.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { workerWorkflowBundle } from '../src/build/workflow-bundle.ts';
import { quietLogger, startTemporal } from './harness.ts';
import { abortSignal, abortUpdate, approveSignal, approveUpdate, decideSignal, decideUpdate, statusQuery } from '../src/contract/messages.ts';

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let counter = 0;

/** Calls the stubbed activities received, in order: [activity, input]. */
const calls: [string, Record<string, unknown>][] = [];
/** While true, the snapshot stub fails as an unreachable router would. */
let snapshotFails = false;
/** Verdicts verifyHealth gives, in order; when empty it passes. */
const verdicts: ('pass' | 'fail')[] = [];

function runbookWith(edit: (doc: Record<string, any>) => void): Runbook {
  const doc = parseDocument(readFileSync(new URL('../runbooks/sandbox.yaml', import.meta.url), 'utf8')).toJS() as Record<string, any>;
  doc.system = 'stubbed';
  doc.gates['before-cleanup'] = { role: 'oncall', required: 1, forbidRequester: true, timeoutSeconds: 30 };
  doc.decisions = { timeoutSeconds: 30, onTimeout: 'abort' };
  edit(doc);
  return parseRunbook(stringify(doc), 'runbooks/stubbed.yaml');
}

let runbook: Runbook = runbookWith(() => undefined);
const passed: HealthVerdict = { passed: true, reasons: [], window: null, checks: [] };
const record = (name: string) => async (input: Record<string, unknown>) => void calls.push([name, input]);

/** The activities fullRollback calls, stubbed: they record and answer from the test's script. */
const stubs = {
  preflight: async () => runbook,
  captureSnapshot: async () => {
    if (snapshotFails) throw ApplicationFailure.nonRetryable('router unreachable', 'Unavailable');
    return { takenAt: new Date().toISOString(), traffic: { weights: { stable: 75, canary: 25 }, instances: { stable: 2, canary: 1 } }, baseline: null };
  },
  notify: record('notify'),
  publishReport: async () => '/dev/null',
  setWeights: async (input: Record<string, unknown>) => {
    calls.push(['setWeights', input]);
    return { weights: input.weights, instances: {} };
  },
  scaleVersion: async (input: Record<string, unknown>) => {
    calls.push(['scaleVersion', input]);
    return { weights: {}, instances: {} };
  },
  verifyHealth: async (): Promise<HealthVerdict> => {
    calls.push(['verifyHealth', {}]);
    if (verdicts.shift() === 'fail') throw ApplicationFailure.nonRetryable('health not verified: error rate 40.0% above 10%', 'HealthNotVerified', { ...passed, passed: false, reasons: ['error rate 40.0% above 10%'] });
    return passed;
  },
};

async function start(input: Record<string, unknown> = {}): Promise<WorkflowHandle> {
  return env.client.workflow.start('fullRollback', {
    taskQueue: TASK_QUEUE,
    workflowId: `rules-${++counter}`,
    args: [{ system: 'stubbed', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0, ...input }],
  });
}

async function until(handle: WorkflowHandle, predicate: (s: RollbackStatus) => boolean): Promise<RollbackStatus> {
  for (let deadline = Date.now() + 20_000; ; ) {
    const status = await handle.query(statusQuery);
    if (predicate(status)) return status;
    if (Date.now() > deadline) throw new Error(`status never matched: ${status.state} ${status.details}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => assert.fail('the workflow completed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
  return err.cause;
}

const refusedUpdate = (message: string) => (err: unknown) => {
  assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
  assert.equal(err.cause?.message, message);
  return true;
};

describe('workflow rules with stubbed activities', { timeout: 120_000 }, () => {
  before(async () => {
    env = await startTemporal();
    worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowBundle: await workerWorkflowBundle(quietLogger), activities: stubs });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  test('the gate counts only listed approvers, never the requester under the two-person rule, and answers Updates at once', async () => {
    runbook = runbookWith(() => undefined);
    const handle = await start();
    await until(handle, (s) => s.state === 'awaiting_approval');
    await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory' }] }), refusedUpdate('refused: mallory is not an approver for role oncall (alice, bob, carol)'));
    await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }), refusedUpdate('refused: alice requested this rollback and cannot approve it (two-person rule)'));
    await assert.rejects(handle.executeUpdate(decideUpdate, { args: [{ by: 'bob', action: 'retry' }] }), refusedUpdate('refused: no failed step is waiting for a decision'));
    await assert.rejects(handle.executeUpdate('approve', { args: [{}] }), refusedUpdate("refused: approve: 'by' is required"));
    assert.equal(await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] }), 'approved by bob at gate before-cleanup (1 of 1)');
    await handle.result();
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by]), [['approved', 'bob']], 'refused Updates are not recorded: they never entered history');
  });

  test('a gate that times out escalates first, then aborts, and nothing after it runs', async () => {
    runbook = runbookWith((doc) => {
      doc.gates['before-cleanup'] = { role: 'oncall', required: 1, escalateAfterSeconds: 1, timeoutSeconds: 2 };
    });
    calls.length = 0;
    const handle = await start();
    const failure = await failureOf(handle);
    assert.equal(failure.message, 'fullRollback of stubbed aborted: gate before-cleanup timed out after 2 s without 1 approval(s)');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.gate]), [['escalated', 'before-cleanup'], ['timed_out', 'before-cleanup']]);
    assert.ok(calls.some(([name, input]) => name === 'notify' && String(input.title).startsWith('approval needed: fullRollback waits at gate before-cleanup')));
    assert.ok(!calls.some(([name, input]) => name === 'scaleVersion' && input.version === 'canary'), 'cleanup never ran');
  });

  test('an approval sent before its gate opens is refused as stale; the same person may approve once the gate opens', async () => {
    runbook = runbookWith(() => undefined);
    verdicts.push('fail');
    const handle = await start();
    await until(handle, (s) => s.state === 'awaiting_decision');
    await handle.signal(approveSignal, { by: 'bob' }); // no gate waits: it is filed, then refused when taken
    await handle.signal(decideSignal, { by: 'bob', action: 'retry' });
    await until(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.detail]), [
      ['refused', 'bob', 'approval refused: no gate was waiting for approval'],
      ['decided', 'bob', 'retry'],
      ['approved', 'bob', ''],
    ]);
    assert.equal(status.steps.find((s) => s.name === 'verify:shift-traffic')?.runs, 2, 'retry ran the step again');
  });

  test('a step later steps need cannot be skipped: the decision is refused, and skip is not offered', async () => {
    runbook = runbookWith(() => undefined);
    snapshotFails = true;
    const handle = await start();
    const waiting = await until(handle, (s) => s.state === 'awaiting_decision');
    assert.deepEqual(waiting.pendingDecision?.actions, ['retry', 'compensate', 'abort']);
    await assert.rejects(handle.executeUpdate(decideUpdate, { args: [{ by: 'bob', action: 'skip' }] }), refusedUpdate("refused: 'skip' is not one of retry, compensate, abort"));
    snapshotFails = false;
    assert.equal(await handle.executeUpdate(decideUpdate, { args: [{ by: 'bob', action: 'retry' }] }), 'decided retry by bob on step capture-snapshot');
    await until(handle, (s) => s.state === 'awaiting_approval');
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] });
    await handle.result();
  });

  test('abort while waiting for a decision stops there, leaves what was done, and a second abort is refused', async () => {
    runbook = runbookWith(() => undefined);
    verdicts.push('fail');
    calls.length = 0;
    const handle = await start();
    await until(handle, (s) => s.state === 'awaiting_decision');
    assert.equal(await handle.executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'taking over by hand' }] }), 'abort requested by carol: the running step is cancelled and the rollback stops where it stands');
    const failure = await failureOf(handle);
    assert.equal(failure.type, 'RollbackAborted');
    assert.deepEqual(calls.filter(([n]) => n === 'setWeights' || n === 'scaleVersion').map(([n, i]) => [n, i.version ?? i.weights]), [
      ['scaleVersion', 'stable'],
      ['setWeights', { stable: 100, canary: 0 }],
    ], 'nothing undone: abort leaves things as they stand');
    await assert.rejects(handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'again' }] }));
  });

  test('abort at a gate is refused from someone who is neither requester nor approver, and taken from an approver', async () => {
    runbook = runbookWith(() => undefined);
    const handle = await start();
    await until(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(abortSignal, { by: 'mallory', reason: 'no' });
    await assert.rejects(handle.executeUpdate(abortUpdate, { args: [{ by: 'eve', reason: 'no' }] }), refusedUpdate('refused: eve is neither the requester nor an approver'));
    await handle.signal(abortSignal, { by: 'dana', reason: 'the DBA says stop' });
    const failure = await failureOf(handle);
    assert.equal(failure.message, 'fullRollback of stubbed aborted: aborted by dana: the DBA says stop');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by]), [['refused', 'mallory'], ['abort_requested', 'dana']]);
  });

  test('a decision that does not come in time applies the runbook default (compensate), undoing the completed steps newest first', async () => {
    runbook = runbookWith((doc) => {
      doc.decisions = { timeoutSeconds: 1, onTimeout: 'compensate' };
    });
    verdicts.push('fail');
    calls.length = 0;
    const handle = await start();
    const failure = await failureOf(handle);
    assert.equal(failure.type, 'RollbackFailed');
    const changes = calls.filter(([n]) => n === 'setWeights' || n === 'scaleVersion').map(([n, i]) => [n, i.version ?? i.weights, i.count ?? null]);
    assert.deepEqual(changes, [
      ['scaleVersion', 'stable', 3],
      ['setWeights', { stable: 100, canary: 0 }, null],
      ['setWeights', { stable: 75, canary: 25 }, null],
      ['scaleVersion', 'stable', 2],
    ]);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.detail]), [['timed_out', 'no decision within 1 s: compensate']]);
  });
});
