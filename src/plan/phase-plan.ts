/**
 * Plans of phase and config rollbacks: which phases, highest first, each with its gate, its changes
 * (found value -> set value, from live state) and its health window; a config rollback's kill
 * switches apart from the rest. Pure, shared by the workflows and the CLI.
 */
import { phaseGate, type CapturedValue, type ChangePlan as ChangePlanOf, type ChangeSet as ChangeSetOf } from '../contract/index.ts';
import type { Action, KindChange, ResolvedAction } from '../actions/index.ts';
import { planChanges, type FillContext } from './change-plan.ts';
import { plannedGate } from './plan.ts';

/** A phase or config rollback's plan, each change carrying its kind's change and undo. */
export type ChangePlan = ChangePlanOf<KindChange>;
export type ChangeSet = ChangeSetOf<KindChange>;
import type { Phase, Runbook } from '../runbook/schema.ts';



/** The phases asked for, highest first, or why they cannot be: an unknown id, a repeat, a range end outside the runbook. */
export function selectPhases(runbook: Runbook, asked: number[] | { from: number; to: number }): { phases: Phase[] } | { problem: string } {
  const ids = runbook.phases.map((p) => p.id).sort((a, b) => a - b);
  const known = `the ${runbook.system} runbook's phases are ${ids.join(', ') || 'none'}`;
  let chosen: number[];
  if (Array.isArray(asked)) {
    const unknownIds = asked.filter((id) => !ids.includes(id));
    if (unknownIds.length > 0) return { problem: `phase ${unknownIds.join(', ')} ${unknownIds.length === 1 ? 'is' : 'are'} not in the runbook; ${known}` };
    const repeated = asked.filter((id, i) => asked.indexOf(id) !== i);
    if (repeated.length > 0) return { problem: `phase ${repeated[0]} is listed twice` };
    chosen = asked;
  } else {
    const outside = [asked.from, asked.to].filter((id) => !ids.includes(id));
    if (outside.length > 0) return { problem: `phases from ${asked.from} to ${asked.to} are out of range: ${outside.join(' and ')} ${outside.length === 1 ? 'is' : 'are'} not a phase; ${known}` };
    const [low, high] = [Math.min(asked.from, asked.to), Math.max(asked.from, asked.to)];
    chosen = ids.filter((id) => id >= low && id <= high);
  }
  // Undone in reverse of how they shipped: the newest phase first (seed 000, seed 004).
  const phases = [...chosen].sort((a, b) => b - a).map((id) => runbook.phases.find((p) => p.id === id)!);
  return { phases };
}

/**
 * The plan of undoing `phases` (highest first) with the values inspected from live state; `context`
 * fills the commands' placeholders (templates.ts), and what cannot be filled is listed in `problems`.
 */
export function planPhaseRollback(runbook: Runbook, phases: Phase[], actions: ResolvedAction[], values: CapturedValue[], verifyWindowSeconds?: number, fill?: FillContext): ChangePlan {
  let next = 0;
  const problems: string[] = [];
  const gates = (name: string) => plannedGate(runbook, name);
  const live = JSON.parse(JSON.stringify(values)) as CapturedValue[]; // each phase finds what the phases before it set
  // The inspection already refused every other problem; only the filling of placeholders remains.
  const collect = (planned: ReturnType<typeof planChanges>) => (problems.push(...planned.problems), planned.changes);
  const sets = phases.map((phase): ChangeSet => {
    // `actions` are the phases' actions in the same order, with providers resolved by the inspection.
    const own = actions.slice(next, (next += phase.rollback.length));
    const gate = phaseGate(runbook.gates, phase.id);
    const window = (typeof phase.verify === 'object' ? phase.verify.windowSeconds : undefined) ?? runbook.health.windowSeconds;
    return {
      name: `phase ${phase.id}`,
      title: `phase ${phase.id}: ${phase.name}`,
      phase: phase.id,
      gate: gate ? plannedGate(runbook, gate)! : null,
      changes: collect(planChanges(own, values, { phase: phase.id, prefix: `phase-${phase.id}/`, live, fill, gates })),
      verifySeconds: phase.verify === false ? null : (verifyWindowSeconds ?? window),
    };
  });
  return { system: runbook.system, sets, ...(problems.length > 0 ? { problems } : {}) };
}

/** The configRollback input's changes as runbook actions: kill switches, flags, config, secrets, restarts. */
export function configActions(input: {
  killSwitches?: Record<string, boolean>;
  flags?: Record<string, boolean>;
  config?: Record<string, string | null>;
  secrets?: Record<string, 'previous' | number>;
  scale?: Record<string, number>;
  restart?: string[];
  providers?: { flags?: string; config?: string; secrets?: string; killSwitches?: string; restarts?: string; scaling?: string };
}): { killSwitches: Action[]; changes: Action[] } {
  const p = input.providers ?? {};
  const killSwitches: Action[] = Object.entries(input.killSwitches ?? {}).map(([feature, on]) => ({ 'kill-switch': feature, on, provider: p.killSwitches }));
  const changes: Action[] = [
    ...Object.entries(input.flags ?? {}).map(([flag, enabled]): Action => ({ flag, enabled, provider: p.flags })),
    ...(input.config && Object.keys(input.config).length > 0 ? [{ config: input.config, provider: p.config } as Action] : []),
    ...Object.entries(input.secrets ?? {}).map(([secret, to]): Action => ({ 'secret-version': secret, to, provider: p.secrets })),
    // Scaled before restarts, so the replicas restarted are the ones that stay.
    ...Object.entries(input.scale ?? {}).map(([target, instances]): Action => ({ scale: { target, instances }, provider: p.scaling })),
    ...(input.restart ?? []).map((target): Action => ({ restart: target, provider: p.restarts })),
  ];
  return { killSwitches, changes };
}

/** The plan of a config rollback: kill switches first (their own gate only if the runbook has one), then the rest. */
export function planConfigRollback(runbook: Runbook, actions: { killSwitches: ResolvedAction[]; changes: ResolvedAction[] }, values: CapturedValue[], verifyWindowSeconds?: number): ChangePlan {
  const gate = (name: string) => (runbook.gates[name] ? plannedGate(runbook, name)! : null);
  const live = JSON.parse(JSON.stringify(values)) as CapturedValue[];
  const sets: ChangeSet[] = [];
  if (actions.killSwitches.length > 0) {
    sets.push({ name: 'kill switches', title: 'kill switches', phase: null, gate: gate('before-kill-switch'), changes: planChanges(actions.killSwitches, values, { phase: null, prefix: '', live }).changes, verifySeconds: null });
  }
  if (actions.changes.length > 0) {
    sets.push({ name: 'config', title: 'flags, config, secrets, scaling and restarts', phase: null, gate: gate('before-config-change'), changes: planChanges(actions.changes, values, { phase: null, prefix: '', live, gates: (name) => plannedGate(runbook, name) }).changes, verifySeconds: null });
  }
  // One health verification, after everything changed.
  sets.at(-1)!.verifySeconds = verifyWindowSeconds ?? runbook.health.windowSeconds;
  return { system: runbook.system, sets };
}
