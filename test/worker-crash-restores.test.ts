/**
 * Durability of two restores (worker-crash.test.ts covers the others): the worker process is killed
 * with SIGKILL while a team's plain SQL dump is being loaded into the side database, and while a
 * container volume is being replaced from its backup. What the dead worker started (psql, a helper
 * container) is left running, as it would be. A new worker process finishes the rollback, and the
 * databases, volume, archives and services are checked afterwards: each change made once, what was
 * there before kept exactly as it was.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { stringify } from 'yaml';
import { startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { ensureSandboxDatabase } from '../sandbox/database.ts';
import { waitForPoller } from '../scripts/lib/temporal.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { approveSignal, statusQuery } from '../src/contract/messages.ts';
import type { BackupManifest } from '../src/providers/database/backup.ts';
import { workerProcesses, writeSandboxRunbook } from './crash-harness.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { databasesLike, dropTestDatabase, freePort, kill9, POSTGRES, sleep, sql, startTemporal } from './harness.ts';
import { waitForStatus } from './rollback-harness.ts';

let env: TestWorkflowEnvironment;
let dir: string;
let sandbox: Sandbox | undefined;
let engine: DockerEngine | undefined;
/** The runbooks folder and secrets of the test running now. */
let runbooksDir: string;
let secrets: Record<string, string> = {};
const workers = workerProcesses(() => ({ address: env.address, runbooksDir, env: secrets }));
const databaseName = `sandbox_test_${process.pid}_crashdump`;

/** Rows in every table of `database`'s public schema, by table. */
async function rowCounts(database: string): Promise<Record<string, number>> {
  const tables = await sql<{ name: string }>(database, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1");
  const counts: Record<string, number> = {};
  for (const { name } of tables) counts[`public.${name}`] = (await sql<{ n: number }>(database, `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(name)}`))[0]!.n;
  return counts;
}

/** Each activity of `type` the workflow scheduled: the attempt that ended it and what it returned. */
async function activityRuns(handle: WorkflowHandle, type: string): Promise<{ attempt: number; result: any }[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type).map((e) => String(e.eventId)));
  const attempts = new Map(events.flatMap((e) => (e.activityTaskStartedEventAttributes ? [[String(e.activityTaskStartedEventAttributes.scheduledEventId), e.activityTaskStartedEventAttributes.attempt ?? 0]] : [])));
  return [...scheduled].map((id) => {
    const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id);
    const data = completed?.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
    return { attempt: attempts.get(id) ?? 0, result: data ? JSON.parse(Buffer.from(data).toString()) : undefined };
  });
}

/** Every file under `root` (path relative to it) with its sha256. */
function fileHashes(root: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else hashes[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(root);
  return hashes;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('a worker killed mid-restore', { timeout: 600_000 }, () => {
  before(async () => {
    env = await startTemporal();
    dir = mkdtempSync(join(tmpdir(), 'crash-restores-'));
  });
  after(async () => {
    await workers.killAll();
    await sandbox?.stop();
    await engine?.stop();
    await env?.teardown();
    rmSync(dir, { recursive: true, force: true });
    for (const name of await databasesLike(databaseName)) await dropTestDatabase(name);
  });

  test("during a team's plain dump loaded into the side database: the new worker loads it again into a side database made anew, the safety dump and the swap each made once", async () => {
    await workers.killAll();
    runbooksDir = join(dir, 'dump');
    const dumps = join(runbooksDir, 'dumps');
    mkdirSync(dumps, { recursive: true });
    sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null, loadRequestsPerSecond: 40 });
    writeSandboxRunbook(runbooksDir, sandbox, 1, (doc) => (doc.databases.main.dumpsDir = dumps));
    const databaseUrl = `${POSTGRES}/${databaseName}`;
    secrets = { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify`, SANDBOX_DATABASE_URL: databaseUrl };
    await ensureSandboxDatabase(databaseUrl);
    // Half a million pgbench accounts: psql's COPY of them into the side database takes seconds.
    execFileSync('pgbench', ['-i', '-s', '5', '-q', '-h', '127.0.0.1', '-U', 'postgres', databaseName], { stdio: 'ignore' });
    execFileSync('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', '-Fp', '-f', join(dumps, 'backup.sql'), databaseName]);
    const atDump = await rowCounts(databaseName);
    // The incident, after the dump: what the restore takes back, and what the kept database must still hold.
    await sql(databaseName, 'DELETE FROM pgbench_accounts WHERE aid > 400000; DELETE FROM order_items WHERE order_id > 1500; DELETE FROM payments WHERE order_id > 1500; DELETE FROM orders WHERE id > 1500');
    const beforeRestore = await rowCounts(databaseName);
    assert.notDeepEqual(beforeRestore, atDump);

    const first = await workers.start();
    await waitForPoller(env.connection, 'default', 60_000);
    const handle = await env.client.workflow.start('dataRestore', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-dump-${Date.now()}`,
      args: [{ system: 'sandbox', database: 'main', reason: 'crash drill', requestedBy: 'alice', source: { dump: 'backup.sql', format: 'plain' } }],
    });
    // Kill the worker while psql is copying rows into the side database.
    let copying = false;
    for (let deadline = Date.now() + 180_000; !copying && Date.now() < deadline; ) {
      const rows = await sql('postgres', "SELECT 1 FROM pg_stat_activity WHERE starts_with(datname, $1) AND query ILIKE 'COPY public.pgbench_accounts%' AND state = 'active'", [`${databaseName}__restore_`]);
      copying = rows.length > 0;
      if (!copying) await sleep(50);
    }
    assert.ok(copying, 'psql was copying rows into the side database');
    await kill9(first);
    await workers.start();
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval', 180_000);
    await handle.signal(approveSignal, { by: 'dana' });
    const result = await handle.result();
    const { keptAs, side } = result.plan!;

    assert.deepEqual(await rowCounts(databaseName), atDump, 'live holds the dump, each row once');
    assert.deepEqual(await databasesLike(`${databaseName}__`), [keptAs], 'the database from before kept under its name, no side database left');
    assert.deepEqual(await rowCounts(keptAs), beforeRestore, 'the kept database is the one from before the restore');
    const safetyDumps = readdirSync(join(runbooksDir, 'backups', 'main')).filter((name) => name.startsWith('safety-'));
    assert.deepEqual(safetyDumps, [result.safetyDump], 'one safety dump of the live database');
    const manifest = JSON.parse(readFileSync(join(runbooksDir, 'backups', 'main', result.safetyDump!, 'manifest.json'), 'utf8')) as BackupManifest;
    assert.deepEqual(manifest.rowCounts, beforeRestore, 'the safety dump holds the live database from before the restore');

    const restores = await activityRuns(handle, 'restoreToSide');
    assert.equal(restores.length, 1, 'one restore scheduled');
    assert.equal(restores[0]!.attempt, 2, 'retried on the new worker');
    assert.deepEqual([restores[0]!.result.side, restores[0]!.result.recreated], [side, true], 'the retry dropped the half-loaded side database and made it anew');
    assert.deepEqual((await activityRuns(handle, 'backupDatabase')).map((r) => r.attempt), [1], 'the safety dump taken once');
    assert.deepEqual((await activityRuns(handle, 'swapDatabases')).map((r) => r.attempt), [1], 'the swap made once');
    const status = await handle.query(statusQuery);
    assert.deepEqual(['safety-dump', 'restore-to-side', 'swap'].map((name) => status.steps.find((s) => s.name === name)?.runs), [1, 1, 1]);
    const psql = spawnSync('pgrep', ['-f', '--', `--file=${join(dumps, 'backup.sql')}`], { encoding: 'utf8' });
    assert.equal(psql.stdout, '', 'the dead worker’s psql is gone: its connection ended when the side database was made anew');
  });

  test('during a volume replace: the new worker replaces it again from the backup, the archive of before is not taken again, and the service is stopped and started', async () => {
    await workers.killAll();
    await sandbox?.stop();
    sandbox = undefined;
    runbooksDir = join(dir, 'volume-runbooks');
    const projectDir = join(dir, 'compose'); // not among the runbooks: the worker loads every YAML file there
    const backups = join(projectDir, 'backups');
    mkdirSync(runbooksDir);
    mkdirSync(backups, { recursive: true });
    engine = await startDockerEngine();
    const docker = engine.docker;
    await engine.importImage('tools:1', {}, { applets: ['sh', 'httpd', 'tar', 'gzip', 'find', 'mkdir', 'echo', 'rm', 'head'] });
    const project = 'rrcrash';
    const volume = `${project}_webdata`;
    const port = await freePort();
    writeFileSync(
      join(projectDir, 'docker-compose.yml'),
      `services:
  web:
    image: tools:1
    network_mode: host
    command: ["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]
    stop_grace_period: 1s
    volumes: ["webdata:/www"]
volumes:
  webdata: {}
`,
    );
    await docker(['compose', '-p', project, '-f', join(projectDir, 'docker-compose.yml'), 'up', '-d', '--wait'], { cwd: projectDir });
    secrets = { PATH: engine.env.PATH!, HOME: engine.env.HOME!, DOCKER_CONFIG: engine.env.DOCKER_CONFIG!, TEST_DOCKER_HOST: engine.host };
    writeFileSync(
      join(runbooksDir, 'web.yaml'),
      stringify({
        system: 'web',
        approvers: { oncall: ['alice', 'bob'] },
        rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
        notify: [{ provider: 'log' }],
        decisions: { timeoutSeconds: 120, onTimeout: 'abort' },
        providers: { compose: { provider: 'docker-compose', settings: { projectDir, project, dockerHostEnv: 'TEST_DOCKER_HOST', helperImage: 'tools:1', timeoutSeconds: 120 } } },
        volumes: { 'web-data': { volume, backupDir: backups, backupPattern: 'web_data_*.tar.gz', services: ['web'] } },
        phases: [{ id: 1, name: 'Web data', rollback: [{ 'volume-restore': 'web-data' }], verify: false }],
      }),
    );
    const inVolume = (script: string) => docker(['run', '--rm', '--network', 'none', '--volume', `${volume}:/www`, 'tools:1', 'sh', '-c', script]);
    const served = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return response.status === 200 ? (await response.text()).trim() : response.status;
    };
    const mountpoint = (await docker(['volume', 'inspect', '--format', '{{.Mountpoint}}', volume])).trim();

    // The uploads: 1000 files of 128 kB that do not compress, so extracting them takes seconds.
    const uploads = 1000;
    await inVolume(`echo v1 > /www/health && mkdir -p /www/docs /www/uploads && echo manual > /www/docs/index && i=0; while [ $i -lt ${uploads} ]; do head -c 131072 /dev/urandom > /www/uploads/$i; i=$((i+1)); done`);
    const backedUp = fileHashes(mountpoint);
    await docker(['run', '--rm', '--network', 'none', '--volume', `${volume}:/data:ro`, '--volume', `${backups}:/backup`, 'tools:1', 'tar', '-czf', '/backup/web_data_20240815_120000.tar.gz', '-C', '/data', '.']);
    await inVolume('rm -rf /www/uploads && echo v2 > /www/health && echo left-over > /www/extra'); // the bad release
    const beforeRestore = fileHashes(mountpoint);
    assert.equal(await served('/health'), 'v2');

    const since = String(Math.floor(Date.now() / 1000));
    const first = await workers.start();
    await waitForPoller(env.connection, 'default', 60_000);
    const handle = await env.client.workflow.start('phaseRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-volume-${Date.now()}`,
      args: [{ system: 'web', phases: [1], reason: 'the release deleted the uploads', requestedBy: 'alice', baselineSeconds: 0 }],
    });
    // Kill the worker with the volume half replaced: emptied, some uploads extracted, others not yet.
    let halfway = 0;
    for (let deadline = Date.now() + 180_000; !halfway && Date.now() < deadline; ) {
      const extracted = (() => {
        try {
          return readdirSync(join(mountpoint, 'uploads')).length;
        } catch {
          return 0;
        }
      })();
      if (extracted > 0 && extracted < uploads) halfway = extracted;
      else await sleep(10);
    }
    assert.ok(halfway, 'the volume was caught half replaced');
    await kill9(first);
    assert.equal((await docker(['inspect', '--format', '{{.State.Status}}', `${project}-web-1`])).trim(), 'exited', 'the service was stopped while its volume was replaced');
    const archives = () => readdirSync(backups).filter((f) => f.startsWith(`${volume}.pre-restore-`));
    const [saved] = archives();
    assert.ok(saved, 'what the volume held was archived before it was emptied');
    const savedHash = sha256(join(backups, saved));
    const savedAt = statSync(join(backups, saved)).mtimeMs;
    await workers.start();
    await handle.result();

    assert.deepEqual(fileHashes(mountpoint), backedUp, 'the volume holds exactly the backup');
    assert.equal(await served('/health'), 'v1', 'the service runs and serves the backup');
    const upload = Buffer.from(await (await fetch(`http://127.0.0.1:${port}/uploads/${uploads - 1}`)).arrayBuffer());
    assert.equal(createHash('sha256').update(upload).digest('hex'), backedUp[`uploads/${uploads - 1}`], 'and the uploads');
    assert.equal(await served('/extra'), 404, 'nothing the release left stays beside the backup');
    assert.deepEqual(archives(), [saved], 'the archive of before taken once');
    assert.equal(sha256(join(backups, saved)), savedHash, 'and not written again by the retry');
    assert.equal(statSync(join(backups, saved)).mtimeMs, savedAt);
    const check = mkdtempSync(join(dir, 'saved-'));
    execFileSync('tar', ['-xzf', join(backups, saved), '-C', check]);
    assert.deepEqual(fileHashes(check), beforeRestore, 'the archive holds what the volume held before the restore, not the restored uploads');

    const restores = await activityRuns(handle, 'restoreVolume');
    assert.deepEqual(restores.map((r) => r.attempt), [2], 'one restore, retried on the new worker');
    assert.equal(restores[0]!.result.entries, uploads + 4, 'the uploads, their folder, health, docs and docs/index');
    const status = await handle.query(statusQuery);
    assert.equal(status.steps.find((s) => s.name === 'phase-1/restore volume web-data')?.runs, 1);
    const events = (await docker(['events', '--since', since, '--until', String(Math.ceil(Date.now() / 1000)), '--filter', `container=${project}-web-1`, '--format', '{{.Action}}'])).split('\n').filter(Boolean);
    assert.deepEqual(events.filter((a) => a === 'stop' || a === 'start'), ['stop', 'start'], 'the service stopped once, before the volume was emptied, and started once, after');
    assert.equal((await docker(['inspect', '--format', '{{.State.Status}}', `${project}-web-1`])).trim(), 'running');
    assert.deepEqual((await docker(['ps', '--all', '--format', '{{.Names}}'])).split('\n').filter(Boolean), [`${project}-web-1`], 'no helper container left behind');
  });
});
