/**
 * Builds the workflow bundle into a directory: <sha256>.js, and manifest.json listing every file
 * webpack read with its SHA-256 (see workflow-bundle.ts, which runs this in its own process).
 *
 *   node --import tsx src/build/workflow-bundle-builder.ts <dir>
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { saveBuild } from './build-cache.ts';
import { MANIFEST_FORMAT, sharedModulesPath, workflowsPath } from './workflow-bundle.ts';

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
  // This file (the webpack settings above) and the SDK's version (its bundler) shape the bundle too.
  // Webpack also lists directories it looked in, and the entry point it reads from memory: only the
  // files on disk say whether the bundle is still current.
  const builtWith = [fileURLToPath(import.meta.url), createRequire(import.meta.url).resolve('@temporalio/worker/package.json')];
  const inputs = [...read, ...builtWith].filter((file) => statSync(file, { throwIfNoEntry: false })?.isFile());
  if (!inputs.includes(workflowsPath)) throw new Error(`webpack did not report reading ${workflowsPath}: the manifest would not notice changes`);
  saveBuild(dir, { format: MANIFEST_FORMAT, code, extension: '.js', inputs });
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node --import tsx src/build/workflow-bundle-builder.ts <dir>');
  process.exit(2);
}
main(dir).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
