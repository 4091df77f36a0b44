/**
 * Database activities (DESIGN.md "Data safety"): backups with manifests, restore into a side
 * database, verification, swap by rename and swap back, schema rollback. Nothing here drops or
 * overwrites a live database.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { countRows, listBackups, readManifest, takeBackup, verifyBackupFiles, type BackupManifest } from '../providers/database/backup.ts';
import { parseConnection, runTool, serverVersion, toolMajorVersion, withClient, type Connection } from '../providers/database/pg-tools.ts';
import { createClient } from '../providers/index.ts';
import { createSideDatabase, dropSideDatabase, existingDatabases, restoreInto, restoreNames, swapBack, swapIn, verifyDatabase } from '../providers/database/restore.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { runbookFor } from './runbook.ts';

const fail = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

export interface DatabaseRef {
  system: string;
  database: string;
}

export interface ResolvedBackup {
  id: string;
  dir: string;
  takenAt: string;
  manifest: BackupManifest;
}

export const createDatabaseActivities = (deps: ActivityDeps) => {
  function target({ system, database }: DatabaseRef) {
    const runbook = runbookFor(deps, system);
    const config = runbook.databases[database];
    if (!config) {
      const known = Object.keys(runbook.databases).join(', ') || '(none)';
      throw fail(`unknown database '${database}' for ${system}; the runbook has: ${known}`, 'UnknownDatabase');
    }
    const url = deps.env[config.urlEnv];
    if (!url) throw fail(`environment variable ${config.urlEnv} is not set (the runbook's databases.${database}.urlEnv)`, 'MissingSecret');
    const conn: Connection = parseConnection(url);
    return { config, conn, dir: resolve(config.backupDir, database) };
  }

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
     * Backs a runbook database up with pg_dump (directory format, parallel jobs) and a manifest.
     * Safe to retry: a backup whose manifest exists is returned as it is; a partial one is redone.
     */
    async backupDatabase(input: DatabaseRef & { backupId: string; kind?: BackupManifest['kind']; jobs?: number }): Promise<BackupManifest> {
      const { conn, dir } = target(input);
      const path = join(dir, input.backupId);
      const existing = await readManifest(path);
      if (existing) return existing;
      const context = Context.current();
      let lines = 0;
      return withHeartbeats(
        takeBackup({
          conn,
          dir: path,
          id: input.backupId,
          kind: input.kind ?? 'backup',
          system: input.system,
          database: input.database,
          jobs: input.jobs ?? 2,
          onProgress: () => context.heartbeat({ pgDumpLines: ++lines }),
          signal: context.cancellationSignal,
        }),
      );
    },

    /** Complete backups of a database, oldest first. Safe to retry: it only reads. */
    async listDatabaseBackups(input: DatabaseRef): Promise<Omit<BackupManifest, 'files'>[]> {
      const { dir } = target(input);
      return (await listBackups(dir)).map(({ files: _files, dir: _dir, ...rest }) => rest);
    },

    /**
     * Everything that must hold before a restore starts: the backup exists (latest, by id, or the
     * latest taken before an instant), its files match the manifest, the tools are not older than
     * the server, and there is room for a safety dump. Safe to retry: it only reads.
     */
    async restorePreflight(input: DatabaseRef & { backup: string; before?: string; restoreId: string }): Promise<ResolvedBackup & { live: string; side: string; old: string; checks: string[] }> {
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
      const problems = await withHeartbeats(verifyBackupFiles(chosen.dir, chosen));
      if (problems.length > 0) throw fail(`backup ${chosen.id} does not match its manifest: ${problems.join('; ')}`, 'BackupCorrupt');
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
      return { id: chosen.id, dir: chosenDir, takenAt: chosen.takenAt, manifest, live, ...names, checks };
    },

    /**
     * Restores the backup into the side database with pg_restore -j, reporting progress in
     * heartbeats (the UI shows them on the pending activity). Safe to retry: the side database this
     * restore made is dropped and made again; any other database of that name stops it.
     */
    async restoreToSide(input: DatabaseRef & { backupDir: string; side: string; marker: string; jobs?: number }): Promise<{ side: string; recreated: boolean }> {
      const { conn } = target(input);
      const context = Context.current();
      const how = await createSideDatabase(conn, input.side, input.marker).catch((err: Error) => {
        throw fail(err.message, 'NameTaken');
      });
      await withHeartbeats(
        restoreInto(conn, input.side, join(input.backupDir, 'dump'), input.jobs ?? 2, (done, total) => context.heartbeat({ restored: done, of: total }), context.cancellationSignal),
      );
      return { side: input.side, recreated: how === 'recreated' };
    },

    /** Row counts against the manifest and the runbook's smoke queries. Safe to retry: read-only. */
    async verifyRestoredDatabase(input: DatabaseRef & { databaseName: string; manifest: BackupManifest }): Promise<{ rowCounts: Record<string, number> }> {
      const { conn, config } = target(input);
      const { problems, rowCounts } = await withHeartbeats(verifyDatabase(conn, input.databaseName, input.manifest, config.smokeQueries));
      if (problems.length > 0) throw fail(`${input.databaseName} did not verify: ${problems.join('; ')}`, 'RestoreNotVerified');
      return { rowCounts };
    },

    /** Swaps the side database in by rename. Safe to retry: it does only what is left to do. */
    async swapDatabases(input: DatabaseRef & { side: string; old: string }): Promise<{ windowMs: number }> {
      const { conn } = target(input);
      return swapIn(conn, conn.database, input.side, input.old);
    },

    /** Compensation: the database as it was becomes live again. Safe to retry, like the swap. */
    async swapDatabasesBack(input: DatabaseRef & { side: string; old: string }): Promise<{ windowMs: number }> {
      const { conn } = target(input);
      return swapBack(conn, conn.database, input.side, input.old);
    },

    /** Drops the side database only if it is still the one this restore made. Safe to retry. */
    async dropSideDatabase(input: DatabaseRef & { side: string; marker: string }): Promise<boolean> {
      const { conn } = target(input);
      return dropSideDatabase(conn, input.side, input.marker);
    },

    /**
     * Schema rollback: runs the down SQL of the given phases, as written in the runbook and in the
     * order given, in ONE transaction; nothing else can run. A ledger row written in the same
     * transaction makes it safe to retry: a key already in the ledger means it was applied, and it
     * is not run twice.
     */
    async applyDownMigrations(input: DatabaseRef & { phases: number[]; idempotencyKey: string; actor: string }): Promise<{ applied: { phase: number; sql: string }[]; alreadyApplied: boolean }> {
      const runbook = runbookFor(deps, input.system);
      const { conn } = target(input);
      const applied = input.phases.map((id) => {
        const phase = runbook.phases.find((p) => p.id === id);
        const down = phase?.rollback.downSql;
        if (!phase || !down || down.database !== input.database) {
          throw fail(`phase ${id} has no down SQL for database ${input.database} in the ${input.system} runbook`, 'InvalidInput');
        }
        return { phase: id, sql: down.sql };
      });
      return withClient(conn, async (c) => {
        await c.query('CREATE SCHEMA IF NOT EXISTS rollback_runbooks');
        await c.query('CREATE TABLE IF NOT EXISTS rollback_runbooks.schema_rollbacks (key text PRIMARY KEY, phases int[] NOT NULL, applied_by text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
        await c.query('BEGIN');
        try {
          const seen = await c.query('SELECT 1 FROM rollback_runbooks.schema_rollbacks WHERE key = $1 FOR UPDATE', [input.idempotencyKey]);
          if (seen.rowCount) {
            await c.query('ROLLBACK');
            return { applied, alreadyApplied: true };
          }
          for (const { sql } of applied) await c.query(sql);
          await c.query('INSERT INTO rollback_runbooks.schema_rollbacks (key, phases, applied_by) VALUES ($1, $2, $3)', [input.idempotencyKey, input.phases, input.actor]);
          await c.query('COMMIT');
          return { applied, alreadyApplied: false };
        } catch (err) {
          await c.query('ROLLBACK');
          throw fail(`down SQL failed and was rolled back, nothing changed: ${(err as Error).message}`, 'SchemaRollbackFailed');
        }
      });
    },

    /** Runs the runbook's smoke queries against the live database. Safe to retry: read-only. */
    async smokeTestLive(input: DatabaseRef): Promise<void> {
      const { conn, config } = target(input);
      const empty = { rowCounts: {} } as unknown as BackupManifest;
      const { problems } = await verifyDatabase(conn, conn.database, empty, config.smokeQueries);
      if (problems.length > 0) throw fail(`${conn.database} did not verify: ${problems.join('; ')}`, 'RestoreNotVerified');
    },

    /** Counts rows of the live database (for the report's before/after). Safe to retry: read-only. */
    async countLiveRows(input: DatabaseRef): Promise<Record<string, number>> {
      return withClient(target(input).conn, countRows);
    },

    /**
     * Proves a backup is usable: every file matches the manifest and pg_restore can read its table
     * of contents. Safe to retry: it only reads.
     */
    async verifyBackup(input: DatabaseRef & { backupId: string }): Promise<{ files: number; tocEntries: number }> {
      const { conn, dir } = target(input);
      const path = join(dir, input.backupId);
      const manifest = await readManifest(path);
      if (!manifest) throw fail(`backup ${input.backupId} has no manifest in ${dir}`, 'BackupNotFound');
      const problems = await withHeartbeats(verifyBackupFiles(path, manifest));
      if (problems.length > 0) throw fail(`backup ${input.backupId} does not match its manifest: ${problems.join('; ')}`, 'BackupCorrupt');
      const toc = await runTool('pg_restore', ['--list', join(path, 'dump')], conn);
      return { files: manifest.files.length, tocEntries: toc.split('\n').filter((l) => l.trim() && !l.startsWith(';')).length };
    },

    /**
     * Stops writes the way the runbook says (a maintenance flag, or the writing version scaled to 0;
     * `terminate-connections` leaves it to the swap) and returns what resumeWriters puts back.
     * Safe to retry: setting the flag or count it already has changes nothing.
     */
    async stopWriters(input: DatabaseRef & { idempotencyKey: string; actor: string }): Promise<{ method: string; previous: number | boolean | null }> {
      const runbook = runbookFor(deps, input.system);
      const how = target(input).config.stopWriters;
      const context = { env: deps.env, logger: deps.logger };
      if (how.method === 'maintenance-flag') {
        if (!runbook.flags) throw fail(`stopWriters uses flag ${how.flag} but the runbook has no flags provider`, 'InvalidRunbook');
        const flags = createClient('flags', runbook.flags, context);
        try {
          const previous = (await flags.readFlags())[how.flag] ?? false;
          await flags.setFlag(how.flag, true, input);
          return { method: how.method, previous };
        } finally {
          await flags.close();
        }
      }
      if (how.method === 'scale-to-zero') {
        const traffic = createClient('traffic', runbook.traffic, context);
        const previous = (await traffic.readState()).instances[how.version] ?? 0;
        await traffic.scale(how.version, 0, input);
        return { method: how.method, previous };
      }
      return { method: how.method, previous: null };
    },

    /** Puts back what stopWriters changed. Safe to retry, for the same reason. */
    async resumeWriters(input: DatabaseRef & { previous: number | boolean | null; idempotencyKey: string; actor: string }): Promise<void> {
      const runbook = runbookFor(deps, input.system);
      const how = target(input).config.stopWriters;
      const context = { env: deps.env, logger: deps.logger };
      if (how.method === 'maintenance-flag' && runbook.flags) {
        const flags = createClient('flags', runbook.flags, context);
        try {
          await flags.setFlag(how.flag, input.previous === true, input);
        } finally {
          await flags.close();
        }
      } else if (how.method === 'scale-to-zero') {
        await createClient('traffic', runbook.traffic, context).scale(how.version, Number(input.previous ?? 0), input);
      }
    },
  };
};
