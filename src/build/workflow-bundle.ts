/**
 * The workflow bundle (webpack over src/workflows) the worker runs, built in a child process and kept
 * on disk until a file it was built from changes.
 *
 * Why not let Worker.create bundle in the worker: webpack, its loaders and swc stay in the worker's
 * memory once they have run (about 130 MB of resident memory for the life of the process, measured
 * with `npm run bench:capacity`), and every worker start and every test worker paid about 2.5 s of
 * bundling. Built here, the worker only reads a file.
 *
 * The cache (.cache/workflow-bundle/ in the checkout, see build-cache.ts) holds the bundle and a
 * manifest listing every file webpack read with its SHA-256; a bundle is used only while all of them
 * are unchanged. Where the cache cannot be written (a read-only image), the
 * bundle goes to a temporary directory for this process; the Dockerfile builds it into the image.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { cachedBuild, writable } from './build-cache.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * Modules every workflow in the worker shares instead of evaluating its own copy (see
 * src/workflows/shared-modules.ts for what may go there).
 */
export const sharedModulesPath = fileURLToPath(new URL('../workflows/shared-modules.ts', import.meta.url));

/** The bundle's stand-in for zod's locales: English only (see that file). */
export const zodLocalesPath = fileURLToPath(new URL('../workflows/zod-locales.ts', import.meta.url));

export const DEFAULT_BUNDLE_CACHE_DIR = fileURLToPath(new URL('../../.cache/workflow-bundle/', import.meta.url));

const BUILDER = fileURLToPath(new URL('./workflow-bundle-builder.ts', import.meta.url));

/**
 * Bumped when what the manifest covers changes, so an older manifest is not trusted (2: the builder
 * and the SDK's version are listed among the files).
 */
export const MANIFEST_FORMAT = 2;

/** Runs build-workflow-bundle.ts in its own process, writing into `dir`. */
function build(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The child loads TypeScript the way this process does: through tsx, resolved from here.
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), BUILDER, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`building the workflow bundle failed (${signal ?? `exit code ${code}`}):\n${errors.trim()}`));
    });
  });
}

/**
 * The path of an up-to-date workflow bundle: the cached one, or one built now (about 3 s).
 * `cacheDir` null builds into a temporary directory every time.
 */
export async function workflowBundlePath(options: { cacheDir: string | null; logger: Logger }): Promise<string> {
  const { logger } = options;
  let dir = options.cacheDir;
  if (dir) {
    const cached = cachedBuild(dir, MANIFEST_FORMAT);
    if (cached) return cached;
    if (!writable(dir)) {
      logger.warn({ cacheDir: dir }, 'cannot write the workflow bundle cache; building into a temporary directory');
      dir = null;
    }
  }
  dir ??= mkdtempSync(join(tmpdir(), 'workflow-bundle-'));
  const started = Date.now();
  await build(dir);
  const built = cachedBuild(dir, MANIFEST_FORMAT);
  if (!built) throw new Error(`the workflow bundle built into ${dir} is not there, or changed while it was built`);
  logger.info({ bundle: built, ms: Date.now() - started }, 'workflow bundle built');
  return built;
}

/**
 * The `workflowBundle` option of every worker, and of the tests that replay histories or run workflows
 * with stubbed activities, so they run exactly the code production runs (shared modules included).
 */
export async function workerWorkflowBundle(logger: Logger, cacheDir: string | null = DEFAULT_BUNDLE_CACHE_DIR): Promise<{ codePath: string }> {
  return { codePath: await workflowBundlePath({ cacheDir, logger }) };
}
