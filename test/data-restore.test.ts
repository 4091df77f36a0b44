/**
 * dataRestore on the real local PostgreSQL with generated data (the sandbox tables and pgbench's),
 * real pg_dump / pg_restore, a real dev server and worker. After each run the databases themselves
 * are checked: what is live, what was kept, and that nothing was lost.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { ensureSandboxDatabase } from '../sandbox/database.ts';
import { createActivities } from '../src/activities/index.ts';
import { ProviderClients } from '../src/providers/index.ts';
import { sha256File, type BackupManifest } from '../src/providers/database/backup.ts';
import { databasesLike, dropTestDatabase, POSTGRES, quietLogger, sql } from './harness.ts';
import { failureOf, runCli, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { approveSignal, decideSignal, statusQuery } from '../src/contract/messages.ts';

let t: RollbackTestEnv;
/** The worker's activities, called directly; they read t.runbooks and t.secrets live, so systems added later are seen. */
let activities: ReturnType<typeof createActivities>;
let clients: ProviderClients;
const backupRoot = mkdtempSync(join(tmpdir(), 'backups-'));
const created: string[] = [];
let n = 0;

/** A fingerprint of the data: row counts and an md5 over every orders row in order. */
async function fingerprint(database: string) {
  const [row] = await sql(database, `SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM pgbench_accounts) AS accounts,
    (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o) AS orders_md5, (SELECT sum(abalance) FROM pgbench_accounts) AS balance`);
  return row;
}

/**
 * A system whose runbook database `main` is a fresh database with sandbox tables and pgbench data at
 * `pgbenchScale` (0: none), named `dbName` if given (any characters).
 */
async function newDatabaseSystem(edit?: (doc: Record<string, any>) => void, options: { dbName?: string; pgbenchScale?: number } = {}) {
  n += 1;
  const { dbName = `sandbox_test_${process.pid}_dr${n}`, pgbenchScale = 1 } = options;
  created.push(dbName);
  const url = `${POSTGRES}/${encodeURIComponent(dbName)}`;
  await ensureSandboxDatabase(url);
  if (pgbenchScale > 0) execFileSync('pgbench', ['-i', '-s', String(pgbenchScale), '-q', '-h', '127.0.0.1', '-U', 'postgres', dbName], { stdio: 'ignore' });
  const urlEnv = `DATABASE_URL_${n}`;
  t.secrets[urlEnv] = url;
  const backupDir = join(backupRoot, dbName);
  const dumpsDir = join(backupRoot, `${dbName}-dumps`);
  mkdirSync(dumpsDir, { recursive: true });
  const system = await t.newSystem((doc) => {
    doc.databases.main.urlEnv = urlEnv;
    doc.databases.main.backupDir = backupDir;
    doc.databases.main.dumpsDir = dumpsDir;
    doc.providers.flags.settings.databaseUrlEnv = urlEnv;
    doc.gates['before-swap'].timeoutSeconds = 60;
    edit?.(doc);
  });
  const backup = (backupId: string): Promise<BackupManifest> =>
    new MockActivityEnvironment().run(activities.backupDatabase, { system: system.name, database: 'main', backupId });
  return { ...system, dbName, url, backupDir: join(backupDir, 'main'), dumpsDir, backup, activities };
}

/** The comment on a database (COMMENT ON DATABASE), or null. */
async function commentOf(database: string): Promise<string | null> {
  const [row] = await sql('postgres', "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1", [database]);
  return row?.c ?? null;
}


/** Creates database `name` (dropped after the file) and pg_restores the dump at `dumpDir` into it. */
async function restoreInto(name: string, dumpDir: string): Promise<void> {
  created.push(name);
  await sql('postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  execFileSync('pg_restore', ['-h', '127.0.0.1', '-U', 'postgres', '-d', name, dumpDir]);
}

const restore = (system: string, extra: Record<string, unknown> = {}) =>
  startRollback(t, { system, database: 'main', reason: 'bad migration deleted orders', requestedBy: 'alice', ...extra }, undefined, 'dataRestore');

/** The result of the (only) completed activity of `type` in a workflow's history. */
async function activityResult<T>(handle: WorkflowHandle, type: string): Promise<T> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map(events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [[String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name]] : [])));
  const completed = events.find((e) => e.activityTaskCompletedEventAttributes && scheduled.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) === type);
  const payload = completed?.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
  assert.ok(payload?.data, `no completed ${type} in the history`);
  return JSON.parse(Buffer.from(payload.data).toString()) as T;
}

describe('dataRestore', { timeout: 300_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    clients = new ProviderClients({ env: t.secrets, logger: quietLogger });
    activities = createActivities({ runbooks: t.runbooks, env: t.secrets, logger: quietLogger, clients, temporal: { client: t.env.client, namespace: 'default' }, reportsDir: t.reportsDir });
  });
  after(async () => {
    await clients.close();
    await t?.stop();
    for (const prefix of created) for (const name of await databasesLike(prefix)) await dropTestDatabase(name);
    rmSync(backupRoot, { recursive: true, force: true });
  });

  test('a backup has a manifest with every file’s sha256, row counts and versions; taking it again changes nothing', async () => {
    const s = await newDatabaseSystem();
    const manifest = await s.backup('b1');
    assert.equal(manifest.rowCounts['public.orders'], 2000);
    assert.equal(manifest.rowCounts['public.pgbench_accounts'], 100000);
    assert.equal(manifest.format, 'directory');
    assert.match(manifest.pgDumpVersion, /^pg_dump \(PostgreSQL\) \d+/);
    assert.ok(manifest.files.some((f) => f.path === 'dump/toc.dat'));
    for (const file of manifest.files) assert.equal(await sha256File(join(s.backupDir, 'b1', file.path)), file.sha256);
    assert.deepEqual(await s.backup('b1'), manifest, 'a retried backup returns the one already taken');
    assert.deepEqual(readdirSync(s.backupDir), ['b1']);
  });

  test('restore end to end: side database verified, DBA approves, swap by rename, old database and safety dump kept', async () => {
    const s = await newDatabaseSystem();
    const atBackup = await fingerprint(s.dbName);
    await s.backup('nightly');
    // The incident: a bad migration deletes orders and corrupts balances after the backup.
    await sql(s.dbName, 'DELETE FROM order_items WHERE order_id > 1500; DELETE FROM payments WHERE order_id > 1500; DELETE FROM orders WHERE id > 1500; UPDATE pgbench_accounts SET abalance = abalance - 7');
    await sql('postgres', `COMMENT ON DATABASE ${pg.escapeIdentifier(s.dbName)} IS 'orders service, production'`);
    const beforeRestore = await fingerprint(s.dbName);
    const handle = await restore(s.name);
    const waiting = await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 120_000);
    assert.equal(waiting.pendingGate?.role, 'dba');
    assert.match(waiting.details, /^awaiting approval from dba \(0 of 1\) before swapping .*__restore_[0-9a-f]{8} in as sandbox_test_/);
    assert.deepEqual(await fingerprint(s.dbName), beforeRestore, 'live untouched before the swap');
    await handle.signal(approveSignal, { by: 'bob' }); // not a DBA
    await handle.signal(approveSignal, { by: 'dana', comment: 'row counts match the nightly backup' });
    const result = await handle.result();
    assert.ok(result.swapWindowMs >= 0 && result.swapWindowMs < 5000);
    assert.deepEqual(await fingerprint(s.dbName), atBackup, 'live is the backup again');
    const kept = await databasesLike(`${s.dbName}__pre_restore_`);
    assert.equal(kept.length, 1, 'the database as it was is kept under a clear name');
    assert.deepEqual(await fingerprint(kept[0]!), beforeRestore, 'nothing lost: the pre-restore data is all there');
    assert.deepEqual(await databasesLike(`${s.dbName}__restore_`), [], 'the side database became live');
    // Every database the swap touched says what it now is: a cleanup by label must never find the live one.
    assert.equal(await commentOf(s.dbName), 'orders service, production', "the live name carries the live database's own comment, not the side marker");
    assert.equal(await commentOf(kept[0]!), `the ${s.dbName} database as it was before the restore by ${handle.workflowId}; kept until an explicit cleanup`);
    const safety = readdirSync(s.backupDir).find((d) => d.startsWith('safety-'));
    assert.ok(safety, 'a safety dump was taken');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.steps.map((st) => st.name), ['preflight', 'check-backup', 'notify-start', 'safety-dump', 'restore-to-side', 'verify-side', 'gate:before-swap', 'stop-writers', 'swap', 'stop-writers-after-swap', 'verify-live', 'resume-writers', 'verify:restore']);
    assert.equal(status.healthAfter?.passed, true, "the service's health verified after the restore, as after every rollback");
    assert.deepEqual(status.events.map((e) => [e.kind, e.by]), [['refused', 'bob'], ['approved', 'dana']]);
    const verifiedWith = (await handle.fetchHistory()).events?.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []).filter((name) => name.startsWith('verify'));
    assert.deepEqual(verifiedWith, ['verifyBackup', 'verifyRestoredDatabase', 'verifyLiveDatabase', 'verifyHealth'], 'rows counted once, on the side database');
    // Counted as pg_restore finished each table's data (while it built the indexes): every table, and
    // each count is what the restored database holds.
    const { countedWhileLoading } = await activityResult<{ countedWhileLoading: Record<string, number> }>(handle, 'restoreToSide');
    const tables = await sql(s.dbName, "SELECT schemaname || '.' || relname AS t FROM pg_stat_user_tables ORDER BY 1");
    assert.deepEqual(Object.keys(countedWhileLoading).sort(), tables.map((row) => row.t as string));
    for (const [table, n] of Object.entries(countedWhileLoading)) {
      const [schema, name] = table.split('.');
      const [actual] = await sql(s.dbName, `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(schema!)}.${pg.escapeIdentifier(name!)}`);
      assert.equal(n, actual.n, `rows of ${table}`);
    }
    const [flag] = await sql(s.dbName, "SELECT enabled FROM feature_flags WHERE name = 'maintenance_mode'");
    assert.equal(flag.enabled, false, 'writers resumed');
    // The safety dump restores: it holds the pre-restore state.
    const check = `${s.dbName}_safetycheck`;
    await restoreInto(check, join(s.backupDir, safety, 'dump'));
    assert.deepEqual(await fingerprint(check), beforeRestore);
  });

  test('a side database that fails verification stops before the swap; compensation drops it and live is untouched', async () => {
    const s = await newDatabaseSystem((doc) => {
      doc.databases.main.smokeQueries = [{ name: 'too-many-orders', sql: 'SELECT count(*) > 5000 AS ok FROM orders', expect: { ok: true } }];
    });
    await s.backup('b1');
    const live = await fingerprint(s.dbName);
    const handle = await restore(s.name);
    const waiting = await waitForStatus(handle, (st) => st.state === 'awaiting_decision', 120_000);
    assert.equal(waiting.pendingDecision?.step, 'verify-side');
    assert.match(waiting.pendingDecision!.error, /smoke query too-many-orders: expected \{"ok":"true"\}, got \{"ok":"false"\}/);
    await handle.signal(decideSignal, { by: 'dana', action: 'compensate' });
    await failureOf(handle.result());
    assert.deepEqual(await fingerprint(s.dbName), live);
    assert.deepEqual(await databasesLike(`${s.dbName}__`), [], 'side database dropped, nothing renamed');
  });

  test('compensation after the swap swaps back: the original is live again exactly, the restored one is kept', async () => {
    const s = await newDatabaseSystem((doc) => {
      // Passes on the side database, fails once it is live: a failure after the swap.
      doc.databases.main.smokeQueries = [{ name: 'still-side', sql: "SELECT current_database() LIKE '%\\_\\_restore\\_%' AS side", expect: { side: true } }];
    });
    await s.backup('b1');
    await sql(s.dbName, 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 10');
    await sql('postgres', `COMMENT ON DATABASE ${pg.escapeIdentifier(s.dbName)} IS 'orders service, production'`);
    const original = await fingerprint(s.dbName);
    const handle = await restore(s.name);
    await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 120_000);
    await handle.signal(approveSignal, { by: 'dana' });
    const waiting = await waitForStatus(handle, (st) => st.state === 'awaiting_decision', 120_000);
    assert.equal(waiting.pendingDecision?.step, 'verify-live');
    await handle.signal(decideSignal, { by: 'dana', action: 'compensate' });
    await failureOf(handle.result());
    assert.deepEqual(await fingerprint(s.dbName), original, 'the original database is live again, exactly');
    const restored = await databasesLike(`${s.dbName}__restore_`);
    assert.equal(restored.length, 1, 'the restored database was swapped in once, so it is kept');
    assert.deepEqual(await databasesLike(`${s.dbName}__pre_restore_`), []);
    assert.equal(await commentOf(s.dbName), 'orders service, production', 'the original is live again with its own comment, not "kept until an explicit cleanup"');
    assert.equal(await commentOf(restored[0]!), `the ${s.dbName} database restored by ${handle.workflowId}, swapped back out by compensation; kept until an explicit cleanup`);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.steps.filter((st) => st.outcome === 'compensated').map((st) => st.name), ['restore-to-side', 'stop-writers', 'swap']);
  });

  /** A team's own pg_dump of `database` in `format`, written into `dir` as `name`, the way seeds 000 and 003 keep them. */
  const teamDump = (database: string, dir: string, name: string, format: 'c' | 'd' | 'p', extra: string[] = []) =>
    execFileSync('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', `-F${format}`, '-f', join(dir, name), ...extra, database]);

  for (const [format, flag, name] of [['custom', 'c', 'latest.dump'], ['directory', 'd', 'nightly'], ['plain', 'p', 'backup.sql']] as const) {
    test(`a team's own ${format} dump (${name}) restores through the side database, verify, DBA gate and swap; compensation swaps the original back`, async () => {
      const s = await newDatabaseSystem((doc) => {
        // Passes on the side database, fails once it is live: a failure after the swap, so compensation runs.
        doc.databases.main.smokeQueries = [{ name: 'still-side', sql: "SELECT current_database() LIKE '%\\_\\_restore\\_%' AS side", expect: { side: true } }];
      });
      teamDump(s.dbName, s.dumpsDir, name, flag);
      const atDump = await fingerprint(s.dbName);
      await sql(s.dbName, 'DELETE FROM order_items WHERE order_id > 1500; DELETE FROM payments WHERE order_id > 1500; DELETE FROM orders WHERE id > 1500; UPDATE pgbench_accounts SET abalance = abalance - 7');
      const broken = await fingerprint(s.dbName);
      const handle = await restore(s.name, { source: { dump: name } });
      const waiting = await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 120_000);
      const plan = waiting.plan as { checks: string[]; steps: string[]; backup: { id: string } };
      assert.equal(plan.backup.id, `dump-${name}`);
      assert.match(plan.checks[0]!, new RegExp(`^dump .*/${name}: ${format} format, \\d+ kB, sha256 [0-9a-f]{16}…, ${format === 'plain' ? 'only SQL for one database' : '\\d+ items readable by pg_restore'}$`));
      assert.ok(plan.steps[1]!.startsWith(format === 'plain' ? `dump ${join(s.dumpsDir, name)} loaded into ` : `dump ${join(s.dumpsDir, name)} restored into `), plan.steps[1]);
      assert.deepEqual(await fingerprint(s.dbName), broken, 'live untouched before the swap');
      await handle.signal(approveSignal, { by: 'dana' });
      const failed = await waitForStatus(handle, (st) => st.state === 'awaiting_decision', 120_000);
      assert.equal(failed.pendingDecision?.step, 'verify-live');
      assert.deepEqual(await fingerprint(s.dbName), atDump, 'after the swap, live is the dump');
      assert.ok(readdirSync(s.backupDir).some((d) => d.startsWith('safety-')), 'a safety dump was taken first');
      await handle.signal(decideSignal, { by: 'dana', action: 'compensate' });
      await failureOf(handle.result());
      assert.deepEqual(await fingerprint(s.dbName), broken, 'compensation: the original is live again, exactly');
      const kept = await databasesLike(`${s.dbName}__restore_`);
      assert.equal(kept.length, 1, 'the restored database is kept, labelled');
      assert.deepEqual(await fingerprint(kept[0]!), atDump);
    });
  }

  test("a team's dump is refused, naming why, when it lies outside the runbook's dumps directory, is not what it says, or is a plain dump that would connect elsewhere", async () => {
    const s = await newDatabaseSystem();
    const elsewhere = mkdtempSync(join(tmpdir(), 'elsewhere-'));
    teamDump(s.dbName, elsewhere, 'stolen.dump', 'c');
    teamDump(s.dbName, s.dumpsDir, 'latest.dump', 'c');
    teamDump(s.dbName, s.dumpsDir, 'with-create.sql', 'p', ['--create']);
    writeFileSync(join(s.dumpsDir, 'shell.sql'), "SET statement_timeout = 0;\n\\! touch /tmp/pwned\nSELECT 1;\n");
    const live = await fingerprint(s.dbName);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ source: { dump: join(elsewhere, 'stolen.dump') } }, 'BackupNotFound', /stolen\.dump is outside the runbook's dumps directory .*; only dumps kept there can be restored; nothing was changed$/],
      [{ source: { dump: '../../../etc/passwd' } }, 'BackupNotFound', /is outside the runbook's dumps directory|^no dump at /],
      [{ source: { dump: 'missing.dump' } }, 'BackupNotFound', /^no dump at .*missing\.dump; nothing was changed$/],
      [{ source: { dump: 'latest.dump', format: 'plain' } }, 'BackupNotFound', /^latest\.dump is a custom-format dump, not plain; nothing was changed$/],
      [{ source: { dump: 'with-create.sql' } }, 'BackupNotFound', /^with-create\.sql cannot be restored: line \d+: "CREATE DATABASE .*" acts on a whole database \(dump without -C\/--create\); line \d+: psql meta-command "\\\\connect/],
      [{ source: { dump: 'shell.sql' } }, 'BackupNotFound', /^shell\.sql cannot be restored: line 2: psql meta-command "\\\\! touch \/tmp\/pwned"/],
      [{ source: { dump: 'latest.dump' }, backup: 'nightly' }, 'InvalidInput', /^invalid dataRestore input:\n {2}source: give a source dump or a backup \(with before\), not both$/],
    ];
    for (const [input, type, message] of cases) {
      const failure = await failureOf(restore(s.name, input).then((h) => h.result()));
      assert.equal(failure.type, type, `${JSON.stringify(input)}: ${failure.message}`);
      assert.match(failure.message, message);
    }
    assert.deepEqual(await fingerprint(s.dbName), live, 'nothing changed');
    assert.deepEqual(await databasesLike(`${s.dbName}__`), []);
    rmSync(elsewhere, { recursive: true, force: true });
  });

  test('verify-live: the live name must answer with the database verify-side counted; with verify-side skipped, live is counted in full', async () => {
    const s = await newDatabaseSystem((doc) => {
      // Fails on the side database only: verify-side needs a decision, verify-live passes.
      doc.databases.main.smokeQueries = [{ name: 'not-side', sql: "SELECT current_database() NOT LIKE '%\\_\\_restore\\_%' AS live", expect: { live: true } }];
    });
    await s.backup('b1');
    const [{ oid: liveOid }] = await sql('postgres', 'SELECT oid::int FROM pg_database WHERE datname = $1', [s.dbName]);
    const [{ oid: otherOid }] = await sql('postgres', "SELECT oid::int FROM pg_database WHERE datname = 'postgres'");
    const env = new MockActivityEnvironment();
    const ref = { system: s.name, database: 'main' };
    assert.deepEqual(await env.run(s.activities.verifyLiveDatabase, { ...ref, restoredOid: liveOid }), { oid: liveOid });
    await assert.rejects(env.run(s.activities.verifyLiveDatabase, { ...ref, restoredOid: otherOid }), {
      message: `${s.dbName} did not verify: it is not the restored database (OID ${liveOid}, the restored one is ${otherOid})`,
    });

    const handle = await restore(s.name);
    const waiting = await waitForStatus(handle, (st) => st.state === 'awaiting_decision', 120_000);
    assert.equal(waiting.pendingDecision?.step, 'verify-side');
    await handle.signal(decideSignal, { by: 'dana', action: 'skip' });
    await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 60_000);
    await handle.signal(approveSignal, { by: 'dana' });
    await handle.result();
    const events = (await handle.fetchHistory()).events ?? [];
    const verifications = events.flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      const input = a?.input?.payloads?.[0]?.data;
      if (!a?.activityType?.name?.startsWith('verify') || ['verifyBackup', 'verifyHealth'].includes(a.activityType.name) || !input) return [];
      return [[a.activityType.name, JSON.parse(Buffer.from(input).toString()).databaseName ?? '(live)']];
    });
    assert.deepEqual(verifications, [
      ['verifyRestoredDatabase', verifications[0]![1]],
      ['verifyRestoredDatabase', s.dbName],
    ]);
    assert.match(verifications[0]![1], /__restore_[0-9a-f]{8}$/);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.steps.filter((st) => ['verify-side', 'verify-live'].includes(st.name)).map((st) => [st.name, st.outcome]), [['verify-side', 'skipped'], ['verify-live', 'succeeded']]);
  });

  test('bad input and broken backups are refused with a clear message and the live database untouched', async () => {
    const s = await newDatabaseSystem();
    await s.backup('good');
    await s.backup('corrupt');
    await s.backup('truncated');
    const live = await fingerprint(s.dbName);
    const corrupt = join(s.backupDir, 'corrupt', 'dump', 'toc.dat');
    appendFileSync(corrupt, 'x');
    const truncated = readdirSync(join(s.backupDir, 'truncated', 'dump')).find((f) => f.endsWith('.dat.gz') && statSync(join(s.backupDir, 'truncated', 'dump', f)).size > 1000)!;
    truncateSync(join(s.backupDir, 'truncated', 'dump', truncated), 100);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ database: 'analytics' }, 'UnknownDatabase', new RegExp(`^unknown database 'analytics' for ${s.name}; the runbook has: main$`)],
      [{ backup: 'missing' }, 'BackupNotFound', /^no backup 'missing' of .*; available: corrupt, good, truncated$|^no backup 'missing' of .*; available: /],
      [{ backup: 'latest', before: '2000-01-01T00:00:00Z' }, 'BackupNotFound', /taken before 2000-01-01T00:00:00Z/],
      [{ backup: 'corrupt' }, 'BackupCorrupt', /^backup corrupt does not match its manifest: dump\/toc\.dat: \d+ bytes, manifest says \d+$/],
      [{ backup: 'truncated' }, 'BackupCorrupt', /^backup truncated does not match its manifest: dump\/\d+\.dat\.gz: 100 bytes, manifest says \d+$/],
      [{ backup: 'good', jobs: 0 }, 'InvalidInput', /^invalid dataRestore input:\n {2}jobs: Too small/],
    ];
    for (const [input, type, message] of cases) {
      const failure = await failureOf(restore(s.name, input).then((h) => h.result()));
      assert.equal(failure.type, type, `${JSON.stringify(input)}: ${failure.message}`);
      assert.match(failure.message, message);
    }
    assert.deepEqual(await fingerprint(s.dbName), live);
    assert.deepEqual(await databasesLike(`${s.dbName}__`), []);
  });

  test('writes arriving during the restore stop at the stop-writers step and are all kept in the old database', async () => {
    const s = await newDatabaseSystem();
    await s.backup('b1');
    // A writer that honours the maintenance flag, as the sandbox's app would: it inserts orders until told to stop.
    let written = 0;
    let stop = false;
    const writer = (async () => {
      const c = new pg.Client({ connectionString: s.url });
      await c.connect();
      c.on('error', () => undefined);
      try {
        while (!stop) {
          const [{ enabled }] = (await c.query("SELECT enabled FROM feature_flags WHERE name = 'maintenance_mode'")).rows;
          if (!enabled) {
            await c.query("INSERT INTO orders (id, customer_id, status, total_cents, created_at) VALUES ($1, 1, 'pending', 100, now())", [100000 + written]);
            written += 1;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      } catch {
        /* the swap ended this connection, as it ends every writer's */
      } finally {
        await c.end().catch(() => undefined);
      }
    })();
    const handle = await restore(s.name);
    await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 120_000);
    await handle.signal(approveSignal, { by: 'dana' });
    await handle.result();
    stop = true;
    await writer;
    assert.ok(written > 0, 'the writer wrote during the restore');
    const [old] = await databasesLike(`${s.dbName}__pre_restore_`);
    const [{ n: kept }] = await sql(old!, 'SELECT count(*)::int AS n FROM orders WHERE id >= 100000');
    assert.equal(kept, written, 'every write that succeeded is in the kept database');
    const [{ n: inLive }] = await sql(s.dbName, 'SELECT count(*)::int AS n FROM orders WHERE id >= 100000');
    assert.equal(inLive, 0, 'live is the backup');
  });

  test('schema rollback runs only the runbook’s down SQL, in one transaction, after a safety dump that restores', async () => {
    const s = await newDatabaseSystem((doc) => {
      doc.phases[4].rollback.push({ 'down-sql': { database: 'main', sql: 'DROP TABLE IF EXISTS llm_metrics;\nDROP TABLE IF EXISTS grok_usage;' } });
      doc.phases[3].rollback.push({ 'down-sql': { database: 'main', sql: 'DROP TABLE rag_embeddings;\nSELECT no_such_function();' } });
    });
    await sql(s.dbName, 'CREATE TABLE grok_usage (id int); CREATE TABLE llm_metrics (id int); CREATE TABLE rag_embeddings (id int); INSERT INTO grok_usage VALUES (1), (2)');
    const tables = async () => (await sql(s.dbName, "SELECT string_agg(tablename, ',' ORDER BY tablename) AS t FROM pg_tables WHERE tablename IN ('grok_usage', 'llm_metrics', 'rag_embeddings')"))[0].t;

    // Phase 4's SQL fails halfway: the transaction rolls back and nothing changes.
    const failing = await restore(s.name, { action: 'schema-rollback', phases: [4] });
    await waitForStatus(failing, (st) => st.state === 'awaiting_approval', 60_000);
    await failing.signal(approveSignal, { by: 'dana' });
    const decision = await waitForStatus(failing, (st) => st.state === 'awaiting_decision', 60_000);
    assert.match(decision.pendingDecision!.error, /^down SQL failed and was rolled back, nothing changed: function no_such_function\(\) does not exist$/);
    await failing.signal(decideSignal, { by: 'dana', action: 'abort' });
    await failureOf(failing.result());
    assert.equal(await tables(), 'grok_usage,llm_metrics,rag_embeddings', 'the failed transaction left every table');

    const handle = await restore(s.name, { action: 'schema-rollback', phases: [5] });
    await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 60_000);
    await handle.signal(approveSignal, { by: 'dana' });
    const result = await handle.result();
    assert.equal(await tables(), 'rag_embeddings');
    assert.match(result.report, /## Changes applied\n\n- phase 5 down SQL \(one transaction\):\n\n```sql\nDROP TABLE IF EXISTS llm_metrics;\nDROP TABLE IF EXISTS grok_usage;\n```/);
    const check = `${s.dbName}_schemacheck`;
    await restoreInto(check, join(s.backupDir, result.safetyDump, 'dump'));
    assert.deepEqual(await sql(check, 'SELECT id FROM grok_usage ORDER BY id'), [{ id: 1 }, { id: 2 }], 'the safety dump holds what the down SQL dropped');

    const unknown = await failureOf(restore(s.name, { action: 'schema-rollback', phases: [2] }).then((h) => h.result()));
    assert.equal(unknown.message, `phase 2 has no down SQL for database main in the ${s.name} runbook`);
    const noPhases = await failureOf(restore(s.name, { action: 'schema-rollback' }).then((h) => h.result()));
    assert.equal(noPhases.message, 'invalid dataRestore input:\n  phases: schema-rollback needs the phases to roll back, e.g. [5, 4]');
  });

  test('down SQL run by two attempts at once (a retry beside a first that still runs): applied once, the second finds it applied', async () => {
    const s = await newDatabaseSystem((doc) => {
      doc.phases[4].rollback.push({ 'down-sql': { database: 'main', sql: 'SELECT pg_sleep(1);\nDROP TABLE grok_usage;' } });
    }, { pgbenchScale: 0 });
    await sql(s.dbName, 'CREATE TABLE grok_usage (id int)');
    const attempt = () => new MockActivityEnvironment().run(activities.applyDownMigrations, { system: s.name, database: 'main', phases: [5], idempotencyKey: 'wf:run:down-sql', actor: 'dana' });
    const outcomes = (await Promise.all([attempt(), attempt()])) as { alreadyApplied: boolean }[];
    assert.deepEqual(outcomes.map((o) => o.alreadyApplied).sort(), [false, true], 'one attempt ran the SQL, the other waited for it and found it in the ledger');
    assert.deepEqual(await sql(s.dbName, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'grok_usage'"), [{ n: 0 }]);
    assert.deepEqual(await sql(s.dbName, 'SELECT key, phases FROM rollback_runbooks.schema_rollbacks'), [{ key: 'wf:run:down-sql', phases: [5] }]);
  });

  test('pg_restore killed midway fails clearly, and the retry recreates its own side database (no duplicate)', async () => {
    const s = await newDatabaseSystem(undefined, { pgbenchScale: 10 });
    await s.backup('big');
    const handle = await restore(s.name, { backup: 'big' });
    await waitForStatus(handle, (st) => st.currentStep === 'restore-to-side', 60_000);
    let killed = false;
    const deadline = Date.now() + 30_000;
    while (!killed && Date.now() < deadline) {
      try {
        execFileSync('pkill', ['-KILL', '-f', `pg_restore.*--dbname=${s.dbName}__restore_`]);
        killed = true;
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // not started yet
      }
    }
    assert.ok(killed, 'caught pg_restore running');
    // A retried attempt's failure is not a history event; the pending activity carries it until the retry.
    // Polled against a clock, not a count: under load each describe takes longer, and a count ran out first.
    let lastFailure: string | null | undefined;
    const seen = Date.now() + 30_000;
    while (!lastFailure && Date.now() < seen) {
      lastFailure = (await handle.describe()).raw.pendingActivities?.[0]?.lastFailure?.message;
      if (!lastFailure) await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(lastFailure ?? '', /^pg_restore was killed \(SIGKILL\)/);
    await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 120_000);
    const history = (await handle.fetchHistory()).events ?? [];
    const attempts = history.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(attempts.some((a) => (a ?? 0) >= 2), 'the restore activity ran a second attempt');
    assert.equal((await databasesLike(`${s.dbName}__restore_`)).length, 1, 'one side database, recreated in place');
    await handle.signal(approveSignal, { by: 'dana' });
    await handle.result();
    assert.equal((await fingerprint(s.dbName)).accounts, '1000000');
  });

  test('a side database name already taken by someone else stops the restore and changes nothing', async () => {
    const s = await newDatabaseSystem();
    await s.backup('b1');
    const side = `${s.dbName}__restore_deadbeef`;
    created.push(side);
    await sql('postgres', `CREATE DATABASE ${side}`);
    await sql(side, 'CREATE TABLE precious (v text); INSERT INTO precious VALUES (\'keep me\')');
    await assert.rejects(
      new MockActivityEnvironment().run(activities.restoreToSide, { system: s.name, database: 'main', backupDir: join(s.backupDir, 'b1'), side, marker: 'rollback-runbooks side restore deadbeef by wf' }),
      { message: `database "${side}" already exists and was not made by this restore; rename or remove it first` },
    );
    assert.deepEqual(await sql(side, 'SELECT v FROM precious'), [{ v: 'keep me' }]);
  });

  test('identifiers with odd characters are quoted all the way through a restore', async () => {
    const odd = `sandbox_test_${process.pid}_odd "quoted" db`;
    const system = await newDatabaseSystem(undefined, { dbName: odd, pgbenchScale: 0 });
    await system.backup('b1');
    await sql(odd, 'DELETE FROM payments');
    const handle = await restore(system.name);
    await waitForStatus(handle, (st) => st.state === 'awaiting_approval', 60_000);
    await handle.signal(approveSignal, { by: 'dana' });
    await handle.result();
    assert.deepEqual(await sql(odd, 'SELECT count(*)::int AS n FROM payments'), [{ n: 1000 }]);
    assert.equal((await databasesLike(`${odd}__pre_restore_`)).length, 1);
  });

  test('the CLI takes a backup through the worker, lists the catalog, and dry-runs a restore from it', async () => {
    const s = await newDatabaseSystem();
    const cli = (...args: string[]) => runCli(t.env.address, args);
    const taken = await cli('backup', '--system', s.name, '--database', 'main', '--id', 'manual-1');
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(taken.stdout, /Backup manual-1 taken .*: \d+ files, [\d.]+ MB/);
    assert.match(taken.stdout, /public\.pgbench_accounts\s+100000/);
    const listed = await cli('backups', '--system', s.name, '--database', 'main');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /manual-1\s+backup\s+/);
    const dry = await cli('start', 'dataRestore', '--system', s.name, '--database', 'main', '--reason', 'drill', '--by', 'alice', '--dry-run', '--wait');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`restore of database main requested by alice: drill`));
    assert.deepEqual(await databasesLike(`${s.dbName}__`), [], 'a dry run creates nothing');
    const missing = await cli('start', 'dataRestore', '--system', s.name, '--reason', 'drill', '--by', 'alice');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing --database/);
    const foreign = await cli('start', 'dataRestore', '--system', s.name, '--database', 'main', '--mode', 'immediate', '--reason', 'drill', '--by', 'alice');
    assert.equal(foreign.code, 2);
    assert.equal(foreign.stderr.split('\n')[0], 'rollback start: --mode does not apply to dataRestore');
    // A refusal by the workflow is told in its own words, not as "Workflow execution failed".
    const refused = await cli('backup', '--system', s.name, '--database', 'orders');
    assert.equal(refused.code, 3, refused.stderr);
    assert.equal(refused.stderr, `REFUSED: unknown database 'orders' for ${s.name}; the runbook has: main\n`);
  });
});
