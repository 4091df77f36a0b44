/**
 * A private Docker engine for tests: Debian's dockerd started as root with its own data root, exec
 * root, pid file and socket under one temporary folder (never the default socket, never another
 * daemon), no bridge and no iptables rules, so containers use host networking on loopback only. The
 * docker CLI gets its own DOCKER_CONFIG with the Compose v2 plugin installed. Images come from
 * `docker import` of a tiny root filesystem (a static busybox and the files a test gives): no registry
 * is reachable here. `stop()` removes the containers, stops the daemon and deletes the folder.
 *
 * References: https://docs.docker.com/reference/cli/dockerd/, https://docs.docker.com/reference/cli/docker/image/import/.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { findDockerCli, findDockerd, installComposePlugin, resolveDockerCompose, type ResolvedCompose } from '../scripts/docker-tools.ts';
import { onPath } from '../scripts/lib/go-binaries.ts';

const execFileAsync = promisify(execFile);

export interface DockerEngine {
  /** The folder holding the data root, exec root, socket and CLI config: `pgrep -f` it to find leftovers. */
  root: string;
  /** unix://<root>/docker.sock */
  host: string;
  /** PATH, HOME, DOCKER_HOST and DOCKER_CONFIG for the docker CLI and Compose. */
  env: Record<string, string>;
  compose: ResolvedCompose;
  /** Runs the docker CLI against this engine; rejects with its stderr when it fails. */
  docker(args: string[], options?: { cwd?: string }): Promise<string>;
  /** Imports an image from a static busybox plus `files` (path -> content), with busybox applets linked in /bin. */
  importImage(reference: string, files: Record<string, string>, options?: { applets?: string[] }): Promise<string>;
  stop(): Promise<void>;
}

/** Whether an ELF executable asks for a dynamic loader (PT_INTERP): such a binary cannot run in an empty image. */
function isDynamic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(64);
    readSync(fd, header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return true; // not a 64-bit ELF: do not trust it
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i += 1) if (table.readUInt32LE(i * phentsize) === 3) return true;
    return false;
  } finally {
    closeSync(fd);
  }
}

function findStaticBusybox(): string {
  const candidates = [process.env.BUSYBOX_STATIC_PATH, onPath('busybox'), '/bin/busybox', '/usr/bin/busybox'].filter((p): p is string => Boolean(p));
  const found = candidates.find((p) => existsSync(p) && !isDynamic(p));
  if (!found) throw new Error('No static busybox found to build test images from: install Debian\'s busybox-static package (`apt-get install -y busybox-static`) or set BUSYBOX_STATIC_PATH.');
  return found;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s; its log ends:\n${log()}`);
}

/** Starts the engine; throws with the exact reason when dockerd, the docker CLI, busybox or Compose is missing. */
export async function startDockerEngine(say: (line: string) => void = (line) => console.log(line)): Promise<DockerEngine> {
  if (process.getuid?.() !== 0) throw new Error('the Docker engine tests start their own dockerd, which needs root');
  const dockerd = findDockerd();
  const dockerCli = findDockerCli();
  const busybox = findStaticBusybox();
  const compose = await resolveDockerCompose(say);

  // A short path: the socket's must fit in a unix socket address (108 bytes).
  const root = mkdtempSync(join(tmpdir(), 'rr-dockerd-'));
  const config = join(root, 'config');
  installComposePlugin(compose.path, config);
  const host = `unix://${join(root, 'docker.sock')}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: process.env.HOME ?? root,
    DOCKER_HOST: host,
    DOCKER_CONFIG: config,
  };
  const logFile = join(root, 'dockerd.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '(no log)');
  const logFd = openSync(logFile, 'a');
  const daemon: ChildProcess = spawn(
    dockerd,
    [
      '--data-root', join(root, 'data'),
      '--exec-root', join(root, 'exec'),
      '--pidfile', join(root, 'docker.pid'),
      '--host', host,
      '--bridge=none',
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', logFd, logFd], detached: true },
  );
  closeSync(logFd);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => daemon.once('exit', () => ((exited = true), resolve())));
  // A test process that dies without stop() still takes its daemon (and the containerd it started) with it.
  const killOnExit = () => {
    try {
      if (!exited) process.kill(-daemon.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  process.once('exit', killOnExit);

  const docker = async (args: string[], options: { cwd?: string } = {}): Promise<string> => {
    try {
      const { stdout } = await execFileAsync(dockerCli, args, { env, cwd: options.cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`docker ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
    }
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      // Containers first: their shims outlive the daemon otherwise.
      const ids = (await docker(['ps', '-aq']).catch(() => '')).split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-f', '-v', ...ids]).catch(() => '');
      daemon.kill('SIGTERM');
      const killed = setTimeout(() => daemon.kill('SIGKILL'), 20_000);
      await exitedPromise;
      clearTimeout(killed);
    }
    // Mounts the daemon left behind (a kill mid-shutdown) would make the folder undeletable.
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(root + '/')).reverse();
    for (const mount of mounts) await execFileAsync('umount', ['-l', mount]).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
    process.off('exit', killOnExit);
  };

  try {
    await waitFor(
      'dockerd did not answer on its socket',
      60_000,
      async () => {
        if (exited) throw new Error(`dockerd exited at start; its log ends:\n${log()}`);
        return docker(['version', '--format', '{{.Server.Version}}']).then(() => true, () => false);
      },
      log,
    );
    const plugin = await docker(['compose', 'version']).catch((err: Error) => err.message);
    if (!/v?2\.\d+/.test(plugin)) throw new Error(`\`docker compose\` does not work with the plugin at ${config}/cli-plugins: ${plugin}`);
  } catch (err) {
    await stop();
    throw err;
  }

  const importImage = async (reference: string, files: Record<string, string>, options: { applets?: string[] } = {}): Promise<string> => {
    const rootfs = mkdtempSync(join(root, 'rootfs-'));
    try {
      mkdirSync(join(rootfs, 'bin'));
      writeFileSync(join(rootfs, 'bin', 'busybox'), readFileSync(busybox));
      chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
      for (const applet of options.applets ?? ['sh', 'httpd', 'wget']) symlinkSync('busybox', join(rootfs, 'bin', applet));
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(join(rootfs, dirname(path)), { recursive: true });
        writeFileSync(join(rootfs, path), content);
      }
      const tarball = `${rootfs}.tar`;
      await execFileAsync('tar', ['-C', rootfs, '-cf', tarball, '.']);
      const id = (await docker(['import', tarball, reference])).trim();
      rmSync(tarball, { force: true });
      return id;
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  };

  return { root, host, env, compose, docker, importImage, stop };
}
