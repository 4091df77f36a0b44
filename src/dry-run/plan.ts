/**
 * The plan a rollback's dry run makes, made here without Temporal (`rollback plan`): the snapshot
 * read through the worker's read-only activities (local-activities.ts), then the same pure plan code
 * the workflows run (src/plan/), in the same order each workflow calls them:
 *
 *   fullRollback    weights and instances (or each release target's releases) -> planFullRollback
 *                   (or planReleaseRollback)
 *   phaseRollback   the phases asked for, captures filled -> every value they change -> planPhaseRollback
 *   configRollback  every value asked for -> planConfigRollback
 *   dataRestore     the backup, side database and names checked -> the restore's steps
 *
 * Unlike a workflow, a provider that does not answer ends nothing: it is named with its error, and the
 * plan goes on with what could be read (targets only, where the current value is missing). Changes
 * nothing: only reading activities are called.
 */
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import {
  configRollbackInput,
  dataRestoreInput,
  fullRollbackInput,
  phaseRollbackInput,
  validate,
  type Blocker,
  type ChangePlan,
  type DataRestorePlan,
  type FullRollbackPlan,
  type ReleaseRollbackPlan,
  type RollbackWorkflow,
  type Snapshot,
  type TrafficState,
} from '../contract/index.ts';
import type { ResolvedAction } from '../actions/index.ts';
import { withCaptureFilled } from '../plan/change-plan.ts';
import { configActions, planConfigRollback, planPhaseRollback, selectPhases } from '../plan/phase-plan.ts';
import { phaseActions, planFullRollback, planReleaseRollback } from '../plan/plan.ts';
import { dataRestoreSteps } from '../plan/restore-plan.ts';
import type { Runbook } from '../runbook/schema.ts';
import { localReadActivities, type LocalReadActivities } from './local-activities.ts';

/** A provider that did not answer: which, what was being read, its error, and what the plan does without it. */
export interface Unreachable {
  provider: string;
  reading: string;
  error: string;
  consequence: string;
}

export interface LocalPlan {
  workflow: RollbackWorkflow;
  plan: FullRollbackPlan | ReleaseRollbackPlan | ChangePlan | DataRestorePlan | null;
  snapshot: Snapshot | null;
  /** What a real run would be refused at, with what clears it (as a dry run's status lists them). */
  blockers: Blocker[];
  unreachable: Unreachable[];
  /** True when the traffic's current state was not read: steps carry their targets, their `from` is not known. */
  targetsOnly: boolean;
}

/** The message of an activity's failure or a client's error, as a workflow's status would show it. */
const messageOf = (err: unknown) => (err instanceof ApplicationFailure || err instanceof Error ? err.message : String(err));

/** What a dry run would refuse before reading anything (a bad input, an unknown phase): said as a blocker. */
const refused = (workflow: RollbackWorkflow, problem: string): LocalPlan => ({ workflow, plan: null, snapshot: null, blockers: [{ problem, fix: null }], unreachable: [], targetsOnly: false });

/**
 * Plans `workflow` for `raw` (a workflow input, as `rollback start` sends it) against `runbook`,
 * reading live state through providers configured from `env`. Closes every client it made.
 */
export async function planLocally(runbook: Runbook, workflow: RollbackWorkflow, raw: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>): Promise<LocalPlan> {
  // What the activities log is kept: a baseline that could not be measured is logged, not thrown.
  const logged: { msg?: string; error?: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as { msg?: string; error?: string }) });
  const read = localReadActivities(runbook, { env, logger });
  try {
    const planned =
      workflow === 'fullRollback'
        ? await fullRollbackPlan(runbook, raw, read)
        : workflow === 'phaseRollback'
          ? await phaseRollbackPlan(runbook, raw, read)
          : workflow === 'configRollback'
            ? await configRollbackPlan(runbook, raw, read)
            : await dataRestorePlan(runbook, raw, read);
    const metrics = runbook.health.metrics;
    for (const entry of logged.filter((e) => e.msg === 'health baseline not measured')) {
      planned.unreachable.push({ provider: metrics?.provider ?? 'metrics', reading: 'the health baseline', error: entry.error ?? 'no answer', consequence: 'the snapshot has no baseline' });
    }
    return planned;
  } finally {
    await read.close();
  }
}

function parsed<T extends Parameters<typeof validate>[0]>(schema: T, raw: Record<string, unknown>) {
  const result = validate(schema, { ...raw, dryRun: true });
  // The CLI checked the input against the same schema; this holds unless a caller skipped that.
  if (!result.ok) throw new Error(`invalid input: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return result.data;
}

async function fullRollbackPlan(runbook: Runbook, raw: Record<string, unknown>, read: LocalReadActivities): Promise<LocalPlan> {
  const input = parsed(fullRollbackInput, raw);
  const system = runbook.system;
  if (!runbook.traffic && runbook.release) {
    const withRelease = runbook as Runbook & { release: NonNullable<Runbook['release']> };
    if (input.mode === 'gradual') return refused('fullRollback', `the ${system} runbook rolls back releases (${withRelease.release.provider}), which cannot be done gradually: there is no traffic to split; use mode immediate`);
    const unreachable: Unreachable[] = [];
    const captured = await read.captureReleases({ system }).catch((err: unknown) => {
      unreachable.push({ provider: withRelease.release.provider, reading: 'releases', error: messageOf(err), consequence: 'no target can be planned without its current release' });
      return null;
    });
    const baseline = input.baselineSeconds > 0 ? await read.measureBaseline({ system, seconds: input.baselineSeconds }) : null;
    const plan = planReleaseRollback(withRelease, captured?.releases ?? []);
    const snapshot = captured ? { ...captured, baseline } : null;
    return { workflow: 'fullRollback', plan, snapshot, blockers: plan.problems.map((problem) => ({ problem, fix: null })), unreachable, targetsOnly: false };
  }
  if (!runbook.traffic) {
    return refused('fullRollback', `the ${system} runbook has no traffic section, and fullRollback moves traffic between versions; use phaseRollback or configRollback`);
  }
  const withTraffic = runbook as Runbook & { traffic: NonNullable<Runbook['traffic']> };
  try {
    const snapshot = await read.captureSnapshot({ system, baselineSeconds: input.baselineSeconds });
    return { workflow: 'fullRollback', plan: planFullRollback(withTraffic, snapshot.traffic, input), snapshot, blockers: [], unreachable: [], targetsOnly: false };
  } catch (err) {
    // Nothing read: the steps a dry run would plan from a state that needs them all (stable at 0, canary
    // at full weight), shown as targets only.
    const { stable, canary } = withTraffic.traffic;
    const unknown: TrafficState = { weights: { [stable]: 0, [canary]: 100 }, instances: { [stable]: 0, [canary]: 1 } };
    const plan = planFullRollback(withTraffic, unknown, input);
    return {
      workflow: 'fullRollback',
      plan,
      snapshot: null,
      blockers: [],
      unreachable: [{ provider: withTraffic.traffic.provider, reading: 'traffic', error: messageOf(err), consequence: 'plan shows targets only' }],
      targetsOnly: true,
    };
  }
}

/**
 * The inspection of every action at once, as the workflow does it; when a provider does not answer,
 * each action alone, so the rest are still read and the silent one is named.
 */
async function inspectEach(read: LocalReadActivities, system: string, actions: ResolvedAction[] | Parameters<LocalReadActivities['inspectChanges']>[0]['actions']) {
  try {
    return { ...(await read.inspectChanges({ system, actions })), unreachable: [] as Unreachable[] };
  } catch {
    const merged = { actions: [] as ResolvedAction[], values: [] as Awaited<ReturnType<LocalReadActivities['inspectChanges']>>['values'], blockers: [] as Blocker[], unreachable: [] as Unreachable[] };
    for (const action of actions) {
      try {
        const one = await read.inspectChanges({ system, actions: [action] });
        merged.actions.push(...one.actions);
        merged.values.push(...one.values);
        merged.blockers.push(...one.blockers);
      } catch (err) {
        merged.actions.push(action as ResolvedAction);
        const provider = (action as { provider?: string }).provider ?? 'its provider';
        merged.unreachable.push({ provider, reading: JSON.stringify(action), error: messageOf(err), consequence: 'its change is left out of the plan' });
      }
    }
    return merged;
  }
}

async function phaseRollbackPlan(runbook: Runbook, raw: Record<string, unknown>, read: LocalReadActivities): Promise<LocalPlan> {
  const input = parsed(phaseRollbackInput, raw);
  const system = runbook.system;
  const selected = selectPhases(runbook, input.phases);
  if ('problem' in selected) return refused('phaseRollback', `phases: ${selected.problem}`);
  const { phases } = selected;
  // A plan has no workflow ID: {{workflowId}} in a command reads as the plan's.
  const context = { system, workflowId: `plan-${system}`, requestedBy: input.requestedBy };
  const filled = phases.flatMap((p) => phaseActions(p).map((action) => withCaptureFilled(action, { ...context, phase: p.id })));
  const unfillable = filled.flatMap((f) => f.problems);
  if (unfillable.length > 0) return { ...refused('phaseRollback', unfillable[0]!), blockers: unfillable.map((problem) => ({ problem, fix: null })) };
  const inspected = await inspectEach(read, system, filled.map((f) => f.action));
  const baseline = await read.measureBaseline({ system, seconds: input.baselineSeconds });
  const snapshot: Snapshot = { takenAt: new Date().toISOString(), baseline, values: inspected.values };
  const plan = planPhaseRollback(runbook, phases, inspected.actions, inspected.values, input.verifyWindowSeconds, context);
  const blockers = [...inspected.blockers, ...(plan.problems ?? []).map((problem) => ({ problem, fix: null }))];
  return { workflow: 'phaseRollback', plan, snapshot, blockers, unreachable: inspected.unreachable, targetsOnly: false };
}

async function configRollbackPlan(runbook: Runbook, raw: Record<string, unknown>, read: LocalReadActivities): Promise<LocalPlan> {
  const input = parsed(configRollbackInput, raw);
  const system = runbook.system;
  const asked = configActions(input);
  const inspected = await inspectEach(read, system, [...asked.killSwitches, ...asked.changes]);
  const baseline = await read.measureBaseline({ system, seconds: input.baselineSeconds });
  const snapshot: Snapshot = { takenAt: new Date().toISOString(), baseline, values: inspected.values };
  // The inspection resolved each action's provider, in the order given: kill switches first.
  const resolved = { killSwitches: inspected.actions.slice(0, asked.killSwitches.length), changes: inspected.actions.slice(asked.killSwitches.length) };
  const plan = planConfigRollback(runbook, resolved, inspected.values, input.verifyWindowSeconds);
  return { workflow: 'configRollback', plan, snapshot, blockers: inspected.blockers, unreachable: inspected.unreachable, targetsOnly: false };
}

async function dataRestorePlan(runbook: Runbook, raw: Record<string, unknown>, read: LocalReadActivities): Promise<LocalPlan> {
  const input = parsed(dataRestoreInput, raw);
  if (input.action === 'schema-rollback') {
    return refused('dataRestore', 'rollback plan does not plan a schema rollback yet; rollback start dataRestore --action schema-rollback --dry-run shows its plan');
  }
  const database = runbook.databases[input.database];
  try {
    const checked = await read.restorePreflight({
      system: runbook.system,
      database: input.database,
      backup: input.backup,
      before: input.before,
      ...(input.source ? { source: input.source } : {}),
      // The side and kept names carry the restore's ID; a plan's is "plan", the real run makes its own.
      restoreId: 'plan',
    });
    return { workflow: 'dataRestore', plan: dataRestoreSteps(checked, input.jobs), snapshot: null, blockers: [], unreachable: [], targetsOnly: false };
  } catch (err) {
    const message = messageOf(err);
    // A refusal (no such backup, a name taken) is what a real run would stop at; anything else is the database not answering.
    if (err instanceof ApplicationFailure && err.type !== null && err.type !== undefined) return refused('dataRestore', message);
    return { ...refused('dataRestore', `database ${input.database} could not be checked`), unreachable: [{ provider: database ? `database ${input.database}` : input.database, reading: 'the live database and its backups', error: message, consequence: 'no restore can be planned' }] };
  }
}
