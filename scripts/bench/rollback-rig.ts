/**
 * What bench:rollback measures on one Temporal service: a worker process against it with the bench
 * runbooks, the same activities in-process for the plain script, and one function per measurement, so
 * the benchmark can interleave the services' timed runs (rollback.ts).
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { createActivities } from '../../src/activities/index.ts';
import { ProviderClients } from '../../src/providers/index.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import { lockWorkflowId, TASK_QUEUE } from '../../src/contract/index.ts';
import { approveSignal, releaseLockSignal, statusQuery } from '../../src/contract/messages.ts';
import { waitForPoller } from '../lib/temporal.ts';
import { eventMs, processRssMb, resetSandbox, sleep, startBenchWorker, stopBenchWorker, type BenchService } from './common.ts';
import { writeHeldRunbooks } from './held-rollbacks.ts';
import { benchRunbook } from './runbook.ts';
import { max, percentile, round } from './stats.ts';

/** Activities of the timed immediate rollback, which the plain script calls one by one. */
export const ACTIVITIES = 9;
const NO_GATES = {};
const STEP_GATES = { 'gradual-step': { role: 'oncall', timeoutSeconds: 600 }, 'before-cleanup': { role: 'oncall', timeoutSeconds: 600 } };
const INPUT = { system: 'bench', reason: 'benchmark', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 };

/** One timed rollback as a workflow and then as a plain script: wall-clock ms each, and the workflow's first to last event. */
export interface TimedRun {
  workflowMs: number;
  workflowServerMs: number;
  plainScriptMs: number;
}

export interface RollbackRig {
  service: BenchService;
  timeOnce(label: string): Promise<TimedRun>;
  approveLatencies(gates: number): Promise<{ gates: number; p50Ms: number; p95Ms: number; maxMs: number; targetP95Ms: number }>;
  dryRuns(count: number): Promise<{ dryRuns: number; allCompleteMs: number; workerRssBeforeMb: number; workerPeakRssMb: number }>;
  close(): Promise<void>;
}

export async function rollbackRig(service: BenchService, sandbox: Sandbox, options: { dryRuns: number; held: number }): Promise<RollbackRig> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const secrets = { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` };
  writeFileSync(join(dir, 'bench.yaml'), benchRunbook(sandbox, { system: 'bench', gates: NO_GATES }));
  writeFileSync(join(dir, 'gates.yaml'), benchRunbook(sandbox, { system: 'gates', gates: STEP_GATES }));
  for (let i = 1; i <= options.dryRuns; i += 1) writeFileSync(join(dir, `dry-${i}.yaml`), benchRunbook(sandbox, { system: `dry-${i}`, gates: NO_GATES }));
  writeHeldRunbooks(dir, sandbox, options.held);
  let worker: ChildProcess | undefined;
  const logger = pino({ level: 'error' });
  const clients = new ProviderClients({ env: secrets, logger });
  const close = async () => {
    await clients.close();
    if (worker) await stopBenchWorker(worker);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    worker = await startBenchWorker(service.address, { ...secrets, RUNBOOKS_DIR: dir, REPORTS_DIR: join(dir, 'reports') });
    await waitForPoller(service.connection, 'default', 60_000, worker.pid);
  } catch (err) {
    await close();
    throw err;
  }
  const workerPid = worker.pid!;
  const runbook = parseRunbook(benchRunbook(sandbox, { system: 'bench', gates: NO_GATES }), 'runbooks/bench.yaml');
  const acts = createActivities({ runbooks: new Map([['bench', runbook]]), env: secrets, logger, clients, temporal: { client: service.client, namespace: 'default' }, reportsDir: join(dir, 'reports') });
  const mock = new MockActivityEnvironment();

  // Each plain run is a rollback of its own, as each workflow is: its own idempotency keys (the sandbox
  // remembers them across services, so a key reused from the dev server's run made the cluster's plain
  // scaling steps answers from memory: 48 ms plain runs instead of about 250 ms), and it lets go of
  // the system's lock as the workflow does, so neither finds a stale lock to clear.
  const plainScript = async (label: string) => {
    const plainId = `plain-${service.name}-${label}-${Date.now()}`;
    const key = (step: string) => `${plainId}:${step}`;
    const change = { system: 'bench', actor: 'bench' };
    await mock.run(acts.preflight, { system: 'bench', workflowId: plainId, workflowType: 'fullRollback', startedAt: new Date().toISOString(), dryRun: false });
    await mock.run(acts.captureSnapshot, { system: 'bench', baselineSeconds: 0 });
    await mock.run(acts.notify, { system: 'bench', title: 'start', text: 'bench', severity: 'info' as const });
    await mock.run(acts.scaleVersion, { ...change, version: 'stable', count: 3, idempotencyKey: key('scale') });
    await mock.run(acts.setWeights, { ...change, weights: { stable: 100, canary: 0 }, idempotencyKey: key('shift') });
    await mock.run(acts.verifyHealth, { system: 'bench', windowSeconds: 0 });
    await mock.run(acts.scaleVersion, { ...change, version: 'canary', count: 0, idempotencyKey: key('cleanup') });
    await mock.run(acts.publishReport, { system: 'bench', workflowId: plainId, markdown: '# report' });
    await mock.run(acts.notify, { system: 'bench', title: 'done', text: 'bench', severity: 'info' as const });
    await service.client.workflow.getHandle(lockWorkflowId('bench')).signal(releaseLockSignal, { workflowId: plainId });
  };

  return {
    service,
    async timeOnce(label) {
      await resetSandbox(sandbox);
      let started = performance.now();
      const workflowId = `bench-a-${label}-${Date.now()}`;
      await service.client.workflow.execute('fullRollback', { taskQueue: TASK_QUEUE, workflowId, args: [INPUT] });
      const workflowMs = performance.now() - started;
      const history = (await service.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      await resetSandbox(sandbox);
      started = performance.now();
      await plainScript(label);
      return { workflowMs, workflowServerMs: eventMs(history.at(-1)!) - eventMs(history[0]!), plainScriptMs: performance.now() - started };
    },

    // Approve -> next activity start, from the server's own event times. A gradual rollback takes at
    // most 20 steps (fullRollbackInput), so the gates come from several rollbacks one after another:
    // 19 gradual steps (a gate after each but the last) plus the gate before cleanup in each.
    async approveLatencies(gates) {
      const latencies: number[] = [];
      const steps = Array.from({ length: 20 }, (_, i) => 5 * (19 - i));
      for (let n = 0; latencies.length < gates; n += 1) {
        await resetSandbox(sandbox);
        const handle = await service.client.workflow.start('fullRollback', {
          taskQueue: TASK_QUEUE,
          workflowId: `bench-gates-${n}-${Date.now()}`,
          args: [{ ...INPUT, system: 'gates', mode: 'gradual', steps }],
        });
        for (let approved = 0; ; ) {
          const status = await handle.query(statusQuery);
          if (status.state === 'completed' || status.state === 'failed' || status.state === 'aborted') break;
          if (status.pendingGate && status.events.filter((e) => e.kind === 'approved').length === approved) {
            await handle.signal(approveSignal, { by: 'bob' });
            approved += 1;
          } else await sleep(5);
        }
        await handle.result();
        const events = (await handle.fetchHistory()).events ?? [];
        events.forEach((event, index) => {
          if (!event.workflowExecutionSignaledEventAttributes) return;
          const next = events.slice(index).find((e) => e.activityTaskStartedEventAttributes);
          if (next) latencies.push(eventMs(next) - eventMs(event));
        });
      }
      return { gates: latencies.length, p50Ms: round(percentile(latencies, 50)), p95Ms: round(percentile(latencies, 95)), maxMs: round(max(latencies)), targetP95Ms: 150 };
    },

    async dryRuns(count) {
      const rssBefore = processRssMb(workerPid);
      const started = performance.now();
      await Promise.all(
        Array.from({ length: count }, (_, i) =>
          service.client.workflow.execute('fullRollback', {
            taskQueue: TASK_QUEUE,
            workflowId: `bench-dry-${i}-${Date.now()}`,
            args: [{ ...INPUT, system: `dry-${i + 1}`, dryRun: true }],
          }),
        ),
      );
      return { dryRuns: count, allCompleteMs: round(performance.now() - started), workerRssBeforeMb: rssBefore.rssMb, workerPeakRssMb: processRssMb(workerPid).peakMb };
    },
    close,
  };
}
