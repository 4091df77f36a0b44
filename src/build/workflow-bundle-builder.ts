/**
 * Builds the workflow bundle into a directory: <sha256>.js, and manifest.json listing every file
 * webpack read with its SHA-256 (see workflow-bundle.ts, which runs this in its own process).
 *
 *   node --import tsx src/build/workflow-bundle-builder.ts <dir>
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';
import { saveBuild } from './build-cache.ts';
import { MANIFEST_FORMAT, sharedModulesPath, workflowsPath, zodLocalesPath } from './workflow-bundle.ts';

type Configuration = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];

/**
 * The bundle with every character above U+00FF written as a \\u escape (an em dash in a comment, an
 * arrow in a message). V8 keeps a script's source text for as long as the script lives, as one byte per
 * character when every character fits in one and as two bytes otherwise: one arrow doubled the 1.9 MB
 * bundle in both of the worker's isolates. An escape means the same character in a string, an untagged
 * template, a regular expression and a name, and nothing in a comment; one written right after a
 * backslash would not, so that refuses to build. The source map is line-level, so no column it names moves.
 */
export function oneByteText(code: string): string {
  return code.replace(/[\u0100-\uffff]/g, (char, at: number) => {
    if (code[at - 1] === '\\') throw new Error(`the workflow bundle has a backslash before ${JSON.stringify(char)} at ${at}: escaping it would change its meaning`);
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * The SDK compiles our TypeScript for ES2017, so every module carried its own copies of the helpers
 * for object spread and class fields (four to six functions a module): a copy in each workflow's
 * module instances. Node 20 runs ES2022 as it is.
 */
function es2022<Rule>(rule: Rule): Rule {
  const use = (rule as { use?: { loader?: string; options?: { jsc?: Record<string, unknown> } } }).use;
  if (!use?.loader?.includes('swc-loader') || !use.options?.jsc) return rule;
  return { ...rule, use: { ...use, options: { ...use.options, jsc: { ...use.options.jsc, target: 'es2022' } } } };
}

/**
 * Webpack's settings for the workflow bundle, over the SDK's own: what every bundle of our workflows
 * is built with (the worker's, and a test's build of changed workflows).
 */
export function workflowWebpackConfig(config: Configuration): Configuration {
  return {
    ...config,
    // The SDK keeps the bundle's inline source map in the worker and maps every promise's stack
    // through it (the UI's stack trace): line-level mappings and no copy of the sources (the SDK
    // sends none: showStackTraceSources is off) make the bundle 2.2 MB instead of 4.9 MB and the
    // worker some 20 MB smaller (WebAssembly memory of the source-map parser, the map's JSON).
    devtool: 'inline-nosources-cheap-module-source-map',
    module: {
      ...config.module,
      rules: config.module?.rules?.map(es2022),
      // src/workflows/index.ts loads each workflow type's modules with import(): from this bundle, never a chunk of its own.
      parser: { ...config.module?.parser, javascript: { ...config.module?.parser?.javascript, dynamicImportMode: 'eager' } },
    },
    // zod's 60-odd languages: English only (src/workflows/zod-locales.ts says why).
    resolve: { ...config.resolve, alias: { ...(config.resolve?.alias as Record<string, string> | undefined), [createRequire(import.meta.url).resolve('zod/v4/locales/index.js')]: zodLocalesPath } },
  };
}

async function main(dir: string): Promise<void> {
  let read: string[] = [];
  const quiet = { trace() {}, debug() {}, info() {}, warn: console.error, error: console.error, log() {} };
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    preloadModules: [sharedModulesPath],
    logger: quiet,
    webpackConfigHook: (config) => ({
      ...workflowWebpackConfig(config),
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
  saveBuild(dir, { format: MANIFEST_FORMAT, code: oneByteText(code), extension: '.js', inputs });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx src/build/workflow-bundle-builder.ts <dir>');
    process.exit(2);
  }
  main(dir).catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
