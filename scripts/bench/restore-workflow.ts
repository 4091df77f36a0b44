/**
 * One dataRestore run as bench:restore measures it: started, watched through the status query until
 * its result, and its figures read back from its status (each step's start and end) and its history
 * (each activity).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { TASK_QUEUE, type DataRestoreResult, type RollbackStatus } from '../../src/contract/index.ts';
import { statusQuery } from '../../src/contract/messages.ts';
import type { Cleanup } from './cleanup.ts';
import type { WriterResult } from './concurrent-writer.ts';
import { eventMs, sleep } from './common.ts';
import { BACKUP_ID, JOBS, SYSTEM } from './restore-rig.ts';
import { round, sum } from './stats.ts';
import type { ProbeResult } from './swap-probe.ts';

/** The steps reported one by one; the verified safety dump is its own step, taken before the restore. */
export const STEPS = ['safety-dump', 'restore-to-side', 'verify-side', 'swap', 'verify-live'] as const;

/** Each activity: when it started (ms after the workflow started) and how long it ran. */
export type ActivityTimeline = { activity: string; atMs: number; ms: number }[];

/** One dataRestore run's figures, as saved in the results. */
export interface OrchestratedRun {
  workflowId: string;
  /** Workflow start to result, as the client saw it. */
  totalMs: number;
  /** Time waiting at gates (steps of kind gate), subtracted from the total: 0 here, the runbook has none. */
  gateWaitMs: number;
  measuredMs: number;
  steps: Record<string, number>;
  /** measuredMs minus the reported steps: preflight, backup check, notifications, stop/resume writers, report, orchestration. */
  otherMs: number;
  /** restore-to-side starting to verify-live ending: the orchestrated restore, verify and swap. */
  restoreVerifySwapMs: number;
  swapWindowMs: number | null;
  /** The swap probe's tally: swap-window runs only. */
  probe: ProbeResult | null;
  /** The concurrent writer's tally: swap-window runs only. */
  writer: WriterResult | null;
  activities: ActivityTimeline;
}

/** A run started: its handle, when the client started it, and the cleanup step that terminates it. */
export interface StartedRestore {
  n: number;
  handle: WorkflowHandle;
  workflowId: string;
  startedAt: number;
  stopTracking(): void;
}

/**
 * Starts run `n` of dataRestore over the live database from the bench backup. Until it completes, the
 * cleanup terminates it (a run that failed waits for a decision, which would hold its side database).
 */
export async function startDataRestore(client: Client, n: number, cleanup: Pick<Cleanup, 'add'>): Promise<StartedRestore> {
  const workflowId = `bench-restore-${process.pid}-${n}`;
  const startedAt = performance.now();
  const handle = await client.workflow.start('dataRestore', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ system: SYSTEM, database: 'main', backup: BACKUP_ID, reason: 'benchmark', requestedBy: 'alice', jobs: JOBS }],
  });
  const stopTracking = cleanup.add('terminate the running workflow', () => handle.terminate('bench:restore stopped'));
  return { n, handle, workflowId, startedAt, stopTracking };
}

/** How a run is watched while it runs. */
export interface RunWatch {
  /** How long to wait for the result before reading the status again, given the step running. */
  pollMs(step: string): number;
  /** After each status read, the step running (the last one known if the read failed). */
  onStep?(step: string): void;
}

export interface FinishedRestore extends StartedRestore {
  /** Workflow start to result, as the client saw it. */
  totalMs: number;
  result: DataRestoreResult;
}

/**
 * Waits for the run's result, reading its status as `watch` says. Fails as soon as the run waits for a
 * person: a failed step's decision, or an approval (the bench runbook has no gates).
 */
export async function awaitDataRestore(started: StartedRestore, watch: RunWatch): Promise<FinishedRestore> {
  const { handle, n } = started;
  const outcome = handle.result().then((result: DataRestoreResult) => ({ result, at: performance.now() }));
  void outcome.catch(() => undefined); // awaited below; a failure surfaces there
  let step = '';
  for (;;) {
    const done = await Promise.race([outcome, sleep(watch.pollMs(step)).then(() => null)]);
    if (done) {
      started.stopTracking();
      return { ...started, totalMs: done.at - started.startedAt, result: done.result };
    }
    const status = await handle.query(statusQuery).catch(() => null);
    if (status?.state === 'awaiting_decision') throw new Error(`run ${n}: ${status.pendingDecision?.step} failed: ${status.pendingDecision?.error}`);
    if (status?.state === 'awaiting_approval') throw new Error(`run ${n}: waits for approval, but the bench runbook has no gates`);
    step = status?.currentStep ?? step;
    watch.onStep?.(step);
  }
}

/** The run's figures from its status and history, with what watched it (null where nothing did). */
export async function orchestratedRun(finished: FinishedRestore, probe: ProbeResult | null, writer: WriterResult | null): Promise<OrchestratedRun> {
  const status = await finished.handle.query(statusQuery);
  const steps = Object.fromEntries(status.steps.map((s) => [s.name, stepMs(status, s.name)]));
  const gateWaitMs = sum(status.steps.filter((s) => s.kind === 'gate').map((s) => steps[s.name]!));
  const measuredMs = finished.totalMs - gateWaitMs;
  return {
    workflowId: finished.workflowId,
    totalMs: round(finished.totalMs),
    gateWaitMs: round(gateWaitMs),
    measuredMs: round(measuredMs),
    steps,
    otherMs: round(measuredMs - sum(STEPS.map((name) => steps[name] ?? NaN))),
    restoreVerifySwapMs: round(spanMs(status, 'restore-to-side', 'verify-live')),
    swapWindowMs: finished.result.swapWindowMs === null ? null : round(finished.result.swapWindowMs),
    probe,
    writer,
    activities: await activityTimeline(finished.handle),
  };
}

/** Every activity of the run from its history: type, start offset from the workflow's start, and how long it ran. */
async function activityTimeline(handle: WorkflowHandle): Promise<ActivityTimeline> {
  const events = (await handle.fetchHistory()).events ?? [];
  const begin = eventMs(events[0]!);
  const scheduled = new Map<string, string>();
  const started = new Map<string, number>();
  const timeline: ActivityTimeline = [];
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    const startedAttrs = e.activityTaskStartedEventAttributes;
    if (startedAttrs) started.set(String(startedAttrs.scheduledEventId), eventMs(e));
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (done) {
      const key = String(done.scheduledEventId);
      const at = started.get(key) ?? NaN;
      timeline.push({ activity: scheduled.get(key) ?? '?', atMs: round(at - begin), ms: round(eventMs(e) - at) });
    }
  }
  return timeline.sort((a, b) => a.atMs - b.atMs);
}

/** From one step's start to another's end; NaN if either is missing or the last has not ended. */
function spanMs(status: RollbackStatus, first: string, last: string): number {
  const from = status.steps.find((s) => s.name === first);
  const to = status.steps.find((s) => s.name === last);
  return from && to?.endedAt ? Date.parse(to.endedAt) - Date.parse(from.startedAt) : NaN;
}

const stepMs = (status: RollbackStatus, name: string) => spanMs(status, name, name);
