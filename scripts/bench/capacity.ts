/**
 * `npm run bench:capacity`: how many open rollbacks a worker carries, measured with real worker
 * processes (src/build/worker-command.ts, as production runs them), the real sandbox, and each Temporal
 * service in turn: the dev server with one worker, then the cluster of `npm run cluster` (Temporal
 * server on PostgreSQL, 4 shards) with two workers. For 100 and then 500 rollbacks, each of its own
 * system, all waiting at their before-cleanup gate:
 *   - worker RSS: at start, while all wait, and the peak (VmHWM: start-up included);
 *     target: 100 open rollbacks in at most 250 MB on one worker, at the peak and while they wait
 *     (WORKER_MAX_CACHED_WORKFLOWS in this process's environment sets the workers' cache size);
 *   - approve -> next activity started (server event times), for 50 approvals sent one by one while
 *     the others keep waiting; target: p95 at most 150 ms with 500 open;
 *   - the time for all the rest to complete once approved together.
 * Each size gets fresh worker processes, so one size's peak is not the other's.
 * BENCH_SIZES=100,500 and BENCH_TARGETS=dev,cluster choose what runs; BENCH_VARIANTS=shipped,v8-heap-growth
 * measures each size also with V8's own heap growth (the worker as shipped sets --heap-growing-percent;
 * src/build/worker-command.ts), side by side; node-source-maps, with node's --enable-source-maps.
 * Prints a summary and writes bench-results/capacity-<time>.json.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { TASK_QUEUE } from '../../src/contract/index.ts';
import { parseEnv } from '../../src/worker/env.ts';
import { DEV_SERVER_DYNAMIC_CONFIG_VALUES, waitForPoller } from '../lib/temporal.ts';
import { approveSignal, decideSignal, statusQuery } from '../../src/contract/messages.ts';
import {
  benchLogger,
  benchTargets,
  benchVariants,
  eventMs,
  processMemoryBreakdown,
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
import { benchRunbook } from './runbook.ts';
import { max, percentile, round } from './stats.ts';

const SIZES = (process.env.BENCH_SIZES ?? '100,500').split(',').map(Number);
const SAMPLED_APPROVALS = 50;
const TARGET_RSS_MB = { open: 100, mb: 250 };
const TARGET_P95 = { open: 500, ms: 150 };
const GATES = { 'before-cleanup': { role: 'oncall', timeoutSeconds: 3600 } };
const log = benchLogger('capacity');

/**
 * The worker as shipped, or with a node/V8 flag of its own set back (the last flag wins), or another
 * cache size: `v8-heap-growth`, V8 choosing its heap's growth; `node-source-maps`, node's
 * --enable-source-maps, which workers ran with before they mapped their own frames
 * (src/worker/stack-traces.ts); `cache-250`, 250 workflows cached (the default until 2026-12-07).
 */
const VARIANTS: Record<string, { nodeFlags: string[]; env?: Record<string, string> }> = {
  shipped: { nodeFlags: [] },
  'v8-heap-growth': { nodeFlags: ['--heap-growing-percent=0'] },
  'node-source-maps': { nodeFlags: ['--enable-source-maps'] },
  'cache-250': { nodeFlags: [], env: { WORKER_MAX_CACHED_WORKFLOWS: '250' } },
};
const CHOSEN = benchVariants(VARIANTS, 'shipped');

/** One worker on the dev server; two on the cluster, as `npm run cluster` runs them. */
const WORKERS = { dev: 1, cluster: 2 } as const;

/** Samples each worker's RSS every 200 ms; `max()` is the highest seen since the last `reset()`. */
class RssSampler {
  private highest = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pids: number[]) {
    this.timer = setInterval(() => this.sample(), 200);
  }
  sample(): number {
    // A worker that exited (its error is on stderr) counts nothing; waiting for it then fails the run.
    const total = this.pids.reduce((sum, pid) => sum + (existsSync(`/proc/${pid}`) ? processRssMb(pid).rssMb : 0), 0);
    this.highest = Math.max(this.highest, total);
    return total;
  }
  reset(): void {
    this.highest = 0;
  }
  max(): number {
    this.sample();
    return round(this.highest);
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** Runs `task` over `items`, `limit` at a time. */
async function inBatches<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += limit) results.push(...(await Promise.all(items.slice(i, i + limit).map(task))));
  return results;
}

/** Visibility's count of this run's rollbacks in `state`. */
async function countInState(client: Client, prefix: string, state: string): Promise<number> {
  const { count } = await client.workflow.count(`WorkflowId STARTS_WITH "${prefix}" AND RollbackState = "${state}"`);
  return count;
}

async function measure(service: BenchService, sandbox: Sandbox, open: number, variant: string) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-capacity-'));
  const secrets = { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` };
  for (let i = 1; i <= open; i += 1) writeFileSync(join(dir, `cap-${i}.yaml`), benchRunbook(sandbox, { system: `cap-${i}`, gates: GATES }));
  const workers = await Promise.all(Array.from({ length: WORKERS[service.name] }, () => startBenchWorker(service.address, { ...secrets, RUNBOOKS_DIR: dir, REPORTS_DIR: join(dir, 'reports'), ...VARIANTS[variant]!.env }, VARIANTS[variant]!.nodeFlags)));
  const sampler = new RssSampler(workers.map((w) => w.pid!));
  try {
    for (const worker of workers) await waitForPoller(service.connection, 'default', 120_000, worker.pid);
    await sleep(2000); // every worker polling and settled after start-up
    const atStartMb = round(sampler.sample());
    const atStartBreakdown = workers.map((w) => processMemoryBreakdown(w.pid!));
    await resetSandbox(sandbox);
    const prefix = `cap-${service.name}-${open}-${Date.now()}-`;
    log(`${service.name}, ${variant}: starting ${open} rollbacks (${workers.length} worker${workers.length > 1 ? 's' : ''}, ${atStartMb} MB at start)`);
    sampler.reset();
    const handles: WorkflowHandle[] = await inBatches(
      Array.from({ length: open }, (_, i) => i + 1),
      50,
      (i) =>
        service.client.workflow.start('fullRollback', {
          taskQueue: TASK_QUEUE,
          workflowId: `${prefix}${i}`,
          args: [{ system: `cap-${i}`, reason: 'capacity benchmark', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }],
        }),
    );
    const startedAt = performance.now();
    // A step that fails under this load (seen on the cluster: preflight missing its 5 s heartbeat
    // timeout while the server was saturated) waits for a decision, as it would for a person: the
    // benchmark decides retry, as the on-call engineer would, and reports how many it retried.
    const retried = new Set<string>();
    for (let waiting = 0; waiting < open; waiting = await countInState(service.client, prefix, 'awaiting_approval')) {
      if (performance.now() - startedAt > 600_000) throw new Error(`after 10 minutes only ${waiting} of ${open} rollbacks wait at their gate`);
      for await (const stuck of service.client.workflow.list({ query: `WorkflowId STARTS_WITH "${prefix}" AND RollbackState = "awaiting_decision"` })) {
        const handle = service.client.workflow.getHandle(stuck.workflowId);
        const status = await handle.query(statusQuery);
        if (!status.pendingDecision) continue;
        log(`${service.name}: ${stuck.workflowId} ${status.pendingDecision.step} failed (${status.pendingDecision.error}): retry`);
        await handle.signal(decideSignal, { by: 'alice', action: 'retry' });
        retried.add(`${stuck.workflowId}:${status.pendingDecision.step}`);
      }
      await sleep(500);
    }
    const allWaitingMs = round(performance.now() - startedAt);
    await sleep(3000); // settled: what it takes to hold them, not to have just started them
    const whileWaitingMb = round(sampler.sample());
    const whileWaitingBreakdown = workers.map((w) => processMemoryBreakdown(w.pid!));
    log(`${service.name}: all ${open} wait at their gate after ${allWaitingMs} ms; workers hold ${whileWaitingMb} MB`);

    // Approvals one at a time, spread over the open rollbacks, each to a rollback the worker may not have touched for a while.
    const step = Math.max(1, Math.floor(open / SAMPLED_APPROVALS));
    const sampled = handles.filter((_, i) => i % step === 0).slice(0, SAMPLED_APPROVALS);
    for (const handle of sampled) {
      await handle.signal(approveSignal, { by: 'bob' });
      await handle.result();
    }
    const latencies: number[] = [];
    for (const handle of sampled) {
      const events = (await handle.fetchHistory()).events ?? [];
      const signalled = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
      const next = events.slice(signalled).find((e) => e.activityTaskStartedEventAttributes);
      if (signalled >= 0 && next) latencies.push(eventMs(next) - eventMs(events[signalled]!));
    }

    // The rest approved together.
    const rest = handles.filter((h) => !sampled.includes(h));
    const approvedAt = performance.now();
    await inBatches(rest, 50, (handle) => handle.signal(approveSignal, { by: 'bob' }));
    await Promise.all(rest.map((handle) => handle.result()));
    const restCompleteMs = round(performance.now() - approvedAt);
    const peakWhileOpenMb = sampler.max();
    const perWorker = workers.map((w) => processRssMb(w.pid!));
    log(`${service.name}: approve -> next activity p95 ${round(percentile(latencies, 95))} ms; the other ${rest.length} completed ${restCompleteMs} ms after approval`);
    return {
      open,
      variant,
      workers: workers.length,
      workerRssAtStartMb: atStartMb,
      workerRssWhileWaitingMb: whileWaitingMb,
      workerRssPeakWhileOpenMb: peakWhileOpenMb,
      workerPeakRssMb: perWorker.map((w) => w.peakMb),
      // Where each worker's resident memory was (from /proc/<pid>/smaps), at start and while all waited.
      workerMemoryAtStart: atStartBreakdown,
      workerMemoryWhileWaiting: whileWaitingBreakdown,
      allAtGateMs: allWaitingMs,
      stepsRetriedBeforeTheGate: [...retried],
      approveToNextActivity: { approvals: latencies.length, p50Ms: round(percentile(latencies, 50)), p95Ms: round(percentile(latencies, 95)), maxMs: round(max(latencies)) },
      restApproved: rest.length,
      restCompleteAfterApprovalMs: restCompleteMs,
    };
  } finally {
    sampler.stop();
    await Promise.all(workers.map((worker) => stopBenchWorker(worker)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(): Promise<void> {
  const workerEnv = parseEnv(process.env);
  const sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null, loadRequestsPerSecond: 0 });
  const results: Record<string, Awaited<ReturnType<typeof measure>>[]> = {};
  try {
    for (const target of benchTargets()) {
      const service = await startBenchService(target);
      try {
        results[target] = [];
        for (const open of SIZES) for (const variant of CHOSEN) results[target].push(await measure(service, sandbox, open, variant));
      } finally {
        await service.stop();
      }
    }
  } finally {
    await sandbox.stop();
  }
  const at = new Date().toISOString();
  const rssFigure = results.dev?.find((r) => r.open === TARGET_RSS_MB.open && r.variant === 'shipped');
  const p95Figure = results.dev?.find((r) => r.open === TARGET_P95.open && r.variant === 'shipped');
  const file = saveResults({
    benchmark: 'capacity',
    at,
    machine: { cpus: cpus().length, node: process.version },
    devServerDynamicConfig: DEV_SERVER_DYNAMIC_CONFIG_VALUES,
    worker: { maxCachedWorkflows: workerEnv.WORKER_MAX_CACHED_WORKFLOWS, maxConcurrentActivities: workerEnv.WORKER_MAX_CONCURRENT_ACTIVITIES },
    targets: { rss: TARGET_RSS_MB, approveToNextActivityP95: TARGET_P95 },
    results,
  });
  console.log();
  for (const [target, rows] of Object.entries(results)) {
    for (const r of rows) {
      console.log(
        `${target.padEnd(7)} ${r.variant.padEnd(15)} ${String(r.open).padStart(3)} open, ${r.workers} worker${r.workers > 1 ? 's' : ' '}: RSS ${r.workerRssAtStartMb} MB at start, ${r.workerRssWhileWaitingMb} MB while waiting, peak ${r.workerPeakRssMb.join(' + ')} MB; ` +
          `approve -> next activity p50 ${r.approveToNextActivity.p50Ms} ms, p95 ${r.approveToNextActivity.p95Ms} ms; ${r.restApproved} approved together complete in ${r.restCompleteAfterApprovalMs} ms`,
      );
    }
  }
  if (rssFigure) {
    // Both: what the worker holds while they wait, and its high-water mark, reached while the 100 start together.
    const rssVerdict = (mb: number) => `${mb} MB ${verdict(mb <= TARGET_RSS_MB.mb)}`;
    console.log(
      `target: ${TARGET_RSS_MB.open} open rollbacks in <= ${TARGET_RSS_MB.mb} MB on one worker: while they wait ${rssVerdict(rssFigure.workerRssWhileWaitingMb)}; peak ${rssVerdict(rssFigure.workerPeakRssMb[0]!)}`,
    );
  }
  if (p95Figure) console.log(`target: approve -> next activity p95 <= ${TARGET_P95.ms} ms with ${TARGET_P95.open} open: ${p95Figure.approveToNextActivity.p95Ms} ms ${verdict(p95Figure.approveToNextActivity.p95Ms <= TARGET_P95.ms)}`);
  console.log(`saved ${file}`);
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
