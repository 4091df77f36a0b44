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
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { cacheDirOf, resolveGoBinary, type GoBinary, type Say } from './lib/go-binaries.ts';

const execFileAsync = promisify(execFile);

/** v1.5.1 builds with a plain `go install`; later tags carry a replace directive that `go install` refuses. */
export const TEMPORAL_CLI_VERSION = '1.5.1';

export const TEMPORAL_CLI: GoBinary = {
  title: 'the Temporal CLI',
  name: 'temporal-cli',
  module: 'github.com/temporalio/cli/cmd/temporal',
  version: TEMPORAL_CLI_VERSION,
  builds: 'temporal',
  binary: 'temporal',
  pathEnv: 'TEMPORAL_CLI_PATH',
  pathNames: ['temporal'],
  versionArgs: ['--version'],
};
export const cacheDir = cacheDirOf(TEMPORAL_CLI);

export interface ResolvedCli {
  path: string;
  version: string;
  source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go install' | 'download';
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
  let downloaded = false;
  const resolved = await resolveGoBinary(TEMPORAL_CLI, say, async () => {
    const path = await download(say);
    downloaded = path !== undefined;
    return path;
  });
  const source = resolved.source === 'explicit' ? 'TEMPORAL_CLI_PATH' : downloaded ? 'download' : resolved.source;
  return { path: resolved.path, version: resolved.version, source };
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
