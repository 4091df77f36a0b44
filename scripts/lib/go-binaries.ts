/**
 * Programs no package registry ships, built from their Go modules (the Temporal CLI, the Temporal
 * server, temporal-sql-tool, the Temporal UI server), resolved the same way each:
 *   1. an explicit path in an environment variable (an error if it is not an executable);
 *   2. a name on PATH;
 *   3. the project's cache, .cache/<name>/<version>/<binary>;
 *   4. `go install` of the pinned version into that cache, saying so while it builds;
 *   otherwise an error that says what to install.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface GoBinary {
  /** In messages: "the Temporal server". */
  title: string;
  /** The cache folder: .cache/<name>/<version>/. */
  name: string;
  module: string;
  version: string;
  /** The file `go install` writes (the module's last path element). */
  builds: string;
  /** The file kept in the cache (two modules build a binary called `server`). */
  binary: string;
  /** The variable that names an explicit path, e.g. TEMPORAL_SERVER_PATH. */
  pathEnv: string;
  /** Names looked up on PATH. */
  pathNames: string[];
  /** Arguments that make it print its version. */
  versionArgs: string[];
}

export interface Resolved {
  path: string;
  version: string;
  source: 'explicit' | 'PATH' | 'cache' | 'go install';
}

export type Say = (line: string) => void;

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export const cacheDirOf = (binary: GoBinary) => join(projectRoot, '.cache', binary.name, binary.version);

async function versionOf(binary: GoBinary, path: string): Promise<string> {
  const { stdout, stderr } = await execFileAsync(path, binary.versionArgs, { timeout: 30_000 }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
  return (stdout || stderr).trim().split('\n')[0] ?? '';
}

/** `go install` of the pinned version into the cache; undefined when Go is missing or the build fails. */
async function goInstall(binary: GoBinary, say: Say): Promise<string | undefined> {
  const go = onPath('go');
  if (!go) return undefined;
  say(`Building ${binary.title} v${binary.version} from its Go module (no package registry ships it); this takes several minutes once, later runs use the cache.`);
  const cacheDir = cacheDirOf(binary);
  mkdirSync(cacheDir, { recursive: true });
  // Build into a private directory and rename, so two runs building at once never see half a binary.
  const buildDir = mkdtempSync(join(cacheDir, '.build-'));
  const started = Date.now();
  const ticker = setInterval(() => say(`  still building ${binary.title} (${Math.round((Date.now() - started) / 1000)} s)...`), 30_000);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(go, ['install', `${binary.module}@v${binary.version}`], {
        env: { ...process.env, GOBIN: buildDir, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
      child.on('error', reject);
      child.on('exit', (status) => {
        if (status !== 0) say(`go install failed:\n${stderr}`);
        resolve(status ?? 1);
      });
    });
    if (code !== 0) return undefined;
    renameSync(join(buildDir, binary.builds), join(cacheDir, binary.binary));
    say(`  built in ${Math.round((Date.now() - started) / 1000)} s`);
    return join(cacheDir, binary.binary);
  } finally {
    clearInterval(ticker);
    rmSync(buildDir, { recursive: true, force: true });
  }
}

/** Resolves `binary` as described above; `fallback` is tried after the build (the CLI's download). */
export async function resolveGoBinary(binary: GoBinary, say: Say = () => {}, fallback?: () => Promise<string | undefined>): Promise<Resolved> {
  const explicit = process.env[binary.pathEnv];
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${binary.pathEnv}=${explicit} is not an executable file`);
    return { path: explicit, version: await versionOf(binary, explicit), source: 'explicit' };
  }
  for (const name of binary.pathNames) {
    const found = onPath(name);
    if (found) return { path: found, version: await versionOf(binary, found), source: 'PATH' };
  }
  const cached = join(cacheDirOf(binary), binary.binary);
  if (existsSync(cached) && isExecutable(cached)) return { path: cached, version: await versionOf(binary, cached), source: 'cache' };
  const built = (await goInstall(binary, say)) ?? (await fallback?.());
  if (built) return { path: built, version: await versionOf(binary, built), source: 'go install' };
  throw new Error(
    `No ${binary.title} found. Install Go (it is built from its module with \`go install ${binary.module}@v${binary.version}\`), ` +
      `put \`${binary.pathNames[0]}\` on PATH, or set ${binary.pathEnv} to its binary.`,
  );
}
