/**
 * What rollbackDrill does outside its workflow: read its drill, switch the scenario on the target and
 * put everything back, ask the watchdog and the rollback where they stand, act as the drill's
 * approver, and keep each drill's result beside the earlier ones (the trend) with its chart.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { STATUS_QUERY, TASK_QUEUE, watchdogWorkflowId, type DrillResult, type RollbackStatus, type TrafficState, type WatchdogStatus } from '../contract/index.ts';
import type { TargetFaults } from '../providers/types.ts';
import type { Drill, DrillScenario } from '../runbook/drill-schema.ts';
import { renderDrillChart, renderDrillReport } from '../plan/scorecard.ts';
import { verificationOf, verificationSeconds } from '../plan/health.ts';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { createDrillScenarioActivities } from './drill-scenarios.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor, trafficOf } from './runbook.ts';

/** What the drill puts back afterwards. */
export interface DrillTarget {
  traffic: TrafficState;
  faults: TargetFaults;
  /** For a flag scenario: the flag as it was (null: the store did not have it). */
  flag?: { provider: string; name: string; value: boolean | null };
}

interface Change {
  system: string;
  idempotencyKey: string;
  actor: string;
}

/** How many earlier drills the trend chart shows. */
const TREND = 20;

export const createDrillActivities = (deps: ActivityDeps) => {
  const router = (system: string) => trafficOf(runbookFor(deps, system));
  const faults = (system: string) => deps.clients.get('faults', router(system));
  const flagsOf = (system: string, provider: string) => deps.clients.get('flags', providerRef(runbookFor(deps, system), provider));
  const dirOf = (system: string) => join(deps.reportsDir, system.replace(/[^a-z0-9_-]/gi, '_'), 'drills');

  return {
    ...createDrillScenarioActivities(deps),

    /** The drill as the runbook has it, with the RTO targets. Safe to retry: it only reads. */
    async loadDrill(input: { system: string; drill: string }): Promise<{ drill: Drill; rto: Runbook['rto']; verifySeconds?: number }> {
      const runbook = runbookFor(deps, input.system);
      const drill = runbook.drills[input.drill];
      if (!drill) {
        const names = Object.keys(runbook.drills).join(', ') || '(none: the runbook has no drills: section)';
        throw ApplicationFailure.nonRetryable(`no drill '${input.drill}' in the ${input.system} runbook; its drills: ${names}`, 'InvalidInput');
      }
      // How long its health verification may take: its window, or the runbook's last stage, then its checks.
      return { drill, rto: runbook.rto, verifySeconds: verificationSeconds(verificationOf(runbook.health), drill.verifySeconds) };
    },

    /**
     * Makes sure the system's watchdog runs and is not paused (a drill of detection needs it), starting
     * it if none runs. Safe to retry: a running watchdog is found, not started again.
     */
    async ensureWatchdog(input: { system: string; by: string }): Promise<{ started: boolean }> {
      const { client } = deps.temporal;
      const workflowId = watchdogWorkflowId(input.system);
      const handle = await client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId, args: [{ system: input.system, startedBy: input.by }], workflowIdConflictPolicy: 'USE_EXISTING' });
      const status = await withHeartbeats(handle.query<WatchdogStatus>(STATUS_QUERY));
      if (status.paused) {
        throw ApplicationFailure.nonRetryable(`the ${input.system} watchdog is paused by ${status.paused.by} (${status.paused.reason}): a drill of detection cannot run; resume it first`, 'InvalidInput');
      }
      return { started: status.evaluationsTotal === 0 };
    },

    /** Traffic, faults, breakers and memory as they are now: what the drill puts back. Safe to retry: it only reads. */
    async captureDrillTarget(input: { system: string; scenario?: DrillScenario }): Promise<DrillTarget> {
      const traffic = await withHeartbeats(deps.clients.get('traffic', router(input.system)).readState());
      const target: DrillTarget = { traffic, faults: await withHeartbeats(faults(input.system).read()) };
      if (input.scenario && 'flag' in input.scenario) {
        const { provider, name } = input.scenario.flag;
        const flags = await withHeartbeats(flagsOf(input.system, provider).readFlags());
        target.flag = { provider, name, value: flags[name] ?? null };
      }
      return target;
    },

    /** Switches the scenario on. Safe to retry: the idempotency key makes the target apply it once. */
    async injectScenario(input: Change & { scenario: DrillScenario }): Promise<string> {
      const target = faults(input.system);
      const s = input.scenario;
      if ('fault' in s) {
        await target.setFault(s.fault.version, { errorRatePct: s.fault.errorRatePct, addedLatencyMs: s.fault.addedLatencyMs }, input);
        return `fault ${s.fault.version}: ${s.fault.errorRatePct}% errors, +${s.fault.addedLatencyMs} ms`;
      }
      if ('flag' in s) {
        await flagsOf(input.system, s.flag.provider).setFlag(s.flag.name, s.flag.value, input);
        return `flag ${s.flag.name} set to ${s.flag.value}`;
      }
      if ('circuitBreaker' in s) {
        await target.setBreaker(s.circuitBreaker.feature, true, input);
        return `circuit breaker ${s.circuitBreaker.feature} open`;
      }
      if ('memory' in s) {
        await target.setMemory(s.memory.version, s.memory.ratio, input);
        return `memory ${s.memory.version} at ${s.memory.ratio}`;
      }
      // Actions and HTTP calls are carried out by the workflow, through their kinds' modules and callDrillHttp.
      throw ApplicationFailure.nonRetryable('injectScenario switches sandbox faults only; this scenario is an action or an HTTP call', 'InvalidInput');
    },

    /**
     * Puts the target back as it was before the drill: faults, breakers, memory and a drilled flag, then instance
     * counts and weights (instances first, so weights never point at a version with none). Says what it
     * changed. Safe to retry: each change carries its key, and a value already back changes nothing.
     */
    async restoreDrillTarget(input: Change & { before: DrillTarget }): Promise<string[]> {
      const target = faults(input.system);
      const now = await target.read();
      const key = (what: string) => ({ ...input, idempotencyKey: `${input.idempotencyKey}:${what}` });
      const restored: string[] = [];
      for (const [version, fault] of Object.entries(input.before.faults.faults)) {
        const current = now.faults[version];
        if (current && (current.errorRatePct !== fault.errorRatePct || current.addedLatencyMs !== fault.addedLatencyMs)) {
          await target.setFault(version, fault, key(`fault:${version}`));
          restored.push(`fault ${version}: ${current.errorRatePct}% errors +${current.addedLatencyMs} ms -> ${fault.errorRatePct}% +${fault.addedLatencyMs} ms`);
        }
      }
      for (const [feature, open] of Object.entries(now.breakers)) {
        const was = input.before.faults.breakers[feature] ?? false;
        if (open !== was) {
          await target.setBreaker(feature, was, key(`breaker:${feature}`));
          restored.push(`circuit breaker ${feature}: ${open ? 'open' : 'closed'} -> ${was ? 'open' : 'closed'}`);
        }
      }
      for (const [version, ratio] of Object.entries(input.before.faults.memory)) {
        if (now.memory[version] !== undefined && now.memory[version] !== ratio) {
          await target.setMemory(version, ratio, key(`memory:${version}`));
          restored.push(`memory ${version}: ${now.memory[version]} -> ${ratio}`);
        }
      }
      const flag = input.before.flag;
      if (flag && flag.value !== null) {
        const flags = flagsOf(input.system, flag.provider);
        const current = (await withHeartbeats(flags.readFlags()))[flag.name];
        if (current !== flag.value) {
          await withHeartbeats(flags.setFlag(flag.name, flag.value, key(`flag:${flag.name}`)));
          restored.push(`flag ${flag.name}: ${current} -> ${flag.value}`);
        }
      }
      const traffic = deps.clients.get('traffic', router(input.system));
      const scaling = deps.clients.get('scaling', router(input.system));
      const state = await withHeartbeats(traffic.readState());
      for (const [version, count] of Object.entries(input.before.traffic.instances)) {
        if (state.instances[version] !== count) {
          await withHeartbeats(scaling.scale(version, count, key(`instances:${version}`)));
          restored.push(`instances ${version}: ${state.instances[version]} -> ${count}`);
        }
      }
      if (JSON.stringify(state.weights) !== JSON.stringify(input.before.traffic.weights)) {
        await withHeartbeats(traffic.setWeights(input.before.traffic.weights, key('weights')));
        restored.push(`weights: ${JSON.stringify(state.weights)} -> ${JSON.stringify(input.before.traffic.weights)}`);
      }
      return restored;
    },

    /** The rollback the watchdog started since `since`, if any. Safe to retry: it only reads. */
    async watchdogActionSince(input: { system: string; since: string }): Promise<{ workflowId: string; rule: string; at: string } | null> {
      const status = await deps.temporal.client.workflow.getHandle(watchdogWorkflowId(input.system)).query<WatchdogStatus>(STATUS_QUERY);
      const action = status.actions.find((a) => a.workflowId && a.at >= input.since);
      return action ? { workflowId: action.workflowId!, rule: action.rule, at: action.at } : null;
    },

    /** A rollback's status and whether it still runs. Safe to retry: it only reads. */
    async rollbackProgress(input: { workflowId: string }): Promise<{ running: boolean; status: RollbackStatus }> {
      const handle = deps.temporal.client.workflow.getHandle(input.workflowId);
      const [description, status] = await Promise.all([handle.describe(), handle.query<RollbackStatus>(STATUS_QUERY)]);
      return { running: description.status.name === 'RUNNING', status };
    },

    /**
     * Sends the rollback a signal as the drill (approve as its approver, or decide abort). Safe to
     * retry: a second approval by the same person at the same gate is refused by the rollback and
     * changes nothing.
     */
    async signalAsDrill(input: { workflowId: string; signal: 'approve' | 'decide'; payload: Record<string, unknown> }): Promise<void> {
      await deps.temporal.client.workflow.getHandle(input.workflowId).signal(input.signal, input.payload);
    },

    /**
     * Starts a production drill's dry run: a fullRollback, or (a runbook with neither traffic nor a
     * release section) a phaseRollback of `phases`. Safe to retry: a start already made is found.
     */
    async startDrillDryRun(input: { workflowId: string; system: string; mode: 'immediate' | 'gradual'; requestedBy: string; reason: string; workflowType?: 'fullRollback' | 'phaseRollback'; phases?: number[] }): Promise<void> {
      const phaseRollback = input.workflowType === 'phaseRollback';
      await deps.temporal.client.workflow.start(input.workflowType ?? 'fullRollback', {
        taskQueue: TASK_QUEUE,
        workflowId: input.workflowId,
        args: [{ system: input.system, ...(phaseRollback ? { phases: input.phases } : { mode: input.mode }), requestedBy: input.requestedBy, reason: input.reason, dryRun: true }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
    },

    /**
     * Keeps the result beside the earlier drills of the system (REPORTS_DIR/<system>/drills/results.jsonl,
     * which the next drill reads for its trend), and writes the drill's report and the trend chart.
     * Safe to retry: a result already kept (same workflow ID) is not appended twice.
     */
    async recordDrill(input: { result: DrillResult }): Promise<{ reportPath: string; chartPath: string }> {
      const dir = dirOf(input.result.system);
      await mkdir(dir, { recursive: true });
      const store = join(dir, 'results.jsonl');
      const earlier = await readResults(store);
      if (!earlier.some((r) => r.workflowId === input.result.workflowId)) await appendFile(store, `${JSON.stringify(input.result)}\n`);
      const history = [...earlier.filter((r) => r.workflowId !== input.result.workflowId), input.result].slice(-TREND);
      const chartPath = join(dir, 'drills.svg');
      await writeFile(chartPath, renderDrillChart(history, `${input.result.system}: seconds per stage, last ${history.length} drills`));
      const reportPath = join(dir, `${input.result.workflowId.replace(/[^a-zA-Z0-9_.-]/g, '_')}.md`);
      await writeFile(reportPath, renderDrillReport({ ...input.result, reportPath, chartPath }, history, 'drills.svg'));
      return { reportPath, chartPath };
    },
  };
};

async function readResults(path: string): Promise<DrillResult[]> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return text
    .split('\n')
    .filter((line) => line.trim())
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as DrillResult];
      } catch {
        return []; // a line cut short by a crash mid-write: the others still count
      }
    });
}
