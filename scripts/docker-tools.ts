/**
 * The Docker programs the docker-compose provider's tests drive: the Compose v2 CLI plugin and a
 * Docker daemon (`dockerd`, Debian's docker.io package) to start privately.
 *
 * Compose v2 is in no package registry this project reaches, and `go install` refuses its module (its
 * go.mod has exclude directives), so it is resolved in this order:
 *   1. DOCKER_COMPOSE_BIN, when set (an error if it is not an executable);
 *   2. a Compose v2 CLI plugin already installed (the docker CLI's plugin folders) or `docker-compose` v2 on PATH;
 *   3. the project's cache, .cache/docker-compose/<version>/docker-compose;
 *   4. a build of the pinned version into that cache, through a throwaway module that requires it
 *      (`go mod init`, `go get`, `go build`): several minutes once, saying so while it builds;
 *   otherwise an error that says what to install.
 * Run directly (`.ci/run` does, before the tests), it prints what it resolved.
 *
 * References: https://docs.docker.com/compose/install/linux/ (the CLI plugin folder layout),
 * https://docs.docker.com/reference/cli/dockerd/ (dockerd's --data-root, --exec-root, --host, --pidfile).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, lstatSync, readlinkSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { isExecutable, onPath, type Say } from './lib/go-binaries.ts';

const execFileAsync = promisify(execFile);
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export const COMPOSE_VERSION = '2.40.3';
const COMPOSE_PACKAGE = 'github.com/docker/compose/v2/cmd';
export const composeCacheDir = join(projectRoot, '.cache', 'docker-compose', COMPOSE_VERSION);

export interface ResolvedCompose {
  path: string;
  /** What `docker-compose version` printed. */
  version: string;
  source: 'DOCKER_COMPOSE_BIN' | 'plugin' | 'PATH' | 'cache' | 'build';
}

async function composeVersion(path: string): Promise<string> {
  const { stdout } = await execFileAsync(path, ['version'], { timeout: 30_000 }).catch(() => ({ stdout: '' }));
  return stdout.trim().split('\n')[0] ?? '';
}

/** Compose v1 (the Python `docker-compose`) prints "docker-compose version 1.x": it has no `--wait`. */
const isV2 = (version: string) => /\bv?2\.\d+/.test(version) && !/version 1\./.test(version);

/** Where the docker CLI looks for plugins (its documented search path). */
function pluginDirs(): string[] {
  const config = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  return [join(config, 'cli-plugins'), '/usr/local/lib/docker/cli-plugins', '/usr/local/libexec/docker/cli-plugins', '/usr/lib/docker/cli-plugins', '/usr/libexec/docker/cli-plugins'];
}

/** Runs `go` with the build's environment; rejects with its last output lines when it fails. */
function go(go: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // -mod=mod: the throwaway module's go.sum is written as it goes, not checked against a vendor folder.
    const child = spawn(go, args, { cwd, env: { ...process.env, GOFLAGS: process.env.GOFLAGS ? `${process.env.GOFLAGS} -mod=mod` : '-mod=mod', GOWORK: 'off' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (status) => (status === 0 ? resolve() : reject(new Error(`go ${args.join(' ')} failed (exit ${status}):\n${stderr}`))));
  });
}

/** Builds Compose v2 into the cache through a throwaway module; undefined when Go is missing. */
async function buildCompose(say: Say): Promise<string | undefined> {
  const goBinary = onPath('go');
  if (!goBinary) return undefined;
  say(`Building Docker Compose v${COMPOSE_VERSION} from its Go module (no package registry ships it); this takes several minutes once, later runs use the cache.`);
  mkdirSync(composeCacheDir, { recursive: true });
  // A private directory renamed into place, so two runs building at once never see half a binary.
  const buildDir = mkdtempSync(join(composeCacheDir, '.build-'));
  const started = Date.now();
  const ticker = setInterval(() => say(`  still building Docker Compose (${Math.round((Date.now() - started) / 1000)} s)...`), 30_000);
  try {
    await go(goBinary, ['mod', 'init', 'compose-build'], buildDir);
    await go(goBinary, ['get', `${COMPOSE_PACKAGE}@v${COMPOSE_VERSION}`], buildDir);
    // The version stamp is what `docker compose version` and the CLI's plugin metadata report.
    await go(goBinary, ['build', '-ldflags', `-s -w -X github.com/docker/compose/v2/internal.Version=v${COMPOSE_VERSION}`, '-o', 'docker-compose', COMPOSE_PACKAGE], buildDir);
    const target = join(composeCacheDir, 'docker-compose');
    renameSync(join(buildDir, 'docker-compose'), target);
    say(`  built in ${Math.round((Date.now() - started) / 1000)} s`);
    return target;
  } finally {
    clearInterval(ticker);
    rmSync(buildDir, { recursive: true, force: true });
  }
}

/** Resolves the Compose v2 CLI as described above; throws with what to install when nothing works. */
export async function resolveDockerCompose(say: Say = () => {}): Promise<ResolvedCompose> {
  const explicit = process.env.DOCKER_COMPOSE_BIN;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`DOCKER_COMPOSE_BIN=${explicit} is not an executable file`);
    return { path: explicit, version: await composeVersion(explicit), source: 'DOCKER_COMPOSE_BIN' };
  }
  const installed: [string | undefined, ResolvedCompose['source']][] = [
    ...pluginDirs().map((dir): [string, ResolvedCompose['source']] => [join(dir, 'docker-compose'), 'plugin']),
    [onPath('docker-compose'), 'PATH'],
  ];
  for (const [path, source] of installed) {
    if (!path || !isExecutable(path)) continue;
    const version = await composeVersion(path);
    if (isV2(version)) return { path, version, source };
  }
  const cached = join(composeCacheDir, 'docker-compose');
  if (existsSync(cached) && isExecutable(cached)) return { path: cached, version: await composeVersion(cached), source: 'cache' };
  const built = await buildCompose(say);
  if (built) return { path: built, version: await composeVersion(built), source: 'build' };
  throw new Error(
    `No Docker Compose v2 found. Install Go (Compose is built from its module ${COMPOSE_PACKAGE}@v${COMPOSE_VERSION} through a throwaway module: ` +
      '`go mod init x && go get ... && go build ...`), install the docker-compose CLI plugin, or set DOCKER_COMPOSE_BIN to its binary.',
  );
}

/**
 * Makes `docker compose` work for a docker CLI using `dockerConfigDir` (its DOCKER_CONFIG): the
 * binary linked as $DOCKER_CONFIG/cli-plugins/docker-compose.
 */
export function installComposePlugin(composeBinary: string, dockerConfigDir: string): string {
  const dir = join(dockerConfigDir, 'cli-plugins');
  mkdirSync(dir, { recursive: true });
  const link = join(dir, 'docker-compose');
  if (existsSync(link) || isSymlink(link)) {
    if (isSymlink(link) && readlinkSync(link) === composeBinary) return link;
    unlinkSync(link);
  }
  symlinkSync(composeBinary, link);
  return link;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** A program: the path in `envVar` (an error if it is not executable), `name` on PATH, or one of `places`; the error says how to get it. */
function findProgram(name: string, envVar: string, places: string[], what: string): string {
  const explicit = process.env[envVar];
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${envVar}=${explicit} is not an executable file`);
    return explicit;
  }
  const found = onPath(name) ?? places.find(isExecutable);
  if (!found) throw new Error(`No ${what} found: install Debian's docker.io package (\`apt-get install -y docker.io\`) or set ${envVar}.`);
  return found;
}

/** The Docker daemon: DOCKERD_PATH, `dockerd` on PATH, or where Debian's docker.io puts it. */
export const findDockerd = (): string => findProgram('dockerd', 'DOCKERD_PATH', ['/usr/sbin/dockerd', '/usr/bin/dockerd'], 'Docker daemon (dockerd)');

/** The docker CLI: DOCKER_CLI_PATH or `docker` on PATH. */
export const findDockerCli = (): string => findProgram('docker', 'DOCKER_CLI_PATH', ['/usr/bin/docker', '/usr/local/bin/docker'], 'docker CLI');

async function run(): Promise<void> {
  const compose = await resolveDockerCompose((line) => console.log(line));
  console.log(`Docker Compose: ${compose.path} (${compose.source}): ${compose.version}`);
  console.log(`dockerd: ${findDockerd()}\ndocker CLI: ${findDockerCli()}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
