/**
 * `npm run bench:watch`: one worker process (src/build/worker-command.ts, as production runs it) on the dev
 * server, watching N sandbox-like systems (BENCH_SIZES, default 1000). Their metrics are served by
 * this process on distinct paths (/systems/<n>/metrics): a Prometheus exposition per system whose
 * request counter grows at 20 requests a second, all answered 200, until a fault makes half of them 500.
 * Each system's watchdog judges seed 000's error-rate rule every BENCH_WATCH_INTERVAL seconds
 * (default 10) and acts after 2 breaches in a row.
 *
 * The same systems are watched in each variant (BENCH_VARIANTS, default loop and loop-cache-250), side
 * by side in one run,
 * each with a fresh worker: the choices for where a watchdog's memory goes (docs/benchmarks.md):
 *   - loop: the watch loop as shipped (reportEvery 30, maxHistoryEvents 1000), the worker's default
 *     cache (WORKER_MAX_CACHED_WORKFLOWS 100) and flags (src/build/worker-command.ts: V8's heap
 *     grows by 20% between full collections);
 *   - loop-v8-heap-growth: the same, V8 choosing how far the heap grows (--heap-growing-percent=0,
 *     its own default; what the worker ran with before);
 *   - loop-heap-growth-10: the heap grows by 10% between full collections;
 *   - loop-cache-250: 250 workflows cached (WORKER_MAX_CACHED_WORKFLOWS 250, the default until 2026-12-07);
 *   - loop-small-cache: the watch loop with 10 workflows cached (WORKER_MAX_CACHED_WORKFLOWS 10): nearly
 *     every report replays its watchdog's history;
 *   - loop-all-cached: the watch loop with every watchdog cached (WORKER_MAX_CACHED_WORKFLOWS 5000);
 *   - loop-long-history: the watch loop, the default cache, but maxHistoryEvents 4000, so a watchdog
 *     brought back into the cache replays up to four times the history;
 *   - per-interval: the watch loop reports after every evaluation (reportEvery 1): a workflow task and
 *     six history events per interval, as the watchdog did before the watch loop, every watchdog cached.
 * For each: worker CPU (utime + stime from /proc over a steady window, in cores), RSS before the
 * watchdogs start, at the end and at the peak (VmHWM) with where it is (V8 heap, files, native);
 * workflow tasks and replays (cache misses) over the window, from the worker's own Prometheus
 * metrics; history events per watchdog per hour (20 sampled); detection latency for BENCH_TRIALS
 * (default 5) faults each into another system at a known time: fault -> the rollback's workflow start
 * (server time), p50/p95. Targets: 1,000 systems in at most 400 MB, under half a core, detection p95
 * within interval x breaches + 2 s.
 * Prints a summary and writes bench-results/watch-<time>.json.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TASK_QUEUE, watchdogWorkflowId, type WatchdogStatus } from '../../src/contract/index.ts';
import { waitForPoller } from '../lib/temporal.ts';
import { benchVariants, processMemoryBreakdown, processRssMb, saveResults, sleep, startBenchService, startBenchWorker, stopBenchWorker, verdict, type BenchService } from './common.ts';
import { percentile, round, round3 } from './stats.ts';
import { freePort } from '../../test/harness.ts';
import { watchdogStatusQuery } from '../../src/contract/messages.ts';

const SIZES = (process.env.BENCH_SIZES ?? '1000').split(',').map(Number);
const TARGETS = { systems: 1000, rssMb: 400, cores: 0.5 };

/** What each variant changes: the worker's environment and the watchdogs' input. */
const VARIANTS: Record<string, { env: Record<string, string>; input: Record<string, number>; nodeFlags?: string[] }> = {
  loop: { env: {}, input: {} },
  'loop-v8-heap-growth': { env: {}, input: {}, nodeFlags: ['--heap-growing-percent=0'] },
  'loop-heap-growth-10': { env: {}, input: {}, nodeFlags: ['--heap-growing-percent=10'] },
  'loop-cache-250': { env: { WORKER_MAX_CACHED_WORKFLOWS: '250' }, input: {} },
  'loop-all-cached': { env: { WORKER_MAX_CACHED_WORKFLOWS: '5000' }, input: {} },
  'loop-small-cache': { env: { WORKER_MAX_CACHED_WORKFLOWS: '10' }, input: {} },
  'loop-long-history': { env: {}, input: { maxHistoryEvents: 4000 } },
  'per-interval': { env: { WORKER_MAX_CACHED_WORKFLOWS: '5000' }, input: { reportEvery: 1, maxHistoryEvents: 4000 } },
};
const CHOSEN = benchVariants(VARIANTS, 'loop,loop-cache-250');

/** The worker's own counters (its Prometheus endpoint): workflow tasks run, and those that replayed a history (cache misses). */
async function workerCounters(url: string): Promise<{ workflowTasks: number; replays: number }> {
  const text = await (await fetch(url)).text();
  const sum = (name: RegExp) => text.split('\n').filter((l) => name.test(l.split(/[{ ]/)[0]!)).reduce((total, l) => total + Number(l.trim().split(/\s+/).at(-1)), 0);
  return { workflowTasks: sum(/^temporal_workflow_task_execution_latency_count$/), replays: sum(/^temporal_sticky_cache_miss(_total)?$/) };
}
const INTERVAL = Number(process.env.BENCH_WATCH_INTERVAL ?? 10);
const BREACHES = 2;
const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const RPS = 20;
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 60);

/** Every system's counters, computed from the clock: requests at RPS since start, half 500s since its fault. */
const startedAt = Date.now();
const faults = new Map<number, number>();
function exposition(n: number): string {
  const now = Date.now();
  const total = Math.floor(((now - startedAt) / 1000) * RPS);
  const faultAt = faults.get(n);
  const errors = faultAt === undefined ? 0 : Math.floor(((now - faultAt) / 1000) * RPS * 0.5);
  return [
    '# TYPE sandbox_router_requests_total counter',
    `sandbox_router_requests_total{version="stable",status="200"} ${total - errors}`,
    `sandbox_router_requests_total{version="canary",status="500"} ${errors}`,
    '# TYPE sandbox_router_request_duration_seconds histogram',
    `sandbox_router_request_duration_seconds_bucket{version="stable",le="0.05"} ${total}`,
    `sandbox_router_request_duration_seconds_bucket{version="stable",le="+Inf"} ${total}`,
    `sandbox_router_request_duration_seconds_sum{version="stable"} ${total * 0.02}`,
    `sandbox_router_request_duration_seconds_count{version="stable"} ${total}`,
    '',
  ].join('\n');
}

function runbookFor(n: number, port: number): string {
  return stringify({
    system: `watch-${n}`,
    traffic: { provider: 'http-router', settings: { url: `http://127.0.0.1:${port}` }, stableInstances: 3 },
    health: {
      metrics: { provider: 'prometheus', settings: { url: `http://127.0.0.1:${port}/systems/${n}/metrics`, requestsMetric: 'sandbox_router_requests_total', latencyMetric: 'sandbox_router_request_duration_seconds' } },
      minRequests: 20,
    },
    approvers: { oncall: ['alice', 'bob'] },
    notify: [{ provider: 'log' }],
    rto: { detectionMinutes: 2, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
    watch: { intervalSeconds: INTERVAL, rules: [{ name: 'error-rate', metric: 'errorRatePct', above: 10, consecutive: BREACHES, action: { rollback: 'immediate' } }] },
  });
}

/** utime + stime of a process, in seconds (clock ticks at 100 Hz). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const metrics = createServer((req, res) => {
    const n = Number(/^\/systems\/(\d+)\/metrics$/.exec(req.url ?? '')?.[1]);
    if (!Number.isInteger(n)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition(n));
  });
  await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve));
  const port = (metrics.address() as { port: number }).port;
  const service = await startBenchService('dev');
  const results: Record<string, unknown>[] = [];
  try {
    for (const size of SIZES) {
      for (const variant of CHOSEN) results.push(await measure(service, port, size, variant));
    }
  } finally {
    await service.stop();
    metrics.close();
  }
  const target = INTERVAL * BREACHES + 2;
  console.log(`\nsystems  variant              cores  RSS end / peak (MB)  per watchdog  replays/s  events/watchdog/h  detection p50/p95 (target ${target} s)`);
  for (const f of results as Figures[]) {
    console.log(
      `${String(f.systems).padEnd(9)}${f.variant.padEnd(21)}${String(f.workerCores).padEnd(7)}${`${f.workerRssMb} / ${f.workerPeakRssMb}`.padEnd(21)}${`${f.perWatchdogMb} MB`.padEnd(14)}${String(f.replaysPerSecond).padEnd(11)}${String(f.historyEventsPerWatchdogHour).padEnd(19)}${f.detectionP50} / ${f.detectionP95} s`,
    );
  }
  for (const f of (results as Figures[]).filter((r) => r.systems === TARGETS.systems && r.variant === 'loop')) {
    console.log(
      `target: ${TARGETS.systems} systems on one worker: RSS peak ${f.workerPeakRssMb} MB ${verdict(f.workerPeakRssMb <= TARGETS.rssMb)} (<= ${TARGETS.rssMb}); ${f.workerCores} cores ${verdict(f.workerCores < TARGETS.cores)} (< ${TARGETS.cores}); detection p95 ${f.detectionP95} s ${verdict(f.detectionMet)} (<= ${target} s)`,
    );
  }
  console.log(`saved ${saveResults({ benchmark: 'watch', at: new Date().toISOString(), targets: { ...TARGETS, detectionSeconds: target }, sizes: results })}`);
}

type Figures = { systems: number; variant: string; workerCores: number; workerRssMb: number; workerPeakRssMb: number; perWatchdogMb: number; replaysPerSecond: number; historyEventsPerWatchdogHour: number; detectionP50: number; detectionP95: number; detectionMet: boolean };

/** The watchdog's status, asked again while an overloaded worker lets queries time out (the per-interval variant). */
async function statusOf(handle: WorkflowHandle): Promise<WatchdogStatus> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await handle.query(watchdogStatusQuery);
    } catch (err) {
      if (attempt >= 10) throw err;
      await sleep(1000);
    }
  }
}

/** One variant at one size, with a worker of its own. */
async function measure(service: BenchService, port: number, size: number, variant: string): Promise<Record<string, unknown>> {
  const { env, input, nodeFlags } = VARIANTS[variant]!;
  const dir = mkdtempSync(join(tmpdir(), 'bench-watch-'));
  for (let n = 0; n < size; n++) writeFileSync(join(dir, `watch-${n}.yaml`), runbookFor(n, port));
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  const worker = await startBenchWorker(service.address, { RUNBOOKS_DIR: dir, REPORTS_DIR: join(dir, 'reports'), WORKER_METRICS_ADDRESS: metricsAddress, ...env }, nodeFlags);
  const counters = () => workerCounters(`http://${metricsAddress}/metrics`);
  try {
    await waitForPoller(service.connection, 'default', 120_000, worker.pid);
    const idle = { ...processRssMb(worker.pid!), ...processMemoryBreakdown(worker.pid!) };
    console.log(`${size} systems, ${variant}: starting ${size} watchdogs (interval ${INTERVAL} s, ${BREACHES} breaches; ${JSON.stringify({ ...env, ...input, ...(nodeFlags ? { nodeFlags } : {}) })})`);
    const handles = [];
    for (let n = 0; n < size; n++) {
      handles.push(await service.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId: watchdogWorkflowId(`watch-${n}`), args: [{ system: `watch-${n}`, startedBy: 'bench', ...input }] }));
    }
    // Steady state: every sampled watchdog has reported its first evaluation, then two more intervals.
    const sample = handles.filter((_, i) => i % Math.max(1, Math.floor(size / 20)) === 0).slice(0, 20);
    for (const handle of sample) for (let s: WatchdogStatus | null = null; !s || s.evaluationsTotal < 1; await sleep(500)) s = await statusOf(handle);
    await sleep(2 * INTERVAL * 1000);
    const history0 = await Promise.all(sample.map(async (h) => (await h.describe()).historyLength));
    const cpu0 = cpuSeconds(worker.pid!);
    const counted0 = await counters();
    const t0 = Date.now();
    // At least one report period, so the window holds every watchdog's report (and its replay, if evicted).
    const steadySeconds = Math.max(STEADY_SECONDS, (input.reportEvery ?? 30) * INTERVAL);
    console.log(`  steady for ${steadySeconds} s`);
    await sleep(steadySeconds * 1000);
    const seconds = (Date.now() - t0) / 1000;
    const cores = (cpuSeconds(worker.pid!) - cpu0) / seconds;
    const counted1 = await counters();
    const history1 = await Promise.all(sample.map(async (h) => (await h.describe()).historyLength));
    const eventsPerHour = history1.map((h, i) => ((h - history0[i]!) / seconds) * 3600).filter((r) => r >= 0);

    const latencies: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const n = Math.floor(((trial + 0.5) * size) / TRIALS);
      const faultAt = Date.now();
      faults.set(n, faultAt);
      const watchdog = handles[n]!;
      let status = await statusOf(watchdog);
      for (const deadline = Date.now() + (INTERVAL * (BREACHES + 3) + 30) * 1000; !status.actions[0]?.workflowId && Date.now() < deadline; await sleep(250)) status = await statusOf(watchdog);
      const rollbackId = status.actions[0]?.workflowId;
      if (!rollbackId) throw new Error(`watch-${n}: no rollback started; last status: ${JSON.stringify(status.rules)}`);
      const rollback = service.client.workflow.getHandle(rollbackId);
      const started = (await rollback.describe()).startTime.getTime();
      latencies.push((started - faultAt) / 1000);
      console.log(`  trial ${trial + 1}: fault into watch-${n}, rollback ${rollbackId} started after ${round((started - faultAt) / 1000)} s`);
      await rollback.terminate('benchmark: detection measured');
      faults.delete(n);
    }
    const end = processRssMb(worker.pid!);
    const target = INTERVAL * BREACHES + 2;
    const figures = {
      systems: size,
      variant,
      settings: { ...env, ...input },
      intervalSeconds: INTERVAL,
      breaches: BREACHES,
      workerCores: round3(cores),
      workerPeakRssMb: end.peakMb,
      workerRssMb: end.rssMb,
      workerRssIdleMb: idle.rssMb,
      perWatchdogMb: round3((end.rssMb - idle.rssMb) / size),
      workerMemoryIdle: { v8HeapMb: idle.v8HeapMb, filesMb: idle.filesMb, nativeMb: idle.nativeMb },
      workerMemoryWatching: processMemoryBreakdown(worker.pid!),
      workflowTasksPerSecond: round((counted1.workflowTasks - counted0.workflowTasks) / seconds),
      replaysPerSecond: round((counted1.replays - counted0.replays) / seconds),
      historyEventsPerWatchdogHour: Math.round(percentile(eventsPerHour, 50)),
      detectionSeconds: latencies.map(round),
      detectionP50: round(percentile(latencies, 50)),
      detectionP95: round(percentile(latencies, 95)),
      detectionTargetSeconds: target,
      detectionMet: percentile(latencies, 95) <= target,
    };
    console.log(`  ${JSON.stringify(figures)}`);
    await Promise.all(handles.map((h) => h.terminate('benchmark done').catch(() => undefined)));
    return figures;
  } finally {
    await stopBenchWorker(worker);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
