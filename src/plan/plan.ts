/**
 * Pure plan building, shared by workflows (which run it on live state read by an activity) and the
 * CLI. A plan says what will change, from what to what, and which gates stand in the way.
 */
import { releaseGates, type FullRollbackPlan, type PlannedGate, type ReleasePlanStep, type ReleaseRollbackPlan, type ReleaseState, type TrafficPlanStep, type TrafficState } from '../contract/index.ts';

export type { FullRollbackPlan, PlannedGate, ReleasePlanStep, ReleaseRollbackPlan, TrafficPlanStep } from '../contract/index.ts';
import type { Action } from '../actions/index.ts';
import type { Phase, Runbook } from '../runbook/schema.ts';




export function plannedGate(runbook: Runbook, name: string): PlannedGate | undefined {
  const gate = runbook.gates[name];
  if (!gate) return undefined;
  return { gate: name, role: gate.role, approvers: runbook.approvers[gate.role] ?? [], required: gate.required, forbidRequester: gate.forbidRequester };
}

/**
 * A phase's actions. Runbooks in the histories of rollbacks started before phases became action lists
 * hold `rollback: {flags, config, restart, downSql}`: read as the actions it meant, so they replay.
 */
export function phaseActions(phase: Phase): Action[] {
  const rollback: unknown = phase.rollback;
  if (Array.isArray(rollback)) return rollback as Action[];
  const earlier = rollback as { flags?: Record<string, boolean>; config?: Record<string, string>; restart?: boolean; downSql?: { database: string; sql: string } };
  return [
    ...Object.entries(earlier.flags ?? {}).map(([flag, enabled]): Action => ({ flag, enabled })),
    ...(earlier.config && Object.keys(earlier.config).length > 0 ? [{ config: earlier.config } as Action] : []),
    ...(earlier.restart ? [{ restart: 'all' } as Action] : []),
    ...(earlier.downSql ? [{ 'down-sql': earlier.downSql } as Action] : []),
  ];
}

/**
 * The runbook's down SQL of `phases` for `database`, in the order given; `missing` lists the phases
 * that have none for that database (unknown phase, no down SQL, or down SQL for another database).
 */
export function downMigrations(runbook: Runbook, database: string, phases: number[]): { applied: { phase: number; sql: string }[]; missing: number[] } {
  const applied: { phase: number; sql: string }[] = [];
  const missing: number[] = [];
  for (const id of phases) {
    const phase = runbook.phases.find((p) => p.id === id);
    const downs = (phase ? phaseActions(phase) : []).flatMap((action) => ('down-sql' in action && action['down-sql'].database === database ? [action['down-sql'].sql] : []));
    if (downs.length > 0) applied.push({ phase: id, sql: downs.join(';\n') });
    else missing.push(id);
  }
  return { applied, missing };
}

type Traffic = NonNullable<Runbook['traffic']>;

function weightsWithCanaryAt({ stable, canary }: Traffic, canaryWeight: number): Record<string, number> {
  return { [stable]: 100 - canaryWeight, [canary]: canaryWeight };
}

/** From the live state to all traffic on stable, stable scaled up, canary scaled to zero. */
export function planFullRollback(
  runbook: Runbook & { traffic: Traffic },
  current: TrafficState,
  options: { mode: 'immediate' | 'gradual'; steps?: number[] },
): FullRollbackPlan {
  const { stable, canary, stableInstances } = runbook.traffic;
  const steps: TrafficPlanStep[] = [];
  // A provider that scales by itself (Cloud Run) gets no instance steps: traffic is all there is to move.
  const scales = current.scales !== false;
  const currentStable = current.instances[stable] ?? 0;
  if (scales && stableInstances !== undefined && currentStable < stableInstances) {
    steps.push({
      name: 'scale-stable',
      phase: 'capacity',
      action: 'scale',
      version: stable,
      from: currentStable,
      to: stableInstances,
      description: `scale ${stable} from ${currentStable} to ${stableInstances}`,
    });
  }
  const canaryWeights = options.mode === 'immediate' ? [0] : (options.steps ?? runbook.traffic.gradualSteps);
  if (current.splits === false) return scaledShifts(runbook, current, steps, canaryWeights, options.mode);
  let from = current.weights;
  canaryWeights.forEach((weight, index) => {
    const to = weightsWithCanaryAt(runbook.traffic, weight);
    const name = canaryWeights.length === 1 ? 'shift-traffic' : `shift-traffic-${index + 1}`;
    steps.push({ name, phase: 'shift', action: 'set-weights', from, to, description: `shift ${canary} to ${weight}%, ${stable} to ${100 - weight}%` });
    from = to;
  });
  const cleanup = plannedGate(runbook, 'before-cleanup');
  if (!scales) return { system: runbook.system, mode: options.mode, steps, gates: [] };
  steps.push({
    name: 'cleanup',
    phase: 'cleanup',
    action: 'scale',
    version: canary,
    from: current.instances[canary] ?? 0,
    to: 0,
    description: `scale ${canary} to 0 (cleanup)`,
  });
  return { system: runbook.system, mode: options.mode, steps, gates: cleanup ? [cleanup] : [] };
}


/**
 * Traffic moved by instance counts, where the platform splits none (seed 000 on Fly: `fly scale count
 * 3 -a app-stable`, then `fly scale count 0 -a app-canary`): after stable's capacity, each canary
 * weight becomes a canary instance count against stable's (50% beside 3 stable is 3), verified like a
 * traffic shift; canary at 0 is the last shift, behind the runbook's before-cleanup gate if it has one.
 */
function scaledShifts(runbook: Runbook & { traffic: Traffic }, current: TrafficState, steps: TrafficPlanStep[], canaryWeights: number[], mode: 'immediate' | 'gradual'): FullRollbackPlan {
  const { stable, canary, stableInstances } = runbook.traffic;
  const stableCount = Math.max(current.instances[stable] ?? 0, stableInstances ?? 0);
  let from = current.instances[canary] ?? 0;
  const shifts = canaryWeights.map((weight) => (weight === 0 ? 0 : Math.min(from, Math.ceil((stableCount * weight) / (100 - weight)))));
  const cleanup = plannedGate(runbook, 'before-cleanup');
  shifts.forEach((to, index) => {
    const last = index === shifts.length - 1;
    if (to === from && !last) return; // already at or below that share: nothing to do at this step
    const name = shifts.length === 1 ? 'shift-traffic' : `shift-traffic-${index + 1}`;
    const share = stableCount + to === 0 ? 0 : Math.round((to * 100) / (stableCount + to));
    steps.push({
      name,
      phase: 'shift',
      action: 'scale',
      version: canary,
      from,
      to,
      description: `scale ${canary} from ${from} to ${to} instance(s) (${share}% of instances beside ${stableCount} on ${stable})`,
      ...(last && to === 0 && cleanup ? { gate: 'before-cleanup' } : {}),
    });
    from = to;
  });
  return { system: runbook.system, mode, steps, gates: cleanup ? [cleanup] : [] };
}

/**
 * A full rollback of a system without a traffic router (seed 003's `git checkout HEAD~1
 * docker-compose.yml && docker compose up -d`, seed 001's Railway and Render rollbacks): each target
 * of the runbook's release section, in order, back to the release before the one serving now.
 */
export function planReleaseRollback(runbook: Runbook & { release: NonNullable<Runbook['release']> }, releases: readonly ReleaseState[]): ReleaseRollbackPlan {
  const steps: ReleasePlanStep[] = [];
  const problems: string[] = [];
  const gates: PlannedGate[] = [];
  for (const entry of runbook.release.targets) {
    const target = typeof entry === 'string' ? entry : entry.target;
    const state = releases.find((r) => r.target === target);
    if (!state) problems.push(`${target}: its release was not read`);
    else if (!state.current) problems.push(`${target}: nothing is deployed, so there is nothing to roll back`);
    else if (state.blocked || !state.previous) problems.push(`${target}: ${state.blocked ?? 'no earlier release to roll back to'}`);
    else {
      // The target's own gate, else the one for every release; none when the runbook has neither.
      const gate = releaseGates(target).map((name) => plannedGate(runbook, name)).find((g) => g !== undefined);
      if (gate) gates.push(gate);
      steps.push({
        name: `roll-back-${target}`,
        target,
        description: `roll ${target} back from ${state.current.label} to ${state.previous.label}${state.previous.fresh ? ' (deployed new)' : ''}`,
        from: state.current,
        to: state.previous,
        ...(gate ? { gate } : {}),
      });
    }
  }
  return { system: runbook.system, mode: 'immediate', steps, gates, problems };
}
