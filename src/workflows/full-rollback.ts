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
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { planFullRollback, planReleaseRollback, type TrafficPlanStep } from '../plan/plan.ts';
import { activities, watching } from './activities.ts';
import { verifyHealth } from './health.ts';
import { fullRollbackInput, type FullRollbackInput } from '../contract/index.ts';
import { parseInput } from './input.ts';
import { Rollback } from './rollback.ts';
import type { FullRollbackResult } from '../contract/index.ts';
import type { Runbook } from '../runbook/schema.ts';


/** A rollout waits for the platform (image pulls, rollout status, long-running operations): minutes, with heartbeats. */
const rolling = { ...watching(900), heartbeatTimeout: '30 seconds' as const };


export async function fullRollback(raw: FullRollbackInput): Promise<FullRollbackResult> {
  const input = parseInput('fullRollback', fullRollbackInput, raw);
  const { system, requestedBy } = input;
  const rollback = new Rollback(
    { workflowType: 'fullRollback', system, reason: input.reason, requestedBy, dryRun: input.dryRun, detectedAt: input.detectedAt },
    `${system}: ${input.dryRun ? 'dry run of ' : ''}${input.mode} rollback requested by ${requestedBy}: ${input.reason}`,
  );

  return rollback.settle(
    async () => {
      const loaded = await rollback.preflight();
      if (!loaded.traffic && loaded.release) return releaseRollback(loaded as Runbook & { release: NonNullable<Runbook['release']> });
      const runbook = withTraffic(loaded);

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
        run: () => rollback.announce({ title: `${input.mode} rollback started by ${requestedBy}`, text: `${input.reason}\nPlan: ${plan.steps.map((s) => s.description).join('; ')}`, severity: 'warning' }),
      });

      // Shifts move traffic: by weights, or by instance counts where the platform splits none (Fly).
      const shifts = plan.steps.filter((s) => s.phase === 'shift');
      for (const step of plan.steps) {
        if (step.phase === 'cleanup') await rollback.gate('before-cleanup', 'cleanup (canary scaled to 0)');
        else if (step.gate) await rollback.gate(step.gate, step.description);
        await applyChange(step);
        if (step.phase !== 'shift') continue;
        await verifyHealth(rollback, system, step.name, input.verifyWindowSeconds ?? runbook.health.windowSeconds);
        if (step !== shifts.at(-1)) await holdBetweenSteps(step.name);
      }
      return { dryRun: false, plan, snapshot, healthAfter: rollback.board.view.healthAfter, report: null };
    },
    'rollback',
  ).then((result) => {
    const { preflight, report } = rollback.board.view;
    return { ...result, ...(preflight ? { preflight } : {}), report };
  });

  /**
   * A system without a traffic router (seeds 001 and 003): each target of the release section back
   * to the release before the one serving now, then health verified; compensation rolls each back
   * to what served before. Refused before any change when a target cannot be rolled back.
   */
  async function releaseRollback(runbook: Runbook & { release: NonNullable<Runbook['release']> }): Promise<FullRollbackResult> {
    if (input.mode === 'gradual') {
      throw ApplicationFailure.nonRetryable(`the ${system} runbook rolls back releases (${runbook.release.provider}), which cannot be done gradually: there is no traffic to split; use mode immediate`, 'InvalidRunbook');
    }
    const captured = (await rollback.step({
      name: 'capture-snapshot',
      kind: 'snapshot',
      description: 'record the current and previous release of each target',
      skippable: false,
      run: () => activities('capture snapshot: current and previous releases').captureReleases({ system }),
    }))!;
    const baseline = input.baselineSeconds > 0 ? await activities('health baseline', watching(input.baselineSeconds)).measureBaseline({ system, seconds: input.baselineSeconds }) : null;
    const snapshot = { ...captured, baseline };
    rollback.board.setSnapshot(snapshot);
    const plan = planReleaseRollback(runbook, snapshot.releases);
    rollback.board.setPlan(plan);
    if (plan.problems.length > 0) {
      throw ApplicationFailure.nonRetryable(`nothing was changed: ${plan.problems.join('; ')}`, 'InvalidRunbook');
    }
    if (input.dryRun) return { dryRun: true, plan, snapshot, healthAfter: null, report: null };

    await rollback.step({
      name: 'notify-start',
      kind: 'notify',
      description: 'tell the runbook channels the rollback started',
      run: () => rollback.announce({ title: `release rollback started by ${requestedBy}`, text: `${input.reason}\nPlan: ${plan.steps.map((s) => s.description).join('; ')}`, severity: 'warning' }),
    });
    for (const step of plan.steps) {
      if (step.gate) await rollback.gate(step.gate.gate, `${step.description}`);
      const roll = (to: typeof step.to, name: string) =>
        activities(`${system}: ${name === step.name ? step.description : `undo: roll ${step.target} back to ${to.label}`}`, rolling).rollRelease({ system, target: step.target, release: to, idempotencyKey: rollback.key(name), actor: rollback.actor });
      await rollback.step({ name: step.name, kind: 'change', description: step.description, run: () => roll(step.to, step.name), undo: () => roll(step.from, `${step.name}:undo`) });
    }
    await verifyHealth(rollback, system, 'release rollback', input.verifyWindowSeconds ?? runbook.health.windowSeconds);
    return { dryRun: false, plan, snapshot, healthAfter: rollback.board.view.healthAfter, report: null };
  }

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

  /** Between gradual steps: the runbook's `gradual-step` gate if it has one, else its pause. */
  async function holdBetweenSteps(after: string): Promise<void> {
    if (rollback.runbook.gates['gradual-step']) {
      await rollback.gate('gradual-step', `the next traffic step after ${after}`);
      return;
    }
    const seconds = input.stepPauseSeconds ?? withTraffic(rollback.runbook).traffic.stepPauseSeconds;
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

/** fullRollback moves traffic: a runbook without a traffic section is refused before anything changes. */
function withTraffic(runbook: Runbook): Runbook & { traffic: NonNullable<Runbook['traffic']> } {
  if (!runbook.traffic) {
    throw ApplicationFailure.nonRetryable(
      `the ${runbook.system} runbook has no traffic section, and fullRollback moves traffic between versions; use phaseRollback or configRollback`,
      'InvalidRunbook',
    );
  }
  return runbook as Runbook & { traffic: NonNullable<Runbook['traffic']> };
}
