/**
 * The worker process runs JavaScript that esbuild builds from src/ (src/worker/main.ts and what it
 * imports, in one file; npm packages stay in node_modules), not TypeScript through tsx. tsx
 * compiles every file on a loader thread of its own and keeps each file's source map: about 45 MB of
 * a worker's resident memory, measured with `npm run bench:capacity`. The build takes about half a
 * second and is kept in .cache/worker/ until a file it was built from changes (build-cache.ts), so
 * `npm start`, the tests and the benchmarks always run the current code.
 *
 * The output is not minified and keeps names: a stack trace reads
 * `at restoreToSide (.cache/worker/<sha>.mjs:2345:11)`, and the lines around it carry the source
 * file's name in a comment (`// src/activities/database.ts`).
 *
 *   node --import tsx src/build/worker-build.ts [<file>]
 * builds it and prints its path; with <file>, writes it there (the Dockerfile's build).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { cachedBuild, saveBuild, writable } from './build-cache.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The worker's entry point. */
export const WORKER_ENTRY = join(root, 'src/worker/main.ts');

export const DEFAULT_WORKER_CACHE_DIR = join(root, '.cache/worker');

/** Bumped when what the manifest covers changes (see build-cache.ts). */
const MANIFEST_FORMAT = 1;

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

/** Builds the worker into one ES module; returns its code and every file it was built from. */
async function build(): Promise<{ code: string; inputs: string[] }> {
  // Loaded here only: the worker that runs the output never loads esbuild.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    keepNames: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [ownImportMetaUrl],
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild wrote no output for the worker');
  const builtWith = [fileURLToPath(import.meta.url), createRequire(import.meta.url).resolve('esbuild/package.json')];
  return { code: output.text, inputs: [...Object.keys(result.metafile.inputs).map((file) => join(root, file)), ...builtWith] };
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
  const { code, inputs } = await build();
  return saveBuild(cacheDir, { format: MANIFEST_FORMAT, code, extension: '.mjs', inputs });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2];
  const done = target
    ? build().then(({ code }) => {
        writeFileSync(target, code);
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
