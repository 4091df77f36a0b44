/**
 * fullRollback: move all traffic from the canary back to stable. Seed 000's "Immediate Full
 * Rollback" (`fly scale count 0` canary, `fly scale count 3` stable) and "Gradual Rollback", and
 * seed 002's Cloud Run rollback ("First: 50/50 split. Monitor for 5 minutes, then complete").
 *
 *   preflight -> snapshot -> notify -> scale stable up -> for each canary weight: shift, verify,
 *   (gradual) approval or pause -> gate before cleanup -> canary to 0 -> report -> notify
 *
 * A failed step waits for `decide`; compensation restores the snapshot; `abort` stops anywhere.
 */
import { ActivityFailure, ApplicationFailure, condition } from '@temporalio/workflow';
import { z } from 'zod';
import { planFullRollback, type FullRollbackPlan, type TrafficPlanStep } from '../runbook/plan.ts';
import { activities, notify, watching } from './activities.ts';
import { commonInput, parseInput } from './input.ts';
import { Rollback } from './rollback.ts';
import type { HealthVerdict, Snapshot } from '../contract/index.ts';

export const fullRollbackInput = z
  .strictObject({
    ...commonInput,
    mode: z.enum(['immediate', 'gradual']),
    steps: z
      .array(z.int().min(0).max(100))
      .min(1)
      .max(20)
      .refine((steps) => steps.at(-1) === 0, 'the last step must take the canary to 0')
      .optional()
      .describe('canary weights for a gradual rollback, e.g. [50, 0]; default from the runbook'),
    verifyWindowSeconds: z.number().min(0).max(3600).optional().describe("overrides the runbook's health window"),
    stepPauseSeconds: z.number().min(0).max(86_400).optional().describe("overrides the runbook's pause between gradual steps"),
    baselineSeconds: z.number().min(0).max(600).default(5).describe('health baseline measured before any change'),
    detectedAt: z.iso.datetime({ offset: true }).optional().describe('when the incident was detected, for the RTO scorecard'),
  })
  // Steps given to an immediate rollback would be dropped without a word: say so instead.
  .refine((input) => input.mode !== 'immediate' || input.steps === undefined, {
    path: ['steps'],
    message: 'only a gradual rollback takes steps; remove them or use mode "gradual"',
  });
export type FullRollbackInput = z.input<typeof fullRollbackInput>;

export interface FullRollbackResult {
  dryRun: boolean;
  plan: FullRollbackPlan;
  snapshot: Snapshot;
  healthAfter: HealthVerdict | null;
  report: string | null;
}

export async function fullRollback(raw: FullRollbackInput): Promise<FullRollbackResult> {
  const input = parseInput('fullRollback', fullRollbackInput, raw);
  const { system, requestedBy } = input;
  const rollback = new Rollback(
    { workflowType: 'fullRollback', system, reason: input.reason, requestedBy, dryRun: input.dryRun, detectedAt: input.detectedAt },
    `${system}: ${input.dryRun ? 'dry run of ' : ''}${input.mode} rollback requested by ${requestedBy}: ${input.reason}`,
  );

  return rollback.settle(
    async () => {
      const runbook = await rollback.preflight();

      const snapshot = (await rollback.step({
        name: 'capture-snapshot',
        kind: 'snapshot',
        description: 'record weights, instance counts and a health baseline',
        skippable: false,
        run: () => activities('capture snapshot: weights, instances, health baseline', watching(input.baselineSeconds)).captureSnapshot({ system, baselineSeconds: input.baselineSeconds }),
      }))!;
      rollback.board.setSnapshot(snapshot);
      const plan = planFullRollback(runbook, snapshot.traffic, input);
      rollback.board.setPlan(plan);
      if (input.dryRun) return { dryRun: true, plan, snapshot, healthAfter: null, report: null };

      await rollback.step({
        name: 'notify-start',
        kind: 'notify',
        description: 'tell the runbook channels the rollback started',
        run: () => notify({ system, title: `${input.mode} rollback started by ${requestedBy}`, text: `${input.reason}\nPlan: ${plan.steps.map((s) => s.description).join('; ')}`, severity: 'warning' }),
      });

      const shifts = plan.steps.filter((s) => s.action === 'set-weights');
      for (const step of plan.steps) {
        if (step.phase === 'cleanup') await rollback.gate('before-cleanup', 'cleanup (canary scaled to 0)');
        await applyChange(step);
        if (step.phase !== 'shift') continue;
        await verifyHealth(step.name);
        if (step !== shifts.at(-1)) await holdBetweenSteps(step.name);
      }
      return { dryRun: false, plan, snapshot, healthAfter: rollback.board.view.healthAfter, report: null };
    },
    'rollback',
  ).then((result) => ({ ...result, report: rollback.board.view.report }));

  /** One planned change, undone by putting back what it found. */
  async function applyChange(step: TrafficPlanStep): Promise<void> {
    const change = (to: TrafficPlanStep['to'], name: string) => {
      const proxy = activities(`${system}: ${name === step.name ? '' : 'undo '}${step.description}`);
      return step.action === 'set-weights'
        ? proxy.setWeights({ system, weights: to as Record<string, number>, idempotencyKey: rollback.key(name), actor: rollback.actor })
        : proxy.scaleVersion({ system, version: step.version!, count: to as number, idempotencyKey: rollback.key(name), actor: rollback.actor });
    };
    await rollback.step({
      name: step.name,
      kind: 'change',
      description: step.description,
      run: () => change(step.to, step.name),
      undo: () => change(step.from, `${step.name}:undo`),
    });
  }

  async function verifyHealth(after: string): Promise<void> {
    const windowSeconds = input.verifyWindowSeconds ?? rollback.runbook.health.windowSeconds;
    await rollback.step({
      name: `verify:${after}`,
      kind: 'verify',
      description: `verify health for ${windowSeconds} s against the runbook's thresholds`,
      run: async () => {
        try {
          rollback.board.setHealthAfter(await activities(`verify health of ${system} for ${windowSeconds} s`, watching(windowSeconds)).verifyHealth({ system, windowSeconds }));
        } catch (err) {
          if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'HealthNotVerified') {
            rollback.board.setHealthAfter(err.cause.details?.[0] as HealthVerdict);
          }
          throw err;
        }
      },
    });
  }

  /** Between gradual steps: the runbook's `gradual-step` gate if it has one, else its pause. */
  async function holdBetweenSteps(after: string): Promise<void> {
    if (rollback.runbook.gates['gradual-step']) {
      await rollback.gate('gradual-step', `the next traffic step after ${after}`);
      return;
    }
    const seconds = input.stepPauseSeconds ?? rollback.runbook.traffic.stepPauseSeconds;
    await rollback.step({
      name: `pause:${after}`,
      kind: 'pause',
      description: `pause ${seconds} s before the next traffic step`,
      run: async () => {
        await condition(() => rollback.aborted !== null, seconds * 1000);
      },
    });
  }
}
