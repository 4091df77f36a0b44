/**
 * How a worker process is started, in one place: `npm start`, `npm run cluster`, `npm run worker`, the
 * Dockerfile, the tests that SIGKILL a worker and the benchmarks all run exactly this, so what the
 * benchmarks measure is what production runs (a test checks the Dockerfile and package.json agree).
 *
 * No V8 flags, on purpose. Tried with `npm run bench:capacity` (100 rollbacks open at their gates):
 * `--optimize-for-size` cut the worker from about 450 MB to 340 MB, but it slows the activities' own
 * JavaScript so much that a 60,000-key Redis restore missed its 5 s heartbeat timeout (the crash test
 * in test/worker-crash.test.ts failed); `--max-semi-space-size=1` saved 35 MB and made that restore
 * 60% slower. Both are process-wide: Node gives no way to shrink only the workflow thread's heap.
 * WORKER_MAX_CACHED_WORKFLOWS is the knob that trades memory for replays (README, "Worker memory").
 */
import { fileURLToPath } from 'node:url';

export const WORKER_NODE_FLAGS: readonly string[] = [];

/** The worker's entry point, relative to the repository root. */
export const WORKER_ENTRY = 'src/worker/main.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Arguments for `node` (process.execPath) that start a worker from any working directory; TypeScript
 * is loaded through tsx, resolved from this checkout (`--import tsx` alone resolves from the cwd).
 */
export function workerNodeArgs(): string[] {
  return [...WORKER_NODE_FLAGS, '--import', import.meta.resolve('tsx'), `${root}${WORKER_ENTRY}`];
}
