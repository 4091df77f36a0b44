/**
 * rollbackDrill: a rehearsal of a rollback, run on a Temporal Schedule, that scores every stage
 * against the runbook's RTO targets (seed 000: "Run rollback drills regularly"; seed 001: quarterly
 * drills that "time each step"; every seed's RTO table, which nobody measured).
 *
 *   load the drill -> make sure the watchdog runs -> note the target as it is -> inject the scenario ->
 *   wait for the watchdog to detect it and start its rollback -> pass the gates the drill may pass, as
 *   its approver -> the rollback ends -> verify health -> put the target back as it was -> score each
 *   stage, keep the result with the earlier ones, write the report and the trend chart
 *
 * A production drill (`dryRun: true`) injects nothing and changes nothing: it runs the rollback as a
 * dry run from live state (seed 000: "Production drill (read-only)"). The target is put back however
 * the drill ends (not detected in time, a gate no drill may pass, a failed rollback, cancelled), so
 * the next drill starts clean.
 */
import { CancellationScope, setCurrentDetails, setHandler, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { drillInput, searchAttributes, type DrillInput, type DrillResult, type DrillStatus, type RollbackStatus } from '../contract/index.ts';
import type { DrillTarget } from '../activities/drill.ts';
import type { DrillScenario } from '../runbook/drill-schema.ts';
import { drillStages } from '../plan/scorecard.ts';
import { activities, watching } from './activities.ts';
import { now } from './board.ts';
import { surfaceKnownFailure } from './failures.ts';
import { parseInput } from './input.ts';
import { drillStatusQuery } from '../contract/messages.ts';


/** Why a fault scenario could not be seen: its version takes no traffic now. null when it can. */
function idleVersion(scenario: DrillScenario, before: DrillTarget): string | null {
  if (!('fault' in scenario)) return null;
  const version = scenario.fault.version;
  const weight = before.traffic.weights[version] ?? 0;
  const instances = before.traffic.instances[version] ?? 0;
  if (weight > 0 && instances > 0) return null;
  return `not run: ${version} serves no traffic (weight ${weight}%, ${instances} instance(s)), so a fault there cannot be detected; put the release back as it is during a canary first`;
}

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

  const { drill, rto, verifySeconds } = await activities(`load drill ${input.drill} of ${system}`)
    .loadDrill({ system, drill: input.drill })
    .catch((err: unknown) => surfaceKnownFailure(err, new Set(['InvalidRunbook'])));
  const key = (step: string) => `${workflowId}:${workflowInfo().runId}:${step}`;
  const actor = `drill ${input.drill} via ${workflowId}`;

  let why: string | null = null;
  let rollback: RollbackStatus | null = null;
  let drillVerifySeconds = 0;
  let recoveredAt: string | null = null;
  let restored: string[] = [];

  if (drill.dryRun) {
    // Seed 000's production drill: read-only. The rollback plans from live state and changes nothing.
    const dryRunId = `${workflowId}-dry-run`;
    status.rollbackWorkflowId = dryRunId;
    show('rolling-back', `dry run ${dryRunId}: planning from live state, changing nothing`);
    await activities(`start dry run ${dryRunId}`).startDrillDryRun({ workflowId: dryRunId, system, mode: drill.mode, requestedBy: drill.approver, reason: `drill ${input.drill} (production, read-only)` });
    rollback = await followRollback(dryRunId, Date.now() + drill.timeoutMinutes * 60_000);
    if (rollback?.state !== 'completed') why = `the dry run ended ${rollback?.state ?? 'without an answer'}`;
  } else {
    const watchdog = await activities(`make sure the ${system} watchdog runs`)
      .ensureWatchdog({ system, by: `drill ${input.drill}` })
      .catch((err: unknown) => surfaceKnownFailure(err));
    if (watchdog.started) show('starting', 'started the watchdog, which had not been running');
    const before: DrillTarget = await activities(`note ${system} as it is before the drill`).captureDrillTarget({ system, scenario: drill.scenario });
    // A fault in a version that serves nothing cannot be seen: say so instead of failing detection later.
    why = idleVersion(drill.scenario!, before);
    if (!why) {
      try {
        why = await injectAndFollow();
      } finally {
        // However the drill ends, even cancelled: the next drill starts clean.
        await CancellationScope.nonCancellable(async () => {
          show('restoring', `putting ${system} back as it was before the drill`);
          restored = await activities(`put ${system} back as it was before the drill`).restoreDrillTarget({ system, before, idempotencyKey: key('restore'), actor });
        });
      }
    }
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
    stages: drillStages({ rollback, injectedAt: status.injectedAt, drillVerifySeconds, recoveredAt, rto }),
    restored,
    reportPath: null,
    chartPath: null,
  };
  const paths = await activities(`keep the result of drill ${input.drill}`).recordDrill({ result });
  Object.assign(result, paths);
  status.result = result;
  const scored = result.stages.map((s) => `- ${s.stage}: ${s.seconds ?? '-'} s (target ${s.targetSeconds} s)${s.met === false ? ' MISSED' : ''}`).join('\n');
  show(result.outcome, `${why ?? 'detected, rolled back, verified, put back'}\n\n${scored}`);
  return result;

  /** Injects the scenario, waits for detection, follows the rollback and verifies; why it failed, or null. */
  async function injectAndFollow(): Promise<string | null> {
    status.injectedAt = now();
    const injected = await activities(`inject the drill's scenario into ${system}`).injectScenario({ system, scenario: drill.scenario!, idempotencyKey: key('inject'), actor });
    show('detecting', `injected ${injected}; waiting up to ${drill.detectWithinMinutes} min for the watchdog to act`);
    const action = await detect(status.injectedAt, Date.now() + drill.detectWithinMinutes * 60_000);
    if (!action) return `not detected: the watchdog did not act within ${drill.detectWithinMinutes} min of the injection`;
    status.rollbackWorkflowId = action.workflowId;
    show('rolling-back', `the watchdog's rule ${action.rule} started ${action.workflowId}`);
    rollback = await followRollback(action.workflowId, Date.now() + drill.timeoutMinutes * 60_000);
    if (rollback?.state !== 'completed') return `the rollback ended ${rollback?.state ?? 'without an answer'}${rollback?.details ? `: ${rollback.details}` : ''}`;
    show('verifying', `rollback completed; verifying health over ${drill.verifySeconds} s`);
    const verifyStarted = Date.now();
    // Its window, or the runbook's last stage, and its checks (loadDrill results in histories from before say none).
    const verdict = await activities(`verify ${system}'s health after the drill`, watching(verifySeconds ?? drill.verifySeconds))
      .verifyHealth({ system, windowSeconds: drill.verifySeconds })
      .then(() => null)
      .catch((err: Error) => (err.cause as Error | undefined)?.message ?? err.message);
    drillVerifySeconds = (Date.now() - verifyStarted) / 1000;
    recoveredAt = now();
    return verdict ? `after the rollback: ${verdict}` : null;
  }

  /** Waits for the watchdog to start a rollback after the injection. */
  async function detect(since: string, deadline: number) {
    while (Date.now() < deadline) {
      const action = await activities('has the watchdog acted?').watchdogActionSince({ system, since });
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

