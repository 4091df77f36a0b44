/**
 * A build kept on disk beside a manifest of every file it was built from (with its SHA-256), and
 * used again only while all of them are unchanged: the workflow bundle (workflow-bundle.ts) and the
 * worker's own JavaScript (worker-build.ts). Two processes building together each write their own
 * output file, named by its content, and rename the manifest into place: readers never see half a
 * file, and both outputs are the same.
 *
 * Saving a build prunes the directory: the current build and the KEPT_BUILDS - 1 most recently used
 * others stay (using a cached build touches its output's mtime), older ones go, with any `*.partial`
 * a crashed writer left. Why not keep only the current one: a process resolves a build's path and
 * loads it a moment later (workerCommand, then spawn), and another process may save a newer build
 * in between (a source file edited while tests run; Worker Deployment Versioning, build A still
 * being started while build B is saved). A process that has already loaded its build does not need
 * the file any more: node reads the worker's module and its source map when it loads them, the SDK
 * reads the workflow bundle once in Worker.create, and on Linux a removed file stays readable by
 * whoever has it open.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** What a build writes beside its output. */
export interface BuildManifest {
  /** Bumped by a builder when what its manifest covers changes, so older manifests are not trusted. */
  format: number;
  /** The output's file name in the same directory. */
  bundle: string;
  /** Every file the build read, with its SHA-256. */
  files: Record<string, string>;
}

/** The output in `dir`, when its manifest has `format` and every file it lists is as it was; otherwise null. */
export function cachedBuild(dir: string, format: number): string | null {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return null;
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as BuildManifest;
    if (manifest.format !== format) return null;
    const output = join(dir, manifest.bundle);
    if (!existsSync(output)) return null;
    for (const [file, hash] of Object.entries(manifest.files)) {
      if (!existsSync(file) || sha256(readFileSync(file)) !== hash) return null;
    }
    markUsed(output);
    return output;
  } catch {
    return null; // a half-written or foreign manifest: build again
  }
}

/** Touches `output`'s mtime, which pruning reads as when it was last used. */
function markUsed(output: string): void {
  try {
    const now = new Date();
    utimesSync(output, now, now);
  } catch {
    // A read-only cache (the worker's image) is never pruned either.
  }
}

/** Writes `data` to `path` whole or not at all. */
function writeAtomically(path: string, data: string): void {
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

/**
 * Writes `code` as <sha256><extension> into `dir` and the manifest of `inputs` beside it, then prunes
 * older builds (see above); returns the output's path. With `sourceMap`, the map is written first as
 * <sha256><extension>.map and the code's last line names it (the hash is the code's without that line).
 */
export function saveBuild(dir: string, options: { format: number; code: string; extension: string; inputs: string[]; sourceMap?: string }): string {
  const files = Object.fromEntries([...new Set(options.inputs)].sort().map((file) => [file, sha256(readFileSync(file))]));
  mkdirSync(dir, { recursive: true });
  const bundle = `${sha256(options.code)}${options.extension}`;
  let code = options.code;
  if (options.sourceMap !== undefined) {
    // Before the code, so whoever finds the code finds its map.
    writeAtomically(join(dir, `${bundle}.map`), options.sourceMap);
    code = `${code.endsWith('\n') ? code : `${code}\n`}//# sourceMappingURL=${bundle}.map\n`;
  }
  writeAtomically(join(dir, bundle), code);
  const manifest: BuildManifest = { format: options.format, bundle, files };
  writeAtomically(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  pruneBuilds(dir, bundle);
  return join(dir, bundle);
}

/** How many builds a directory keeps: the current one and the most recently used others. */
export const KEPT_BUILDS = 4;

/**
 * A `*.partial` older than this was left by a writer that crashed: writing one takes milliseconds.
 * Its age, not its writer's pid, decides: a writer in another pid namespace (a container sharing the
 * checkout) would look gone.
 */
export const STALE_PARTIAL_MS = 60_000;

/**
 * Removes from `dir` every build but `current` and the KEPT_BUILDS - 1 most recently used others (an
 * output and its source map go together), and stale `*.partial` files. Another process pruning at the
 * same moment may remove a file first: that is not an error.
 */
function pruneBuilds(dir: string, current: string): void {
  const currentSha = current.slice(0, 64);
  const builds = new Map<string, { files: string[]; usedMs: number }>();
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const stat = statSync(join(dir, name), { throwIfNoEntry: false });
    if (!stat?.isFile()) continue;
    if (name.endsWith('.partial')) {
      if (now - stat.mtimeMs > STALE_PARTIAL_MS) rmSync(join(dir, name), { force: true });
      continue;
    }
    const sha = /^([0-9a-f]{64})\./.exec(name)?.[1];
    if (!sha || sha === currentSha) continue;
    const build = builds.get(sha) ?? { files: [], usedMs: 0 };
    build.files.push(name);
    build.usedMs = Math.max(build.usedMs, stat.mtimeMs);
    builds.set(sha, build);
  }
  const newestFirst = [...builds.values()].sort((a, b) => b.usedMs - a.usedMs);
  for (const build of newestFirst.slice(KEPT_BUILDS - 1)) {
    for (const name of build.files) rmSync(join(dir, name), { force: true });
  }
}

/** Whether `dir` can be written (created if need be). */
export function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.probe-${process.pid}`);
    writeFileSync(probe, '');
    renameSync(probe, join(dir, '.probe'));
    return true;
  } catch {
    return false;
  }
}
