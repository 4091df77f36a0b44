/**
 * One rollback per system, exactly: the per-system lock workflow (src/workflows/rollback-lock.ts) on
 * a real dev server with a production-wired worker and the real sandbox. Starts race for real: ten
 * rollbacks of one system are started at once, and the router's change log shows what each did.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lockWorkflowId } from '../src/contract/index.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { approveSignal } from '../src/contract/messages.ts';

let t: RollbackTestEnv;
const base = { reason: 'canary error rate 14%', requestedBy: 'alice', baselineSeconds: 0, mode: 'immediate' };

/** The lock of `system` as the server has it: its status, its result once closed, and the reason it was terminated. */
async function lockOf(system: string) {
  const handle = t.env.client.workflow.getHandle(lockWorkflowId(system));
  const description = await handle.describe();
  return { handle, runId: description.runId, status: description.status.name, memo: description.memo as { holder?: { workflowId: string } } };
}

async function waitUntilClosed(workflowId: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await t.env.client.workflow.getHandle(workflowId).describe();
    if (status.name !== 'RUNNING' || Date.now() > deadline) return status.name;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('one rollback per system (the rollback lock)', { timeout: 120_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
  });

  test('of 10 rollbacks of one system started at the same instant, exactly one runs and the other 9 are refused naming it', async () => {
    const { name, sandbox } = await t.newSystem();
    const ids = Array.from({ length: 10 }, (_, i) => `race-${name}-${i}`);
    const handles = await Promise.all(ids.map((id, i) => startRollback(t, { ...base, system: name, requestedBy: `engineer-${i}` }, id)));
    const outcomes = await Promise.all(
      handles.map(async (handle) => {
        const status = await waitForStatus(handle, (s) => s.state === 'awaiting_approval' || s.state === 'failed');
        return { handle, status };
      }),
    );
    const running = outcomes.filter((o) => o.status.state === 'awaiting_approval');
    assert.equal(running.length, 1, `exactly one runs; states: ${outcomes.map((o) => o.status.state).join(', ')}`);
    const winner = running[0]!.handle;
    const refused = outcomes.filter((o) => o.status.state === 'failed').map((o) => o.handle);
    assert.equal(refused.length, 9);
    for (const handle of refused) {
      const failure = await failureOf(handle.result());
      assert.equal(failure.type, 'RollbackAlreadyRunning');
      assert.match(failure.message, new RegExp(`^another rollback of ${name} is running: ${winner.workflowId} \\(fullRollback, started .+\\); wait for it to finish or abort it first$`));
    }
    // Only the winner changed the router: scale stable up and shift traffic, once each.
    assert.deepEqual(sandbox.router.changes.map((c) => c.kind), ['instances', 'weights']);
    const lock = await lockOf(name);
    assert.equal(lock.status, 'RUNNING');
    assert.equal(lock.memo.holder?.workflowId, winner.workflowId);

    await winner.signal(approveSignal, { by: 'bob' });
    await winner.result();
    assert.equal(await waitUntilClosed(lockWorkflowId(name)), 'COMPLETED', 'released when the rollback ended');
    assert.equal(await lock.handle.result(), `released by ${winner.workflowId}`);

    // The system is free again: the next rollback runs.
    const next = await startRollback(t, { ...base, system: name, requestedBy: 'carol' });
    await waitForStatus(next, (s) => s.state === 'awaiting_approval');
    await next.signal(approveSignal, { by: 'bob' });
    await next.result();
  });

  test('a rollback terminated from the UI (it cannot release) does not block the next one: its stale lock is taken over at once', async () => {
    const { name } = await t.newSystem();
    const first = await startRollback(t, { ...base, system: name });
    await waitForStatus(first, (s) => s.state === 'awaiting_approval');
    const stale = await lockOf(name);
    await first.terminate('operator terminated it from the UI');
    assert.equal((await lockOf(name)).status, 'RUNNING', 'the lock still names the terminated rollback');

    const second = await startRollback(t, { ...base, system: name, requestedBy: 'carol' });
    await waitForStatus(second, (s) => s.state === 'awaiting_approval');
    const staleRun = t.env.client.workflow.getHandle(lockWorkflowId(name), stale.runId);
    assert.equal((await staleRun.describe()).status.name, 'TERMINATED');
    const taken = await lockOf(name);
    assert.equal(taken.status, 'RUNNING');
    assert.equal(taken.memo.holder?.workflowId, second.workflowId);
    await second.signal(approveSignal, { by: 'bob' });
    await second.result();
    assert.equal(await waitUntilClosed(lockWorkflowId(name)), 'COMPLETED');
  });

  test('dry runs take no lock: one runs beside a rollback of the same system, and a rollback starts beside a dry run', async () => {
    const { name, sandbox } = await t.newSystem();
    const rollback = await startRollback(t, { ...base, system: name });
    await waitForStatus(rollback, (s) => s.state === 'awaiting_approval');
    const dry = await (await startRollback(t, { ...base, system: name, dryRun: true, requestedBy: 'carol' })).result();
    assert.equal(dry.dryRun, true);
    assert.equal((await lockOf(name)).memo.holder?.workflowId, rollback.workflowId, 'the dry run did not touch the lock');
    await rollback.signal(approveSignal, { by: 'bob' });
    await rollback.result();
    assert.equal(sandbox.router.changes.length, 3);
  });

  test('rollbacks of two different systems run side by side', async () => {
    const one = await t.newSystem();
    const oneRollback = await startRollback(t, { ...base, system: one.name });
    await waitForStatus(oneRollback, (s) => s.state === 'awaiting_approval');
    // newSystem stops the previous sandbox; the first rollback has done its changes and waits at its gate.
    const two = await t.newSystem();
    const twoRollback = await startRollback(t, { ...base, system: two.name });
    await waitForStatus(twoRollback, (s) => s.state === 'awaiting_approval');
    await twoRollback.signal(approveSignal, { by: 'bob' });
    await twoRollback.result();
    assert.equal((await lockOf(one.name)).memo.holder?.workflowId, oneRollback.workflowId);
    await oneRollback.terminate('its sandbox was stopped by the next test system');
  });
});
