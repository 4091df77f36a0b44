/**
 * Backups a team keeps as files in a folder, named by a pattern (seed 001's `memory_YYYYMMDD_HHMMSS.db`,
 * seed 003's `postgres_data_YYYYMMDD_HHMMSS.tar.gz`): listed oldest name first, since such names sort
 * by the time they carry, so "latest" is the last.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface BackupFile {
  name: string;
  path: string;
  bytes: number;
  modifiedAt: string;
}

/** Files in `dir` whose names match `pattern` (`*` standing for any characters), oldest name first; none when the folder is missing. */
export async function listBackupFiles(dir: string, pattern: string): Promise<BackupFile[]> {
  const matcher = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => matcher.test(name)).sort();
  return Promise.all(
    names.map(async (name) => {
      const info = await stat(join(dir, name));
      return { name, path: join(dir, name), bytes: info.size, modifiedAt: info.mtime.toISOString() };
    }),
  );
}
