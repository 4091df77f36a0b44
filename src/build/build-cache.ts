/**
 * A build kept on disk beside a manifest of every file it was built from (with its SHA-256), and
 * used again only while all of them are unchanged: the workflow bundle (workflow-bundle.ts) and the
 * worker's own JavaScript (worker-build.ts). Two processes building together each write their own
 * output file, named by its content, and rename the manifest into place: readers never see half a
 * file, and both outputs are the same.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
    return output;
  } catch {
    return null; // a half-written or foreign manifest: build again
  }
}

/** Writes `data` to `path` whole or not at all. */
function writeAtomically(path: string, data: string): void {
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

/** Writes `code` as <sha256><extension> into `dir` and the manifest of `inputs` beside it; returns the output's path. */
export function saveBuild(dir: string, options: { format: number; code: string; extension: string; inputs: string[] }): string {
  const files = Object.fromEntries([...new Set(options.inputs)].sort().map((file) => [file, sha256(readFileSync(file))]));
  mkdirSync(dir, { recursive: true });
  const bundle = `${sha256(options.code)}${options.extension}`;
  writeAtomically(join(dir, bundle), options.code);
  const manifest: BuildManifest = { format: options.format, bundle, files };
  writeAtomically(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return join(dir, bundle);
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
