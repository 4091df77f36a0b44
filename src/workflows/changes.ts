/**
 * Carrying out a change set (a phase, or a config rollback's changes): each planned change is a step
 * run by its activity, and the set is compensated as one unit: its changes undone newest first, then
 * its restarts run again, so services load the values put back. A change with no way back (down SQL,
 * a command without an undo) is reported under "Not restored" with what to do instead.
 */
import { ActivityFailure, ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { CommandSummary } from '../activities/commands.ts';
import type { FailureType } from '../contract/index.ts';
import type { Change, PlannedChange } from '../runbook/change-plan.ts';
import type { ChangePlan, ChangeSet } from '../runbook/phase-plan.ts';
import type { Blocker, Snapshot } from '../contract/index.ts';
import type { Action } from '../runbook/actions.ts';
import { showArgv } from '../runbook/templates.ts';
import { activities, takeSafetyDump, watching } from './activities.ts';
import { surfaceKnownFailure } from './failures.ts';
import { verifyHealth } from './health.ts';
import type { Rollback } from './rollback.ts';
import { failureMessage } from './steps.ts';

/** The activity call that carries out `change`; `key` is its idempotency key. */
async function carryOut(rollback: Rollback, system: string, change: Change, key: string, summary: string): Promise<unknown> {
  const who = { system, idempotencyKey: key, actor: rollback.actor };
  switch (change.kind) {
    case 'flag':
      return activities(summary).setFlag({ ...who, provider: change.provider, flag: change.flag, enabled: change.enabled });
    case 'config':
      return activities(summary).setConfig({ ...who, provider: change.provider, values: change.values });
    case 'secret-version':
      return activities(summary).setSecretVersions({ ...who, provider: change.provider, secret: change.secret, states: change.states });
    case 'kill-switch':
      return activities(summary).setKillSwitch({ ...who, provider: change.provider, feature: change.feature, on: change.on });
    case 'restart': {
      const replicas = await activities(summary, watching(300)).restartService({ ...who, provider: change.provider, target: change.target });
      const loaded = replicas.map((r) => `${change.target}#${r.replica}: ${Object.entries(r.secretVersions).map(([s, v]) => `${s} v${v}`).join(', ') || 'no secrets'}`);
      rollback.board.note(`- restarted ${change.target}: ${replicas.length} replica(s) up (${loaded.join('; ')})`);
      return replicas;
    }
    case 'command': {
      const { provider, argv, env, timeoutSeconds, successPattern, repeatable } = change;
      const ran = key.endsWith(':undo') ? 'undo: ran' : 'ran';
      try {
        const result = await activities(summary, watching(timeoutSeconds)).runCommand({ system, provider, argv, env, timeoutSeconds, successPattern, repeatable });
        rollback.board.note(...commandNote(`${ran} \`${showArgv(argv)}\` (exit ${result.exitCode}, ${seconds(result.durationMs)})`, result.outputTail));
        return result;
      } catch (err) {
        // A command that ran and failed says how (its exit, time and last lines) in the report too.
        const ended = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === ('CommandFailed' satisfies FailureType) ? (err.cause.details?.[0] as CommandSummary | undefined) : undefined;
        if (ended) {
          const how = ended.timedOut ? `timed out after ${timeoutSeconds} s` : ended.exitCode === 0 ? `exit 0, success pattern not printed` : ended.signal ? `killed by ${ended.signal}` : `exit ${ended.exitCode}`;
          rollback.board.note(...commandNote(`${ran} \`${showArgv(argv)}\`: FAILED (${how}, ${seconds(ended.durationMs)})`, ended.outputTail));
        }
        throw err;
      }
    }
    case 'down-sql': {
      // DESIGN: a safety dump before any down migration; the dump is the way back.
      const ref = { system, database: change.database };
      const dumpId = `safety-${workflowInfo().runId.slice(0, 8)}-p${change.phase}`;
      await takeSafetyDump(ref, dumpId, change.database, 2);
      const applied = await activities(summary).applyDownMigrations({ ...ref, phases: [change.phase], idempotencyKey: key, actor: rollback.actor });
      for (const { sql } of applied.applied) rollback.board.note(`- phase ${change.phase} down SQL on ${change.database} (one transaction; safety dump ${dumpId} before it):`, '', '```sql', sql.trim(), '```', '');
      return applied;
    }
    case 'redis-restore': {
      const saved = await activities(summary, watching(3600)).restoreKeyspace({ system, keyspace: change.keyspace, backup: change.backup, saveId: saveIdFor(key) });
      rollback.board.note(`- keyspace ${change.keyspace}: ${saved.restored} keys restored from backup ${saved.backupId}; the ${saved.existedBefore} keys there before saved as ${saved.savedAs}`);
      return saved;
    }
    case 'git-revert': {
      const result = await activities(summary, watching(600)).revertCommits({ ...who, provider: change.provider, range: change.range });
      rollback.board.note(`- git: reverted ${result.reverted.length} commit(s) of ${change.range} as ${result.created.length} new commit(s), pushed; head now ${result.head.slice(0, 12)}`);
      return result;
    }
    case 'git-revert-undo': {
      const result = await activities(summary, watching(600)).undoRevert({ ...who, provider: change.provider, range: change.range, forwardKey: key.replace(/:undo$/, '') });
      rollback.board.note(`- git: undo: the revert of ${change.range} reverted by ${result.created.length} new commit(s), pushed; head now ${result.head.slice(0, 12)}`);
      return result;
    }
    case 'redis-restore-undo':
      return activities(summary, watching(3600)).undoKeyspaceRestore({ system, keyspace: change.keyspace, saveId: saveIdFor(key.replace(/:undo$/, '')) });
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A command in the report: one line with its last lines, then (when it printed more) up to 10 of them, masked. */
function commandNote(head: string, tail: string[]): string[] {
  const note = [`- ${head}: ${tail.slice(-3).join(' / ') || 'no output'}`];
  if (tail.length > 3) note.push('', '  ```', ...tail.slice(-10).map((line) => `  ${line.replaceAll('```', "'''")}`), '  ```', '');
  return note;
}

/** The save a keyspace restore takes first, named from the step's key (the same on every retry). */
function saveIdFor(key: string): string {
  return `save-${key.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(-60)}`;
}

/**
 * Runs every change of `set` as a step (each waits for a decision if it fails) and registers the
 * set's compensation once its first change is done.
 */
export async function runChangeSet(rollback: Rollback, system: string, set: ChangeSet): Promise<void> {
  const done: PlannedChange[] = [];
  for (const change of set.changes) {
    const ran = await rollback.step({
      name: change.name,
      kind: 'change',
      description: `${change.target}: ${change.from ? `${change.from} -> ` : ''}${change.to}`,
      run: () => carryOut(rollback, system, change.change, rollback.key(change.name), `${set.name}: ${change.target} -> ${change.to}`),
    });
    if (ran === undefined && rollback.board.stepNamed(change.name)?.outcome === 'skipped') continue;
    done.push(change);
    if (done.length === 1) rollback.undoLater(`${set.title} (${system})`, () => undoSet(rollback, system, done));
  }
}

/** Compensation of one set: undone newest first, restarts last (so replicas load what was put back). */
async function undoSet(rollback: Rollback, system: string, done: PlannedChange[]): Promise<void> {
  const newestFirst = [...done].reverse();
  const order = [...newestFirst.filter((c) => c.kind !== 'restart'), ...newestFirst.filter((c) => c.kind === 'restart')];
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
      await carryOut(rollback, system, change.undo, rollback.key(`${change.name}:undo`), `undo ${change.target}: back to ${change.from || 'as it was'}`);
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
    if (set.verifySeconds !== null) await verifyHealth(rollback, system, verifyName(set), set.verifySeconds);
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
): Promise<{ actions: Action[]; snapshot: Snapshot; blockers: Blocker[] }> {
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
