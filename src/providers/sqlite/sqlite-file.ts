/**
 * A SQLite database file restored from one of its backups (seed 001: `cp memory_20240115_020000.db
 * memory.db`, then `sqlite3 memory.db "PRAGMA integrity_check;"`), made safe: the backup is checked on
 * a copy before the live file is touched, the file there now is moved aside (never overwritten, its
 * -wal and -shm with it: a restored database beside an old write-ahead log is a corrupt one), and the
 * copy is renamed into place, so a reader sees the old file or the new one, never half of either.
 * Checks run through the `sqlite3` command-line tool (Debian's sqlite3), read-only.
 */
import { copyFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { runProgram } from '../command/runner.ts';

/** The files that make up one SQLite database besides the main file, moved with it. */
const COMPANIONS = ['-wal', '-shm', '-journal'];

export interface SqliteSmokeQuery {
  name: string;
  sql: string;
  expect?: unknown;
}

/** Runs `sqlite3` read-only on `path` with one SQL text; its stdout, or an error with its last lines. */
async function sqlite3(path: string, sql: string, json = false): Promise<string> {
  const result = await runProgram(['sqlite3', '-readonly', '-bail', ...(json ? ['-json'] : []), path, sql], { env: { PATH: process.env.PATH }, timeoutMs: 600_000 });
  if (result.exitCode !== 0) throw new Error(`sqlite3 ${basename(path)}: ${result.outputTail.slice(-3).join(' | ') || `exit ${result.exitCode}`}`);
  return result.stdout;
}

/**
 * What is wrong with the database at `path`, if anything: `PRAGMA integrity_check` (it must answer
 * just "ok"), then each smoke query, whose first row must equal its `expect` (values compared as
 * text, as the Postgres smoke queries are).
 */
export async function checkSqlite(path: string, smokeQueries: readonly SqliteSmokeQuery[]): Promise<string[]> {
  const problems: string[] = [];
  const integrity = await sqlite3(path, 'PRAGMA integrity_check;').catch((err: Error) => err.message);
  if (integrity.trim() !== 'ok') return [`integrity_check of ${basename(path)}: ${integrity.trim().split('\n').slice(0, 3).join('; ')}`];
  for (const query of smokeQueries) {
    try {
      const rows = JSON.parse((await sqlite3(path, query.sql, true)) || '[]') as Record<string, unknown>[];
      if (query.expect === undefined) continue;
      const got = Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, String(v)]));
      const want = Object.fromEntries(Object.entries(query.expect as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`smoke query ${query.name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    } catch (err) {
      problems.push(`smoke query ${query.name} failed: ${(err as Error).message}`);
    }
  }
  return problems;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Moves a database file and its companions from `from` to `to` (those that exist). */
async function moveDatabase(from: string, to: string): Promise<void> {
  for (const suffix of ['', ...COMPANIONS]) if (await exists(from + suffix)) await rename(from + suffix, to + suffix);
}

/**
 * Copies `backup` beside `live` as a staging file (same directory: the rename into place is atomic),
 * named after `id`, and returns its path. Safe to repeat: a staging file left by an attempt that died
 * is copied again.
 */
export async function stageCopy(backup: string, live: string, id: string): Promise<string> {
  const staged = join(dirname(live), `.${basename(live)}.restoring-${id}`);
  await rm(staged, { force: true });
  await copyFile(backup, staged);
  return staged;
}

/**
 * Puts `staged` in place of `live`, the database there now (with its -wal and -shm) moved aside to
 * `savedAs` first, once: a retry finds it saved and does not move the restored file over it. Returns
 * whether a live file was there to save.
 */
export async function swapInStaged(live: string, staged: string, savedAs: string): Promise<{ saved: boolean }> {
  if (!(await exists(savedAs))) await moveDatabase(live, savedAs);
  // Renamed already by an attempt that died: the file in place is the restored one, maybe written to
  // since; it is left as it is.
  if (await exists(staged)) await rename(staged, live);
  return { saved: await exists(savedAs) };
}

/**
 * Undoes swapInStaged: the restored database is moved aside to `undoneAs` (kept: writes made to it
 * since are not thrown away) and the saved one put back. Safe to repeat: once the saved file is back,
 * there is nothing left to move.
 */
export async function putBackSaved(live: string, savedAs: string, undoneAs: string): Promise<{ putBack: boolean }> {
  if (!(await exists(savedAs))) return { putBack: false };
  if (await exists(live)) await moveDatabase(live, undoneAs);
  await moveDatabase(savedAs, live);
  return { putBack: true };
}
