/**
 * rollbackDrill: a rehearsal of a rollback, run on a Temporal Schedule, that scores every stage
 * against the runbook's RTO targets (seed 000: "Run rollback drills regularly"; seed 001: quarterly
 * drills that "time each step"; every seed's RTO table, which nobody measured).
 *
 *   load the drill and its target (this system, or the staging system it names) -> make sure the
 *   watchdog runs where the target has watch rules -> note the target as it is -> inject the scenario
 *   -> the watchdog detects it and starts its rollback (or, with no watch rules, the drill starts it:
 *   detection not measured) -> pass the gates the drill may pass, as its approver -> the rollback ends
 *   -> verify health -> undo the scenario / put the target back -> score each stage, keep the result
 *   with the earlier ones, write the report and the trend chart
 *
 * Scenarios: the sandbox's fault switches (fault, circuit breaker, memory, a flag), or on any platform
 * a runbook action carried out and undone by its kind's module (a bad release to the staging canary,
 * a command with its undo), or an HTTP call with its undo call. The undo runs however the drill ends
 * (not detected in time, a gate no drill may pass, a failed rollback, cancelled), so the next drill
 * starts clean, and what it did is in the scorecard.
 *
 * A production drill (`dryRun: true`) injects nothing and changes nothing, on any runbook: it checks
 * every gate has approvers it can reach, and runs the rollback as a dry run from live state (every
 * target read through its provider); it scores only what a read-only run can measure (seed 000:
 * "Production drill (read-only)").
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, patched, setCurrentDetails, setHandler, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { drillInput, searchAttributes, type DrillCheck, type DrillInput, type DrillResult, type DrillStatus, type RollbackStatus } from '../contract/index.ts';
import type { DrillTarget } from '../activities/drill.ts';
import type { DrillTargetInfo } from '../activities/drill-scenarios.ts';
import { moduleOfChange, type ChangeActivities, type KindChange } from '../actions/index.ts';
import type { CarryOutContext } from '../actions/kind.ts';
import type { DrillScenario } from '../runbook/drill-schema.ts';
import { planChanges } from '../plan/change-plan.ts';
import { drillStages } from '../plan/scorecard.ts';
import { activities, quick, watching } from './activities.ts';
import { now } from './board.ts';
import { surfaceKnownFailure } from './failures.ts';
import { parseInput } from './input.ts';
import { drillStatusQuery } from '../contract/messages.ts';

/** Sandbox scenarios go through the router's switches; the others through actions or HTTP calls (kept in sync with drill-schema.ts's isSandboxScenario, which the bundle does not carry). */
const onSandbox = (scenario: DrillScenario) => 'fault' in scenario || 'circuitBreaker' in scenario || 'memory' in scenario || 'flag' in scenario;

/** Why a fault scenario could not be seen: its version takes no traffic now. null when it can. */
function idleVersion(scenario: DrillScenario, before: DrillTarget): string | null {
  if (!('fault' in scenario)) return null;
  const version = scenario.fault.version;
  const weight = before.traffic.weights[version] ?? 0;
  const instances = before.traffic.instances[version] ?? 0;
  if (weight > 0 && instances > 0) return null;
  return `not run: ${version} serves no traffic (weight ${weight}%, ${instances} instance(s)), so a fault there cannot be detected; put the release back as it is during a canary first`;
}

/** An activity's own message ("expected 200, got 503"), not "Activity task failed". */
const failureText = (err: unknown) => (err instanceof ActivityFailure ? ((err.cause as Error | undefined)?.message ?? err.message) : (err as Error).message);

/** How often the drill looks at the watchdog and the rollback. */
const POLL = '1 second';

export async function rollbackDrill(raw: DrillInput): Promise<DrillResult> {
  const input = parseInput('rollbackDrill', drillInput, raw);
  const { system } = input;
  const { workflowId } = workflowInfo();
  const startedAt = now();
  const status: DrillStatus = { system, drill: input.drill, state: 'starting', detail: 'loading the drill', injectedAt: null, rollbackWorkflowId: null, result: null };
  setHandler(drillStatusQuery, () => status);
  upsertSearchAttributes([
    { key: searchAttributes.system, value: system },
    { key: searchAttributes.kind, value: 'rollbackDrill' },
    { key: searchAttributes.state, value: 'starting' },
  ]);
  const show = (state: DrillStatus['state'], detail: string) => {
    if (state !== status.state) upsertSearchAttributes([{ key: searchAttributes.state, value: state }]);
    status.state = state;
    status.detail = detail;
    setCurrentDetails(`**${system} drill ${input.drill}: ${state}**\n\n${detail}`);
  };

  const loaded = await activities(`load drill ${input.drill} of ${system}`)
    .loadDrill({ system, drill: input.drill })
    .catch((err: unknown) => surfaceKnownFailure(err, new Set(['InvalidRunbook'])));
  const { drill, rto } = loaded;
  // Drills on any platform: a staging target, scenarios beyond the sandbox's, read-only checks. Drills
  // recorded before them ran on their own system, watched, and their dry runs checked nothing.
  const anyPlatform = patched('drill-any-platform');
  const info: DrillTargetInfo = anyPlatform
    ? await activities(`find what drill ${input.drill} drills`)
        .drillTarget({ system, drillName: input.drill, drill })
        .catch((err: unknown) => surfaceKnownFailure(err, new Set(['InvalidRunbook'])))
    : { target: system, watched: true, rehearses: 'fullRollback', phases: [], verifySeconds: loaded.verifySeconds };
  const { target, verifySeconds } = info;
  const key = (step: string) => `${workflowId}:${workflowInfo().runId}:${step}`;
  const actor = `drill ${input.drill} via ${workflowId}`;

  let why: string | null = null;
  let rollback: RollbackStatus | null = null;
  let drillVerifySeconds = 0;
  let recoveredAt: string | null = null;
  let restored: string[] = [];
  let detectedBy: DrillResult['detectedBy'] = 'watchdog';
  let undo: DrillResult['undo'];
  let checks: DrillCheck[] | undefined;

  if (drill.dryRun) {
    // Seed 000's production drill: read-only. The rollback plans from live state and changes nothing.
    if (anyPlatform) {
      show('starting', `checking ${target}'s gates and channels: who would approve, and whether they can be reached`);
      checks = await activities(`check ${target}'s gates and channels, read-only`).checkDrillReadiness({ system: target });
    }
    const dryRunId = `${workflowId}-dry-run`;
    if (info.rehearses) {
      status.rollbackWorkflowId = dryRunId;
      show('rolling-back', `dry run ${dryRunId}: reading every target from live state and planning, changing nothing`);
      await activities(`start dry run ${dryRunId}`).startDrillDryRun({
        workflowId: dryRunId,
        system: target,
        mode: drill.mode,
        requestedBy: drill.approver,
        reason: `drill ${input.drill} (production, read-only)`,
        ...(info.rehearses === 'phaseRollback' ? { workflowType: 'phaseRollback', phases: info.phases } : {}),
      });
      rollback = await followRollback(dryRunId, Date.now() + drill.timeoutMinutes * 60_000);
      if (rollback?.state !== 'completed') why = `the dry run ended ${rollback?.state ?? 'without an answer'}`;
    }
    if (checks) {
      // What the dry run could not read (a provider that did not answer, a release not found) is a failed check.
      const blockers = rollback?.blockers ?? [];
      if (info.rehearses && rollback?.state === 'completed') {
        checks.push(...blockers.map((b): DrillCheck => ({ check: `${info.rehearses} dry run`, ok: false, detail: b.problem })));
        if (blockers.length === 0) checks.push({ check: `${info.rehearses} dry run`, ok: true, detail: 'every target read from live state and planned; nothing changed' });
      } else if (!info.rehearses) checks.push({ check: 'dry run', ok: false, detail: `${target} has no traffic, release section or phases: there is no rollback to plan` });
      const failed = checks.filter((c) => !c.ok);
      if (!why && failed.length > 0) why = `read-only checks failed: ${failed.map((c) => `${c.check}: ${c.detail}`).join('; ')}`;
    }
  } else if (onSandbox(drill.scenario!)) {
    const watchdog = await activities(`make sure the ${target} watchdog runs`)
      .ensureWatchdog({ system: target, by: `drill ${input.drill}` })
      .catch((err: unknown) => surfaceKnownFailure(err));
    if (watchdog.started) show('starting', 'started the watchdog, which had not been running');
    const before: DrillTarget = await activities(`note ${target} as it is before the drill`).captureDrillTarget({ system: target, scenario: drill.scenario });
    // A fault in a version that serves nothing cannot be seen: say so instead of failing detection later.
    why = idleVersion(drill.scenario!, before);
    if (!why) {
      try {
        why = await injectAndFollow();
      } finally {
        // However the drill ends, even cancelled: the next drill starts clean.
        await CancellationScope.nonCancellable(async () => {
          show('restoring', `putting ${target} back as it was before the drill`);
          restored = await activities(`put ${target} back as it was before the drill`).restoreDrillTarget({ system: target, before, idempotencyKey: key('restore'), actor });
        });
      }
    }
  } else {
    why = await drillAnyPlatform();
  }

  const result: DrillResult = {
    system,
    drill: input.drill,
    workflowId,
    startedAt,
    endedAt: now(),
    dryRun: drill.dryRun,
    injectedAt: status.injectedAt,
    rollbackWorkflowId: status.rollbackWorkflowId,
    rollbackState: rollback?.state ?? null,
    outcome: why ? 'failed' : 'passed',
    why,
    stages: drillStages({ rollback, injectedAt: status.injectedAt, drillVerifySeconds, recoveredAt, rto, ...(anyPlatform ? { readOnly: drill.dryRun, detectedBy: drill.dryRun ? undefined : detectedBy } : {}) }),
    restored,
    ...(target !== system ? { target } : {}),
    ...(anyPlatform && !drill.dryRun ? { detectedBy } : {}),
    ...(undo ? { undo } : {}),
    ...(checks ? { checks } : {}),
    reportPath: null,
    chartPath: null,
  };
  const paths = await activities(`keep the result of drill ${input.drill}`).recordDrill({ result });
  Object.assign(result, paths);
  status.result = result;
  const scored = result.stages.map((s) => `- ${s.stage}: ${s.seconds ?? '-'} s (target ${s.targetSeconds} s)${s.met === false ? ' MISSED' : ''}${s.unscored ? ` (${s.unscored})` : ''}`).join('\n');
  show(result.outcome, `${why ?? (drill.dryRun ? 'read every target, checked every gate, changed nothing' : 'detected, rolled back, verified, put back')}\n\n${scored}`);
  return result;

  /**
   * A scenario on any platform: a runbook action (read first, so a release that does not exist is refused
   * before anything changes) or an HTTP call, injected into the target; the watchdog detects it where the
   * target has watch rules, else the drill starts the rollback itself; the undo runs however it ends.
   */
  async function drillAnyPlatform(): Promise<string | null> {
    const scenario = drill.scenario!;
    if (info.watched) {
      await activities(`make sure the ${target} watchdog runs`)
        .ensureWatchdog({ system: target, by: `drill ${input.drill}` })
        .catch((err: unknown) => surfaceKnownFailure(err));
    }
    let planned: KindChange[] = [];
    if ('action' in scenario) {
      show('starting', `reading what the scenario changes on ${target}, from live state`);
      const inspected = await activities(`read what drill ${input.drill} changes on ${target}`)
        .inspectChanges({ system: target, actions: [scenario.action] })
        .catch((err: unknown) => refuseScenario(err));
      const plan = planChanges(inspected.actions, inspected.values, { phase: null, prefix: 'drill/', fill: { system: target, workflowId, requestedBy: 'rollback-drill' } });
      if (plan.problems.length > 0 || plan.unread.length > 0) {
        throw ApplicationFailure.nonRetryable(`drill ${input.drill}: its scenario cannot be injected into ${target}: ${[...plan.problems, ...plan.unread].join('; ')}`, 'InvalidRunbook');
      }
      planned = plan.changes;
    }
    const notes: string[] = [];
    let injectedAny = false;
    try {
      status.injectedAt = now();
      show('injecting', `injecting the scenario into ${target}`);
      injectedAny = true;
      let injected: string;
      try {
        if ('http' in scenario) {
          injected = await activities(`inject: call ${scenario.http.request.url}`).callDrillHttp({ system: target, call: scenario.http.request, what: 'inject' });
        } else {
          for (const change of planned) await moduleOfChange(change).carryOut(change.change, carryOutContext(change.name, false, notes));
          injected = planned.map((c) => `${c.target}: ${c.from} -> ${c.to}`).join(', ') || 'nothing: the target was already so';
        }
      } catch (err) {
        if (isCancellation(err)) throw err;
        return `the scenario could not be injected into ${target}: ${failureText(err)}`;
      }
      return await followDetection(injected);
    } finally {
      // However the drill ends, even cancelled or failed: the scenario is undone, so the next drill starts clean.
      if (injectedAny) await CancellationScope.nonCancellable(() => undoScenario(scenario, planned));
    }
  }

  /** Waits for the watchdog to act, or starts the rollback itself where the target has no watch rules. */
  async function followDetection(injected: string): Promise<string | null> {
    if (info.watched) return followFromDetection(injected);
    detectedBy = 'drill';
    const rollbackId = `${workflowId}-rollback`;
    status.rollbackWorkflowId = rollbackId;
    show('rolling-back', `injected ${injected}; ${target} has no watch rules, so the drill starts ${rollbackId} itself (detection not measured)`);
    await activities(`start ${rollbackId}`).startDrillRollback({ workflowId: rollbackId, system: target, mode: drill.mode, reason: `drill ${input.drill}: injected ${injected}` });
    return followAndVerify(rollbackId);
  }

  /** The undo of the scenario: each change of the action undone by its kind, or the HTTP undo call; recorded. */
  async function undoScenario(scenario: DrillScenario, planned: KindChange[]): Promise<void> {
    show('restoring', `undoing the scenario on ${target}`);
    const done: string[] = [];
    try {
      if ('http' in scenario) {
        done.push(await activities(`undo: call ${scenario.http.undo.url}`).callDrillHttp({ system: target, call: scenario.http.undo, what: 'undo' }));
      }
      // Newest first, as compensation undoes; a change that found its value already set has nothing to undo.
      for (const change of [...planned].reverse()) {
        if (!change.changes || !change.undo) continue;
        await moduleOfChange(change).carryOut(change.undo, carryOutContext(change.name, true, []));
        done.push(`${change.target}: back to ${change.from} (a provider that reads first changes nothing where the rollback already put it back)`);
      }
      undo = { done, failed: null };
    } catch (err) {
      undo = { done, failed: failureText(err) };
      why ??= `the scenario's undo failed: ${undo.failed}`;
    }
  }

  /** What a change's kind module is given to carry out (or undo) a drill's change, as a rollback's step gives it. */
  function carryOutContext(name: string, undoing: boolean, notes: string[]): CarryOutContext<ChangeActivities> {
    return {
      system: target,
      key: key(`${undoing ? 'undo' : 'inject'}:${name}`),
      forwardKey: key(`inject:${name}`),
      actor,
      runId: workflowInfo().runId,
      activities: (waitSeconds) => activities(`drill ${undoing ? 'undo' : 'inject'}: ${name}`, waitSeconds === undefined ? quick : watching(waitSeconds)),
      note: (...lines) => void notes.push(...lines),
      takeSafetyDump: () => Promise.reject(new Error('a drill scenario takes no safety dump')),
    };
  }

  /** A scenario the target refuses before anything changes: the drill ends naming why. */
  function refuseScenario(err: unknown): never {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'InvalidInput') {
      throw ApplicationFailure.nonRetryable(`drill ${input.drill}: its scenario cannot be injected into ${target}, nothing changed: ${err.cause.message.replace(/^cannot roll back:\s*/, '')}`, 'InvalidRunbook');
    }
    return surfaceKnownFailure(err);
  }

  /** Injects the scenario, waits for detection, follows the rollback and verifies; why it failed, or null. */
  async function injectAndFollow(): Promise<string | null> {
    status.injectedAt = now();
    const injected = await activities(`inject the drill's scenario into ${target}`).injectScenario({ system: target, scenario: drill.scenario!, idempotencyKey: key('inject'), actor });
    return followFromDetection(injected);
  }

  /** Waits for the watchdog to start its rollback after the injection, then follows it. */
  async function followFromDetection(injected: string): Promise<string | null> {
    show('detecting', `injected ${injected}; waiting up to ${drill.detectWithinMinutes} min for the watchdog to act`);
    const action = await detect(status.injectedAt!, Date.now() + drill.detectWithinMinutes * 60_000);
    if (!action) return `not detected: the watchdog did not act within ${drill.detectWithinMinutes} min of the injection`;
    status.rollbackWorkflowId = action.workflowId;
    show('rolling-back', `the watchdog's rule ${action.rule} started ${action.workflowId}`);
    return followAndVerify(action.workflowId);
  }

  /** Follows the rollback to its end and verifies the target's health after it. */
  async function followAndVerify(id: string): Promise<string | null> {
    rollback = await followRollback(id, Date.now() + drill.timeoutMinutes * 60_000);
    if (rollback?.state !== 'completed') return `the rollback ended ${rollback?.state ?? 'without an answer'}${rollback?.details ? `: ${rollback.details}` : ''}`;
    show('verifying', `rollback completed; verifying health over ${drill.verifySeconds} s`);
    const verifyStarted = Date.now();
    // Its window, or the runbook's last stage, and its checks (loadDrill results in histories from before say none).
    const verdict = await activities(`verify ${target}'s health after the drill`, watching(verifySeconds ?? drill.verifySeconds))
      .verifyHealth({ system: target, windowSeconds: drill.verifySeconds })
      .then(() => null)
      .catch((err: Error) => (err.cause as Error | undefined)?.message ?? err.message);
    drillVerifySeconds = (Date.now() - verifyStarted) / 1000;
    recoveredAt = now();
    return verdict ? `after the rollback: ${verdict}` : null;
  }

  /** Waits for the watchdog to start a rollback after the injection. */
  async function detect(since: string, deadline: number) {
    while (Date.now() < deadline) {
      const action = await activities('has the watchdog acted?').watchdogActionSince({ system: target, since });
      if (action) return action;
      await sleep(POLL);
    }
    return null;
  }

  /**
   * Follows the rollback to its end, passing the gates the drill may pass as its approver, and
   * aborting (never guessing) when a step fails and waits for a decision.
   */
  async function followRollback(id: string, deadline: number): Promise<RollbackStatus | null> {
    let last: RollbackStatus | null = null;
    const answered = new Set<string>();
    while (Date.now() < deadline) {
      const progress = await activities(`where is ${id}?`).rollbackProgress({ workflowId: id });
      last = progress.status;
      if (!progress.running) return last;
      const gate = last.pendingGate;
      if (last.state === 'awaiting_approval' && gate && !answered.has(`gate:${gate.gate}`)) {
        if (drill.approveGates.includes(gate.gate)) {
          answered.add(`gate:${gate.gate}`);
          await activities(`approve gate ${gate.gate} as ${drill.approver}`).signalAsDrill({ workflowId: id, signal: 'approve', payload: { by: drill.approver, comment: `drill ${input.drill} (${workflowId})` } });
        } else {
          show('rolling-back', `${id} waits at gate ${gate.gate}, which this drill may not pass: a person from ${gate.role} must approve`);
        }
      }
      if (last.state === 'awaiting_decision' && last.pendingDecision && !answered.has(`decide:${last.pendingDecision.step}`)) {
        answered.add(`decide:${last.pendingDecision.step}`);
        await activities(`abort ${id}: a drill does not decide for people`).signalAsDrill({ workflowId: id, signal: 'decide', payload: { by: drill.approver, action: 'abort' } });
      }
      await sleep(POLL);
    }
    return last;
  }
}

