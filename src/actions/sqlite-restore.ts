/**
 * `sqlite-restore: <database>`, `backup: latest | <file>`: a SQLite file put back from one of its
 * backups (seed 001: `railway down`, `cp memory_20240115_020000.db memory.db`, `sqlite3 memory.db
 * "PRAGMA integrity_check;"`, `railway up`). The backup is checked (integrity_check, the runbook's
 * smoke queries) on a copy before anything stops; then the writer is stopped, the file there now
 * moved aside, the copy renamed into place, the writer started again. Undone by putting the file
 * moved aside back, the writer stopped meanwhile; the restored file is kept beside it.
 */
import { z } from 'zod';
import { findValue, lazily, type ActionKindModule } from './kind.ts';

const schema = lazily(() =>
  z.strictObject({
    'sqlite-restore': z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"').describe('a SQLite database under sqlite:'),
    backup: z
      .string()
      .regex(/^(latest|[A-Za-z0-9_.-]{1,200})$/, '"latest" or the file name of one of its backups')
      .default('latest')
      .describe('"latest" (the last by name) or the file name of a backup in its backupDir'),
  }),
);
export type SqliteRestoreAction = z.output<ReturnType<typeof schema>>;

export type SqliteRestoreChange = { op: 'restore' | 'undo'; database: string; backup: string; writerInstances: number | null };

/** What both activities of a SQLite restore are told. */
export interface SqliteStep {
  system: string;
  database: string;
  /** Names what the file there now is moved aside as: the same for a retry and for the undo. */
  saveId: string;
  writerInstances: number | null;
  idempotencyKey: string;
  actor: string;
}

export interface SqliteRestoreActivities {
  restoreSqlite(input: SqliteStep & { backup: string }): Promise<{ backup: string; savedAs: string | null; writer: string }>;
  undoSqliteRestore(input: SqliteStep): Promise<{ putBack: boolean; undoneAs: string; writer: string }>;
}

/** The save's name, from the forward step's key (a retry and the undo compute the same one). */
const saveIdFor = (key: string) => key.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(-60);

export const sqliteRestore: ActionKindModule<'sqlite-restore', SqliteRestoreAction, SqliteRestoreChange, SqliteRestoreActivities> = {
  kind: 'sqlite-restore',
  schema,
  capability: null, // the runbook's sqlite: section names the file, its backups and its writer's provider
  repeat: { safe: true, why: 'the file there now is moved aside once, under a name the step key fixes; the copy is renamed into place only while it is still waiting' },
  describe: (action) => `sqlite-restore ${action['sqlite-restore']}`,

  async capture(action, ctx) {
    const name = action['sqlite-restore'];
    const found = await ctx.sqlite(name);
    const names = found.backups.map((b) => b.name);
    if (action.backup === 'latest' ? names.length === 0 : !names.includes(action.backup)) {
      ctx.block(`no backup '${action.backup}' of SQLite database ${name} in ${found.backupDir}; its last backups: ${names.slice(-10).join(', ') || 'none'}`);
    }
    if (findValue(ctx.values, 'sqlite', (v) => v.database === name)) return; // read once
    ctx.values.push({ kind: 'sqlite', database: name, path: found.path, bytes: found.bytes, backups: names.slice(-10), writer: found.writer });
  },

  plan(action, ctx) {
    const database = action['sqlite-restore'];
    const found = findValue(ctx.live, 'sqlite', (v) => v.database === database);
    if (!found) {
      ctx.unread(`SQLite database ${database} was not read`);
      return [];
    }
    const backup = action.backup === 'latest' ? found.backups.at(-1) : action.backup;
    if (!backup) {
      ctx.problem(`SQLite database ${database} has no backup to restore`);
      return [];
    }
    const writer = found.writer ? `; writer ${found.writer.target} stopped, then back to ${found.writer.instances} instance(s)` : '';
    const writerInstances = found.writer?.instances ?? null;
    return [
      {
        name: ctx.named(`restore SQLite ${database}`),
        phase: ctx.phase,
        kind: 'sqlite-restore',
        target: `SQLite ${database} (${found.path})`,
        from: found.bytes === null ? 'no file' : `${found.bytes} bytes now`,
        to: `backup ${backup}, checked before it replaces the file (what is there now kept aside)${writer}`,
        changes: true,
        change: { op: 'restore', database, backup, writerInstances },
        undo: { op: 'undo', database, backup, writerInstances },
      },
    ];
  },

  async carryOut(change, ctx) {
    const step = { system: ctx.system, database: change.database, saveId: saveIdFor(ctx.forwardKey), writerInstances: change.writerInstances, idempotencyKey: ctx.key, actor: ctx.actor };
    if (change.op === 'undo') {
      const undone = await ctx.activities(3600).undoSqliteRestore(step);
      ctx.note(`- SQLite ${change.database}: undo: ${undone.putBack ? `the file from before put back; the restored one kept as ${undone.undoneAs}` : 'nothing was saved to put back'} (${undone.writer})`);
      return undone;
    }
    const restored = await ctx.activities(3600).restoreSqlite({ ...step, backup: change.backup });
    ctx.note(`- SQLite ${change.database}: restored from backup ${restored.backup} (integrity_check ok, smoke queries passed); the file there before kept as ${restored.savedAs ?? '(none was there)'} (${restored.writer})`);
    return restored;
  },
};
