/**
 * Pure plan building, shared by workflows (which run it on live state read by an activity) and the
 * CLI. A plan says what will change, from what to what, and which gates stand in the way.
 */
import type { TrafficState } from '../contract/index.ts';
import type { Runbook } from './schema.ts';

export interface PlannedGate {
  gate: string;
  role: string;
  approvers: string[];
  required: number;
  forbidRequester: boolean;
}

export interface TrafficPlanStep {
  /** Unique within the plan; also the step's name in status and its idempotency key. */
  name: string;
  /** capacity: stable up before traffic moves; shift: traffic weights; cleanup: canary down after the gate. */
  phase: 'capacity' | 'shift' | 'cleanup';
  action: 'set-weights' | 'scale';
  description: string;
  from: Record<string, number> | number;
  to: Record<string, number> | number;
  version?: string;
}

export interface FullRollbackPlan {
  system: string;
  mode: 'immediate' | 'gradual';
  steps: TrafficPlanStep[];
  gates: PlannedGate[];
}

export function plannedGate(runbook: Runbook, name: string): PlannedGate | undefined {
  const gate = runbook.gates[name];
  if (!gate) return undefined;
  return { gate: name, role: gate.role, approvers: runbook.approvers[gate.role] ?? [], required: gate.required, forbidRequester: gate.forbidRequester };
}

/**
 * The runbook's down SQL of `phases` for `database`, in the order given; `missing` lists the phases
 * that have none for that database (unknown phase, no down SQL, or down SQL for another database).
 */
export function downMigrations(runbook: Runbook, database: string, phases: number[]): { applied: { phase: number; sql: string }[]; missing: number[] } {
  const applied: { phase: number; sql: string }[] = [];
  const missing: number[] = [];
  for (const id of phases) {
    const down = runbook.phases.find((p) => p.id === id)?.rollback.downSql;
    if (down && down.database === database) applied.push({ phase: id, sql: down.sql });
    else missing.push(id);
  }
  return { applied, missing };
}

function weightsWithCanaryAt(runbook: Runbook, canaryWeight: number): Record<string, number> {
  const { stable, canary } = runbook.traffic;
  return { [stable]: 100 - canaryWeight, [canary]: canaryWeight };
}

/** From the live state to all traffic on stable, stable scaled up, canary scaled to zero. */
export function planFullRollback(
  runbook: Runbook,
  current: TrafficState,
  options: { mode: 'immediate' | 'gradual'; steps?: number[] },
): FullRollbackPlan {
  const { stable, canary, stableInstances } = runbook.traffic;
  const steps: TrafficPlanStep[] = [];
  const currentStable = current.instances[stable] ?? 0;
  if (currentStable < stableInstances) {
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
  let from = current.weights;
  canaryWeights.forEach((weight, index) => {
    const to = weightsWithCanaryAt(runbook, weight);
    const name = canaryWeights.length === 1 ? 'shift-traffic' : `shift-traffic-${index + 1}`;
    steps.push({ name, phase: 'shift', action: 'set-weights', from, to, description: `shift ${canary} to ${weight}%, ${stable} to ${100 - weight}%` });
    from = to;
  });
  const cleanup = plannedGate(runbook, 'before-cleanup');
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
