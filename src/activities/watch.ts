/**
 * What rollbackWatchdog does outside its workflow: read the runbook's watch section, measure one
 * interval, start the rollback a rule asks for, and follow it. The judging is pure and happens in
 * the workflow (src/plan/watch.ts), so every decision and its reason is in the history.
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { TASK_QUEUE, type RollbackWorkflow } from '../contract/index.ts';
import { healthBetween } from '../providers/health/window.ts';
import type { MetricsSample } from '../providers/types.ts';
import { gaugeSelectors, watchMinRequests, type WatchObservation, type WatchSection } from '../plan/watch.ts';
import type { ActivityDeps } from './deps.ts';
import { runbookFor } from './runbook.ts';
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

export const createWatchActivities = (deps: ActivityDeps) => {
  function settingsOf(system: string): WatchSettings {
    const runbook = runbookFor(deps, system);
    if (!runbook.watch) {
      throw ApplicationFailure.nonRetryable(`the ${system} runbook has no watch: section: nothing to watch`, 'InvalidRunbook');
    }
    return { watch: runbook.watch, minRequests: watchMinRequests(runbook.watch, runbook.health.minRequests), operators: [...new Set(Object.values(runbook.approvers).flat())] };
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
