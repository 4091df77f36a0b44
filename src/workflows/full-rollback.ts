/**
 * fullRollback: move all traffic from the canary back to stable (seed 000 "Immediate Full
 * Rollback" and "Gradual Rollback"; seed 002's Cloud Run traffic rollback).
 *
 * This first slice validates the input and computes the plan from live state (dryRun). The durable
 * traffic shift, gates, decisions and compensation follow in the fullRollback issue.
 */
import { ApplicationFailure, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { z } from 'zod';
import type { RollbackActivities } from '../activities/index.ts';
import { planFullRollback, type FullRollbackPlan } from '../runbook/plan.ts';
import { searchAttributes } from './contract.ts';
import { surfaceKnownFailure } from './failures.ts';
import { commonInput, parseInput } from './input.ts';

export const fullRollbackInput = z.strictObject({
  ...commonInput,
  mode: z.enum(['immediate', 'gradual']),
  steps: z
    .array(z.int().min(0).max(100))
    .min(1)
    .refine((steps) => steps.at(-1) === 0, 'the last step must take the canary to 0')
    .optional(),
});
export type FullRollbackInput = z.input<typeof fullRollbackInput>;

export interface FullRollbackResult {
  dryRun: boolean;
  plan: FullRollbackPlan;
}

const { loadRunbook, readTrafficState } = proxyActivities<RollbackActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second', maximumInterval: '10 seconds' },
});

export async function fullRollback(raw: FullRollbackInput): Promise<FullRollbackResult> {
  const input = parseInput('fullRollback', fullRollbackInput, raw);
  upsertSearchAttributes([
    { key: searchAttributes.system, value: input.system },
    { key: searchAttributes.kind, value: 'fullRollback' },
    { key: searchAttributes.state, value: 'running' },
  ]);
  const runbook = await loadRunbook(input.system).catch(surfaceKnownFailure);
  const plan = planFullRollback(runbook, await readTrafficState(input.system), input);
  if (input.dryRun) {
    upsertSearchAttributes([{ key: searchAttributes.state, value: 'completed' }]);
    return { dryRun: true, plan };
  }
  throw ApplicationFailure.nonRetryable('fullRollback runs only with dryRun: true in this version; the traffic shift is not built yet', 'NotImplemented');
}
