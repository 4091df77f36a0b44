/**
 * `redis-restore: <keyspace>`, `backup: latest | <id>`: a Redis keyspace put back from its backup
 * with its TTLs (seed 004 stage 9, the continuation state), after the keys there now are saved.
 * Undone by putting back exactly what was saved (keys the restore created are deleted).
 */
import { z } from 'zod';
import { findValue, lazily, type ActionKindModule } from './kind.ts';

const schema = lazily(() =>
  z.strictObject({
    'redis-restore': z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"').describe('a keyspace under keyspaces:'),
    backup: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '"latest" or a backup id').default('latest'),
  }),
);
export type RedisRestoreAction = z.output<ReturnType<typeof schema>>;

export type RedisRestoreChange = { op: 'restore'; keyspace: string; backup: string } | { op: 'undo'; keyspace: string };

export interface RedisRestoreActivities {
  restoreKeyspace(input: { system: string; keyspace: string; backup: string; saveId: string }): Promise<{ backupId: string; restored: number; existedBefore: number; savedAs: string }>;
  undoKeyspaceRestore(input: { system: string; keyspace: string; saveId: string }): Promise<{ putBack: number; removed: number }>;
}

/** The save a keyspace restore takes first, named from the step's key (the same on every retry, and for its undo). */
function saveIdFor(key: string): string {
  return `save-${key.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(-60)}`;
}

export const redisRestore: ActionKindModule<'redis-restore', RedisRestoreAction, RedisRestoreChange, RedisRestoreActivities> = {
  kind: 'redis-restore',
  schema,
  capability: null, // the runbook's keyspace names its provider
  repeat: { safe: true, why: 'the save is taken once under the step key, and restoring the same values again changes nothing more' },
  describe: (action) => `redis-restore ${action['redis-restore']}`,

  async capture(action, ctx) {
    const name = action['redis-restore'];
    const keyspace = ctx.keyspace(name);
    const backups = (await keyspace.client.listBackups(keyspace.dir)).filter((b) => b.kind === 'backup');
    if (action.backup === 'latest' ? backups.length === 0 : !backups.some((b) => b.id === action.backup)) {
      ctx.block(
        `no backup '${action.backup}' of keyspace ${name} in ${keyspace.dir}; backups: ${backups.map((b) => b.id).join(', ') || 'none'}`,
        action.backup === 'latest' ? `rollback backup --system ${ctx.system} --keyspace ${name}` : null,
      );
    }
    ctx.values.push({ kind: 'keyspace', provider: keyspace.provider, keyspace: name, pattern: keyspace.pattern, keys: await keyspace.client.countKeys(keyspace.pattern) });
  },

  plan(action, ctx) {
    const keyspace = action['redis-restore'];
    const found = findValue(ctx.live, 'keyspace', (v) => v.keyspace === keyspace);
    return [
      {
        name: ctx.named(`restore keyspace ${keyspace}`),
        phase: ctx.phase,
        kind: 'redis-restore',
        target: `keyspace ${keyspace}${found ? ` (${found.pattern})` : ''}`,
        from: found ? `${found.keys} keys now` : 'unknown',
        to: `backup ${action.backup} (what is there now saved first)`,
        changes: true,
        change: { op: 'restore', keyspace, backup: action.backup },
        undo: { op: 'undo', keyspace },
      },
    ];
  },

  async carryOut(change, ctx) {
    const saveId = saveIdFor(ctx.forwardKey);
    if (change.op === 'undo') return ctx.activities(3600).undoKeyspaceRestore({ system: ctx.system, keyspace: change.keyspace, saveId });
    const saved = await ctx.activities(3600).restoreKeyspace({ system: ctx.system, keyspace: change.keyspace, backup: change.backup, saveId });
    ctx.note(`- keyspace ${change.keyspace}: ${saved.restored} keys restored from backup ${saved.backupId}; the ${saved.existedBefore} keys there before saved as ${saved.savedAs}`);
    return saved;
  },
};
