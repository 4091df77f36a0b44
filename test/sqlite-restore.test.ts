/**
 * The sqlite-restore action (seed 001: `railway down`, `cp memory_<stamp>.db memory.db`, `sqlite3
 * memory.db "PRAGMA integrity_check;"`, `railway up`) in a phaseRollback on a real dev server and
 * worker: real SQLite files made and read with Debian's sqlite3, and the sandbox router's canary as the
 * writer that is stopped (scaled to 0) while the file is replaced. Afterwards the files themselves and
 * the router's change log are read back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decideSignal, statusQuery } from '../src/contract/messages.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv, type TestSystem } from './rollback-harness.ts';

let t: RollbackTestEnv;
const dir = mkdtempSync(join(tmpdir(), 'sqlite-restore-'));

const sqlite = (file: string, sql: string) => execFileSync('sqlite3', [file, sql], { encoding: 'utf8' }).trim();
/** A SQLite file holding `n` sessions. */
function sessionsDb(file: string, n: number): void {
  rmSync(file, { force: true });
  sqlite(file, `CREATE TABLE sessions (id INTEGER PRIMARY KEY, state TEXT); ${Array.from({ length: n }, (_, i) => `INSERT INTO sessions (state) VALUES ('session ${i + 1}');`).join(' ')}`);
}
const sessions = (file: string) => Number(sqlite(file, 'SELECT count(*) FROM sessions'));

/** A system whose runbook has seed 001's memory database under sqlite:, its writer the sandbox's canary. */
async function memorySystem(name: string): Promise<TestSystem & { live: string; backups: string }> {
  const live = join(dir, name, 'memory.db');
  const backups = join(dir, name, 'backups');
  execFileSync('mkdir', ['-p', backups]);
  const system = await t.newSystem((doc) => {
    doc.providers.router = { provider: 'http-router', settings: { ...doc.traffic.settings } };
    doc.sqlite = {
      memory: {
        path: live,
        backupDir: backups,
        backupPattern: 'memory_*.db',
        writer: { provider: 'router', scale: 'canary' },
        smokeQueries: [{ name: 'sessions-present', sql: 'SELECT count(*) > 0 AS ok FROM sessions', expect: { ok: 1 } }],
      },
    };
    doc.phases.push({
      id: 8,
      name: 'Memory store',
      rollback: [{ 'sqlite-restore': 'memory', backup: 'latest' }, { command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true }],
      verify: false,
    });
    doc.phases.push({ id: 12, name: 'Named backup', rollback: [{ 'sqlite-restore': 'memory', backup: 'memory_20240101_000000.db' }], verify: false });
  });
  return { ...system, live, backups };
}

const phase = (system: TestSystem, phases: number[]) =>
  startRollback(t, { system: system.name, phases, reason: 'memory lost after the deploy', requestedBy: 'alice', baselineSeconds: 0 }, undefined, 'phaseRollback');
const instanceChanges = (system: TestSystem) => system.sandbox.router.changes.filter((c) => c.kind === 'instances').map((c) => c.after);

describe('sqlite-restore', { timeout: 240_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the latest backup, checked first, replaces the file with the writer stopped; the file from before is kept, and compensation puts it back', async () => {
    const s = await memorySystem('restore');
    sessionsDb(join(s.backups, 'memory_20240115_020000.db'), 3);
    sessionsDb(join(s.backups, 'memory_20240116_020000.db'), 5);
    sessionsDb(s.live, 1); // what the bad deploy left
    const handle = await phase(s, [8]);
    await waitForStatus(handle, (st) => st.state === 'awaiting_decision', 60_000);
    assert.equal(sessions(s.live), 5, 'the latest backup is live');
    const saved = readdirSync(join(dir, 'restore')).filter((f) => f.startsWith('memory.db.pre-restore-'));
    assert.equal(saved.length, 1, 'the file from before is kept aside');
    assert.equal(sessions(join(dir, 'restore', saved[0]!)), 1);
    assert.deepEqual(instanceChanges(s), [{ version: 'canary', count: 0 }, { version: 'canary', count: 1 }], 'the writer was stopped, then started at the count it had');
    const status = await handle.query(statusQuery);
    assert.match(status.notes.join('\n'), /SQLite memory: restored from backup memory_20240116_020000\.db \(integrity_check ok, smoke queries passed\); the file there before kept as .*memory\.db\.pre-restore-.* \(canary scaled to 0, canary back to 1\)/);

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.equal(sessions(s.live), 1, 'the file from before is back');
    const undone = readdirSync(join(dir, 'restore')).filter((f) => f.startsWith('memory.db.undone-'));
    assert.equal(undone.length, 1, 'the restored file is kept, not thrown away');
    assert.equal(sessions(join(dir, 'restore', undone[0]!)), 5);
    assert.equal(instanceChanges(s).length, 4, 'the undo stopped and started the writer too');
  });

  test('a writer slower to stop than the heartbeat timeout (railway down takes its time): the restore goes on in its first attempt, the writer stopped and started once', async () => {
    const writerLog = join(dir, 'slow-writer.log');
    const note = (what: string, afterMs: number) => [process.execPath, '-e', `setTimeout(() => require('node:fs').appendFileSync(${JSON.stringify(writerLog)}, '${what}\\n'), ${afterMs})`];
    const live = join(dir, 'slow', 'memory.db');
    const backups = join(dir, 'slow', 'backups');
    execFileSync('mkdir', ['-p', backups]);
    const s = await t.newSystem((doc) => {
      // 8 s to stop: longer than the 5 s heartbeat timeout of every activity.
      doc.sqlite = { memory: { path: live, backupDir: backups, backupPattern: 'memory_*.db', writer: { stop: note('stop', 8000), start: note('start', 0), timeoutSeconds: 60 } } };
      doc.phases.push({ id: 8, name: 'Memory store', rollback: [{ 'sqlite-restore': 'memory', backup: 'latest' }], verify: false });
    });
    sessionsDb(join(backups, 'memory_20240116_020000.db'), 5);
    sessionsDb(live, 1);
    const handle = await phase(s, [8]);
    await handle.result();
    assert.equal(sessions(live), 5, 'the backup is live');
    assert.equal(readFileSync(writerLog, 'utf8'), 'stop\nstart\n', 'the writer was stopped once and started once: the attempt was not given up while it waited');
    const history = await handle.fetchHistory();
    const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(attempts.every((a) => a === 1), `every activity ran in its first attempt, got attempts ${attempts.join(', ')}`);
  });

  test('a backup that fails integrity_check is refused before the writer stops or the file changes; an unknown backup is refused in the snapshot naming the last ones', async () => {
    const s = await memorySystem('refused');
    sessionsDb(join(s.backups, 'memory_20240115_020000.db'), 3);
    writeFileSync(join(s.backups, 'memory_20240117_020000.db'), Buffer.alloc(8192, 7)); // the latest: not a database
    sessionsDb(s.live, 1);
    const handle = await phase(s, [8]);
    const waiting = await waitForStatus(handle, (st) => st.state === 'awaiting_decision', 60_000);
    assert.match(waiting.pendingDecision!.error, /^backup memory_20240117_020000\.db did not verify, so nothing was stopped or replaced: integrity_check of \.memory\.db\.restoring-.*: .*(not a database|malformed)/);
    assert.equal(sessions(s.live), 1, 'the live file is untouched');
    assert.deepEqual(instanceChanges(s), [], 'the writer was never stopped');
    await handle.signal(decideSignal, { by: 'bob', action: 'abort' });
    await failureOf(handle.result());

    const unknown = await failureOf((await phase(s, [12])).result());
    assert.equal(unknown.message, `cannot roll back:\n  no backup 'memory_20240101_000000.db' of SQLite database memory in ${s.backups}; its last backups: memory_20240115_020000.db, memory_20240117_020000.db`);
    assert.ok(!existsSync(`${s.live}-wal`));
  });
});
