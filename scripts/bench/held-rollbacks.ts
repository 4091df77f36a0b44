/**
 * Rollbacks held open at a gate, as load on a Temporal service while something else is measured on
 * it: each on a system of its own (one rollback per system), started together, waiting at their
 * before-cleanup gate until released. What an incident with many systems rolling back at once leaves
 * on the service and on the worker: open workflows in its caches and shards, each with its timers.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { TASK_QUEUE } from '../../src/contract/index.ts';
import { approveSignal } from '../../src/contract/messages.ts';
import type { BenchService } from './common.ts';
import { sleep } from './common.ts';
import { benchRunbook } from './runbook.ts';

const HELD_GATES = { 'before-cleanup': { role: 'oncall', timeoutSeconds: 3600 } };

/** Writes the runbooks of `count` held systems (held-1 .. held-<count>) into `dir`, before the worker loads it. */
export function writeHeldRunbooks(dir: string, sandbox: Sandbox, count: number): void {
  for (let i = 1; i <= count; i += 1) writeFileSync(join(dir, `held-${i}.yaml`), benchRunbook(sandbox, { system: `held-${i}`, gates: HELD_GATES }));
}

export interface HeldRollbacks {
  count: number;
  /** From the first start to the last rollback waiting at its gate. */
  allHeldMs: number;
  /** Approves every held rollback and waits until all have completed. */
  release(): Promise<void>;
}

/**
 * Starts `count` immediate rollbacks of the held systems and returns once every one waits at its
 * gate (visibility's RollbackState, as an operator's list would show it), failing after `timeoutMs`.
 */
export async function holdRollbacks(service: BenchService, count: number, timeoutMs = 600_000): Promise<HeldRollbacks> {
  const prefix = `bench-held-${Date.now()}-`;
  const started = performance.now();
  const handles: WorkflowHandle[] = [];
  // 25 starts at a time: the point is rollbacks that are open, not a burst of starts.
  for (let i = 1; i <= count; i += 25) {
    const batch = Array.from({ length: Math.min(25, count - i + 1) }, (_, k) => i + k);
    handles.push(
      ...(await Promise.all(
        batch.map((n) =>
          service.client.workflow.start('fullRollback', {
            taskQueue: TASK_QUEUE,
            workflowId: `${prefix}${n}`,
            args: [{ system: `held-${n}`, reason: 'benchmark load', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }],
          }),
        ),
      )),
    );
  }
  const query = `WorkflowId STARTS_WITH "${prefix}" AND RollbackState = "awaiting_approval"`;
  for (let held = 0; held < count; held = (await service.client.workflow.count(query)).count) {
    if (performance.now() - started > timeoutMs) throw new Error(`after ${timeoutMs / 1000} s only ${held} of ${count} held rollbacks wait at their gate`);
    await sleep(500);
  }
  return {
    count,
    allHeldMs: Math.round(performance.now() - started),
    async release() {
      for (let i = 0; i < handles.length; i += 25) await Promise.all(handles.slice(i, i + 25).map((h) => h.signal(approveSignal, { by: 'bob' })));
      await Promise.all(handles.map((h) => h.result()));
    },
  };
}
