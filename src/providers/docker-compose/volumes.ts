/**
 * Named volumes of a Compose project, backed up and restored the way seed 003 does by hand
 * (`docker run --rm -v <volume>:/data -v $(pwd)/backups:/backup alpine tar czf /backup/<file> -C /data .`
 * and `tar xzf` back), made exact: a restore first empties the volume, so it holds what the archive
 * holds and nothing the bad release left beside it, and it counts the entries after. Every helper
 * container runs with no network, one command each (argv, no shell), the backup folder mounted
 * read-only when only read; the services writing to the volume are stopped and started with
 * `docker compose stop` / `start`. The helper image needs tar (with gzip), find and rm: alpine, busybox.
 *
 * References: https://docs.docker.com/engine/storage/volumes/#back-up-restore-or-migrate-data-volumes,
 * https://docs.docker.com/reference/cli/docker/volume/inspect/, https://docs.docker.com/reference/cli/docker/container/ls/#volume,
 * https://docs.docker.com/reference/cli/docker/compose/stop/, https://docs.docker.com/reference/cli/docker/compose/start/.
 */
import { basename, dirname, resolve } from 'node:path';
import { runProgram, type RunResult } from '../command/runner.ts';
import type { VolumesClient } from '../types.ts';

export interface VolumeTools {
  /** Runs a docker or compose command (the provider's environment, DOCKER_HOST); throws naming `what` unless `allowFail`. */
  run(command: string[], what: string, options?: { signal?: AbortSignal; allowFail?: boolean }): Promise<RunResult>;
  dockerCommand: readonly string[];
  composeArgs: readonly string[];
  /** The image helper containers run: it needs `tar` (with gzip) and `find`. */
  helperImage: string;
}

/** Entries in a gzipped tar archive on the worker (`tar -tzf`), the top folder `./` not counted. */
async function archiveEntries(archive: string, signal?: AbortSignal): Promise<number> {
  const result = await runProgram(['tar', '-tzf', archive], { env: { PATH: process.env.PATH }, timeoutMs: 600_000, signal, keepLines: 3 });
  if (result.exitCode !== 0) throw new Error(`${basename(archive)} is not a readable tar.gz archive: ${result.outputTail.join(' | ') || `tar exited with ${result.exitCode}`}`);
  return result.stdout.split('\n').filter((line) => line !== '' && line !== './').length;
}

export function composeVolumes(tools: VolumeTools): VolumesClient {
  const { run, dockerCommand, helperImage } = tools;
  /** One helper container on the volume (mounted at /data) and the archive's folder (at /backup). */
  const helper = (volume: string, archive: string, access: { data: 'ro' | 'rw'; backup: 'ro' | 'rw' }, command: string[]) => [
    ...dockerCommand,
    'run', '--rm', '--network', 'none',
    '--volume', `${volume}:/data:${access.data}`,
    '--volume', `${dirname(resolve(archive))}:/backup:${access.backup}`,
    helperImage,
    ...command,
  ];
  const count = async (volume: string, signal?: AbortSignal) => {
    const listed = await run([...dockerCommand, 'run', '--rm', '--network', 'none', '--volume', `${volume}:/data:ro`, helperImage, 'find', '/data', '-mindepth', '1'], `counting what volume ${volume} holds`, { signal });
    return listed.stdout.split('\n').filter(Boolean).length;
  };

  return {
    async readVolume(volume) {
      const inspect = await run([...dockerCommand, 'volume', 'inspect', volume], `looking up volume ${volume}`, { allowFail: true });
      if (inspect.exitCode !== 0) return { exists: false, usedBy: [] };
      const users = await run([...dockerCommand, 'ps', '--all', '--filter', `volume=${volume}`, '--format', '{{.Names}}'], `finding the containers of volume ${volume}`);
      return { exists: true, usedBy: users.stdout.split('\n').filter(Boolean).sort() };
    },

    async archiveVolume(volume, archive, signal) {
      await run(helper(volume, archive, { data: 'ro', backup: 'rw' }, ['tar', '-czf', `/backup/${basename(archive)}`, '-C', '/data', '.']), `archiving volume ${volume}`, { signal });
      return { entries: await archiveEntries(archive, signal) };
    },

    async replaceVolume(volume, archive, signal) {
      const expected = await archiveEntries(archive, signal); // unreadable: refused before the volume is emptied
      // -exec rm rather than -delete: busybox builds without find's -delete are common.
      await run(helper(volume, archive, { data: 'rw', backup: 'ro' }, ['find', '/data', '-mindepth', '1', '-maxdepth', '1', '-exec', 'rm', '-rf', '{}', '+']), `emptying volume ${volume}`, { signal });
      await run(helper(volume, archive, { data: 'rw', backup: 'ro' }, ['tar', '-xzf', `/backup/${basename(archive)}`, '-C', '/data']), `restoring volume ${volume}`, { signal });
      const entries = await count(volume, signal);
      if (entries !== expected) throw new Error(`volume ${volume} holds ${entries} entries after the restore, the archive ${basename(archive)} ${expected}`);
      return { entries };
    },

    async stopServices(services, signal) {
      if (services.length > 0) await run([...tools.composeArgs, 'stop', ...services], `stopping ${services.join(', ')}`, { signal });
    },

    async startServices(services, signal) {
      if (services.length > 0) await run([...tools.composeArgs, 'start', ...services], `starting ${services.join(', ')}`, { signal });
    },
  };
}

export { archiveEntries };
