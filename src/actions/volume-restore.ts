/**
 * `volume-restore: <volume>`, `backup: latest | <file>`: a container volume put back from one of its
 * tar.gz backups (seed 003: `docker run --rm -v <volume>:/data -v $(pwd)/backups:/backup alpine tar
 * xzf /backup/postgres_data_<stamp>.tar.gz -C /data`), made safe: the backup is read through before
 * anything stops, the services writing to the volume are stopped, what the volume holds now is
 * archived beside the backups first, the volume emptied and the backup extracted, its entries
 * counted, the services started. Undone by archiving the restored contents too and putting the first
 * archive back.
 */
import { z } from 'zod';
import { findValue, lazily, type ActionKindModule } from './kind.ts';

const schema = lazily(() =>
  z.strictObject({
    'volume-restore': z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"').describe('a volume under volumes:'),
    backup: z
      .string()
      .regex(/^(latest|[A-Za-z0-9_.-]{1,200})$/, '"latest" or the file name of one of its backups')
      .default('latest')
      .describe('"latest" (the last by name) or the file name of a backup in its backupDir'),
  }),
);
export type VolumeRestoreAction = z.output<ReturnType<typeof schema>>;

export interface VolumeRestoreChange {
  op: 'restore' | 'undo';
  /** The runbook's name for the volume (under volumes:). */
  name: string;
  backup: string;
}

/** What both activities of a volume restore are told. */
export interface VolumeStep {
  system: string;
  name: string;
  /** Names the archives of what the volume held: the same for a retry and for the undo. */
  saveId: string;
}

export interface VolumeRestoreActivities {
  restoreVolume(input: VolumeStep & { backup: string }): Promise<{ backup: string; savedAs: string; entries: number; services: string[] }>;
  undoVolumeRestore(input: VolumeStep): Promise<{ putBack: string; undoneAs: string; entries: number; services: string[] }>;
}

const saveIdFor = (key: string) => key.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(-60);

export const volumeRestore: ActionKindModule<'volume-restore', VolumeRestoreAction, VolumeRestoreChange, VolumeRestoreActivities> = {
  kind: 'volume-restore',
  schema,
  capability: null, // the runbook's volumes: section names the volume, its backups and its provider
  repeat: { safe: true, why: 'what the volume holds is archived once, under a name the step key fixes, and a restore makes the volume hold exactly the archive whatever it held before' },
  describe: (action) => `volume-restore ${action['volume-restore']}`,

  async capture(action, ctx) {
    const name = action['volume-restore'];
    const found = await ctx.volume(name);
    const names = found.backups.map((b) => b.name);
    if (!found.exists) ctx.block(`volume ${found.volume} (${name}) does not exist on the engine`);
    if (action.backup === 'latest' ? names.length === 0 : !names.includes(action.backup)) {
      ctx.block(`no backup '${action.backup}' of volume ${name} in ${found.backupDir}; its last backups: ${names.slice(-10).join(', ') || 'none'}`);
    }
    if (findValue(ctx.values, 'volume', (v) => v.name === name)) return; // read once
    ctx.values.push({ kind: 'volume', name, volume: found.volume, exists: found.exists, usedBy: found.usedBy, backups: names.slice(-10) });
  },

  plan(action, ctx) {
    const name = action['volume-restore'];
    const found = findValue(ctx.live, 'volume', (v) => v.name === name);
    if (!found) {
      ctx.unread(`volume ${name} was not read`);
      return [];
    }
    const backup = action.backup === 'latest' ? found.backups.at(-1) : action.backup;
    if (!backup) {
      ctx.problem(`volume ${name} has no backup to restore`);
      return [];
    }
    return [
      {
        name: ctx.named(`restore volume ${name}`),
        phase: ctx.phase,
        kind: 'volume-restore',
        target: `volume ${found.volume}`,
        from: `used by ${found.usedBy.join(', ') || 'no container'}`,
        to: `backup ${backup}: the volume emptied and the backup extracted, what it holds now archived first`,
        changes: true,
        change: { op: 'restore', name, backup },
        undo: { op: 'undo', name, backup },
      },
    ];
  },

  async carryOut(change, ctx) {
    const step = { system: ctx.system, name: change.name, saveId: saveIdFor(ctx.forwardKey) };
    if (change.op === 'undo') {
      const undone = await ctx.activities(3600).undoVolumeRestore(step);
      ctx.note(`- volume ${change.name}: undo: ${undone.putBack} extracted again (${undone.entries} entries); the restored contents kept as ${undone.undoneAs}; ${undone.services.join(', ') || 'no service'} stopped and started`);
      return undone;
    }
    const restored = await ctx.activities(3600).restoreVolume({ ...step, backup: change.backup });
    ctx.note(`- volume ${change.name}: restored from ${restored.backup} (${restored.entries} entries); what it held before kept as ${restored.savedAs}; ${restored.services.join(', ') || 'no service'} stopped and started`);
    return restored;
  },
};
