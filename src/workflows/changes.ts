/**
 * Carrying out a change set (a phase, or a config rollback's changes): each planned change is a step
 * run by its activity, and the set is compensated as one unit: its changes undone newest first, then
 * its restarts run again, so services load the values put back. A change with no way back (down SQL,
 * a command without an undo) is reported under "Not restored" with what to do instead.
 */
import { workflowInfo } from '@temporalio/workflow';
import { ACTIONS, moduleOfChange, type Action, type KindChange, type ResolvedAction } from '../actions/index.ts';
import type { Blocker, Snapshot } from '../contract/index.ts';
import type { ChangePlan, ChangeSet } from '../plan/phase-plan.ts';
import { activities, quick, takeSafetyDump, watching } from './activities.ts';
import { surfaceKnownFailure } from './failures.ts';
import { verifyHealth } from './health.ts';
import type { Rollback } from './rollback.ts';
import { failureMessage } from './steps.ts';

/**
 * Carries out one planned change (or, with `undo`, puts it back) through its kind's module
 * (src/actions/<kind>.ts), which is given only what it needs: the step's key, who acts, its activities.
 */
function carryOut(rollback: Rollback, system: string, planned: KindChange, undo: boolean, summary: string): Promise<unknown> {
  const change = undo ? planned.undo : planned.change;
  if (!change) throw new Error(`${planned.name} has no undo`); // undoSet checks first; kept for the types
  const forwardKey = rollback.key(planned.name);
  return moduleOfChange(planned).carryOut(change, {
    system,
    key: undo ? rollback.key(`${planned.name}:undo`) : forwardKey,
    forwardKey,
    actor: rollback.actor,
    runId: workflowInfo().runId,
    activities: (waitSeconds) => activities(summary, waitSeconds === undefined ? quick : watching(waitSeconds)),
    note: (...lines) => rollback.board.note(...lines),
    takeSafetyDump: (database, dumpId) => takeSafetyDump({ system, database }, dumpId, database, 2),
  });
}

/**
 * Runs every change of `set` as a step (each waits for a decision if it fails) and registers the
 * set's compensation once its first change is done.
 */
export async function runChangeSet(rollback: Rollback, system: string, set: ChangeSet): Promise<void> {
  const done: KindChange[] = [];
  for (const change of set.changes) {
    if (change.gate) await rollback.gate(change.gate.gate, `${change.target}: ${change.from} -> ${change.to}`);
    const ran = await rollback.step({
      name: change.name,
      kind: 'change',
      description: `${change.target}: ${change.from ? `${change.from} -> ` : ''}${change.to}`,
      run: () => carryOut(rollback, system, change, false, `${set.name}: ${change.target} -> ${change.to}`),
    });
    if (ran === undefined && rollback.board.stepNamed(change.name)?.outcome === 'skipped') continue;
    done.push(change);
    if (done.length === 1) rollback.undoLater(`${set.title} (${system})`, () => undoSet(rollback, system, done));
  }
}

/** Compensation of one set: undone newest first, restarts (kinds undone last) after the rest, so replicas load what was put back. */
async function undoSet(rollback: Rollback, system: string, done: KindChange[]): Promise<void> {
  const newestFirst = [...done].reverse();
  const last = (c: KindChange) => ACTIONS[c.kind].undoLast === true;
  const order = [...newestFirst.filter((c) => !last(c)), ...newestFirst.filter(last)];
  for (const change of order) {
    const record = rollback.board.stepNamed(change.name);
    if (!change.undo) {
      if (record) record.outcome = 'compensation_failed';
      rollback.board.compensationFailed(`${change.name}: not undone: ${change.noUndo}`);
      continue;
    }
    if (!change.changes) {
      if (record) record.outcome = 'compensated'; // it found the value already set: nothing to put back
      continue;
    }
    try {
      rollback.board.describe(`undoing ${change.name}: ${change.target} back to ${change.from || 'as it was'}`);
      await carryOut(rollback, system, change, true, `undo ${change.target}: back to ${change.from || 'as it was'}`);
      if (record) record.outcome = 'compensated';
    } catch (err) {
      if (record) record.outcome = 'compensation_failed';
      rollback.board.compensationFailed(`${change.name}: ${failureMessage(err)}`);
    }
  }
}

/**
 * Carries out a plan: for each set, its gate if it has one, its changes, then health for the set's
 * window. `verifyName` names the verification step after a set ("phase-5", "config").
 */
export async function runPlan(rollback: Rollback, system: string, plan: ChangePlan, verifyName: (set: ChangeSet) => string): Promise<void> {
  for (const set of plan.sets) {
    if (set.gate) await rollback.gate(set.gate.gate, `${set.phase === null ? 'changing' : 'undoing'} ${set.title}`);
    await runChangeSet(rollback, system, set);
    if (set.verifySeconds !== null) await verifyHealth(rollback, system, verifyName(set), set.verifySeconds, set.phase);
  }
}

/**
 * The snapshot of a phase or config rollback, before anything changes: every target read from live
 * state and a health baseline. A request that cannot be carried out ends the rollback there, with
 * every problem named; a dry run instead goes on with what it could read and lists every problem as
 * a blocker (in status and its result). Returns the actions with their providers resolved, in the
 * order given, and the blockers.
 */
export async function captureTargets(
  rollback: Rollback,
  system: string,
  what: string,
  actions: Action[],
  baselineSeconds: number,
): Promise<{ actions: ResolvedAction[]; snapshot: Snapshot; blockers: Blocker[] }> {
  const { dryRun } = rollback.board.view;
  // Commands' captures run in the snapshot, each up to its timeout; without any, the usual options.
  const captureSeconds = actions.reduce((sum, a) => sum + ('command' in a && a.capture ? a.timeoutSeconds : 0), 0);
  const inspected = (await rollback.step({
    name: 'capture-snapshot',
    kind: 'snapshot',
    description: `read every value ${what} changes, from live state`,
    skippable: false,
    run: () =>
      (captureSeconds > 0 ? activities(`snapshot of what ${what} changes`, watching(captureSeconds)) : activities(`snapshot of what ${what} changes`))
        .inspectChanges({ system, actions, ...(dryRun ? { dryRun } : {}) })
        .catch(surfaceKnownFailure),
  }))!;
  const baseline = await activities(`health baseline of ${system}`, watching(baselineSeconds)).measureBaseline({ system, seconds: baselineSeconds });
  const snapshot: Snapshot = { takenAt: new Date().toISOString(), baseline, values: inspected.values };
  rollback.board.setSnapshot(snapshot);
  // Histories from before dry runs listed blockers have none in the inspection's result.
  return { actions: inspected.actions, snapshot, blockers: inspected.blockers ?? [] };
}

/** Tells the runbook's channels the rollback started (a step: a failing channel is a decision, not a crash). */
export async function announceStart(rollback: Rollback, system: string, title: string, text: string): Promise<void> {
  await rollback.step({
    name: 'notify-start',
    kind: 'notify',
    description: 'tell the runbook channels the rollback started',
    run: () => rollback.announce({ title, text, severity: 'warning' }),
  });
}
