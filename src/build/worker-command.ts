/**
 * How a worker process is started, in one place: `npm start`, `npm run cluster`, `npm run worker`, the
 * tests that SIGKILL a worker and the benchmarks all run exactly this, so what the benchmarks
 * measure is what production runs; the Dockerfile sets the same flags and environment (a test checks).
 *
 * It runs the worker's JavaScript built by worker-build.ts (not TypeScript through tsx: 45 MB less),
 * with three settings of glibc's allocator and two V8 flags, each measured with `npm run bench:capacity`
 * (100 rollbacks open at their gates; README, "Worker memory"):
 *   - MALLOC_ARENA_MAX=2: glibc gives each thread that allocates an arena of its own (up to 8 per
 *     core), and the SDK's Rust core, libuv and V8 have many threads: the arenas grew by some 120 MB
 *     while 100 rollbacks started, and kept it. Two arenas: about 40 MB less;
 *   - MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ at 128 KB: fixed, they stop glibc raising
 *     its thresholds after large frees, so freed memory goes back to the system: about 40 MB less;
 *   - --max-semi-space-size=4 (MB, default up to 16): V8's young generation, per isolate, and the
 *     worker has two (activities; workflows): about 25 MB less. Smaller was tried: 1 MB saved only
 *     10 MB more and made a 60,000-key Redis restore 60% slower (it missed its heartbeat timeout);
 *     `--optimize-for-size` likewise slowed the activities' own JavaScript too much.
 *   - --heap-growing-percent=20: after each full collection V8 lets the heap grow by 20% before the
 *     next, instead of by a factor of its own choosing (up to 4x) while nothing presses it to collect.
 *     Not a cap: a worker that needs more keeps growing. 1,000 watched systems: 419 MB instead of
 *     815 MB, with the same CPU (`npm run bench:watch`; docs/benchmarks.md, "Where a watchdog's memory goes").
 * Not --enable-source-maps: node would read and keep the source map of every module it loads, the npm
 * packages' with their whole sources, about 20 MB across the worker's two isolates (`npm run
 * bench:capacity`). The worker maps its own build's frames itself (src/worker/stack-traces.ts), so an
 * activity's stack trace still names src/ files and lines (`npm run bench:source-maps`).
 * WORKER_MAX_CACHED_WORKFLOWS is the knob that trades memory for replays (README, "Worker memory").
 */
import { fileURLToPath } from 'node:url';
import { workerEntryPath } from './worker-build.ts';

export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=20'];

/** glibc's allocator settings for the worker process (read by glibc when the process starts). */
export const WORKER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/**
 * The command of a worker process: run `process.execPath` with `args`, and `env` over the caller's
 * environment. Builds the worker's JavaScript first when a source file changed.
 */
export async function workerCommand(): Promise<{ args: string[]; env: Record<string, string> }> {
  return { args: [...WORKER_NODE_FLAGS, await workerEntryPath()], env: { ...WORKER_MALLOC_ENV } };
}

// `node --import tsx src/build/worker-command.ts` prints the command as JSON (`npm run worker` runs it).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  workerCommand().then(
    (command) => console.log(JSON.stringify(command)),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
