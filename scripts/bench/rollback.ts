/**
 * `npm run bench:rollback`: what Temporal orchestration costs a rollback, measured side by side in
 * one run on this machine, with a real worker process per service and the real sandbox, against the
 * dev server (`npm start`) and the cluster on PostgreSQL (`npm run cluster`, one worker here so the two
 * compare like for like; BENCH_TARGETS=dev,cluster chooses). Both services run at once and their timed
 * rollbacks take turns, so a machine shared with other work is as busy for one as for the other.
 *   (a) an immediate rollback as a workflow vs the same activity calls in a plain script: ratio and
 *       overhead per activity (target: median overhead per activity <= 50 ms; on the cluster <= 25 ms
 *       and at most 1.5x the dev server's, quiet and under load);
 *   (b) approve signal to the next activity starting, over 50 gates (target: p95 <= 150 ms);
 *   (c) 50 concurrent dry runs on distinct systems: time to all complete, worker peak RSS;
 *   (d) (a) again under load: 100 rollbacks on systems of their own held open at a gate on each
 *       service (BENCH_HELD changes the number; 0 skips it).
 * Prints a summary and writes bench-results/rollback-<time>.json.
 */
import { cpus, loadavg } from 'node:os';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { DEV_SERVER_DYNAMIC_CONFIG_VALUES } from '../lib/temporal.ts';
import { benchTargets, saveResults, startBenchService, verdict, type BenchService } from './common.ts';
import { holdRollbacks, type HeldRollbacks } from './held-rollbacks.ts';
import { ACTIVITIES, rollbackRig, type RollbackRig, type TimedRun } from './rollback-rig.ts';
import { median, ratio, round } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const GATES = 50;
const DRY_RUNS = 50;
const HELD = Number(process.env.BENCH_HELD ?? 100);
const TARGET_OVERHEAD_MS = 50;
/** Issue 24's targets for the cluster: orchestration per activity at most 25 ms and 1.5x the dev server's. */
const TARGET_CLUSTER_OVERHEAD_MS = 25;
const TARGET_CLUSTER_VS_DEV = 1.5;

type Name = BenchService['name'];

/** The timed runs' figures: medians, ratio to the plain script, overhead per activity. */
function summarize(runs: TimedRun[]) {
  const workflowMs = runs.map((r) => r.workflowMs);
  const scriptMs = runs.map((r) => r.plainScriptMs);
  return {
    runs: runs.length,
    activitiesPerRollback: ACTIVITIES,
    workflowMs: workflowMs.map(round),
    workflowServerMs: runs.map((r) => round(r.workflowServerMs)),
    plainScriptMs: scriptMs.map(round),
    medianWorkflowMs: round(median(workflowMs)),
    medianPlainScriptMs: round(median(scriptMs)),
    ratio: round(ratio(median(workflowMs), median(scriptMs))),
    medianOverheadPerActivityMs: round(median(runs.map((r) => (r.workflowMs - r.plainScriptMs) / ACTIVITIES))),
    targetOverheadPerActivityMs: TARGET_OVERHEAD_MS,
  };
}
type Timed = ReturnType<typeof summarize>;

/**
 * RUNS timed rollbacks on every service, taking turns (the first service alternating), each a workflow
 * then the plain script; run 0 warms every path (workflow bundle caches, HTTP keep-alive) and is not
 * counted. The load average at the end is saved beside the figures.
 */
async function timeInTurns(rigs: RollbackRig[], label: string) {
  const runs = new Map<Name, TimedRun[]>(rigs.map((rig) => [rig.service.name, []]));
  for (let i = 0; i <= RUNS; i += 1) {
    for (const rig of i % 2 === 0 ? rigs : [...rigs].reverse()) {
      const run = await rig.timeOnce(`${label}-${i}`);
      if (i > 0) runs.get(rig.service.name)!.push(run);
    }
  }
  const loadAverage = loadavg().map(round);
  return Object.fromEntries([...runs].map(([name, timed]) => [name, { ...summarize(timed), loadAverage }])) as Partial<Record<Name, Timed & { loadAverage: number[] }>>;
}

/** The cluster's figures against the dev server's, measured in turns, with the verdicts of issue 24's targets. */
function compare(cluster: Timed, dev: Timed) {
  const overheadPerActivityRatio = round(ratio(cluster.medianOverheadPerActivityMs, dev.medianOverheadPerActivityMs));
  return {
    overheadPerActivityRatio,
    workflowMsRatio: round(ratio(cluster.medianWorkflowMs, dev.medianWorkflowMs)),
    clusterWithinTarget: cluster.medianOverheadPerActivityMs <= TARGET_CLUSTER_OVERHEAD_MS,
    withinRatioTarget: overheadPerActivityRatio <= TARGET_CLUSTER_VS_DEV,
  };
}

async function run(): Promise<void> {
  const sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null });
  const stops: (() => Promise<void>)[] = [() => sandbox.stop()];
  const rigs: RollbackRig[] = [];
  const results: Partial<Record<Name, Record<string, unknown>>> = {};
  let quiet: Awaited<ReturnType<typeof timeInTurns>>;
  let held: Awaited<ReturnType<typeof timeInTurns>> | null = null;
  try {
    for (const target of benchTargets()) {
      const service = await startBenchService(target);
      stops.unshift(() => service.stop());
      const rig = await rollbackRig(service, sandbox, { dryRuns: DRY_RUNS, held: HELD });
      stops.unshift(() => rig.close());
      rigs.push(rig);
    }
    quiet = await timeInTurns(rigs, 'quiet');
    for (const rig of rigs) results[rig.service.name] = { a: quiet[rig.service.name], b: await rig.approveLatencies(GATES), c: await rig.dryRuns(DRY_RUNS) };
    if (HELD > 0) {
      // Every service holds its rollbacks during the turns, so each is timed with its own held open.
      const holds = new Map<Name, HeldRollbacks>();
      for (const rig of rigs) holds.set(rig.service.name, await holdRollbacks(rig.service, HELD));
      held = await timeInTurns(rigs, 'held');
      for (const rig of rigs) results[rig.service.name]!.d = { heldOpen: HELD, allHeldMs: holds.get(rig.service.name)!.allHeldMs, ...held[rig.service.name] };
      await Promise.all([...holds.values()].map((h) => h.release()));
    }
  } finally {
    for (const stop of stops) await stop();
  }
  const [cluster, dev] = [quiet.cluster, quiet.dev];
  const clusterVsDev =
    cluster && dev ? { quiet: compare(cluster, dev), ...(held?.cluster && held.dev ? { held: { heldOpen: HELD, ...compare(held.cluster, held.dev) } } : {}) } : undefined;
  // The dev server's non-default settings are saved with the figures: they move them (see DEV_SERVER_DYNAMIC_CONFIG).
  const file = saveResults({ benchmark: 'rollback', at: new Date().toISOString(), machine: { cpus: cpus().length, node: process.version }, devServerDynamicConfig: DEV_SERVER_DYNAMIC_CONFIG_VALUES, results, clusterVsDev });
  for (const rig of rigs) {
    const name = rig.service.name;
    const { b, c } = results[name] as { b: Awaited<ReturnType<RollbackRig['approveLatencies']>>; c: Awaited<ReturnType<RollbackRig['dryRuns']>> };
    const a = quiet[name]!;
    const d = held?.[name];
    console.log(`
${name}:
(a) immediate rollback, ${RUNS} runs: workflow median ${a.medianWorkflowMs} ms vs plain script ${a.medianPlainScriptMs} ms (load ${a.loadAverage.join(' ')})
    ratio ${a.ratio}; overhead per activity median ${a.medianOverheadPerActivityMs} ms (target <= ${TARGET_OVERHEAD_MS} ms) ${verdict(a.medianOverheadPerActivityMs <= TARGET_OVERHEAD_MS)}
(b) approve -> next activity start over ${b.gates} gates: p50 ${b.p50Ms} ms, p95 ${b.p95Ms} ms (target <= 150 ms) ${verdict(b.p95Ms <= 150)}
(c) ${c.dryRuns} concurrent dry runs: all complete in ${c.allCompleteMs} ms; worker peak RSS ${c.workerPeakRssMb} MB`);
    if (d) console.log(`(d) (a) with ${HELD} rollbacks held open at a gate: workflow median ${d.medianWorkflowMs} ms vs plain script ${d.medianPlainScriptMs} ms (load ${d.loadAverage.join(' ')})
    overhead per activity median ${d.medianOverheadPerActivityMs} ms`);
  }
  if (clusterVsDev && cluster && dev) {
    const line = (what: string, c: Timed, dv: Timed, vs: ReturnType<typeof compare>) =>
      `${what}: overhead per activity ${c.medianOverheadPerActivityMs} vs ${dv.medianOverheadPerActivityMs} ms (${vs.overheadPerActivityRatio}x); a whole rollback ${c.medianWorkflowMs} vs ${dv.medianWorkflowMs} ms
    cluster <= ${TARGET_CLUSTER_OVERHEAD_MS} ms ${verdict(vs.clusterWithinTarget)}; within ${TARGET_CLUSTER_VS_DEV}x the dev server ${verdict(vs.withinRatioTarget)}`;
    console.log(`\ncluster vs dev server, timed in turns\n${line('quiet', cluster, dev, clusterVsDev.quiet)}`);
    if (clusterVsDev.held && held?.cluster && held.dev) console.log(line(`${HELD} held open`, held.cluster, held.dev, clusterVsDev.held));
  }
  console.log(`saved ${file}`);
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
