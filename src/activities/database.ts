/**
 * Restore activities (DESIGN.md "Data safety"): check a backup, restore it into a side database,
 * verify, swap by rename and swap back. Nothing here drops or overwrites a live database; backups
 * are in backup.ts, writers in writers.ts, schema rollback in schema.ts.
 */
import { Context } from '@temporalio/activity';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { listBackups, type BackupManifest } from '../providers/database/backup.ts';
import { serverVersion, toolMajorVersion, withDatabase } from '../providers/database/pg-tools.ts';
import { createSideDatabase, dropSideDatabase, existingDatabases, restoreInto, restoreNames, RowCounter, smokeTest, databaseComment, swapIn, verifyDatabase } from '../providers/database/restore.ts';
import { databaseTarget, fail, verifyAgainstManifest, type DatabaseRef } from './database-target.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';

interface SwapInput extends DatabaseRef {
  side: string;
  old: string;
  /** The live database's comment before the restore (restorePreflight); absent in rollbacks started before it was recorded. */
  liveComment?: string | null;
}

interface ResolvedBackup {
  id: string;
  dir: string;
  takenAt: string;
  manifest: BackupManifest;
}

export const createDatabaseActivities = (deps: ActivityDeps) => {
  const target = (ref: DatabaseRef) => databaseTarget(deps, ref);

  async function freeBytes(path: string): Promise<number | null> {
    try {
      const s = await statfs(path);
      return s.bavail * s.bsize;
    } catch {
      return null;
    }
  }

  return {
    /**
     * Everything that must hold before a restore starts: the backup exists (latest, by id, or the
     * latest taken before an instant), its files match the manifest, the tools are not older than
     * the server, and there is room for a safety dump. Safe to retry: it only reads.
     */
    async restorePreflight(input: DatabaseRef & { backup: string; before?: string; restoreId: string }): Promise<ResolvedBackup & { live: string; side: string; old: string; liveComment: string | null; checks: string[] }> {
      const { conn, dir } = target(input);
      const live = conn.database;
      let names: { side: string; old: string };
      try {
        names = restoreNames(live, input.restoreId);
      } catch (err) {
        throw fail((err as Error).message, 'NameTaken');
      }
      const present = await existingDatabases(conn, [live, names.side, names.old]);
      if (!present.has(live)) throw fail(`database ${JSON.stringify(live)} does not exist on ${conn.host}:${conn.port}`, 'UnknownDatabase');
      for (const taken of [names.side, names.old].filter((n) => present.has(n))) {
        throw fail(`database name ${JSON.stringify(taken)} is already taken; nothing was changed`, 'NameTaken');
      }
      const backups = await listBackups(dir);
      let chosen;
      if (input.backup === 'latest') {
        const candidates = backups.filter((b) => b.kind === 'backup' && (!input.before || b.takenAt < input.before));
        chosen = candidates.at(-1);
        if (!chosen) throw fail(`no backup of ${input.system}/${input.database}${input.before ? ` taken before ${input.before}` : ''} in ${dir}`, 'BackupNotFound');
      } else {
        chosen = backups.find((b) => b.id === input.backup);
        if (!chosen) {
          const ids = backups.map((b) => b.id).join(', ') || 'none';
          throw fail(`no backup '${input.backup}' of ${input.system}/${input.database}; available: ${ids}`, 'BackupNotFound');
        }
      }
      await verifyAgainstManifest(chosen.id, chosen.dir, chosen);
      const [server, dump, restore] = await Promise.all([serverVersion(conn), toolMajorVersion('pg_dump'), toolMajorVersion('pg_restore')]);
      for (const tool of [dump, restore]) {
        if (tool.major < server.major) throw fail(`${tool.version} is older than the server (${server.version}); install a client of version ${server.major} or later`, 'ToolsTooOld');
      }
      const backupBytes = chosen.files.reduce((sum, f) => sum + f.size, 0);
      const free = await freeBytes(dir);
      // The safety dump of the live database is about the size of the backup.
      if (free !== null && free < backupBytes * 2) throw fail(`not enough disk for a safety dump in ${dir}: ${free} bytes free, ${backupBytes * 2} needed`, 'NotEnoughDisk');
      const checks = [
        `backup ${chosen.id} taken ${chosen.takenAt}: ${chosen.files.length} files match the manifest (sha256)`,
        `${dump.version} / ${restore.version} against server ${server.version}`,
        free === null ? 'free disk for the safety dump: not measurable' : `free disk for the safety dump: ${Math.round(free / 1e6)} MB`,
      ];
      const { dir: chosenDir, ...manifest } = chosen;
      const liveComment = await databaseComment(conn, live); // put back on whatever is live after a swap
      return { id: chosen.id, dir: chosenDir, takenAt: chosen.takenAt, manifest, live, ...names, liveComment, checks };
    },

    /**
     * Restores the backup into the side database with pg_restore -j, reporting progress in
     * heartbeats (the UI shows them on the pending activity). Safe to retry: the side database this
     * restore made is dropped and made again; any other database of that name stops it.
     */
    /**
     * pg_restore into the side database; each table's rows are counted as soon as its data is in,
     * while pg_restore goes on to the indexes (returned as `countedWhileLoading` for verify-side).
     */
    async restoreToSide(
      input: DatabaseRef & { backupDir: string; side: string; marker: string; jobs?: number },
    ): Promise<{ side: string; recreated: boolean; countedWhileLoading: Record<string, number> }> {
      const { conn } = target(input);
      const context = Context.current();
      const how = await createSideDatabase(conn, input.side, input.marker).catch((err: Error) => {
        throw fail(err.message, 'NameTaken');
      });
      let progress: { restored: number; of: number } | undefined;
      const counter = new RowCounter(withDatabase(conn, input.side));
      try {
        await withHeartbeats(
          restoreInto(conn, input.side, join(input.backupDir, 'dump'), input.jobs ?? 2, (done, total) => (progress = { restored: done, of: total }), context.cancellationSignal, (table) =>
            counter.count(table),
          ),
          () => progress,
        );
        return { side: input.side, recreated: how === 'recreated', countedWhileLoading: await withHeartbeats(counter.counts()) };
      } finally {
        await counter.close();
      }
    },

    /**
     * Row counts against the manifest and the runbook's smoke queries; returns the counts and the
     * database's OID, which verifyLiveDatabase checks after the swap. Safe to retry: read-only.
     */
    async verifyRestoredDatabase(
      input: DatabaseRef & { databaseName: string; manifest: BackupManifest; countedWhileLoading?: Record<string, number> },
    ): Promise<{ rowCounts: Record<string, number>; oid: number }> {
      const { conn, config } = target(input);
      const { problems, rowCounts, oid } = await withHeartbeats(verifyDatabase(conn, input.databaseName, input.manifest, config.smokeQueries, input.countedWhileLoading));
      if (problems.length > 0) throw fail(`${input.databaseName} did not verify: ${problems.join('; ')}`, 'RestoreNotVerified');
      return { rowCounts, oid };
    },

    /**
     * After the swap: the database answering to the live name is the one verify-side counted (same
     * OID: a rename moves no data, so its rows are not counted again), it accepts connections, and
     * the runbook's smoke queries pass. Safe to retry: read-only.
     */
    async verifyLiveDatabase(input: DatabaseRef & { restoredOid: number }): Promise<{ oid: number }> {
      const { conn, config } = target(input);
      const { problems, oid } = await smokeTest(conn, conn.database, config.smokeQueries);
      if (oid !== input.restoredOid) problems.unshift(`it is not the restored database (OID ${oid}, the restored one is ${input.restoredOid})`);
      if (problems.length > 0) throw fail(`${conn.database} did not verify: ${problems.join('; ')}`, 'RestoreNotVerified');
      return { oid };
    },

    /**
     * Swaps the side database in by rename; the live name keeps the live database's own comment and
     * the old database is labelled as kept. Safe to retry: it does only what is left to do.
     */
    async swapDatabases(input: SwapInput): Promise<{ windowMs: number }> {
      const { conn } = target(input);
      const live = conn.database;
      const by = Context.current().info.workflowExecution?.workflowId ?? 'rollback-runbooks';
      return swapIn(conn, live, input.side, input.old, {
        live: input.liveComment ?? null,
        keptAside: `the ${live} database as it was before the restore by ${by}; kept until an explicit cleanup`,
      });
    },

    /**
     * Compensation: the database as it was becomes live again (with its own comment), and the restored
     * one goes back to the side name, labelled as swapped out. Safe to retry, like the swap.
     */
    async swapDatabasesBack(input: SwapInput): Promise<{ windowMs: number }> {
      const { conn } = target(input);
      const live = conn.database;
      const by = Context.current().info.workflowExecution?.workflowId ?? 'rollback-runbooks';
      const { windowMs } = await swapIn(conn, live, input.old, input.side, {
        live: input.liveComment ?? null,
        keptAside: `the ${live} database restored by ${by}, swapped back out by compensation; kept until an explicit cleanup`,
      });
      return { windowMs };
    },

    /** Drops the side database only if it is still the one this restore made. Safe to retry. */
    async dropSideDatabase(input: DatabaseRef & { side: string; marker: string }): Promise<boolean> {
      const { conn } = target(input);
      return dropSideDatabase(conn, input.side, input.marker);
    },
  };
};
