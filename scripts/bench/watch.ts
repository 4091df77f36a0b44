/**
 * `npm run bench:watch`: one worker process (src/build/worker-command.ts, as production runs it) on the dev
 * server, watching N sandbox-like systems (BENCH_SIZES, default 100,500). Their metrics are served by
 * this process on distinct paths (/systems/<n>/metrics): a Prometheus exposition per system whose
 * request counter grows at 20 requests a second, all answered 200, until a fault makes half of them 500.
 * Each system's watchdog judges seed 000's error-rate rule every BENCH_WATCH_INTERVAL seconds
 * (default 10) and acts after 2 breaches in a row. For each size:
 *   - worker CPU (utime + stime from /proc over a steady minute, in cores) and peak RSS (VmHWM);
 *     target: 500 systems below one core;
 *   - history events per watchdog per hour (historyLength growth of 20 watchdogs), bounded by
 *     continue-as-new at maxHistoryEvents;
 *   - detection latency, for BENCH_TRIALS (default 5) faults each into another system at a known time:
 *     fault -> the rollback's workflow start (server time), p50/p95; target: p95 within
 *     interval x breaches + 2 s.
 * Prints a summary and writes bench-results/watch-<time>.json.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TASK_QUEUE, watchdogWorkflowId, type WatchdogStatus } from '../../src/contract/index.ts';
import { waitForPoller } from '../lib/temporal.ts';
import { processRssMb, saveResults, sleep, startBenchService, startBenchWorker, stopBenchWorker } from './common.ts';
import { percentile, round, round3 } from './stats.ts';
import { watchdogStatusQuery } from '../../src/contract/messages.ts';

const SIZES = (process.env.BENCH_SIZES ?? '100,500').split(',').map(Number);
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
  const sizes: Record<string, unknown>[] = [];
  try {
    for (const size of SIZES) {
      const dir = mkdtempSync(join(tmpdir(), 'bench-watch-'));
      for (let n = 0; n < size; n++) writeFileSync(join(dir, `watch-${n}.yaml`), runbookFor(n, port));
      const worker = await startBenchWorker(service.address, { RUNBOOKS_DIR: dir, REPORTS_DIR: join(dir, 'reports') });
      try {
        await waitForPoller(service.connection, 'default', 120_000, worker.pid);
        console.log(`${size} systems: starting ${size} watchdogs (interval ${INTERVAL} s, ${BREACHES} breaches)`);
        const handles = [];
        for (let n = 0; n < size; n++) {
          handles.push(await service.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId: watchdogWorkflowId(`watch-${n}`), args: [{ system: `watch-${n}`, startedBy: 'bench' }] }));
        }
        // Steady state: every watchdog has judged twice.
        const sample = handles.filter((_, i) => i % Math.max(1, Math.floor(size / 20)) === 0).slice(0, 20);
        for (const handle of sample) for (let s: WatchdogStatus | null = null; !s || s.evaluationsTotal < 2; await sleep(500)) s = await handle.query(watchdogStatusQuery);
        const history0 = await Promise.all(sample.map(async (h) => (await h.describe()).historyLength));
        const cpu0 = cpuSeconds(worker.pid!);
        const t0 = Date.now();
        console.log(`  steady for ${STEADY_SECONDS} s`);
        await sleep(STEADY_SECONDS * 1000);
        const seconds = (Date.now() - t0) / 1000;
        const cores = (cpuSeconds(worker.pid!) - cpu0) / seconds;
        const history1 = await Promise.all(sample.map(async (h) => (await h.describe()).historyLength));
        const eventsPerHour = history1.map((h, i) => ((h - history0[i]!) / seconds) * 3600).filter((r) => r >= 0);

        const latencies: number[] = [];
        for (let trial = 0; trial < TRIALS; trial++) {
          const n = Math.floor(((trial + 0.5) * size) / TRIALS);
          const faultAt = Date.now();
          faults.set(n, faultAt);
          const watchdog = handles[n]!;
          let status = await watchdog.query(watchdogStatusQuery);
          for (const deadline = Date.now() + (INTERVAL * (BREACHES + 3) + 30) * 1000; !status.actions[0]?.workflowId && Date.now() < deadline; await sleep(250)) status = await watchdog.query(watchdogStatusQuery);
          const rollbackId = status.actions[0]?.workflowId;
          if (!rollbackId) throw new Error(`watch-${n}: no rollback started; last status: ${JSON.stringify(status.rules)}`);
          const rollback = service.client.workflow.getHandle(rollbackId);
          const started = (await rollback.describe()).startTime.getTime();
          latencies.push((started - faultAt) / 1000);
          console.log(`  trial ${trial + 1}: fault into watch-${n}, rollback ${rollbackId} started after ${round((started - faultAt) / 1000)} s`);
          await rollback.terminate('benchmark: detection measured');
          faults.delete(n);
        }
        const peak = processRssMb(worker.pid!);
        const target = INTERVAL * BREACHES + 2;
        const figures = {
          systems: size,
          intervalSeconds: INTERVAL,
          breaches: BREACHES,
          workerCores: round3(cores),
          workerPeakRssMb: peak.peakMb,
          workerRssMb: peak.rssMb,
          historyEventsPerWatchdogHour: Math.round(percentile(eventsPerHour, 50)),
          continueAsNewEveryMinutes: Math.round((4000 / percentile(eventsPerHour, 50)) * 60),
          detectionSeconds: latencies.map(round),
          detectionP50: round(percentile(latencies, 50)),
          detectionP95: round(percentile(latencies, 95)),
          detectionTargetSeconds: target,
          detectionMet: percentile(latencies, 95) <= target,
          cpuMet: size < 500 || cores < 1,
        };
        console.log(`  ${JSON.stringify(figures)}`);
        sizes.push(figures);
        await Promise.all(handles.map((h) => h.terminate('benchmark done').catch(() => undefined)));
      } finally {
        await stopBenchWorker(worker);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await service.stop();
    metrics.close();
  }
  console.log('\nsystems  interval  cores  peak RSS  events/watchdog/h  detection p50/p95 (target)');
  for (const f of sizes as { systems: number; intervalSeconds: number; workerCores: number; workerPeakRssMb: number; historyEventsPerWatchdogHour: number; detectionP50: number; detectionP95: number; detectionTargetSeconds: number }[]) {
    console.log(`${String(f.systems).padEnd(9)}${`${f.intervalSeconds} s`.padEnd(10)}${String(f.workerCores).padEnd(7)}${`${f.workerPeakRssMb} MB`.padEnd(10)}${String(f.historyEventsPerWatchdogHour).padEnd(19)}${f.detectionP50} / ${f.detectionP95} s (${f.detectionTargetSeconds} s)`);
  }
  console.log(`saved ${saveResults({ benchmark: 'watch', at: new Date().toISOString(), sizes })}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
