/**
 * Builds the workflow bundle into a directory: <sha256>.js, and manifest.json listing every file
 * webpack read with its SHA-256 (see workflow-bundle.ts, which runs this in its own process).
 *
 *   node --import tsx src/worker/build-workflow-bundle.ts <dir>
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { MANIFEST_FORMAT, sha256, sharedModulesPath, workflowsPath, type BundleManifest } from './workflow-bundle.ts';

/** Writes `data` to `path` whole or not at all: readers never see half a file. */
function writeAtomically(path: string, data: string): void {
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

async function main(dir: string): Promise<void> {
  let read: string[] = [];
  const quiet = { trace() {}, debug() {}, info() {}, warn: console.error, error: console.error, log() {} };
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    preloadModules: [sharedModulesPath],
    logger: quiet,
    webpackConfigHook: (config) => ({
      ...config,
      // The SDK keeps the bundle's inline source map in the worker and maps every promise's stack
      // through it (the UI's stack trace): line-level mappings and no copy of the sources (the SDK
      // sends none: showStackTraceSources is off) make the bundle 2.2 MB instead of 4.9 MB and the
      // worker some 20 MB smaller (WebAssembly memory of the source-map parser, the map's JSON).
      devtool: 'inline-nosources-cheap-module-source-map',
      plugins: [
        ...(config.plugins ?? []),
        {
          apply(compiler) {
            compiler.hooks.done.tap('record-inputs', (stats) => {
              read = [...stats.compilation.fileDependencies];
            });
          },
        },
      ],
    }),
  });
  // Webpack also lists directories it looked in, and the entry point it reads from memory: only the
  // files on disk say whether the bundle is still current.
  // This file (the webpack settings above) and the SDK's version (its bundler) shape the bundle too.
  const builtWith = [fileURLToPath(import.meta.url), createRequire(import.meta.url).resolve('@temporalio/worker/package.json')];
  const files = Object.fromEntries(
    [...read, ...builtWith]
      .filter((file) => statSync(file, { throwIfNoEntry: false })?.isFile())
      .sort()
      .map((file) => [file, sha256(readFileSync(file))]),
  );
  if (!files[workflowsPath]) throw new Error(`webpack did not report reading ${workflowsPath}: the manifest would not notice changes`);
  mkdirSync(dir, { recursive: true });
  const bundle = `${sha256(code)}.js`;
  writeAtomically(join(dir, bundle), code);
  const manifest: BundleManifest = { format: MANIFEST_FORMAT, bundle, files };
  writeAtomically(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node --import tsx src/worker/build-workflow-bundle.ts <dir>');
  process.exit(2);
}
main(dir).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
