/**
 * The worker on a real Temporal dev server, wired as in production, with the real sandbox.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { waitForPoller } from '../scripts/lib/temporal.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { startTemporal, startTestSandbox, startTestWorker, type RunningWorker, type TestSandbox } from './harness.ts';

let env: TestWorkflowEnvironment;
let sb: TestSandbox;
let worker: RunningWorker;
let counter = 0;

function start(input: unknown) {
  return env.client.workflow.execute('fullRollback', { taskQueue: TASK_QUEUE, workflowId: `worker-test-${++counter}`, args: [input] });
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail('the workflow completed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected an ApplicationFailure cause, got ${String(err.cause)}`);
  return err.cause;
}

describe('worker on a real dev server', () => {
  before(async () => {
    [env, sb] = await Promise.all([startTemporal(), startTestSandbox({ database: false })]);
    worker = await startTestWorker(env, sb);
  });
  after(async () => {
    await worker?.stop();
    await Promise.all([env?.teardown(), sb?.stop()]);
  });

  test('the worker polls task queue rollbacks', async () => {
    // Rejects if no poller shows up within 10 s.
    await waitForPoller(env.connection, 'default', 10_000);
  });

  test('a dry run returns the plan computed from the live router and changes nothing', async () => {
    const result = await start({ system: 'sandbox', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', dryRun: true });
    assert.deepEqual(
      result.plan.steps.map((s: { description: string }) => s.description),
      ['scale stable from 2 to 3', 'shift canary to 0%, stable to 100%', 'scale canary to 0 (cleanup)'],
    );
    assert.deepEqual(result.plan.gates, [
      { gate: 'before-cleanup', role: 'oncall', approvers: ['alice', 'bob', 'carol'], required: 1, forbidRequester: true },
    ]);
    assert.deepEqual(sb.sandbox.router.changes, []);
    assert.deepEqual(sb.sandbox.router.state(), { weights: { stable: 75, canary: 25 }, instances: { stable: 2, canary: 1 } });
  });

  test('an invalid input fails at once, non-retryable, listing every problem', async () => {
    const failure = await failureOf(start({ system: 'sandbox', mode: 'fast', dryRun: 'yes', extra: 1 }));
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(failure.nonRetryable, true);
    assert.equal(
      failure.message,
      [
        'invalid fullRollback input:',
        '  reason: required (expected string)',
        '  requestedBy: required (expected string)',
        '  dryRun: expected boolean, received string',
        '  mode: must be one of: "immediate", "gradual"; received "fast"',
        "  unknown key 'extra'",
      ].join('\n'),
    );
    assert.deepEqual(sb.sandbox.router.changes, []);
  });

  test('a workflow type typed wrong in the Start Workflow form fails at once, naming the closest and every type there is, instead of staying Running', async () => {
    const handle = await env.client.workflow.start('fullRollbak', { taskQueue: TASK_QUEUE, workflowId: `worker-test-${++counter}`, args: [{ system: 'sandbox' }] });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'UnknownWorkflowType');
    assert.equal(
      failure.message,
      "unknown workflow type 'fullRollbak' (did you mean 'fullRollback'?); the workflow types on this task queue are: fullRollback, dataRestore, phaseRollback, configRollback, rollbackWatchdog, rollbackDrill, databaseBackup, backupCatalog, keyspaceBackup",
    );
    const history = await handle.fetchHistory();
    assert.equal(history.events!.filter((e) => e.workflowTaskFailedEventAttributes).length, 0, 'no workflow task failed (and none retried)');
    assert.deepEqual(sb.sandbox.router.changes, []);
  });

  test('an unknown system names the known ones', async () => {
    const failure = await failureOf(start({ system: 'payments', reason: 'r', requestedBy: 'alice', mode: 'immediate', dryRun: true }));
    assert.equal(failure.type, 'UnknownSystem');
    assert.equal(failure.message, "unknown system 'payments'; known systems: sandbox");
  });
});
