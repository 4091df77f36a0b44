/**
 * Dumps a team already has (seed 000's `pg_restore latest.dump`, seed 003's `psql < backup.sql`):
 * found only inside the directory the runbook names for them, their format read from the file
 * itself, checked before anything is restored, and restored into a side database like our own
 * backups. A plain SQL dump goes through psql, so it is read first for what psql would do besides
 * loading data: connect to another database (a `pg_dump -C` dump would restore over the live one),
 * run a shell command, write a file. Any of that refuses the dump.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sha256File } from './backup.ts';
import { runTool, withDatabase, type Connection, type ToolRun } from './pg-tools.ts';

export type DumpFormat = 'custom' | 'directory' | 'plain';

export interface TeamDump {
  /** The dump's real path (symbolic links resolved), inside the runbook's dumps directory. */
  path: string;
  format: DumpFormat;
  bytes: number;
  /** sha256 of the file; of toc.dat for a directory dump. */
  sha256: string;
  /** When the file was last written: the closest the dump says to when it was taken. */
  takenAt: string;
  /** Items in its table of contents (custom and directory formats); null for plain SQL. */
  tocEntries: number | null;
  /** "Dumped from database version ..." and "Dumped by pg_dump version ...", where the dump says. */
  dumpedFrom: string | null;
  dumpedBy: string | null;
}

/** A dump that cannot be restored, with why; nothing was changed. */
export class DumpRefused extends Error {}

/**
 * The real path of `given` (a path relative to `dumpsDir`, an absolute path, or a file:// URL), which
 * must exist and lie inside `dumpsDir` once symbolic links are resolved: a restore reads only what the
 * runbook's owners put where they keep dumps, never any file the worker can read.
 */
export async function locateDump(dumpsDir: string, given: string): Promise<string> {
  const asPath = given.startsWith('file:') ? fileURLToPath(given) : given;
  const wanted = isAbsolute(asPath) ? asPath : resolve(dumpsDir, asPath);
  const [dir, path] = await Promise.all([
    realpath(dumpsDir).catch(() => {
      throw new DumpRefused(`the dumps directory ${dumpsDir} does not exist`);
    }),
    realpath(wanted).catch(() => {
      throw new DumpRefused(`no dump at ${wanted}`);
    }),
  ]);
  const inside = relative(dir, path);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) {
    throw new DumpRefused(`${given} is outside the runbook's dumps directory ${dir}; only dumps kept there can be restored`);
  }
  return path;
}

/** A dump's format as its bytes say: a directory with toc.dat, a file starting PGDMP (custom), else plain SQL. */
async function detectFormat(path: string): Promise<DumpFormat> {
  if ((await stat(path)).isDirectory()) {
    if (!(await stat(join(path, 'toc.dat')).catch(() => null))) throw new DumpRefused(`${path} is a directory without toc.dat: not a directory-format dump`);
    return 'directory';
  }
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'custom';
    if (head.subarray(0, bytesRead).includes(0)) throw new DumpRefused(`${path} is neither a pg_dump archive nor SQL text (it holds binary data)`);
    return 'plain';
  } finally {
    await file.close();
  }
}

/** psql meta-commands a plain pg_dump writes and that only guard the load (pg_dump 15.14+ brackets a dump in \restrict). */
const HARMLESS_META = /^\\(restrict|unrestrict)\b/;
/** Statements that would act on another database than the one the dump is loaded into. */
const OTHER_DATABASE = /^\s*(create|drop|alter)\s+database\b/i;
const COPY_FROM_STDIN = /^\s*copy\s.+\sfrom\s+stdin\b.*;\s*$/i;

/**
 * What psql would do with a plain SQL dump besides loading it into the database it is given: the
 * lines that refuse it, each with its line number (at most 5 named). COPY data is skipped, so a row
 * that happens to start with a backslash is data, not a command.
 */
export async function plainDumpProblems(path: string): Promise<string[]> {
  const problems: string[] = [];
  let lineNo = 0;
  let inCopyData = false;
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    lineNo += 1;
    if (inCopyData) {
      if (line === '\\.') inCopyData = false;
      continue;
    }
    if (COPY_FROM_STDIN.test(line)) inCopyData = true;
    const shown = line.length > 60 ? `${line.slice(0, 60)}…` : line;
    if (line.startsWith('\\') && !HARMLESS_META.test(line)) problems.push(`line ${lineNo}: psql meta-command ${JSON.stringify(shown)} (a dump may only hold SQL: \\connect would load into another database, \\! runs a shell)`);
    else if (OTHER_DATABASE.test(line)) problems.push(`line ${lineNo}: ${JSON.stringify(shown)} acts on a whole database (dump without -C/--create)`);
    else if (/^\s*copy\b/i.test(line) && /\bprogram\b/i.test(line)) problems.push(`line ${lineNo}: COPY ... PROGRAM runs a command on the server`);
    if (problems.length >= 5) break;
  }
  return problems;
}

/**
 * Everything a restore needs to know of a team's dump before it starts: its format (checked against
 * `expected` when the caller names one), size, checksum, and that the tools can read it (pg_restore
 * --list for archives; for plain SQL, that it holds nothing but SQL for one database).
 */
export async function inspectDump(conn: Connection, path: string, expected?: DumpFormat): Promise<TeamDump> {
  const format = await detectFormat(path);
  if (expected && expected !== format) throw new DumpRefused(`${basename(path)} is a ${format}-format dump, not ${expected}`);
  const main = format === 'directory' ? join(path, 'toc.dat') : path;
  const [info, sha256] = await Promise.all([stat(path), sha256File(main)]);
  const bytes = format === 'directory' ? await directoryBytes(path) : info.size;
  const dump: TeamDump = { path, format, bytes, sha256, takenAt: info.mtime.toISOString(), tocEntries: null, dumpedFrom: null, dumpedBy: null };
  if (format === 'plain') {
    const problems = await plainDumpProblems(path);
    if (problems.length > 0) throw new DumpRefused(`${basename(path)} cannot be restored: ${problems.join('; ')}`);
    return dump;
  }
  const listing = await runTool('pg_restore', ['--list', path], conn).catch((err: Error) => {
    throw new DumpRefused(`pg_restore cannot read ${basename(path)}: ${err.message}`);
  });
  return {
    ...dump,
    tocEntries: listing.split('\n').filter((line) => line.trim() && !line.startsWith(';')).length,
    dumpedFrom: /Dumped from database version: (.+)/.exec(listing)?.[1]?.trim() ?? null,
    dumpedBy: /Dumped by pg_dump version: (.+)/.exec(listing)?.[1]?.trim() ?? null,
  };
}

async function directoryBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true });
  const sizes = await Promise.all(entries.filter((e) => e.isFile()).map(async (e) => (await stat(join(dir, e.name))).size));
  return sizes.reduce((sum, n) => sum + n, 0);
}

/**
 * Loads a plain SQL dump into the side database with psql: no psqlrc (-X), stopping at the first
 * error (ON_ERROR_STOP) and in one transaction, so a failed load leaves the side database empty.
 * `onStatement` counts the statements psql reports, for heartbeats.
 */
export async function restorePlainInto(conn: Connection, side: string, path: string, onStatement: (done: number) => void, signal?: AbortSignal): Promise<void> {
  let done = 0;
  const options: ToolRun = { signal, progressOn: 'stdout', onLine: () => onStatement(++done) };
  await runTool('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '--single-transaction', `--dbname=${side}`, `--file=${path}`], withDatabase(conn, side), options);
}
