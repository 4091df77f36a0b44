/**
 * SQL statements (a ```sql block, `psql -c "..."`) -> flags, down SQL, read-only queries or destructive
 * statements. Statements are split on semicolons outside quotes; each is matched by its leading keywords.
 */
import { absorbed, destructive, typed, slug, opaque, fill, type Verdict } from './verdict.ts';

export interface SqlStatement {
  text: string;
  /** Lines after the block's first. */
  offset: number;
}

/** The statements of a SQL text, comments dropped, transaction brackets skipped (they are not steps). */
export function splitSql(text: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  let current = '';
  let start = -1;
  let quote: string | null = null;
  let line = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (!quote && ch === '-' && text[i + 1] === '-') {
      while (i < text.length && text[i] !== '\n') i++;
      line++;
      current += ' ';
      continue;
    }
    if (ch === '\n') line++;
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') quote = ch;
    if (!quote && ch === ';') {
      if (current.trim()) out.push({ text: current.trim().replace(/\s+/g, ' '), offset: start });
      current = '';
      start = -1;
      continue;
    }
    if (start < 0 && !/\s/.test(ch)) start = line;
    current += ch;
  }
  if (current.trim()) out.push({ text: current.trim().replace(/\s+/g, ' '), offset: start });
  return out.filter((s) => !/^(BEGIN|COMMIT|ROLLBACK|START TRANSACTION|END)\b/i.test(s.text));
}

/** `databaseUrlEnv`: the variable the command read the connection string from, or DATABASE_URL. */
export function classifySql(sql: string, database: { urlEnv: string; name: string }): Verdict {
  const text = sql.trim().replace(/;$/, '');
  const flag = /^UPDATE\s+("?[\w.]*flags?[\w.]*"?)\s+SET\s+(\w+)\s*=\s*(true|false|'t'|'f'|1|0)\s+WHERE\s+(\w+)\s*=\s*'([^']+)'$/i.exec(text);
  if (flag) {
    const [, table, , value, , name] = flag;
    const enabled = /^(true|'t'|1)$/i.test(value!);
    const provider = { provider: 'postgres-table', settings: { databaseUrlEnv: database.urlEnv, table: table!.replace(/"/g, '') } };
    return typed('flag', name!, String(enabled), 'UPDATE of a feature-flag table -> flag', { provider: 'flags', ref: provider }, { action: { flag: name, enabled, provider: 'flags' } });
  }
  if (/^(SELECT|SHOW|EXPLAIN|\\d|WITH\s+\w+\s+AS\s*\(\s*SELECT)/i.test(text) && !/\b(INSERT|UPDATE|DELETE)\b/i.test(text)) return absorbed('a read-only query: the dry run or a smoke query');
  if (/^DROP\s+DATABASE\b/i.test(text)) return destructive('DROP DATABASE deletes the whole database; dataRestore restores to a side database and swaps it in, keeping the old one');
  if (/^ALTER\s+DATABASE\s+\S+\s+RENAME\b/i.test(text)) return destructive('renaming a live database outside dataRestore; its swap renames with the old database kept and the restore verified first');
  if (/^(TRUNCATE|DELETE\s+FROM\s+\S+\s*$)/i.test(text)) return destructive(`${text.split(/\s/)[0]!.toUpperCase()} of every row of a table; restore the rows with dataRestore instead`);
  if (/^(DROP|ALTER|CREATE|UPDATE|INSERT|DELETE)\b/i.test(text)) {
    const dbName = slug(database.name);
    return typed('down-sql', dbName, text, 'schema rollback SQL -> down-sql on the database', { path: ['databases', dbName], value: { urlEnv: database.urlEnv, backupDir: fill('folder for the safety dumps taken before down SQL or a restore') } }, { action: { 'down-sql': { database: dbName, sql: `${text};` } } });
  }
  return opaque('SQL the importer does not read');
}
