/**
 * What the benchmarks share: the Temporal services they measure against, worker processes, event
 * times, worker memory, the sandbox's starting state, progress lines, verdicts, saving the figures.
 * Their statistics are in stats.ts, the runbook they run against in runbook.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { workerCommand } from '../../src/build/worker-command.ts';
import { startTestCluster } from '../../test/cluster/cluster-harness.ts';
import { devServerOptions } from '../lib/temporal.ts';
import { resolveTemporalCli } from '../temporal-cli.ts';
import { round } from './stats.ts';

/**
 * A Temporal service to measure against: `dev`, the dev server `npm start` runs (SQLite in memory), or
 * `cluster`, the Temporal server on PostgreSQL that `npm run cluster` runs (4 history shards).
 */
export interface BenchService {
  name: 'dev' | 'cluster';
  address: string;
  client: Client;
  connection: Connection;
  stop(): Promise<void>;
}

/** BENCH_TARGETS (comma-separated dev, cluster), or all of them. */
export function benchTargets(): BenchService['name'][] {
  const targets = (process.env.BENCH_TARGETS ?? 'dev,cluster').split(',').map((t) => t.trim());
  for (const target of targets) if (target !== 'dev' && target !== 'cluster') throw new Error(`BENCH_TARGETS: unknown target ${target}; use dev, cluster or both`);
  return targets as BenchService['name'][];
}

/** The variants BENCH_VARIANTS names (comma-separated; `fallback` when unset), each one of `known`'s keys. */
export function benchVariants(known: Record<string, unknown>, fallback: string): string[] {
  const chosen = (process.env.BENCH_VARIANTS ?? fallback).split(',').map((v) => v.trim());
  for (const v of chosen) if (!(v in known)) throw new Error(`BENCH_VARIANTS: unknown variant ${v}; use ${Object.keys(known).join(', ')}`);
  return chosen;
}

/**
 * What must be stopped if the benchmark is interrupted (Ctrl-C, SIGTERM) or dies of an uncaught error: the Temporal services it
 * started and their databases. Worker processes stop by themselves when the benchmark goes
 * (ROLLBACKS_MAIN_JOB_PID). The handlers are installed with the first service, so a benchmark that
 * imports this module but stops its own services (bench:restore) keeps its own handling.
 */
const onInterrupt = new Set<() => Promise<void>>();
let interruptHandled = false;
function stopOnInterrupt(stop: () => Promise<void>): void {
  onInterrupt.add(stop);
  if (interruptHandled) return;
  interruptHandled = true;
  const stopAll = (why: string, exitCode: number) => {
    console.error(`${why}: stopping what the benchmark started`);
    void Promise.allSettled([...onInterrupt].map((each) => each())).then(() => process.exit(exitCode));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stopAll(`\n${signal}`, 130));
  // An error thrown outside the measurement's try/finally (a timer's, say) would end the process
  // and leave the dev server it started running: stop it first.
  process.once('uncaughtException', (err) => {
    console.error(err);
    stopAll('uncaught error', 1);
  });
}

export async function startBenchService(name: BenchService['name']): Promise<BenchService> {
  const service = await (async () => {
    if (name === 'cluster') {
      const cluster = await startTestCluster();
      return { name, address: cluster.address, client: cluster.client, connection: cluster.connection, stop: () => cluster.stop() };
    }
    const cli = await resolveTemporalCli((line) => console.log(line));
    const env = await TestWorkflowEnvironment.createLocal({ server: devServerOptions(cli.path) });
    return { name, address: env.address, client: env.client, connection: env.connection, stop: () => env.teardown() };
  })();
  stopOnInterrupt(service.stop);
  return {
    ...service,
    stop: async () => {
      onInterrupt.delete(service.stop);
      await service.stop();
    },
  };
}

/** A worker process as production runs it (src/build/worker-command.ts), against the service at `address`, quiet; `env` over its environment. */
export async function startBenchWorker(address: string, env: Record<string, string>, nodeFlags: readonly string[] = []): Promise<ChildProcess> {
  const worker = await workerCommand();
  // A variant's node/V8 flags go after the worker's own (before its entry script): the last one wins.
  return spawn(process.execPath, [...worker.args.slice(0, -1), ...nodeFlags, ...worker.args.slice(-1)], {
    // Quiet and without a metrics endpoint unless `env` asks for one.
    env: { ...worker.env, ...process.env, WORKER_METRICS_ADDRESS: 'off', LOG_LEVEL: 'error', LOG_FORMAT: 'json', ...env, TEMPORAL_ADDRESS: address, ROLLBACKS_MAIN_JOB_PID: String(process.pid) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/**
 * Stops `worker` with SIGTERM (it finishes its activities within its shutdown grace) and waits for it
 * to exit; with `killAfterMs`, sends SIGKILL if it has not exited by then, for a cleanup that must not
 * hang on a stuck worker.
 */
export async function stopBenchWorker(worker: ChildProcess, killAfterMs?: number): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return;
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill('SIGTERM');
  if (killAfterMs === undefined) return void (await exited);
  if ((await Promise.race([exited.then(() => true), sleep(killAfterMs).then(() => false)])) === false) worker.kill('SIGKILL');
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A progress line, `  [bench:<name> HH:MM:SS] line`, so a long run shows where it is and since when. */
export const benchLogger =
  (benchmark: string) =>
  (line: string): void =>
    console.log(`  [bench:${benchmark} ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** How a figure against its target is printed. */
export const verdict = (met: boolean) => (met ? 'MET' : 'NOT MET');

/** A history event's time in ms since the epoch (the server's clock). */
export const eventMs = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** A process's resident memory now and at its peak so far (VmHWM), in MB, from /proc. */
export function processRssMb(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMb: round(kb('VmRSS') / 1024), peakMb: round(kb('VmHWM') / 1024) };
}

/**
 * Where a process's resident memory is, from /proc/<pid>/smaps, in MB: `v8Heap`, the anonymous
 * mappings V8 makes for its heaps (every isolate's pages are 256 KB, or a multiple for large
 * objects); `files`, mapped files (the node binary, the SDK's native library); `native`, every other
 * anonymous mapping (malloc: the SDK's Rust core, Node's own allocations, WebAssembly memory).
 */
export function processMemoryBreakdown(pid: number): { v8HeapMb: number; filesMb: number; nativeMb: number } {
  const kb = { v8Heap: 0, files: 0, native: 0 };
  let kind: keyof typeof kb = 'native';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) {
      const sizeKb = (parseInt(mapping[2]!, 16) - parseInt(mapping[1]!, 16)) / 1024;
      const name = mapping[3]!;
      kind = name.startsWith('/') ? 'files' : !name && sizeKb % 256 === 0 && sizeKb <= 16 * 1024 ? 'v8Heap' : 'native';
    } else if (line.startsWith('Rss:')) {
      kb[kind] += Number(line.split(/\s+/)[1]);
    }
  }
  return { v8HeapMb: round(kb.v8Heap / 1024), filesMb: round(kb.files / 1024), nativeMb: round(kb.native / 1024) };
}

/** The canary release as it stood before any rollback. */
export async function resetSandbox(sandbox: Sandbox): Promise<void> {
  const put = (path: string, body: unknown) => fetch(`${sandbox.urls.router}${path}`, { method: 'PUT', body: JSON.stringify(body) });
  await put('/admin/weights', { weights: { stable: 75, canary: 25 } });
  await put('/admin/instances', { version: 'stable', count: 2 });
  await put('/admin/instances', { version: 'canary', count: 1 });
}

/** Writes bench-results/<benchmark>-<at>.json and returns its path. */
export function saveResults(results: { benchmark: string; at: string } & Record<string, unknown>): string {
  mkdirSync('bench-results', { recursive: true });
  const file = join('bench-results', `${results.benchmark}-${results.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
