/**
 * Restore activities (DESIGN.md "Data safety"): check a backup, restore it into a side database,
 * verify, swap by rename and swap back. Nothing here drops or overwrites a live database; backups
 * are in backup.ts, writers in writers.ts, schema rollback in schema.ts.
 */
import { Context } from '@temporalio/activity';
import { statfs } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { listBackups, type BackupManifest } from '../providers/database/backup.ts';
import { serverVersion, toolMajorVersion, withDatabase, type Connection } from '../providers/database/pg-tools.ts';
import { createSideDatabase, dropSideDatabase, existingDatabases, restoreInto, restoreNames, RowCounter, smokeTest, databaseComment, swapIn, verifyDatabase } from '../providers/database/restore.ts';
import { DumpRefused, inspectDump, locateDump, restorePlainInto, type DumpFormat, type TeamDump } from '../providers/database/dump.ts';
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
  /** When the source is a team's own dump rather than a backup the worker took. */
  dump?: TeamDump;
}

/** A team's own dump as a backup to restore: its manifest has its checksum and no row counts (a dump carries none). */
function dumpAsBackup(dump: TeamDump, ref: DatabaseRef, serverVersionText: string): ResolvedBackup {
  const id = `dump-${basename(dump.path).replace(/[^A-Za-z0-9_.-]+/g, '-')}`;
  const manifest: BackupManifest = {
    id,
    kind: 'backup',
    system: ref.system,
    database: ref.database,
    databaseName: dump.dumpedFrom ? `(dumped from PostgreSQL ${dump.dumpedFrom})` : '(not recorded in the dump)',
    takenAt: dump.takenAt,
    format: dump.format,
    jobs: 0,
    serverVersion: dump.dumpedFrom ?? serverVersionText,
    pgDumpVersion: dump.dumpedBy ?? '(not recorded in the dump)',
    rowCounts: {},
    files: [{ path: basename(dump.path), size: dump.bytes, sha256: dump.sha256 }],
  };
  return { id, dir: dump.path, takenAt: dump.takenAt, manifest, dump };
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

  /**
   * The client tools a restore uses (pg_dump for the safety dump; pg_restore, or psql for plain SQL),
   * none older than the server: pg_dump refuses to dump a newer server.
   */
  async function fitTools(conn: Connection, loader: 'pg_restore' | 'psql') {
    const [server, ...tools] = await Promise.all([serverVersion(conn), toolMajorVersion('pg_dump'), toolMajorVersion(loader)]);
    for (const tool of tools) {
      if (tool.major < server.major) throw fail(`${tool.version} is older than the server (${server.version}); install a client of version ${server.major} or later`, 'ToolsTooOld');
    }
    return { server, tools: tools.map((t) => t.version) };
  }

  /** Room for the safety dump of the live database, which is about the size of what is restored (twice, to be safe). */
  async function enoughDiskFor(bytes: number, dir: string): Promise<string> {
    const free = await freeBytes(dir);
    if (free !== null && free < bytes * 2) throw fail(`not enough disk for a safety dump in ${dir}: ${free} bytes free, ${bytes * 2} needed`, 'NotEnoughDisk');
    return free === null ? 'free disk for the safety dump: not measurable' : `free disk for the safety dump: ${Math.round(free / 1e6)} MB`;
  }

  return {
    /**
     * Everything that must hold before a restore starts: the backup exists (latest, by id, or the
     * latest taken before an instant), its files match the manifest, the tools are not older than
     * the server, and there is room for a safety dump. Safe to retry: it only reads.
     */
    async restorePreflight(
      input: DatabaseRef & { backup?: string; before?: string; source?: { dump: string; format?: DumpFormat }; restoreId: string },
    ): Promise<ResolvedBackup & { live: string; side: string; old: string; liveComment: string | null; checks: string[] }> {
      const { conn, dir, config } = target(input);
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
      if (input.source) {
        if (!config.dumpsDir) throw fail(`the ${input.system} runbook names no dumps directory for ${input.database}: set databases.${input.database}.dumpsDir to where its dumps are kept`, 'BackupNotFound');
        const dumpsDir = resolve(config.dumpsDir);
        const dump = await locateDump(dumpsDir, input.source.dump)
          .then((path) => inspectDump(conn, path, input.source!.format))
          .catch((err: unknown) => {
            throw err instanceof DumpRefused ? fail(`${err.message}; nothing was changed`, 'BackupNotFound') : err;
          });
        const { server, tools } = await fitTools(conn, dump.format === 'plain' ? 'psql' : 'pg_restore');
        const disk = await enoughDiskFor(dump.bytes, dir);
        const checks = [
          `dump ${dump.path}: ${dump.format} format, ${Math.round(dump.bytes / 1e3)} kB, sha256 ${dump.sha256.slice(0, 16)}…${dump.tocEntries === null ? ', only SQL for one database' : `, ${dump.tocEntries} items readable by pg_restore`}`,
          ...(dump.dumpedBy ? [`dumped from PostgreSQL ${dump.dumpedFrom} by pg_dump ${dump.dumpedBy}`] : []),
          `${tools.join(' / ')} against server ${server.version}`,
          disk,
          'the dump carries no row counts: the restored database is judged by the runbook\'s smoke queries, and its rows are counted for the report',
        ];
        const liveComment = await databaseComment(conn, live);
        return { ...dumpAsBackup(dump, input, server.version), live, ...names, liveComment, checks };
      }
      const backups = await listBackups(dir);
      let chosen;
      if ((input.backup ?? 'latest') === 'latest') {
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
      const { server, tools } = await fitTools(conn, 'pg_restore');
      const disk = await enoughDiskFor(chosen.files.reduce((sum, f) => sum + f.size, 0), dir);
      const checks = [`backup ${chosen.id} taken ${chosen.takenAt}: ${chosen.files.length} files match the manifest (sha256)`, `${tools.join(' / ')} against server ${server.version}`, disk];
      const { dir: chosenDir, ...manifest } = chosen;
      const liveComment = await databaseComment(conn, live); // put back on whatever is live after a swap
      return { id: chosen.id, dir: chosenDir, takenAt: chosen.takenAt, manifest, live, ...names, liveComment, checks };
    },

    /**
     * Restores the backup (or the team's dump) into the side database, reporting progress in
     * heartbeats (the UI shows them on the pending activity): pg_restore -j for our backups and for
     * custom or directory dumps, each table's rows counted as soon as its data is in while pg_restore
     * goes on to the indexes (`countedWhileLoading`, for verify-side); psql in one transaction for a
     * plain SQL dump. Safe to retry: the side database this restore made is dropped and made again;
     * any other database of that name stops it.
     */
    async restoreToSide(
      input: DatabaseRef & { backupDir: string; side: string; marker: string; jobs?: number; dump?: { path: string; format: DumpFormat } },
    ): Promise<{ side: string; recreated: boolean; countedWhileLoading: Record<string, number> }> {
      const { conn } = target(input);
      const context = Context.current();
      const how = await createSideDatabase(conn, input.side, input.marker).catch((err: Error) => {
        throw fail(err.message, 'NameTaken');
      });
      let progress: { restored: number; of: number } | undefined;
      const counter = new RowCounter(withDatabase(conn, input.side));
      try {
        if (input.dump?.format === 'plain') {
          let statements = 0;
          await withHeartbeats(
            restorePlainInto(conn, input.side, input.dump.path, (done) => (statements = done), context.cancellationSignal),
            () => ({ statements }),
          );
        } else {
          const archive = input.dump?.path ?? join(input.backupDir, 'dump');
          await withHeartbeats(
            restoreInto(conn, input.side, archive, input.jobs ?? 2, (done, total) => (progress = { restored: done, of: total }), context.cancellationSignal, (table) => counter.count(table)),
            () => progress,
          );
        }
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
