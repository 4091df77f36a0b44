/**
 * `npm run bench:source-maps`: what mapping the worker's stack traces costs, side by side: the worker
 * as it runs (its build's map beside it, read by src/worker/stack-traces.ts for its own frames only),
 * without any map, and with node's --enable-source-maps (which reads the map of every module node
 * loads, the npm packages' included, as the worker ran before):
 *   - build: esbuild of the worker's entry (src/worker/main.ts) as src/build/worker-build.ts builds it,
 *     with and without the map (median of BENCH_BUILDS, default 5, alternating); sizes;
 *   - errors: child processes (plain node, no tsx: tsx turns source maps on by itself) load the
 *     worker's code built from scripts/bench/source-maps-probe.ts, then read the first error's `.stack`
 *     (where the map is parsed) and BENCH_ERRORS (default 1000) more, each thrown from our code 30
 *     frames deep; load time and RSS before and after. BENCH_RUNS (default 3) processes per setting,
 *     medians;
 *   - worker: a real worker process (main.ts, the worker's flags and allocator settings) on a dev
 *     server, idle once polling: RSS and where it is (smaps), in each setting.
 * Prints a summary and writes bench-results/source-maps-<time>.json.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorker } from '../../src/build/worker-build.ts';
import { WORKER_MALLOC_ENV, WORKER_NODE_FLAGS } from '../../src/build/worker-command.ts';
import { processMemoryBreakdown, processRssMb, saveResults, sleep, startBenchService } from './common.ts';
import { median, round, round3 } from './stats.ts';

const BUILDS = Number(process.env.BENCH_BUILDS ?? 5);
const ERRORS = Number(process.env.BENCH_ERRORS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DEPTH = 30;
const root = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('./source-maps-probe.ts', import.meta.url));

// In the checkout: the built files import their npm packages from node_modules above them.
mkdirSync(join(root, '.cache'), { recursive: true });
const dir = mkdtempSync(join(root, '.cache', 'bench-source-maps-'));
const kb = (bytes: number) => Math.round(bytes / 1024);

/** Writes a build of `entry` to `dir/name` (and its map beside it, named in its last line). */
async function writeBuild(name: string, sourceMap: false | 'lines' | 'columns', entry?: string): Promise<string> {
  const file = join(dir, name);
  const built = await buildWorker({ ...(entry ? { entry } : {}), outfile: file, sourceMap });
  if (built.sourceMap !== undefined) writeFileSync(`${file}.map`, built.sourceMap);
  writeFileSync(file, built.sourceMap === undefined ? built.code : `${built.code}//# sourceMappingURL=${name}.map\n`);
  return file;
}

async function measureBuilds() {
  const ms: Record<'plain' | 'mapped', number[]> = { plain: [], mapped: [] };
  for (let i = 0; i < BUILDS; i++) {
    for (const kind of ['plain', 'mapped'] as const) {
      const started = performance.now();
      await buildWorker({ outfile: join(dir, 'timed.mjs'), sourceMap: kind === 'mapped' && 'lines' });
      ms[kind].push(performance.now() - started);
    }
  }
  const mappedFile = await writeBuild('worker-mapped.mjs', 'lines');
  const plainFile = await writeBuild('worker-plain.mjs', false);
  const columnsFile = await writeBuild('worker-columns.mjs', 'columns');
  return {
    figures: { plainMs: round(median(ms.plain)), mappedMs: round(median(ms.mapped)), codeKb: kb(statSync(plainFile).size), mapKb: kb(statSync(`${mappedFile}.map`).size) },
    files: { plain: plainFile, mapped: mappedFile, columns: columnsFile },
  };
}

/** What each child process runs: plain JavaScript, so nothing but node's flag turns source maps on. */
const CHILD = `
const [probe, errors, depth, own] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
const mb = (bytes) => Math.round(bytes / 1024 / 1024 * 10) / 10;
const settled = () => { globalThis.gc(); const { rss, heapUsed } = process.memoryUsage(); return { rss: mb(rss), heap: mb(heapUsed) }; };
const startRss = settled();
let started = performance.now();
const { refuseDeep, mapStackTracesOf } = await import(probe);
if (own === 'own' && !mapStackTracesOf(probe)) throw new Error('the probe names no map of its own');
const loadMs = performance.now() - started;
const loadedRss = settled();
const caught = () => { try { refuseDeep(depth); } catch (err) { return err; } };
let err = caught();
started = performance.now();
const firstStack = err.stack;
const firstStackMs = performance.now() - started;
const firstRss = settled();
let stackMs = 0;
for (let i = 0; i < errors; i++) {
  err = caught();
  started = performance.now();
  if (err.stack.length === 0) throw new Error('no stack');
  stackMs += performance.now() - started;
}
const afterRss = settled();
const frame = firstStack.split('\\n').find((line) => line.includes(' at '));
console.log(JSON.stringify({ loadMs, firstStackMs, perErrorUs: (stackMs / errors) * 1000, startRss, loadedRss, firstRss, afterRss, frame: frame.trim() }));
`;

interface Memory {
  rss: number;
  heap: number;
}

interface ChildFigures {
  loadMs: number;
  firstStackMs: number;
  perErrorUs: number;
  startRss: Memory;
  loadedRss: Memory;
  firstRss: Memory;
  afterRss: Memory;
  frame: string;
}

function runChild(probe: string, flags: string[], own: boolean): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, '--expose-gc', ...flags, join(dir, 'child.mjs'), probe, String(ERRORS), String(DEPTH), own ? 'own' : 'node'], {
      env: { ...process.env, ...WORKER_MALLOC_ENV, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ChildFigures) : reject(new Error(`child exited ${code}: ${errors}`))));
  });
}

async function measureErrors() {
  writeFileSync(join(dir, 'child.mjs'), CHILD);
  const plain = await writeBuild('probe-plain.mjs', false, PROBE);
  const mapped = await writeBuild('probe-mapped.mjs', 'lines', PROBE);
  const columns = await writeBuild('probe-columns.mjs', 'columns', PROBE);
  const settings = [
    { name: 'no map', probe: plain, flags: [], own: false },
    { name: 'map, own frames mapped (what workers run)', probe: mapped, flags: [], own: true },
    { name: 'no map, --enable-source-maps', probe: plain, flags: ['--enable-source-maps'], own: false },
    { name: 'map, --enable-source-maps (before)', probe: mapped, flags: ['--enable-source-maps'], own: false },
    { name: "esbuild's column map, --enable-source-maps", probe: columns, flags: ['--enable-source-maps'], own: false },
  ];
  const runs = new Map<string, ChildFigures[]>(settings.map((s) => [s.name, []]));
  // Interleaved, so a change in the machine's load falls on every setting alike.
  for (let run = 0; run < RUNS; run++) for (const s of settings) runs.get(s.name)!.push(await runChild(s.probe, s.flags, s.own));
  return settings.map(({ name }) => {
    const figures = runs.get(name)!;
    const m = (pick: (f: ChildFigures) => number) => round3(median(figures.map(pick)));
    return {
      setting: name,
      loadMs: round(m((f) => f.loadMs)),
      firstStackMs: m((f) => f.firstStackMs),
      perErrorUs: round(m((f) => f.perErrorUs)),
      loadedRssMb: round(m((f) => f.loadedRss.rss)),
      loadedHeapMb: round(m((f) => f.loadedRss.heap)),
      firstStackHeapMb: round(m((f) => f.firstRss.heap - f.loadedRss.heap)),
      afterErrorsRssMb: round(m((f) => f.afterRss.rss)),
      rssGrowthMb: round(m((f) => f.afterRss.rss - f.loadedRss.rss)),
      frame: figures[0]!.frame,
    };
  });
}

/** A real worker process on `address`, idle once polling: its RSS and where it is. */
async function measureWorker(address: string, entry: string, flags: string[]) {
  // The sandbox's runbook: loaded as a worker loads any (nothing here reaches the sandbox).
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks, { recursive: true });
  copyFileSync(join(root, 'runbooks/sandbox.yaml'), join(runbooks, 'sandbox.yaml'));
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, ...flags, entry], {
    env: { ...process.env, ...WORKER_MALLOC_ENV, NODE_OPTIONS: '', TEMPORAL_ADDRESS: address, RUNBOOKS_DIR: runbooks, REPORTS_DIR: join(runbooks, 'reports'), WORKER_METRICS_ADDRESS: 'off', WORKER_DEPLOYMENT: 'off', ALERT_RECEIVER_ADDRESS: 'off', LOG_LEVEL: 'info', LOG_FORMAT: 'json', SANDBOX_WEBHOOK_URL: 'http://127.0.0.1:9/hooks/notify', ROLLBACKS_MAIN_JOB_PID: String(process.pid) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('"worker polling"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before polling:\n${out}`)));
    });
    await sleep(5000);
    return { ...processRssMb(child.pid!), ...processMemoryBreakdown(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  }
}

async function run(): Promise<void> {
  const load = (await import('node:os')).loadavg().map((n) => round(n));
  console.log(`load average ${load.join(' ')}; builds ${BUILDS}, errors ${ERRORS} per process, ${RUNS} processes per setting`);
  const build = await measureBuilds();
  const { plainMs, mappedMs, codeKb, mapKb } = build.figures;
  console.log(`build: ${plainMs} ms without the map, ${mappedMs} ms with (code ${codeKb} KB, map ${mapKb} KB)`);
  const errors = await measureErrors();
  for (const e of errors) {
    console.log(`${e.setting}: load ${e.loadMs} ms, first .stack ${e.firstStackMs} ms, then ${e.perErrorUs} µs per .stack; RSS ${e.loadedRssMb} MB loaded (heap ${e.loadedHeapMb} MB; +${e.firstStackHeapMb} MB at the first .stack), ${e.rssGrowthMb >= 0 ? '+' : ''}${e.rssGrowthMb} MB after ${ERRORS} errors; ${e.frame}`);
  }
  const service = await startBenchService('dev');
  const workers: Record<string, unknown>[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const [setting, entry, flags] of [
        ['no map', build.files.plain, []],
        ['map, own frames mapped (what workers run)', build.files.mapped, []],
        ['map, --enable-source-maps (before)', build.files.mapped, ['--enable-source-maps']],
      ] as const) {
        const figures = await measureWorker(service.address, entry, [...flags]);
        workers.push({ setting, ...figures });
        console.log(`worker, ${setting}: RSS ${figures.rssMb} MB (V8 heap ${figures.v8HeapMb}, files ${figures.filesMb}, native ${figures.nativeMb})`);
      }
    }
  } finally {
    await service.stop();
  }
  const worker = [...new Set(workers.map((w) => w.setting as string))].map((setting) => {
    const runs = workers.filter((w) => w.setting === setting);
    const m = (field: string) => round(median(runs.map((w) => w[field] as number)));
    return { setting, rssMb: m('rssMb'), v8HeapMb: m('v8HeapMb'), nativeMb: m('nativeMb') };
  });
  for (const w of worker) console.log(`worker (median of ${RUNS}), ${w.setting}: RSS ${w.rssMb} MB, V8 heap ${w.v8HeapMb} MB, native ${w.nativeMb} MB`);
  const file = saveResults({ benchmark: 'source-maps', at: new Date().toISOString(), loadAverage: load, errorsPerProcess: ERRORS, depth: DEPTH, build: build.figures, errors, worker, workers });
  console.log(`saved ${file}`);
}

run()
  .finally(() => rmSync(dir, { recursive: true, force: true }))
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
