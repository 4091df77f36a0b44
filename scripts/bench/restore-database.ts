/**
 * bench:restore's databases in the local PostgreSQL: the live one whose restores it measures, and every
 * database derived from it (side databases, the ones the swap keeps aside, the bare path's, the
 * --jobs=1 ones). All are named bench_restore_<pid>...; nothing else is ever dropped.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type pg from 'pg';
import { ensureSandboxDatabase } from '../../sandbox/database.ts';
import { parseConnection, quote, runTool, withClient, withDatabase } from '../../src/providers/database/pg-tools.ts';

const POSTGRES = 'postgres://postgres@127.0.0.1:5432';
const PREFIX = 'bench_restore_'; // the only names this bench ever drops
/** The database the workflow restores over: the bench runbook's database `main`. */
export const LIVE = `${PREFIX}${process.pid}`;
export const LIVE_URL = `${POSTGRES}/${LIVE}`;
export const conn = parseConnection(LIVE_URL);

const execFileAsync = promisify(execFile);

/** One statement on its own connection to `database`. */
export const sql = <T extends pg.QueryResultRow = pg.QueryResultRow>(database: string, text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(withDatabase(conn, database), async (c) => (await c.query<T>(text, values)).rows);

/** Every database this run made: the live one and every name derived from it. */
export async function benchDatabases(): Promise<string[]> {
  const rows = await sql<{ datname: string }>('postgres', 'SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $2) ORDER BY 1', [LIVE, `${LIVE}_`]);
  return rows.map((r) => r.datname);
}

/** Drops `name`, ending its connections; refuses any name this bench did not make. */
export async function dropBenchDatabase(name: string): Promise<void> {
  if (!name.startsWith(PREFIX)) throw new Error(`refusing to drop ${name}: not a bench_restore_ database`);
  await sql('postgres', `DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
}

/** The database the last swap kept aside (the live one as it was before the restore), if it is still there. */
export async function keptDatabase(): Promise<string | null> {
  return (await benchDatabases()).find((name) => name.startsWith(`${LIVE}__pre_restore_`)) ?? null;
}

/** Dirty buffers written out before each timed measurement, so none pays for the one before. */
export const checkpoint = () => sql('postgres', 'CHECKPOINT');

/** CREATE DATABASE and pg_restore of the backup in `dumpDir` into it, nothing else: the bare path. */
export async function restoreFresh(name: string, dumpDir: string, jobs: number): Promise<void> {
  await sql('postgres', `CREATE DATABASE ${quote(name)}`);
  await runTool('pg_restore', ['--exit-on-error', `--jobs=${jobs}`, `--dbname=${name}`, dumpDir], withDatabase(conn, name));
}

/** The bare path's swap: the live database renamed to `old`, then `side` renamed to the live name, on one connection. */
export async function renameOverLive(side: string, old: string): Promise<void> {
  await withClient(withDatabase(conn, 'postgres'), async (c) => {
    await c.query(`ALTER DATABASE ${quote(LIVE)} RENAME TO ${quote(old)}`);
    await c.query(`ALTER DATABASE ${quote(side)} RENAME TO ${quote(LIVE)}`);
  });
}

/** What the live database holds once made. */
export interface LiveDatabase {
  pgbenchScale: number;
  pgbenchAccountsRows: number;
  sizeBytes: number;
  pgbenchInitMs: number;
}

/**
 * Makes the live database: the sandbox's tables (the workflow's smoke queries and its maintenance flag
 * read them), the concurrent writer's bench_writes table, then pgbench's at `scale` (100,000 rows of
 * pgbench_accounts per unit).
 */
export async function createLiveDatabase(scale: number): Promise<LiveDatabase> {
  const started = performance.now();
  await ensureSandboxDatabase(LIVE_URL);
  await sql(LIVE, 'CREATE TABLE bench_writes (n integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
  await execFileAsync('pgbench', ['-i', '-s', String(scale), '-q', '-h', conn.host, '-p', String(conn.port), '-U', conn.user, LIVE], { maxBuffer: 16 << 20 });
  const pgbenchInitMs = performance.now() - started;
  const [{ accounts }] = (await sql<{ accounts: string }>(LIVE, 'SELECT count(*) AS accounts FROM pgbench_accounts')) as [{ accounts: string }];
  const [{ bytes }] = (await sql<{ bytes: string }>(LIVE, 'SELECT pg_database_size(current_database()) AS bytes')) as [{ bytes: string }];
  return { pgbenchScale: scale, pgbenchAccountsRows: Number(accounts), sizeBytes: Number(bytes), pgbenchInitMs };
}
