/**
 * `npm run bench:rollback`: what Temporal orchestration costs a rollback, measured side by side in
 * one run on this machine, with a real worker process and the real sandbox, against each Temporal
 * service in turn: the dev server (`npm start`) and the cluster on PostgreSQL (`npm run cluster`, one
 * worker here so the two compare like for like; BENCH_TARGETS=dev,cluster chooses).
 *   (a) an immediate rollback as a workflow vs the same activity calls in a plain script: ratio and
 *       overhead per activity (target: median overhead per activity <= 50 ms; on the cluster <= 25 ms
 *       and at most 1.5x the dev server's in the same run, quiet and under load);
 *   (b) approve signal to the next activity starting, over 50 gates (target: p95 <= 150 ms);
 *   (c) 50 concurrent dry runs on distinct systems: time to all complete, worker peak RSS;
 *   (d) (a) again under load: 100 rollbacks on systems of their own held open at a gate on the same
 *       service and worker (BENCH_HELD changes the number; 0 skips it).
 * Prints a summary and writes bench-results/rollback-<time>.json.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { createActivities } from '../../src/activities/index.ts';
import { ProviderClients } from '../../src/providers/index.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import { lockWorkflowId, TASK_QUEUE } from '../../src/contract/index.ts';
import { DEV_SERVER_DYNAMIC_CONFIG_VALUES, waitForPoller } from '../lib/temporal.ts';
import { approveSignal, releaseLockSignal, statusQuery } from '../../src/contract/messages.ts';
import {
  benchTargets,
  eventMs,
  processRssMb,
  resetSandbox,
  saveResults,
  sleep,
  startBenchService,
  startBenchWorker,
  stopBenchWorker,
  verdict,
  type BenchService,
} from './common.ts';
import { holdRollbacks, writeHeldRunbooks } from './held-rollbacks.ts';
import { benchRunbook } from './runbook.ts';
import { max, median, percentile, ratio, round } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const GATES = 50;
const DRY_RUNS = 50;
const NO_GATES = {};
const HELD = Number(process.env.BENCH_HELD ?? 100);
const TARGET_OVERHEAD_MS = 50;
/** Issue 24's targets for the cluster: orchestration per activity at most 25 ms and 1.5x the dev server's. */
const TARGET_CLUSTER_OVERHEAD_MS = 25;
const TARGET_CLUSTER_VS_DEV = 1.5;
const STEP_GATES = { 'gradual-step': { role: 'oncall', timeoutSeconds: 600 }, 'before-cleanup': { role: 'oncall', timeoutSeconds: 600 } };

async function measure(service: BenchService, sandbox: Sandbox) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const secrets = { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` };
  writeFileSync(join(dir, 'bench.yaml'), benchRunbook(sandbox, { system: 'bench', gates: NO_GATES }));
  writeFileSync(join(dir, 'gates.yaml'), benchRunbook(sandbox, { system: 'gates', gates: STEP_GATES }));
  for (let i = 1; i <= DRY_RUNS; i += 1) writeFileSync(join(dir, `dry-${i}.yaml`), benchRunbook(sandbox, { system: `dry-${i}`, gates: NO_GATES }));
  writeHeldRunbooks(dir, sandbox, HELD);
  let worker: ChildProcess | undefined;
  let clients: ProviderClients | undefined;
  try {
    worker = await startBenchWorker(service.address, { ...secrets, RUNBOOKS_DIR: dir, REPORTS_DIR: join(dir, 'reports') });
    await waitForPoller(service.connection, 'default', 60_000, worker.pid);
    const input = { system: 'bench', reason: 'benchmark', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 };

    // (a) workflow vs plain script, alternating so both see the same machine state.
    const runbook = parseRunbook(benchRunbook(sandbox, { system: 'bench', gates: NO_GATES }), 'runbooks/bench.yaml');
    const logger = pino({ level: 'error' });
    clients = new ProviderClients({ env: secrets, logger });
    const acts = createActivities({ runbooks: new Map([['bench', runbook]]), env: secrets, logger, clients, temporal: { client: service.client, namespace: 'default' }, reportsDir: join(dir, 'reports') });
    const mock = new MockActivityEnvironment();
    // Each plain run is a rollback of its own, as each workflow is: its own idempotency keys (the sandbox
    // remembers them across services, so a key reused from the dev server's run made the cluster's plain
    // scaling steps answers from memory: 48 ms plain runs instead of about 250 ms), and it lets go of
    // the system's lock as the workflow does, so neither finds a stale lock to clear.
    const plainScript = async (n: string) => {
      const plainId = `plain-${service.name}-${n}-${Date.now()}`;
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
    const ACTIVITIES = 9;
    // Workflow vs plain script, alternating so both see the same machine state; run 0 warms both paths
    // (workflow bundle caches, HTTP keep-alive) and is not counted.
    const timeRollbacks = async (label: string) => {
      const workflowMs: number[] = [];
      const serverMs: number[] = [];
      const scriptMs: number[] = [];
      for (let i = 0; i <= RUNS; i += 1) {
        await resetSandbox(sandbox);
        let started = performance.now();
        const workflowId = `bench-a-${label}-${i}-${Date.now()}`;
        await service.client.workflow.execute('fullRollback', { taskQueue: TASK_QUEUE, workflowId, args: [input] });
        const wf = performance.now() - started;
        const history = (await service.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
        await resetSandbox(sandbox);
        started = performance.now();
        await plainScript(`${label}-${i}`);
        const plain = performance.now() - started;
        if (i > 0) {
          workflowMs.push(wf);
          scriptMs.push(plain);
          serverMs.push(eventMs(history.at(-1)!) - eventMs(history[0]!));
        }
      }
      const overheadPerActivity = workflowMs.map((w, i) => (w - scriptMs[i]!) / ACTIVITIES);
      return {
        runs: RUNS,
        activitiesPerRollback: ACTIVITIES,
        workflowMs: workflowMs.map(round),
        workflowServerMs: serverMs.map(round),
        plainScriptMs: scriptMs.map(round),
        medianWorkflowMs: round(median(workflowMs)),
        medianPlainScriptMs: round(median(scriptMs)),
        ratio: round(ratio(median(workflowMs), median(scriptMs))),
        medianOverheadPerActivityMs: round(median(overheadPerActivity)),
        targetOverheadPerActivityMs: TARGET_OVERHEAD_MS,
        loadAverage: loadavg().map(round),
      };
    };
    const a = await timeRollbacks('quiet');

    // (b) approve -> next activity start, from the server's own event times. A gradual rollback takes
    // at most 20 steps (fullRollbackInput), so the gates come from several rollbacks one after another:
    // 19 gradual steps (a gate after each but the last) plus the gate before cleanup in each.
    const latencies: number[] = [];
    const steps = Array.from({ length: 20 }, (_, i) => 5 * (19 - i));
    for (let n = 0; latencies.length < GATES; n += 1) {
      await resetSandbox(sandbox);
      const handle = await service.client.workflow.start('fullRollback', {
        taskQueue: TASK_QUEUE,
        workflowId: `bench-gates-${n}-${Date.now()}`,
        args: [{ ...input, system: 'gates', mode: 'gradual', steps }],
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
    const b = {
      gates: latencies.length,
      p50Ms: round(percentile(latencies, 50)),
      p95Ms: round(percentile(latencies, 95)),
      maxMs: round(max(latencies)),
      targetP95Ms: 150,
    };

    // (c) 50 concurrent dry runs on distinct systems.
    const rssBefore = processRssMb(worker.pid!);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: DRY_RUNS }, (_, i) =>
        service.client.workflow.execute('fullRollback', {
          taskQueue: TASK_QUEUE,
          workflowId: `bench-dry-${i}-${Date.now()}`,
          args: [{ ...input, system: `dry-${i + 1}`, dryRun: true }],
        }),
      ),
    );
    const c = { dryRuns: DRY_RUNS, allCompleteMs: round(performance.now() - started), workerRssBeforeMb: rssBefore.rssMb, workerPeakRssMb: processRssMb(worker.pid!).peakMb };

    // (d) (a) again while HELD rollbacks wait at their gate on the same service and worker.
    let d: (Awaited<ReturnType<typeof timeRollbacks>> & { heldOpen: number; allHeldMs: number }) | null = null;
    if (HELD > 0) {
      const held = await holdRollbacks(service, HELD);
      d = { heldOpen: held.count, allHeldMs: held.allHeldMs, ...(await timeRollbacks('held')) };
      await held.release();
    }

    console.log(`  [bench:rollback] ${service.name}: overhead per activity median ${a.medianOverheadPerActivityMs} ms quiet, ${d?.medianOverheadPerActivityMs ?? '-'} ms with ${HELD} held open; approve -> next activity p95 ${b.p95Ms} ms`);
    return { a, b, c, d };
  } finally {
    await clients?.close();
    if (worker) await stopBenchWorker(worker);
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Timed {
  medianOverheadPerActivityMs: number;
  medianWorkflowMs: number;
  loadAverage: number[];
}

/**
 * The cluster's figures against the dev server's of the same run, with the verdicts of issue 24's
 * targets. The two are measured one after the other, so a machine shared with other work can be
 * busier for one than for the other: the 1-minute load averages are compared too, and a ratio measured
 * under loads more than 1.5x apart is flagged for a repeat.
 */
function compare(cluster: Timed, dev: Timed) {
  const overheadPerActivityRatio = round(ratio(cluster.medianOverheadPerActivityMs, dev.medianOverheadPerActivityMs));
  const [clusterLoad, devLoad] = [cluster.loadAverage[0] ?? NaN, dev.loadAverage[0] ?? NaN];
  return {
    overheadPerActivityRatio,
    loadAverage1m: { cluster: clusterLoad, dev: devLoad },
    loadComparable: Math.max(clusterLoad, devLoad) <= 1.5 * Math.min(clusterLoad, devLoad),
    workflowMsRatio: round(ratio(cluster.medianWorkflowMs, dev.medianWorkflowMs)),
    clusterWithinTarget: cluster.medianOverheadPerActivityMs <= TARGET_CLUSTER_OVERHEAD_MS,
    withinRatioTarget: overheadPerActivityRatio <= TARGET_CLUSTER_VS_DEV,
  };
}

async function run(): Promise<void> {
  const sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null });
  const results: Partial<Record<BenchService['name'], Awaited<ReturnType<typeof measure>>>> = {};
  try {
    for (const target of benchTargets()) {
      const service = await startBenchService(target);
      try {
        results[target] = await measure(service, sandbox);
      } finally {
        await service.stop();
      }
    }
  } finally {
    await sandbox.stop();
  }
  const { dev, cluster } = results;
  const clusterVsDev = dev && cluster ? { quiet: compare(cluster.a, dev.a), ...(cluster.d && dev.d ? { held: { heldOpen: HELD, ...compare(cluster.d, dev.d) } } : {}) } : undefined;
  // The dev server's non-default settings are saved with the figures: they move them (see DEV_SERVER_DYNAMIC_CONFIG).
  const file = saveResults({ benchmark: 'rollback', at: new Date().toISOString(), machine: { cpus: cpus().length, node: process.version, loadAverageAtEnd: loadavg().map(round) }, devServerDynamicConfig: DEV_SERVER_DYNAMIC_CONFIG_VALUES, results, clusterVsDev });
  for (const [target, { a, b, c, d }] of Object.entries(results)) {
    console.log(`
${target}:
(a) immediate rollback, ${RUNS} runs: workflow median ${a.medianWorkflowMs} ms vs plain script ${a.medianPlainScriptMs} ms
    ratio ${a.ratio}; overhead per activity median ${a.medianOverheadPerActivityMs} ms (target <= ${TARGET_OVERHEAD_MS} ms) ${verdict(a.medianOverheadPerActivityMs <= TARGET_OVERHEAD_MS)} (load ${a.loadAverage.join(' ')})
(b) approve -> next activity start over ${b.gates} gates: p50 ${b.p50Ms} ms, p95 ${b.p95Ms} ms (target <= 150 ms) ${verdict(b.p95Ms <= 150)}
(c) ${c.dryRuns} concurrent dry runs: all complete in ${c.allCompleteMs} ms; worker peak RSS ${c.workerPeakRssMb} MB`);
    if (d) console.log(`(d) (a) with ${d.heldOpen} rollbacks held open at a gate (all held after ${d.allHeldMs} ms): workflow median ${d.medianWorkflowMs} ms vs plain script ${d.medianPlainScriptMs} ms
    overhead per activity median ${d.medianOverheadPerActivityMs} ms (load ${d.loadAverage.join(' ')})`);
  }
  if (clusterVsDev && cluster && dev) {
    const line = (what: string, c: Timed, dv: Timed, vs: ReturnType<typeof compare>) =>
      `${what}: overhead per activity ${c.medianOverheadPerActivityMs} vs ${dv.medianOverheadPerActivityMs} ms (${vs.overheadPerActivityRatio}x); a whole rollback ${c.medianWorkflowMs} vs ${dv.medianWorkflowMs} ms
    cluster <= ${TARGET_CLUSTER_OVERHEAD_MS} ms ${verdict(vs.clusterWithinTarget)}; within ${TARGET_CLUSTER_VS_DEV}x the dev server ${verdict(vs.withinRatioTarget)}` +
      (vs.loadComparable ? '' : `\n    load average ${vs.loadAverage1m.cluster} vs ${vs.loadAverage1m.dev}: the machine was not equally busy for the two, repeat the run`);
    console.log(`\ncluster vs dev server\n${line('quiet', cluster.a, dev.a, clusterVsDev.quiet)}`);
    if (clusterVsDev.held && cluster.d && dev.d) console.log(line(`${HELD} held open`, cluster.d, dev.d, clusterVsDev.held));
  }
  console.log(`saved ${file}`);
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
