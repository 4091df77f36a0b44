/**
 * bench:restore's figures: its runs summed up into medians and ratios, judged against the targets,
 * as saved in bench-results/restore-<time>.json and printed as the summary.
 */
import { cpus } from 'node:os';
import { serverVersion, toolMajorVersion } from '../../src/providers/database/pg-tools.ts';
import { DEV_SERVER_DYNAMIC_CONFIG_VALUES } from '../lib/temporal.ts';
import { verdict } from './common.ts';
import { conn } from './restore-database.ts';
import { JOBS, type RestoreRig } from './restore-rig.ts';
import { STEPS, type OrchestratedRun } from './restore-workflow.ts';
import { max, median, ratio, round, round3, sum } from './stats.ts';
import { PROBE_INTERVAL_MS } from './swap-probe.ts';

/** The workflow's restore, verify and swap may take at most this many times the bare path. */
const TARGET_RATIO = 1.15;
/** The swap window, as the workflow and the probe measure it, at most. */
const TARGET_SWAP_MS = 1000;

/** One bare path run: the backup restored into a new database, renamed over the live one. */
export interface BareRun {
  /** CREATE DATABASE + pg_restore --jobs=2. */
  restoreMs: number;
  /** ALTER DATABASE live RENAME TO old; new RENAME TO live. */
  renameMs: number;
  totalMs: number;
}

/** Every timed run, by measurement. */
export interface RestoreRuns {
  /** (1) the dataRestore workflow alone: the runs the ratio is judged on. */
  orchestrated: OrchestratedRun[];
  /** (2) the bare path. */
  bare: BareRun[];
  /** (3) the dataRestore workflow under the concurrent writer and the swap probe. */
  swapWindow: OrchestratedRun[];
  /** (4) pg_restore --jobs=1 into a fresh database; the --jobs=2 figures are the bare path's restores. */
  jobs1Ms: number[];
}

export type RestoreResults = Awaited<ReturnType<typeof restoreResults>>;

/** The saved figures: every run, their medians, the ratios and the swap window judged against their targets. */
export async function restoreResults(rig: Pick<RestoreRig, 'database' | 'backup'>, runs: RestoreRuns, runCount: number) {
  const { orchestrated, bare, swapWindow, jobs1Ms } = runs;
  // (1) + (2)
  const orchestratedMs = median(orchestrated.map((r) => r.measuredMs));
  const bareMs = median(bare.map((r) => r.totalMs));
  const restoreVerifySwapMs = median(orchestrated.map((r) => r.restoreVerifySwapMs));
  const judgedRatio = ratio(restoreVerifySwapMs, bareMs);
  // (3) A probe that began after the swap had started (or saw no refusal at all) measured nothing: left out.
  const windows = swapWindow.map((r) => r.swapWindowMs ?? NaN);
  const probes = swapWindow.map((r) => (r.probe && !r.probe.startedLate && r.probe.longestRefusedMs !== null ? r.probe.longestRefusedMs : null));
  const validProbes = probes.filter((p): p is number => p !== null);
  const swapWindowMs = median(windows);
  const probeMs = validProbes.length > 0 ? median(validProbes) : null;
  const writers = swapWindow.map((r) => r.writer!);
  // (4)
  const jobs2Ms = bare.map((r) => r.restoreMs);

  return {
    benchmark: 'restore',
    at: new Date().toISOString(),
    devServerDynamicConfig: DEV_SERVER_DYNAMIC_CONFIG_VALUES,
    machine: {
      cpus: cpus().length,
      node: process.version,
      postgres: (await serverVersion(conn)).version,
      pgRestore: (await toolMajorVersion('pg_restore')).version,
    },
    runs: runCount,
    database: {
      ...rig.database,
      pgbenchInitMs: round(rig.database.pgbenchInitMs),
      backup: { jobs: JOBS, ms: round(rig.backup.ms), files: rig.backup.files, bytes: rig.backup.bytes },
    },
    orchestrated: {
      runs: orchestrated,
      medianMs: round(orchestratedMs),
      medianStepsMs: Object.fromEntries(STEPS.map((s) => [s, round(median(orchestrated.map((r) => r.steps[s] ?? NaN)))])),
      medianOtherMs: round(median(orchestrated.map((r) => r.otherMs))),
      medianRestoreVerifySwapMs: round(restoreVerifySwapMs),
      gates: 'none: the bench runbook sets gates: {}; gateWaitMs (steps of kind gate) is subtracted from totalMs',
    },
    bare: {
      runs: bare,
      medianMs: round(bareMs),
      medianRestoreMs: round(median(bare.map((r) => r.restoreMs))),
      medianRenameMs: round(median(bare.map((r) => r.renameMs))),
    },
    ratio: {
      restoreVerifySwap: round3(judgedRatio),
      whole: round3(ratio(orchestratedMs, bareMs)),
      target: TARGET_RATIO,
      judgedOn: 'restoreVerifySwap',
      met: judgedRatio <= TARGET_RATIO,
      note: 'restoreVerifySwap: restore-to-side starting to verify-live ending (pg_restore, row counts and smoke queries on the side database, stop writers, swap, live check) against the bare restore + rename; whole adds the verified safety dump taken before the restore, preflight, backup check, notifications, resume writers and the report, none of which the bare path does',
    },
    swapWindow: {
      runs: swapWindow,
      note: 'separate dataRestore runs under the concurrent writer, the probe and close status polling; their restore, verify and swap is shown for information, not judged',
      medianRestoreVerifySwapMs: round(median(swapWindow.map((r) => r.restoreVerifySwapMs))),
      workflowMs: windows,
      probeLongestRefusedMs: probes,
      medianWorkflowMs: round(swapWindowMs),
      medianProbeMs: probeMs === null ? null : round(probeMs),
      worstMs: round(max([...windows, ...validProbes])),
      probeIntervalMs: PROBE_INTERVAL_MS,
      targetMs: TARGET_SWAP_MS,
      met: Math.max(swapWindowMs, probeMs ?? 0) <= TARGET_SWAP_MS,
      concurrentWriter: {
        note: 'a writer ignoring the maintenance flag: one INSERT every 5 ms on the live name through each whole run',
        longestGapMs: writers.map((w) => w.longestGapMs),
        acknowledged: sum(writers.map((w) => w.acknowledged)),
        inKeptDatabase: sum(writers.map((w) => w.inKeptDatabase)),
        inLiveDatabase: sum(writers.map((w) => w.inLiveDatabase)),
        lost: sum(writers.map((w) => w.lost)),
      },
    },
    jobs: {
      jobs1Ms,
      jobs2Ms,
      medianJobs1Ms: round(median(jobs1Ms)),
      medianJobs2Ms: round(median(jobs2Ms)),
      speedup: round3(ratio(median(jobs1Ms), median(jobs2Ms))),
      note: 'CREATE DATABASE + pg_restore into a fresh database; the --jobs=2 figures are the bare path restores of (2)',
    },
  };
}

/** Milliseconds shown as seconds to one decimal. */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pad = (label: string) => label.padEnd(48);

/** The summary printed at the end, one line per figure, (1) to (4) as in the results. */
export function printRestoreSummary(results: RestoreResults, file: string): void {
  const { database, orchestrated, bare, ratio: ratios, swapWindow, jobs } = results;
  const writer = swapWindow.concurrentWriter;
  console.log(`
restore of a pgbench scale-${database.pgbenchScale} database (${database.pgbenchAccountsRows.toLocaleString('en')} rows in pgbench_accounts, ${Math.round(database.sizeBytes / 1e6)} MB; backup ${Math.round(database.backup.bytes / 1e6)} MB), ${results.runs} runs, medians, ${results.machine.cpus} cores
(1) ${pad('dataRestore workflow, start to result:')}${seconds(orchestrated.medianMs)}  (gate wait subtracted: ${median(orchestrated.runs.map((r) => r.gateWaitMs))} ms; the runbook has no gates)
    ${STEPS.map((s) => `${s} ${seconds(orchestrated.medianStepsMs[s]!)}`).join(' | ')} | other ${seconds(orchestrated.medianOtherMs)}
    ${pad('its restore, verify and swap:')}${seconds(orchestrated.medianRestoreVerifySwapMs)}  (restore-to-side start to verify-live end)
(2) ${pad(`bare pg_restore -j${JOBS} + rename:`)}${seconds(bare.medianMs)}  (restore ${seconds(bare.medianRestoreMs)}, rename ${bare.medianRenameMs} ms)
    ${pad('ratio restore, verify and swap / bare:')}${ratios.restoreVerifySwap.toFixed(2)}  (target <= ${ratios.target}) ${verdict(ratios.met)}
    ${pad('ratio whole workflow / bare:')}${ratios.whole.toFixed(2)}  (for information: adds the verified safety dump, preflight and report, which the bare path does not do)
(3) ${pad('swap window, workflow swapWindowMs:')}${swapWindow.medianWorkflowMs} ms
    ${pad(`probe (connect every ${swapWindow.probeIntervalMs} ms), longest refused:`)}${swapWindow.medianProbeMs === null ? 'n/a (the probe missed every swap)' : `${swapWindow.medianProbeMs} ms`}  (worst of all runs ${swapWindow.worstMs} ms; target <= ${swapWindow.targetMs} ms) ${verdict(swapWindow.met)}
    ${pad('its restore, verify and swap under that load:')}${seconds(swapWindow.medianRestoreVerifySwapMs)}  (for information)
    ${pad('concurrent writer, longest gap:')}${round(median(writer.longestGapMs))} ms median, ${round(max(writer.longestGapMs))} ms worst; ${writer.acknowledged} writes acknowledged: ${writer.inKeptDatabase} in the kept database, ${writer.inLiveDatabase} in the live one, ${writer.lost} lost
(4) ${pad('pg_restore --jobs=1 vs --jobs=2:')}${seconds(jobs.medianJobs1Ms)} vs ${seconds(jobs.medianJobs2Ms)}: ${jobs.speedup.toFixed(2)}x with 2 jobs
saved ${file}`);
}
