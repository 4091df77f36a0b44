/**
 * Restore beside the live database, never over it: pg_restore into a side database, prove it, then
 * swap by rename, keeping the old database under a clear name. Every identifier is quoted; the
 * side database carries a comment naming the restore that made it, so a retry recognises (and may
 * recreate) its own leftover but never touches a database someone else named the same.
 */
import type pg from 'pg';
import { connect, quote, runTool, tableOfContents, withClient, withDatabase, type Connection } from './pg-tools.ts';
import { countRows, type BackupManifest } from './backup.ts';

const MAX_IDENTIFIER = 63; // Postgres truncates longer names silently; we refuse instead

export function restoreNames(live: string, restoreId: string): { side: string; old: string } {
  const names = { side: `${live}__restore_${restoreId}`, old: `${live}__pre_restore_${restoreId}` };
  for (const name of Object.values(names)) {
    if (Buffer.byteLength(name) > MAX_IDENTIFIER) {
      throw new Error(`database name ${JSON.stringify(name)} would be longer than Postgres's ${MAX_IDENTIFIER} bytes; use a shorter database name`);
    }
  }
  return names;
}

const admin = (conn: Connection) => withDatabase(conn, 'postgres');

/** Which of `names` are databases on the client's server. */
async function databasesPresent(c: pg.Client, names: string[]): Promise<Set<string>> {
  const { rows } = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
  return new Set(rows.map((r) => r.datname));
}

export async function existingDatabases(conn: Connection, names: string[]): Promise<Set<string>> {
  return withClient(admin(conn), (c) => databasesPresent(c, names));
}

async function comment(c: pg.Client, database: string): Promise<string | null> {
  const { rows } = await c.query<{ c: string | null }>("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1", [database]);
  return rows[0]?.c ?? null;
}

/** Creates the side database; its own leftover from an interrupted attempt is dropped and made anew. */
export async function createSideDatabase(conn: Connection, side: string, marker: string): Promise<'created' | 'recreated'> {
  return withClient(admin(conn), async (c) => {
    const exists = (await databasesPresent(c, [side])).has(side);
    if (exists) {
      if ((await comment(c, side)) !== marker) {
        throw new Error(`database ${JSON.stringify(side)} already exists and was not made by this restore; rename or remove it first`);
      }
      await c.query(`DROP DATABASE ${quote(side)} WITH (FORCE)`);
    }
    await c.query(`CREATE DATABASE ${quote(side)}`);
    await c.query(`COMMENT ON DATABASE ${quote(side)} IS ${c.escapeLiteral(marker)}`);
    return exists ? 'recreated' : 'created';
  });
}

/**
 * pg_restore with parallel jobs; `onProgress(done, total)` counts TOC items as pg_restore reports them.
 * `onTableLoaded(schema.table)` is called as each table's data is in: with two jobs or more,
 * pg_restore reports every item it finishes, and a table's rows do not change after its TABLE DATA
 * item (indexes and constraints follow; nothing else writes to a side database), so its rows can be
 * counted then, while pg_restore builds the indexes, rather than after the whole restore.
 */
export async function restoreInto(
  conn: Connection,
  side: string,
  dumpDir: string,
  jobs: number,
  onProgress: (done: number, total: number) => void,
  signal?: AbortSignal,
  onTableLoaded?: (table: string) => void,
): Promise<void> {
  const { total, tableData } = await tableOfContents(conn, dumpDir);
  let done = 0;
  await runTool('pg_restore', ['--verbose', '--exit-on-error', `--jobs=${jobs}`, `--dbname=${side}`, dumpDir], withDatabase(conn, side), {
    signal,
    onLine: (line) => {
      if (/processing item|creating|restoring data|finished item/.test(line)) onProgress(Math.min(total, ++done), total);
      const finished = /finished item (\d+) TABLE DATA /.exec(line);
      const table = finished && tableData.get(Number(finished[1]));
      if (table) onTableLoaded?.(table);
    },
  });
  onProgress(total, total);
}

/**
 * Counts tables of one database one at a time, as they are handed in (`count`), on one connection;
 * `counts()` waits for every count asked for; `close()` ends the connection. A count that fails is
 * left out (the verification counts that table itself), so counting early can only save time, never
 * decide anything.
 */
export class RowCounter {
  private readonly counted: Record<string, number> = {};
  private queue: Promise<void> = Promise.resolve();
  private client: Promise<pg.Client> | null = null;

  constructor(private readonly conn: Connection) {}

  count(table: string): void {
    this.queue = this.queue.then(async () => {
      try {
        this.client ??= connect(this.conn);
        const c = await this.client;
        const [schema, ...name] = table.split('.');
        const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${quote(schema!)}.${quote(name.join('.'))}`);
        this.counted[table] = Number(rows[0]!.n);
      } catch {
        // left to the verification
      }
    });
  }

  /** Every count asked for so far, once each is done. */
  async counts(): Promise<Record<string, number>> {
    await this.queue;
    return { ...this.counted };
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) await (await client.catch(() => null))?.end().catch(() => undefined);
  }
}

export interface SmokeQuery {
  name: string;
  sql: string;
  expect?: unknown;
}

/**
 * Row counts against the manifest and the runbook's smoke queries; returns the problems found.
 * `counted`: tables already counted once their data was restored (restoreInto), not counted again.
 */
export async function verifyDatabase(
  conn: Connection,
  database: string,
  manifest: BackupManifest,
  smokeQueries: SmokeQuery[],
  counted: Record<string, number> = {},
): Promise<{ problems: string[]; rowCounts: Record<string, number>; oid: number }> {
  return withClient(withDatabase(conn, database), async (c) => {
    const problems: string[] = [];
    const rowCounts = await countRows(c, counted);
    for (const [table, expected] of Object.entries(manifest.rowCounts)) {
      const actual = rowCounts[table];
      if (actual === undefined) problems.push(`table ${table} is missing`);
      else if (actual !== expected) problems.push(`table ${table} has ${actual} rows, the backup had ${expected}`);
    }
    problems.push(...(await runSmokeQueries(c, smokeQueries)));
    return { problems, rowCounts, oid: await databaseOid(c) };
  });
}

/** The runbook's smoke queries on one database; returns the problems found. */
export async function smokeTest(conn: Connection, database: string, smokeQueries: SmokeQuery[], timeoutMs = SMOKE_QUERY_TIMEOUT_MS): Promise<{ problems: string[]; oid: number }> {
  return withClient(withDatabase(conn, database), async (c) => ({ problems: await runSmokeQueries(c, smokeQueries, timeoutMs), oid: await databaseOid(c) }));
}

/** The OID of the database a client is connected to: a rename keeps it, so it identifies a database across the swap. */
async function databaseOid(c: pg.Client): Promise<number> {
  const { rows } = await c.query<{ oid: string }>('SELECT oid FROM pg_database WHERE datname = current_database()');
  return Number(rows[0]!.oid);
}

/**
 * How long one smoke query may run. Smoke queries often run on the live database (after a swap, in
 * a schema rollback), where one stuck behind a lock would otherwise hold its step until the
 * activity's own timeout; past this it is a problem that names the query, like any other.
 */
const SMOKE_QUERY_TIMEOUT_MS = 60_000;

async function runSmokeQueries(c: pg.Client, smokeQueries: SmokeQuery[], timeoutMs = SMOKE_QUERY_TIMEOUT_MS): Promise<string[]> {
  const problems: string[] = [];
  for (const query of smokeQueries) {
    try {
      // Read-only, so a smoke query cannot change the database it checks.
      await c.query('BEGIN READ ONLY');
      await c.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      const { rows } = await c.query(query.sql);
      await c.query('ROLLBACK');
      if (query.expect !== undefined) {
        const got = Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, typeof v === 'object' ? v : String(v)]));
        const want = Object.fromEntries(Object.entries(query.expect as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
        if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`smoke query ${query.name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
      }
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      problems.push(`smoke query ${query.name} failed: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * The comments a swap leaves, so every database it touches says what it now is. Anyone (or any later
 * cleanup) who removes "kept" databases by their comment must never find that label on the live one.
 */
export interface SwapLabels {
  /** The live database's own comment from before the restore: whatever answers to the live name carries it (null: none). */
  live: string | null;
  /** What the database renamed away from the live name now is. */
  keptAside: string;
}

/**
 * Renames `incoming` to the live name, keeping the current live database as `aside`: connections
 * refused, backends ended, live renamed to `aside`, `incoming` renamed to live, connections allowed;
 * then both carry the comments in `labels`. Returns how long the database refused connections.
 * Safe to retry: it looks at which names exist and does only what is left to do (the comments
 * included, so a crash between the rename and the comments is mended by the retry).
 */
export async function swapIn(conn: Connection, live: string, incoming: string, aside: string, labels: SwapLabels): Promise<{ windowMs: number; alreadyDone: boolean }> {
  return withClient(admin(conn), async (c) => {
    const present = () => databasesPresent(c, [live, incoming, aside]);
    const label = async () => {
      await c.query(`COMMENT ON DATABASE ${quote(live)} IS ${labels.live === null ? 'NULL' : c.escapeLiteral(labels.live)}`);
      await c.query(`COMMENT ON DATABASE ${quote(aside)} IS ${c.escapeLiteral(labels.keptAside)}`);
    };
    let names = await present();
    if (names.has(aside) && names.has(live) && !names.has(incoming)) {
      await c.query(`ALTER DATABASE ${quote(live)} WITH ALLOW_CONNECTIONS true`);
      await c.query(`ALTER DATABASE ${quote(aside)} WITH ALLOW_CONNECTIONS true`);
      await label();
      return { windowMs: 0, alreadyDone: true };
    }
    if (!names.has(live) || !names.has(incoming) || names.has(aside)) {
      throw new Error(`cannot swap: expected ${live} and ${incoming} to exist and ${aside} not to; found ${[...names].join(', ') || 'none'}`);
    }
    const started = performance.now();
    await c.query(`ALTER DATABASE ${quote(live)} WITH ALLOW_CONNECTIONS false`);
    try {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()', [[live, incoming]]);
      await c.query(`ALTER DATABASE ${quote(live)} RENAME TO ${quote(aside)}`);
      await c.query(`ALTER DATABASE ${quote(incoming)} RENAME TO ${quote(live)}`);
      await c.query(`ALTER DATABASE ${quote(live)} WITH ALLOW_CONNECTIONS true`);
    } catch (err) {
      // Put back whatever moved, so the live name always answers.
      names = await present();
      if (!names.has(live) && names.has(aside)) await c.query(`ALTER DATABASE ${quote(aside)} RENAME TO ${quote(live)}`);
      await c.query(`ALTER DATABASE ${quote(live)} WITH ALLOW_CONNECTIONS true`);
      throw err;
    }
    const windowMs = performance.now() - started;
    await c.query(`ALTER DATABASE ${quote(aside)} WITH ALLOW_CONNECTIONS true`); // kept for inspection and swap-back
    await label();
    return { windowMs, alreadyDone: false };
  });
}

/** The comment a database carries, or null. */
export async function databaseComment(conn: Connection, database: string): Promise<string | null> {
  return withClient(admin(conn), (c) => comment(c, database));
}

/** Drops the side database, only if it is still the one this restore made (never swapped in). */
export async function dropSideDatabase(conn: Connection, side: string, marker: string): Promise<boolean> {
  return withClient(admin(conn), async (c) => {
    if ((await comment(c, side)) !== marker) return false;
    await c.query(`DROP DATABASE ${quote(side)} WITH (FORCE)`);
    return true;
  });
}
