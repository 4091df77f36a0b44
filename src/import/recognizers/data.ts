/**
 * Data stores: redis-cli, psql, pg_restore, pg_dump, sqlite3, and `cp` of a SQLite backup over the live file.
 * https://redis.io/docs/latest/develop/tools/cli/  https://www.postgresql.org/docs/current/app-pgrestore.html
 */
import { classifySql } from '../sql.ts';
import { absorbed, destructive, fill, opaque, option, positionals, slug, typed, unmapped, valueOr, type LineContext, type Recognizer } from '../verdict.ts';
import { backupPattern } from './platforms.ts';

const REDIS_VALUED = ['-u', '-h', '-p', '-n', '-a', '--user', '--pass', '--pattern', '--count', '-r', '-i', '--tls', '--cacert'];
const REDIS_READ = new Set(['GET', 'MGET', 'KEYS', 'SCAN', 'TTL', 'PTTL', 'EXISTS', 'INFO', 'PING', 'DBSIZE', 'TYPE', 'HGET', 'HGETALL', 'LRANGE', 'SMEMBERS', 'ZRANGE', 'STRLEN', 'MONITOR', 'CLIENT', 'SLOWLOG', 'MEMORY', 'DUMP']);

function redisUrlEnv(argv: readonly string[], refs: readonly string[]): string {
  const url = option(argv, '-u');
  const ref = url && /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(url);
  return ref ? ref[1]! : (refs.find((r) => /REDIS/i.test(r)) ?? 'REDIS_URL');
}

/** Where the statement's stdin comes from: `< file` or `cat file |` before this command. */
function stdinFile(ctx: LineContext): string | null {
  const own = ctx.line.commands[ctx.index]!.redirects.find((r) => r.op === '<');
  if (own) return own.target;
  const before = ctx.line.commands[ctx.index - 1];
  if (before && ctx.line.joins[ctx.index - 1] === '|' && before.argv[0] === 'cat' && before.argv[1]) return before.argv[1];
  return null;
}

export const redisCli: Recognizer = (cmd, ctx) => {
  const argv = cmd.argv.slice(1);
  const words = positionals(argv, REDIS_VALUED);
  const command = (words[0] ?? '').toUpperCase();
  const urlEnv = redisUrlEnv(argv, cmd.envRefs);
  const piped = ctx.line.commands.slice(ctx.index + 1);
  if (argv.includes('--scan')) {
    const pattern = option(argv, '--pattern') ?? '*';
    ctx.facts.scanPatterns.push(pattern);
    const deletes = piped.some((c) => c.argv.includes('redis-cli') && c.argv.some((a) => /^(DEL|UNLINK)$/i.test(a)));
    if (deletes) return destructive(`DEL over a SCAN of ${pattern} deletes every matching key for good; the redis-restore snapshot backs them up, and a kill switch or flag stops their use instead`);
    return absorbed(`a SCAN of ${pattern}${piped.length ? ' read into a file' : ''}: the redis-restore snapshot backs the keyspace up itself (DUMP with TTLs)`);
  }
  if (argv.includes('--pipe')) {
    const file = stdinFile(ctx) ?? ctx.line.commands.find((c) => c.argv[0] === 'cat')?.argv[1];
    const pattern = ctx.facts.scanPatterns.at(-1) ?? fill('SCAN pattern of the keys the backup holds');
    const name = slug(pattern.replace(/[*:]+/g, '-')) || 'keys';
    const dir = file && file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
    const keyspace = { provider: 'redis', pattern, backupDir: dir };
    return typed('redis-restore', pattern, file ?? '', 'a mass insert of a keyspace backup -> redis-restore of that keyspace (from its own DUMP/TTL backups: a file of MGET values is not one)', { provider: 'redis', ref: { provider: 'redis', settings: { urlEnv } } }, { path: ['keyspaces', name], value: keyspace }, { action: { 'redis-restore': name } });
  }
  if (command === 'FLUSHDB' || command === 'FLUSHALL') return destructive(`${command} deletes every key of the ${command === 'FLUSHDB' ? 'database' : 'server'} for good; a redis-restore snapshot or a kill switch is the safe way`);
  if (command === 'SET' && words[1] && /kill[-_]?switch/i.test(words[1]) && /^(true|1|on|yes|enabled?)$/i.test(words[2] ?? '')) {
    const key = words[1];
    const at = key.search(/kill[-_]?switch[^:]*:/i);
    const prefix = key.slice(0, key.indexOf(':', at) + 1);
    const feature = key.slice(prefix.length);
    if (!feature || !/^[A-Za-z0-9_.-]+$/.test(feature)) return opaque(`SET ${key}: not a kill switch the draft can name`);
    const settings = { urlEnv, killSwitchPrefix: prefix, killSwitches: [feature] };
    return typed('kill-switch', feature, 'true', 'SET kill_switch:<feature> true -> kill-switch', { provider: 'redis', ref: { provider: 'redis', settings } }, { action: { 'kill-switch': feature, provider: 'redis' } });
  }
  if (REDIS_READ.has(command) || command === '') return absorbed(`redis ${command || 'info'}: read-only`);
  if (command === 'DEL' || command === 'UNLINK') return opaque(`${command} of named keys: review what they hold first`);
  return opaque(`redis ${command}: no typed action for it`);
};

function databaseOf(argv: readonly string[], refs: readonly string[]): { urlEnv: string; name: string } {
  const ref = refs.find((r) => /DATABASE|DB|PG|POSTGRES/i.test(r));
  const named = option(argv, '-d', '--dbname') ?? positionals(argv, ['-U', '--username', '-h', '--host', '-p', '--port', '-c', '--command', '-f', '--file', '-j', '--jobs', '-F', '--format', '-n', '-t']).find((w) => /^[A-Za-z_][\w-]*$/.test(w));
  const name = named ?? (ref ? ref.replace(/_?(DATABASE_)?URL$/i, '').toLowerCase() || 'main' : 'main');
  return { urlEnv: ref ?? 'DATABASE_URL', name: name.includes('$') || name.includes('://') ? 'main' : name };
}

function dataRestore(file: string, argv: readonly string[], refs: readonly string[], how: string) {
  const db = databaseOf(argv, refs);
  const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
  const name = slug(db.name);
  const value = { urlEnv: db.urlEnv, backupDir: fill('folder for the safety dumps dataRestore takes before the swap'), dumpsDir: dir };
  return typed('dataRestore', name, file, `${how} -> dataRestore of database ${name} from that dump (restored to a side database, verified, swapped in; the live one kept)`, { path: ['databases', name], value });
}

export const psql: Recognizer = (cmd, ctx) => {
  const argv = cmd.argv.slice(1);
  const sql = option(argv, '-c', '--command');
  const file = option(argv, '-f', '--file') ?? stdinFile(ctx);
  if (sql) return classifySql(sql, databaseOf(argv, cmd.envRefs));
  if (file) return dataRestore(file, argv, cmd.envRefs, 'psql < dump.sql');
  return unmapped('psql with no command opens an interactive session');
};

export const pgRestore: Recognizer = (cmd) => {
  const argv = cmd.argv.slice(1);
  const file = positionals(argv, ['-d', '--dbname', '-U', '--username', '-h', '--host', '-p', '--port', '-j', '--jobs', '-n', '--schema', '-t', '--table', '-F', '--format']).at(-1);
  if (!file) return opaque('pg_restore with no dump named');
  return dataRestore(valueOr(file, 'dump file'), argv, cmd.envRefs, 'pg_restore');
};

export const pgDump: Recognizer = () => absorbed('a dump taken before the change: dataRestore takes its own safety dump before it swaps');

export const sqlite3: Recognizer = (cmd) => {
  const sql = cmd.argv.slice(2).join(' ');
  if (/^\s*(PRAGMA\s+(integrity|quick)_check|SELECT|\.tables|\.schema|\.dump)/i.test(sql) || sql === '') return absorbed('sqlite3 read-only query: the sqlite-restore checks the backup with its smoke queries');
  if (/\.restore\b/i.test(sql)) return opaque('sqlite3 .restore: a sqlite-restore action does this with the writer stopped; review');
  return opaque('sqlite3 with a statement that writes');
};

const SQLITE_FILE = /\.(db|sqlite3?)$/;

export const cp: Recognizer = (cmd) => {
  const [source, target] = positionals(cmd.argv.slice(1));
  if (source && target && SQLITE_FILE.test(source) && SQLITE_FILE.test(target) && /backup/i.test(source)) {
    const base = source.split('/').at(-1)!;
    const name = slug(target.split('/').at(-1)!.replace(SQLITE_FILE, ''));
    const sqlite = { path: target, backupDir: source.slice(0, source.lastIndexOf('/')) || '.', backupPattern: backupPattern(base) };
    return typed('sqlite-restore', target, base, 'a SQLite backup copied over the live file -> sqlite-restore (the backup checked first, the live file kept)', { path: ['sqlite', name], value: sqlite }, { action: { 'sqlite-restore': name, backup: 'latest' } });
  }
  return opaque('cp: a file copy to review');
};
