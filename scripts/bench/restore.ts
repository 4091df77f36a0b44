/**
 * `npm run bench:restore`: what the dataRestore workflow costs against a bare pg_restore, measured
 * side by side in one run on this machine, on a pgbench scale-50 database (about 5 million rows in
 * pgbench_accounts, plus the sandbox tables) in the local PostgreSQL, with the real dev server and a
 * real worker process.
 *   (1) orchestrated: the dataRestore workflow from start to result, broken down per step from the
 *       status query. Its restore, verify and swap (from restore-to-side starting to verify-live
 *       ending: pg_restore, row counts and smoke queries, stop writers, the swap, the live check) is
 *       the span compared with the bare path; the verified safety dump before it, preflight and
 *       report have no bare counterpart and are shown beside it, as is the whole;
 *   (2) bare: pg_restore -j2 of the same backup into a new database, then the rename; no safety dump,
 *       no verification. Target: orchestrated restore, verify and swap / bare <= 1.15;
 *   (3) the swap window, in runs of its own (their load would otherwise be counted against the
 *       workflow in (1)): the workflow's swapWindowMs, a probe connecting to the live name every 5 ms
 *       through the swap (target: <= 1 s), and a concurrent writer that ignores the maintenance flag
 *       (an INSERT every 5 ms through the whole run): its longest gap between acknowledged writes,
 *       and every acknowledged write found afterwards in the kept or the live database (none lost);
 *   (4) pg_restore --jobs=1 against --jobs=2 into fresh databases.
 * Every database it creates is named bench_restore_<pid>...; all are dropped at the end, also on
 * failure or Ctrl-C. Prints a summary and writes bench-results/restore-<time>.json.
 * Before the timed runs, untimed: one bare restore into a throwaway database (the server then has its
 * WAL segments and the backup is in the page cache for every timed run alike, instead of whichever
 * path runs first paying for them) and one dry run of the workflow (the worker loads its code).
 * BENCH_RUNS (default 3) runs of each timed measurement, medians reported; BENCH_SCALE (default 50);
 * BENCH_VERBOSE=1 prints every activity of each workflow run.
 * This file is the plan, one function per measurement; what they measure with is in restore-rig.ts,
 * restore-database.ts, restore-workflow.ts, swap-probe.ts and concurrent-writer.ts, the figures in
 * restore-results.ts.
 */
import { TASK_QUEUE } from '../../src/contract/index.ts';
import { Cleanup } from './cleanup.ts';
import { saveResults } from './common.ts';
import { startConcurrentWriter } from './concurrent-writer.ts';
import { checkpoint, dropBenchDatabase, keptDatabase, LIVE, LIVE_URL, renameOverLive, restoreFresh } from './restore-database.ts';
import { printRestoreSummary, restoreResults, seconds, type BareRun, type RestoreRuns } from './restore-results.ts';
import { BACKUP_ID, JOBS, log, startRestoreRig, SYSTEM, type RestoreRig } from './restore-rig.ts';
import { awaitDataRestore, orchestratedRun, startDataRestore, STEPS, type FinishedRestore, type OrchestratedRun } from './restore-workflow.ts';
import { round } from './stats.ts';
import { probeSummary, swapProbe, type ProbeResult } from './swap-probe.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 50);

async function run(): Promise<void> {
  const cleanup = new Cleanup();
  const signals = cleanup.onSignals('stopping, dropping the bench databases');
  try {
    const rig = await startRestoreRig(SCALE, cleanup);
    await warmUp(rig);
    const runs: RestoreRuns = { orchestrated: [], bare: [], swapWindow: [], jobs1Ms: [] };
    for (let n = 1; n <= RUNS; n += 1) {
      // Alternate which path goes first, so neither always follows the other.
      const order = n % 2 === 1 ? (['orchestrated', 'bare'] as const) : (['bare', 'orchestrated'] as const);
      for (const path of order) {
        if (path === 'orchestrated') runs.orchestrated.push(await measureWorkflowRestore(rig, cleanup, n));
        else runs.bare.push(await measureBareRestore(rig, n));
        await rig.reset();
      }
      runs.swapWindow.push(await measureSwapWindow(rig, cleanup, n));
      await rig.reset();
      runs.jobs1Ms.push(await measureOneJobRestore(rig, n));
    }
    const results = await restoreResults(rig, runs, RUNS);
    printRestoreSummary(results, saveResults(results));
  } catch (err) {
    if (!signals.interrupted) throw err; // after a signal, the error is only the workflow we terminated
  } finally {
    await cleanup.run();
    signals.release();
  }
}

/**
 * Untimed: the server gets its WAL segments and the backup comes into the page cache for every timed
 * run alike, and the worker loads its code.
 */
async function warmUp(rig: RestoreRig): Promise<void> {
  log('warm-up, untimed: a bare restore into a throwaway database, a dry run of the workflow');
  await restoreFresh(`${LIVE}_warm_up`, rig.dumpDir, JOBS);
  await dropBenchDatabase(`${LIVE}_warm_up`);
  await rig.client.workflow.execute('dataRestore', {
    taskQueue: TASK_QUEUE,
    workflowId: `bench-restore-${process.pid}-warm-up`,
    args: [{ system: SYSTEM, database: 'main', backup: BACKUP_ID, reason: 'benchmark warm-up', requestedBy: 'alice', dryRun: true }],
  });
}

/**
 * (1) The dataRestore workflow alone, its status read every 500 ms: the runs the ratio is judged on,
 * carrying no more load than the bare path does.
 */
async function measureWorkflowRestore(rig: RestoreRig, cleanup: Cleanup, n: number): Promise<OrchestratedRun> {
  log(`run ${n}/${RUNS}: dataRestore workflow`);
  await checkpoint();
  const started = await startDataRestore(rig.client, n, cleanup);
  const finished = await awaitDataRestore(started, { pollMs: () => 500 });
  return reported(await orchestratedRun(finished, null, null));
}

/** (2) The bare path: CREATE DATABASE, pg_restore -j2 of the same backup, the rename; nothing verified. */
async function measureBareRestore(rig: RestoreRig, n: number): Promise<BareRun> {
  log(`run ${n}/${RUNS}: bare pg_restore -j${JOBS} + rename`);
  const side = `${LIVE}_bare_${n}`;
  await checkpoint();
  const started = performance.now();
  await restoreFresh(side, rig.dumpDir, JOBS);
  const restored = performance.now();
  await renameOverLive(side, `${LIVE}_bare_old_${n}`);
  const renamed = performance.now();
  const bare = { restoreMs: round(restored - started), renameMs: round(renamed - restored), totalMs: round(renamed - started) };
  log(`  ${seconds(bare.totalMs)} (restore ${seconds(bare.restoreMs)}, rename ${bare.renameMs} ms)`);
  return bare;
}

/**
 * (3) The swap window: a dataRestore run (numbered after the runs of (1)) under the concurrent writer
 * from its start to its end, the probe connecting every 5 ms from verify-side on, and its status read
 * every 50 ms around the swap. That load lands on the same two cores as the workflow's own steps after
 * the restore (a connection every 5 ms is a backend started every 5 ms), which is why these runs are
 * not the ones the ratio is judged on.
 */
async function measureSwapWindow(rig: RestoreRig, cleanup: Cleanup, n: number): Promise<OrchestratedRun> {
  log(`run ${n}/${RUNS}: dataRestore workflow under a concurrent writer, the swap probed`);
  await checkpoint();
  const started = await startDataRestore(rig.client, RUNS + n, cleanup);
  const writer = startConcurrentWriter(RUNS + n);
  const probe = swapProbe(LIVE_URL);
  let finished: FinishedRestore | undefined;
  let probed: ProbeResult | null = null;
  try {
    // Read gently through the long restore, closely around the swap.
    finished = await awaitDataRestore(started, { pollMs: (step) => (step === 'restore-to-side' ? 250 : 50), onStep: (step) => probe.onStep(step) });
  } finally {
    probed = await probe.stop();
    if (!finished) await writer.stop(null).catch(() => undefined); // failed: the writer must not outlive the run
  }
  const writes = await writer.stop(await keptDatabase());
  return reported(await orchestratedRun(finished, probed, writes));
}

/** (4) pg_restore --jobs=1 into a fresh database, dropped after; the --jobs=2 figures are (2)'s restores. */
async function measureOneJobRestore(rig: RestoreRig, n: number): Promise<number> {
  log(`run ${n}/${RUNS}: bare pg_restore -j1 into a fresh database`);
  const name = `${LIVE}_j1_${n}`;
  await checkpoint();
  const started = performance.now();
  await restoreFresh(name, rig.dumpDir, 1);
  const ms = round(performance.now() - started);
  await dropBenchDatabase(name);
  log(`  ${seconds(ms)}`);
  return ms;
}

/** A workflow run's progress line (and with BENCH_VERBOSE, each of its activities); returns the run. */
function reported(r: OrchestratedRun): OrchestratedRun {
  if (process.env.BENCH_VERBOSE) for (const a of r.activities) log(`    +${a.atMs} ms ${a.activity} ${a.ms} ms`);
  const steps = STEPS.map((s) => `${s} ${seconds(r.steps[s] ?? NaN)}`).join(', ');
  log(`  ${seconds(r.measuredMs)}; ${steps}; restore, verify and swap ${seconds(r.restoreVerifySwapMs)}; swap window ${r.swapWindowMs} ms${r.writer ? `, probe ${probeSummary(r.probe)}` : ''}`);
  return r;
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
