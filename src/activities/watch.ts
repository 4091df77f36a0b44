/**
 * What rollbackWatchdog does outside its workflow: read the runbook's watch section, measure one
 * interval, start the rollback a rule asks for, and follow it. The judging is pure and happens in
 * the workflow (src/plan/watch.ts), so every decision and its reason is in the history.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { TASK_QUEUE, type RollbackWorkflow } from '../contract/index.ts';
import { healthBetween } from '../providers/health/window.ts';
import type { MetricsSample } from '../providers/types.ts';
import { gaugeSelectors, judgeInterval, ruleDue, watchMinRequests, type JudgedInterval, type RuleEvaluation, type RuleState, type WatchObservation, type WatchSection } from '../plan/watch.ts';
import type { ActivityDeps } from './deps.ts';
import { runbookFor } from './runbook.ts';
import { heartbeat, sleepUntilCancelled } from './heartbeat.ts';
import { runningHolder } from './system-lock.ts';

export interface WatchSettings {
  watch: WatchSection;
  minRequests: number;
  /** People who may pause or resume the watchdog: every approver of the runbook. */
  operators: string[];
}

/** A scrape as the watchdog keeps it between intervals: JSON has no Infinity, so the +Inf bucket travels as null. */
export type StoredSample = Omit<MetricsSample, 'latencyBuckets'> & { latencyBuckets: [number | null, number][] };
const storeSample = (s: MetricsSample): StoredSample => ({ ...s, latencyBuckets: s.latencyBuckets.map((b) => [Number.isFinite(b.le) ? b.le : null, b.count]) });
const restoreSample = (s: StoredSample): MetricsSample => ({ ...s, latencyBuckets: s.latencyBuckets.map(([le, count]) => ({ le: le ?? Infinity, count })) });

export interface TriggeredRollback {
  system: string;
  workflowType: RollbackWorkflow;
  /** Derived from the trigger (rule and first breach), so a retried start finds the rollback it started. */
  workflowId: string;
  input: Record<string, unknown>;
}

/** Started (`repeated`: by an earlier attempt or an earlier copy of the same alert), or not, naming the rollback already running. */
export type TriggerOutcome = { started: true; workflowId: string; repeated: boolean } | { started: false; workflowId: string; why: string };

/** Where a watch loop stands: handed to it by the watchdog, kept in its heartbeats, returned in its report. */
export interface WatchLoopState {
  /** The last scrape, the start of the next window. */
  previous: StoredSample | null;
  rules: Record<string, RuleState>;
  /** When the next scrape is due (one interval after the last began), so a new loop keeps the cadence. */
  nextAt: string | null;
}

export interface WatchLoopInput extends WatchLoopState {
  system: string;
  /** Report after this many evaluations even when nothing changed, so the watchdog's status stays this fresh. */
  reportEvery: number;
  /**
   * This loop's routine report comes after this many evaluations (1 to `reportEvery`): the watchdog's
   * phase, so watchdogs started together do not report together (routineReportAfter). Absent in loops
   * scheduled by builds from before it: then `reportEvery`.
   */
  routineAfter?: number;
}

/** What a watch loop hands back to its watchdog. */
export interface WatchReport extends WatchLoopState, WatchSettings {
  /** The evaluations since the loop began, oldest first (the last REPORT_KEEPS of them). */
  evaluations: { at: string; results: RuleEvaluation[] }[];
  /** How many evaluations it made (more than `evaluations` holds when it ran long). */
  evaluated: number;
  /** Rules that became inconclusive, or measurable again, in order. */
  changes: JudgedInterval['changes'];
  /** Why it reported: a rule is due to act, a rule's verdict changed, or `reportEvery` evaluations. */
  why: 'due' | 'changed' | 'routine';
}

/** Evaluations a report carries at most (the watchdog's status keeps 20). */
const REPORT_KEEPS = 20;

export const createWatchActivities = (deps: ActivityDeps) => {
  function settingsOf(system: string): WatchSettings {
    const runbook = runbookFor(deps, system);
    if (!runbook.watch) {
      throw ApplicationFailure.nonRetryable(`the ${system} runbook has no watch: section: nothing to watch`, 'InvalidRunbook');
    }
    return { watch: runbook.watch, minRequests: watchMinRequests(runbook.watch, runbook.health.minRequests), operators: [...new Set(Object.values(runbook.approvers).flat())] };
  }

  /** One scrape, judged as a window from `previous`; an endpoint that cannot be read is the observation's problem. */
  async function scrape(input: { system: string; previous: StoredSample | null }): Promise<WatchSettings & { sample: StoredSample | null; observation: WatchObservation | null }> {
    const settings = settingsOf(input.system);
    const runbook = runbookFor(deps, input.system);
    const gauges = gaugeSelectors(settings.watch);
    const at = new Date().toISOString();
    const sample = await deps.clients.get('metrics', runbook.health.metrics!).scrape(gauges).catch((err: Error) => err);
    if (sample instanceof Error) {
      const empty = Object.fromEntries(gauges.map((g) => [g, null]));
      return { ...settings, sample: null, observation: { at, window: null, gauges: empty, problem: `metrics not read: ${sample.message}` } };
    }
    // The first scrape (or the first after the endpoint came back) is the start of the next window.
    const observation = input.previous ? { at, window: healthBetween(restoreSample(input.previous), sample), gauges: sample.gauges, problem: null } : null;
    return { ...settings, sample: storeSample(sample), observation };
  }

  return {
    /** The runbook's watch section as it is now (runbooks reload with the worker). Safe to retry: it only reads. */
    async loadWatch(input: { system: string }): Promise<WatchSettings> {
      return settingsOf(input.system);
    },

    /**
     * One scrape of the runbook's metrics for the watch section, judged against the previous scrape
     * the watchdog kept (`previous`): the interval between them is the window. Quick (one HTTP GET),
     * so the watchdog runs it as a local activity and waits out the interval on a durable timer; no
     * worker slot is held while it waits. A metrics endpoint that cannot be read is reported as the
     * problem (inconclusive), not thrown: the watchdog must keep watching and say why it cannot see.
     * Safe to retry: it only reads.
     */
    async scrapeWatch(input: { system: string; previous: StoredSample | null }): Promise<WatchSettings & { sample: StoredSample | null; observation: WatchObservation | null }> {
      return scrape(input);
    },

    /**
     * The watchdog's loop outside its workflow: scrape every interval, judge every rule
     * (judgeInterval, as the workflow would), and report back only when the watchdog has something to
     * do or show: a rule due to act, a rule whose verdict changed (a first breach, a recovery, a rule
     * that can no longer be measured), or its routine report after `routineAfter` evaluations with
     * nothing new (at most `reportEvery`). A healthy system costs its watchdog no workflow task and no history event between reports, so
     * one worker watches a thousand systems (`npm run bench:watch`). Where it stands is in every
     * heartbeat (the UI shows it on the pending activity), and a retry on another worker carries on
     * from the last one. It only reads, so it is safe to retry; cancelled (a pause), it stops at its
     * next heartbeat.
     */
    async watchSystem(input: WatchLoopInput): Promise<WatchReport> {
      const context = Context.current();
      const resumed = context.info.heartbeatDetails as (WatchLoopState & Pick<WatchReport, 'evaluations' | 'evaluated' | 'changes'>) | undefined;
      let state: WatchLoopState = resumed ? { previous: resumed.previous, rules: resumed.rules, nextAt: resumed.nextAt } : { previous: input.previous, rules: input.rules, nextAt: input.nextAt };
      const evaluations = resumed?.evaluations ?? [];
      const changes = resumed?.changes ?? [];
      let evaluated = resumed?.evaluated ?? 0;
      for (;;) {
        if (state.nextAt) await sleepUntilCancelled(Date.parse(state.nextAt) - Date.now(), context);
        const tick = Date.now();
        const measured = await scrape({ system: input.system, previous: state.previous });
        const { watch, minRequests, operators } = measured;
        state = { ...state, previous: measured.sample, nextAt: new Date(tick + watch.intervalSeconds * 1000).toISOString() };
        let why: WatchReport['why'] | null = null;
        if (measured.observation) {
          const judged = judgeInterval(watch, minRequests, measured.observation, state.rules);
          // A first evaluation counts as a change: a new watchdog shows its first verdicts at once.
          const verdictChanged = judged.results.some((r) => state.rules[r.rule]?.last?.verdict !== r.verdict);
          state = { ...state, rules: judged.rules };
          evaluations.push({ at: measured.observation.at, results: judged.results });
          evaluations.splice(0, Math.max(0, evaluations.length - REPORT_KEEPS));
          changes.push(...judged.changes);
          evaluated += 1;
          why = ruleDue(watch, state.rules) ? 'due' : verdictChanged || judged.changes.length ? 'changed' : evaluated >= (input.routineAfter ?? input.reportEvery) ? 'routine' : null;
        }
        if (why) return { ...state, watch, minRequests, operators, evaluations, evaluated, changes, why };
        heartbeat({ ...state, evaluations, evaluated, changes }, context);
      }
    },

    /** Starts the rollback a rule asks for (see startTriggeredRollback). Safe to retry: the start is found, not repeated. */
    async startTriggeredRollback(request: TriggeredRollback): Promise<TriggerOutcome> {
      return startTriggeredRollback(deps.temporal.client, request);
    },

    /** Whether a started rollback still runs and, once closed, how it ended. Safe to retry: it only reads. */
    async rollbackOutcome(input: { workflowId: string }): Promise<{ running: boolean; status: string }> {
      const description = await deps.temporal.client.workflow.getHandle(input.workflowId).describe();
      return { running: description.status.name === 'RUNNING', status: description.status.name.toLowerCase() };
    },
  };
};

/**
 * Starts the rollback a trigger (a watchdog rule, an Alertmanager alert) asks for, unless one of the
 * system runs already: then it names that one, and the caller follows it instead. The rollback's own
 * preflight takes the system's lock, so even a start racing this check cannot make two rollbacks run.
 * The workflow ID is derived from the trigger (rule and first breach, or the alert), and a closed
 * workflow's ID is not reused: the same incident, retried or re-sent, starts nothing a second time.
 */
export async function startTriggeredRollback(client: Client, request: TriggeredRollback): Promise<TriggerOutcome> {
  const holder = await runningHolder(client, request.system);
  if (holder && holder.workflowId !== request.workflowId) {
    return { started: false, workflowId: holder.workflowId, why: `a rollback of ${request.system} is already running: ${holder.workflowId} (${holder.workflowType})` };
  }
  try {
    await client.workflow.start(request.workflowType, {
      taskQueue: TASK_QUEUE,
      workflowId: request.workflowId,
      args: [request.input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // this trigger's rollback exists: started before
    return { started: true, workflowId: request.workflowId, repeated: true };
  }
  return { started: true, workflowId: request.workflowId, repeated: false };
}
