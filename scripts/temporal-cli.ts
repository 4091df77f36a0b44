/**
 * Finds a Temporal CLI (`temporal`) to run the dev server with, in this order:
 *   1. TEMPORAL_CLI_PATH, when set (an error if it does not point at an executable);
 *   2. `temporal` on PATH;
 *   3. the project's cache, .cache/temporal-cli/<version>/temporal;
 *   4. `go install` of the pinned version into that cache (no package registry ships the CLI, so
 *      on a machine with Go and its module proxy it is built from source: several minutes, once);
 *   5. the official release archive, where the internet is reachable;
 *   otherwise an error that says what to install.
 * Run directly, it prints the binary and version it resolved.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);

/** v1.5.1 builds with a plain `go install`; later tags carry a replace directive that `go install` refuses. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const GO_MODULE = 'github.com/temporalio/cli/cmd/temporal';
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
export const cacheDir = join(projectRoot, '.cache', 'temporal-cli', TEMPORAL_CLI_VERSION);

export interface ResolvedCli {
  path: string;
  version: string;
  source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go install' | 'download';
}

type Say = (line: string) => void;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

async function versionOf(path: string): Promise<string> {
  const { stdout } = await execFileAsync(path, ['--version'], { timeout: 30_000 });
  return stdout.trim();
}

async function goInstall(say: Say): Promise<string | undefined> {
  const go = onPath('go');
  if (!go) return undefined;
  say(
    `Building the Temporal CLI v${TEMPORAL_CLI_VERSION} from its Go module (no package registry ships it); ` +
      'this takes several minutes once, later runs use the cache.',
  );
  mkdirSync(cacheDir, { recursive: true });
  // Build into a private directory and rename, so two runs building at once never see half a binary.
  const buildDir = mkdtempSync(join(cacheDir, '.build-'));
  const started = Date.now();
  const ticker = setInterval(() => say(`  still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)} s)...`), 30_000);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(go, ['install', `${GO_MODULE}@v${TEMPORAL_CLI_VERSION}`], {
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
    renameSync(join(buildDir, 'temporal'), join(cacheDir, 'temporal'));
    say(`  built in ${Math.round((Date.now() - started) / 1000)} s`);
    return join(cacheDir, 'temporal');
  } finally {
    clearInterval(ticker);
    rmSync(buildDir, { recursive: true, force: true });
  }
}

async function download(say: Say): Promise<string | undefined> {
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const url = `https://temporal.download/cli/archive/v${TEMPORAL_CLI_VERSION}?platform=${process.platform}&arch=${arch}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch {
    return undefined; // no internet here; fall through to the error that says what to install
  }
  if (!response.ok) return undefined;
  say(`Downloading the Temporal CLI v${TEMPORAL_CLI_VERSION} from its release archive...`);
  mkdirSync(cacheDir, { recursive: true });
  const archive = join(cacheDir, 'temporal.tar.gz');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(archive, Buffer.from(await response.arrayBuffer()));
  await execFileAsync('tar', ['-xzf', archive, '-C', cacheDir, 'temporal']);
  rmSync(archive, { force: true });
  return join(cacheDir, 'temporal');
}

/** Resolves the CLI as described above; throws with what to install when nothing works. */
export async function resolveTemporalCli(say: Say = () => {}): Promise<ResolvedCli> {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file`);
    return { path: explicit, version: await versionOf(explicit), source: 'TEMPORAL_CLI_PATH' };
  }
  const fromPath = onPath('temporal');
  if (fromPath) return { path: fromPath, version: await versionOf(fromPath), source: 'PATH' };
  const cached = join(cacheDir, 'temporal');
  if (existsSync(cached) && isExecutable(cached)) return { path: cached, version: await versionOf(cached), source: 'cache' };
  const built = await goInstall(say);
  if (built) return { path: built, version: await versionOf(built), source: 'go install' };
  const downloaded = await download(say);
  if (downloaded) return { path: downloaded, version: await versionOf(downloaded), source: 'download' };
  throw new Error(
    'No Temporal CLI found. Install Go (the CLI is built from its module with `go install ' +
      `${GO_MODULE}@v${TEMPORAL_CLI_VERSION}\`), put \`temporal\` on PATH, or set TEMPORAL_CLI_PATH to its binary.`,
  );
}

async function run(): Promise<void> {
  const cli = await resolveTemporalCli((line) => console.log(line));
  console.log(`Temporal CLI: ${cli.path} (${cli.source}): ${cli.version.split('\n')[0]}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
