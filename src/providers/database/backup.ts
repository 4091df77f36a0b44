/**
 * Backups with a manifest: `pg_dump` in directory format with parallel jobs, taken from an exported
 * snapshot so the row counts recorded beside it describe exactly what was dumped. The manifest
 * lists every file with its size and sha256, the server and pg_dump versions, row counts per table,
 * and when it was taken. A backup without a manifest is incomplete and is never offered for restore.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type pg from 'pg';
import { quote, readServerVersion, runTool, toolMajorVersion, withClient, type Connection } from './pg-tools.ts';

export interface BackupManifest {
  id: string;
  kind: 'backup' | 'safety-dump';
  system: string;
  database: string;
  /** The Postgres database name that was dumped. */
  databaseName: string;
  takenAt: string;
  /** Our own backups are directory dumps; a team's own dump restored as a backup may be any of the three. */
  format: 'directory' | 'custom' | 'plain';
  jobs: number;
  serverVersion: string;
  pgDumpVersion: string;
  rowCounts: Record<string, number>;
  files: { path: string; size: number; sha256: string }[];
}

const MANIFEST = 'manifest.json';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
}

/** Exact row counts of every ordinary table, as `schema.table`; tables in `known` (counted already) take that count. */
export async function countRows(c: pg.Client, known: Record<string, number> = {}): Promise<Record<string, number>> {
  const { rows: tables } = await c.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
     ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const { schema, name } of tables) {
    const table = `${schema}.${name}`;
    if (known[table] !== undefined) counts[table] = known[table];
    else counts[table] = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${quote(schema)}.${quote(name)}`)).rows[0]!.n);
  }
  return counts;
}

export interface TakeBackup {
  conn: Connection;
  dir: string;
  id: string;
  kind: BackupManifest['kind'];
  system: string;
  database: string;
  jobs: number;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Takes a backup into `dir` (which must not hold a complete backup). Written to a partial directory
 * of its own and renamed when complete, so a crash never leaves something that looks like a backup,
 * and a pg_dump orphaned by a killed worker cannot write into a retry's files.
 */
export async function takeBackup(options: TakeBackup): Promise<BackupManifest> {
  const parent = dirname(options.dir);
  await mkdir(parent, { recursive: true });
  for (const entry of await readdir(parent)) {
    if (entry.startsWith(`${basename(options.dir)}.partial`)) await rm(join(parent, entry), { recursive: true, force: true });
  }
  const partial = `${options.dir}.partial-${process.pid}-${Date.now()}`;
  await mkdir(partial, { recursive: true });
  const toolVersion = toolMajorVersion('pg_dump');
  toolVersion.catch(() => undefined); // awaited below; this only keeps it handled if connecting fails first
  const { server, tool, rowCounts, takenAt } = await withClient(options.conn, async (c) => {
    const [server, tool] = await Promise.all([readServerVersion(c), toolVersion]);
    // Hold a snapshot open, count in it, and have pg_dump dump that same snapshot.
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await c.query<{ snapshot: string; now: Date }>('SELECT pg_export_snapshot() AS snapshot, now() AS now');
    const counts = await countRows(c);
    await runTool(
      'pg_dump',
      ['--format=directory', `--jobs=${options.jobs}`, `--snapshot=${rows[0]!.snapshot}`, '--verbose', `--file=${join(partial, 'dump')}`, options.conn.database],
      options.conn,
      { onLine: options.onProgress, signal: options.signal },
    );
    await c.query('COMMIT');
    return { server, tool, rowCounts: counts, takenAt: rows[0]!.now.toISOString() };
  });
  const files = [];
  for (const path of await filesUnder(join(partial, 'dump'))) {
    files.push({ path: relative(partial, path), size: (await stat(path)).size, sha256: await sha256File(path) });
  }
  const manifest: BackupManifest = {
    id: options.id,
    kind: options.kind,
    system: options.system,
    database: options.database,
    databaseName: options.conn.database,
    takenAt,
    format: 'directory',
    jobs: options.jobs,
    serverVersion: server.version,
    pgDumpVersion: tool.version,
    rowCounts,
    files,
  };
  await writeFile(join(partial, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(partial, options.dir);
  return manifest;
}

export async function readManifest(dir: string): Promise<BackupManifest | null> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as BackupManifest;
  } catch {
    return null;
  }
}

/** Every file the manifest lists, present with its size and sha256; returns the problems found. */
export async function verifyBackupFiles(dir: string, manifest: BackupManifest): Promise<string[]> {
  const problems: string[] = [];
  for (const file of manifest.files) {
    const path = join(dir, file.path);
    const size = await stat(path).then((s) => s.size, () => null);
    if (size === null) problems.push(`${file.path}: missing`);
    else if (size !== file.size) problems.push(`${file.path}: ${size} bytes, manifest says ${file.size}`);
    else if ((await sha256File(path)) !== file.sha256) problems.push(`${file.path}: sha256 differs from the manifest`);
  }
  return problems;
}

/** Complete backups of one database (those with a manifest), oldest first. */
export async function listBackups(databaseDir: string): Promise<(BackupManifest & { dir: string })[]> {
  const entries = await readdir(databaseDir, { withFileTypes: true }).catch(() => []);
  const backups = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.includes('.partial')) continue;
    const manifest = await readManifest(join(databaseDir, entry.name));
    if (manifest) backups.push({ ...manifest, dir: join(databaseDir, entry.name) });
  }
  return backups.sort((a, b) => a.takenAt.localeCompare(b.takenAt));
}
