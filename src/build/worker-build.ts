/**
 * The worker process runs JavaScript that esbuild builds from src/ (src/worker/main.ts and what it
 * imports, in one file; npm packages stay in node_modules), not TypeScript through tsx. tsx
 * compiles every file on a loader thread of its own and keeps each file's source map: about 45 MB of
 * a worker's resident memory, measured with `npm run bench:capacity`. The build takes about half a
 * second and is kept in .cache/worker/ until a file it was built from changes (build-cache.ts), so
 * `npm start`, the tests and the benchmarks always run the current code.
 *
 * The output is not minified and keeps names, and its source map is written beside it (<sha>.mjs.map,
 * named by its last line; line-level, see line-level-map.ts): the worker maps its own frames through it
 * (src/worker/stack-traces.ts), so a stack trace reads
 * `at restoreToSide (/path/to/checkout/src/activities/database.ts:123:5)`, not a line of the build.
 *
 *   node --import tsx src/build/worker-build.ts [<file>]
 * builds it and prints its path; with <file>, writes it there and its map as <file>.map (the
 * Dockerfile's build).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { cachedBuild, saveBuild, writable } from './build-cache.ts';
import { lineLevelSourceMap } from './line-level-map.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The worker's entry point. */
export const WORKER_ENTRY = join(root, 'src/worker/main.ts');

export const DEFAULT_WORKER_CACHE_DIR = join(root, '.cache/worker');

/** Bumped when what the manifest covers changes (see build-cache.ts; 2: the output has a source map). */
const MANIFEST_FORMAT = 2;

/**
 * `import.meta.url` names the file it is written in, and our modules find their neighbours by it
 * (workflow-bundle.ts: the workflow sources and the bundle builder). Bundled, every module would
 * share the bundle's URL: each gets its own source file's URL instead.
 */
const ownImportMetaUrl: Plugin = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/**
 * Builds `entry` (the worker's, unless a benchmark names another) as the worker is built: one ES module,
 * npm packages left as imports. With `sourceMap`, also its source map for a file at `outfile` (the
 * sources' paths are relative to it), without the sources' text (node reads positions only): 'lines',
 * as the worker is built (line-level-map.ts), or esbuild's own, 'columns' (bench:source-maps compares).
 * Returns the code, the map and every file the build read.
 */
export async function buildWorker(options: { entry?: string; outfile: string; sourceMap: false | 'lines' | 'columns' }): Promise<{ code: string; sourceMap: string | undefined; inputs: string[] }> {
  // Loaded here only: the worker that runs the output never loads esbuild.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [options.entry ?? WORKER_ENTRY],
    outfile: options.outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    keepNames: true,
    ...(options.sourceMap ? { sourcemap: 'external', sourcesContent: false } : {}),
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [ownImportMetaUrl],
  });
  const code = result.outputFiles.find((file) => !file.path.endsWith('.map'));
  if (!code) throw new Error('esbuild wrote no output for the worker');
  const map = result.outputFiles.find((file) => file.path.endsWith('.map'))?.text;
  if (options.sourceMap && map === undefined) throw new Error('esbuild wrote no source map for the worker');
  const sourceMap = map !== undefined && options.sourceMap === 'lines' ? lineLevelSourceMap(map) : map;
  const builtWith = [fileURLToPath(import.meta.url), createRequire(import.meta.url).resolve('esbuild/package.json')];
  return { code: code.text, sourceMap, inputs: [...Object.keys(result.metafile.inputs).map((file) => join(root, file)), ...builtWith] };
}

/**
 * The path of the worker's up-to-date JavaScript: the cached build, or one built now. `cacheDir`
 * must be inside the checkout: the output imports its npm packages from node_modules above it.
 */
export async function workerEntryPath(cacheDir: string = DEFAULT_WORKER_CACHE_DIR): Promise<string> {
  const cached = cachedBuild(cacheDir, MANIFEST_FORMAT);
  if (cached) return cached;
  if (!writable(cacheDir)) {
    throw new Error(`cannot write ${cacheDir}, where the worker's JavaScript is built; build it where you can write (node --import tsx src/build/worker-build.ts <file in the checkout>) and run node with that file`);
  }
  // The output's own name is not known yet (its hash): esbuild only needs the directory, to write the
  // sources' paths relative to it.
  const { code, sourceMap, inputs } = await buildWorker({ outfile: join(cacheDir, 'worker.mjs'), sourceMap: 'lines' });
  return saveBuild(cacheDir, { format: MANIFEST_FORMAT, code, extension: '.mjs', inputs, ...(sourceMap === undefined ? {} : { sourceMap }) });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2];
  const done = target
    ? buildWorker({ outfile: resolve(target), sourceMap: 'lines' }).then(({ code, sourceMap }) => {
        writeFileSync(`${target}.map`, sourceMap ?? '');
        writeFileSync(target, `${code}//# sourceMappingURL=${basename(target)}.map\n`);
        return target;
      })
    : workerEntryPath();
  done.then(
    (path) => console.log(relative(process.cwd(), path) || path),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
