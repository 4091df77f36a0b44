/**
 * The real Postgres tools, run as child processes with argument arrays (never a shell string), the
 * connection passed through the environment (PG* variables) so passwords never show in `ps`.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { runProgram } from '../command/runner.ts';

/** Longer than any restore we would wait for; the activity's own timeout and cancellation come first. */
const TOOL_TIMEOUT_MS = 6 * 3_600_000;

export interface Connection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export function parseConnection(url: string): Connection {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new Error('the database URL names no database');
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username) || 'postgres',
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database,
  };
}

/** The same server, another database (the side database, or `postgres` for ALTER DATABASE). */
export function withDatabase(conn: Connection, database: string): Connection {
  return { ...conn, database };
}

/**
 * A server that drops packets (a firewall, a host gone mid-incident) would leave a connect hanging
 * until the activity's own timeout, an hour for a restore; this fails it with pg's "timeout expired".
 */
const CONNECT_TIMEOUT_MS = 30_000;

function client(conn: Connection): pg.Client {
  return new pg.Client({ host: conn.host, port: conn.port, user: conn.user, password: conn.password, database: conn.database, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
}

/** A connected client the caller ends (withClient, for one piece of work, ends it itself). */
export async function connect(conn: Connection): Promise<pg.Client> {
  const c = client(conn);
  await c.connect();
  return c;
}

export async function withClient<T>(conn: Connection, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = client(conn);
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

function pgEnv(conn: Connection): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PGHOST: conn.host, PGPORT: String(conn.port), PGUSER: conn.user, PGDATABASE: conn.database };
  if (conn.password) env.PGPASSWORD = conn.password;
  else delete env.PGPASSWORD;
  return env;
}

export interface ToolRun {
  /** Called with each line the tool writes to `progressOn` (pg_restore -v reports progress on stderr, psql its command tags on stdout). */
  onLine?: (line: string) => void;
  progressOn?: 'stderr' | 'stdout';
  signal?: AbortSignal;
}

/** Runs pg_dump, pg_restore or psql (through the shared runner); rejects with the tool's last output lines on failure. */
export async function runTool(tool: 'pg_dump' | 'pg_restore' | 'psql', args: string[], conn: Connection, options: ToolRun = {}): Promise<string> {
  const result = await runProgram([tool, ...args], {
    env: pgEnv(conn),
    timeoutMs: TOOL_TIMEOUT_MS,
    signal: options.signal,
    secrets: conn.password ? [conn.password] : [],
    onLine: (line, stream) => stream === (options.progressOn ?? 'stderr') && options.onLine?.(line),
  });
  if (result.exitCode === 0) return result.stdout;
  const how = result.timedOut ? `was stopped after ${TOOL_TIMEOUT_MS / 3_600_000} h` : result.signal ? `was killed (${result.signal})` : `exited with ${result.exitCode}`;
  throw new Error(`${tool} ${how}: ${result.outputTail.slice(-3).join(' | ')}`);
}

/** Major version of a client tool, e.g. 15 for "pg_dump (PostgreSQL) 15.20". */
export async function toolMajorVersion(tool: 'pg_dump' | 'pg_restore' | 'psql'): Promise<{ version: string; major: number }> {
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(tool, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', () => reject(new Error(`${tool} is not installed (Debian: apt-get install postgresql-client)`)));
    child.on('close', () => resolve(out.trim()));
  });
  const match = /(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) throw new Error(`cannot read the version of ${tool}: ${output}`);
  return { version: output, major: Number(match[1]) };
}

/** The server's version, e.g. { version: '16.4', major: 16 }, on a client already connected. */
export async function readServerVersion(c: pg.Client): Promise<{ version: string; major: number }> {
  const { rows } = await c.query<{ server_version: string; num: string }>("SELECT current_setting('server_version') AS server_version, current_setting('server_version_num') AS num");
  return { version: rows[0]!.server_version, major: Math.floor(Number(rows[0]!.num) / 10000) };
}

export async function serverVersion(conn: Connection): Promise<{ version: string; major: number }> {
  return withClient(conn, readServerVersion);
}

/** How many entries the table of contents of a directory-format dump has (`pg_restore --list`, comments left out). */
export async function tocEntries(conn: Connection, dumpDir: string): Promise<number> {
  return (await tableOfContents(conn, dumpDir)).total;
}

/**
 * A dump's table of contents (`pg_restore --list`): how many items, and for each TABLE DATA item its
 * table as schema.name, so a restore can tell which table an item it finished has loaded. Lines read
 * like `3358; 0 16390 TABLE DATA public pgbench_accounts postgres`; a name the listing cannot show
 * unambiguously (with a space) is left out and simply counted after the restore instead.
 */
export async function tableOfContents(conn: Connection, dumpDir: string): Promise<{ total: number; tableData: Map<number, string> }> {
  const listing = await runTool('pg_restore', ['--list', dumpDir], conn);
  const items = listing.split('\n').filter((line) => line.trim() && !line.startsWith(';'));
  const tableData = new Map<number, string>();
  for (const line of items) {
    const match = /^(\d+); \d+ \d+ TABLE DATA (\S+) (\S+) \S+$/.exec(line.trim());
    if (match) tableData.set(Number(match[1]), `${match[2]}.${match[3]}`);
  }
  return { total: items.length, tableData };
}

export const quote = pg.escapeIdentifier;
