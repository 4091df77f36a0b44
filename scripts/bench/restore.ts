/**
 * `npm run bench:restore`: what the dataRestore workflow costs against a bare pg_restore, measured
 * side by side in one run on this machine, on a pgbench scale-50 database (about 5 million rows in
 * pgbench_accounts, plus the sandbox tables) in the local PostgreSQL, with the real dev server and a
 * real worker process.
 *   (1) orchestrated: the dataRestore workflow from start to result, broken down per step from the
 *       status query. Its restore, verify and swap (from restore-to-side starting to verify-live
 *       ending: pg_restore, row counts and smoke queries, stop writers, the swap, the live check) is
 *       the span compared with the bare path; the verified safety dump before it, preflight and
 *       report have no bare counterpart and are shown beside it, as is the whole;
 *   (2) bare: pg_restore -j2 of the same backup into a new database, then the rename; no safety dump,
 *       no verification. Target: orchestrated restore, verify and swap / bare <= 1.15;
 *   (3) the swap window, in runs of its own (their load would otherwise be counted against the
 *       workflow in (1)): the workflow's swapWindowMs, a probe connecting to the live name every 5 ms
 *       through the swap (target: <= 1 s), and a concurrent writer that ignores the maintenance flag
 *       (an INSERT every 5 ms through the whole run): its longest gap between acknowledged writes,
 *       and every acknowledged write found afterwards in the kept or the live database (none lost);
 *   (4) pg_restore --jobs=1 against --jobs=2 into fresh databases.
 * Every database it creates is named bench_restore_<pid>...; all are dropped at the end, also on
 * failure or Ctrl-C. Prints a summary and writes bench-results/restore-<time>.json.
 * Before the timed runs, untimed: one bare restore into a throwaway database (the server then has its
 * WAL segments and the backup is in the page cache for every timed run alike, instead of whichever
 * path runs first paying for them) and one dry run of the workflow (the worker loads its code).
 * BENCH_RUNS (default 3) runs of each timed measurement, medians reported; BENCH_SCALE (default 50);
 * BENCH_VERBOSE=1 prints every activity of each workflow run.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import pino from 'pino';
import { parseDocument, stringify } from 'yaml';
import { ensureSandboxDatabase } from '../../sandbox/database.ts';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { createActivities } from '../../src/activities/index.ts';
import { ProviderClients } from '../../src/providers/index.ts';
import type { BackupManifest } from '../../src/providers/database/backup.ts';
import { parseConnection, quote, runTool, serverVersion, toolMajorVersion, withClient, withDatabase } from '../../src/providers/database/pg-tools.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import { TASK_QUEUE } from '../../src/contract/index.ts';
import type { DataRestoreResult } from '../../src/contract/index.ts';
import type { RollbackStatus } from '../../src/contract/index.ts';
import { DEV_SERVER_DYNAMIC_CONFIG_VALUES, devServerOptions, waitForPoller } from '../lib/temporal.ts';
import { resolveTemporalCli } from '../temporal-cli.ts';
import { eventMs, round, saveResults, sleep, startBenchWorker } from './common.ts';
import { statusQuery } from '../../src/contract/messages.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 50);
const JOBS = 2;
const POSTGRES = 'postgres://postgres@127.0.0.1:5432';
const PREFIX = 'bench_restore_'; // the only names this bench ever drops
const LIVE = `${PREFIX}${process.pid}`;
const SYSTEM = 'bench-restore';
const URL_ENV = 'BENCH_RESTORE_DATABASE_URL';
const BACKUP_ID = 'bench';
const TARGET_RATIO = 1.15;
const TARGET_SWAP_MS = 1000;
const PROBE_INTERVAL_MS = 5;
const PROBE_IN_FLIGHT = 8;
// The steps reported one by one; the verified safety dump is its own step, taken before the restore.
const STEPS = ['safety-dump', 'restore-to-side', 'verify-side', 'swap', 'verify-live'] as const;

const execFileAsync = promisify(execFile);
/** The true median (the mean of the middle two for an even count: with 2 runs, their mean). */
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const verdict = (met: boolean) => (met ? 'MET' : 'NOT MET');
const conn = parseConnection(`${POSTGRES}/${LIVE}`);
const log = (line: string) => console.log(`  [bench:restore ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** One statement on its own connection to `database`. */
const sql = <T extends pg.QueryResultRow = pg.QueryResultRow>(database: string, text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(withDatabase(conn, database), async (c) => (await c.query<T>(text, values)).rows);

/** Every database this run made: the live one and every name derived from it. */
async function benchDatabases(): Promise<string[]> {
  const rows = await sql<{ datname: string }>('postgres', 'SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $2) ORDER BY 1', [LIVE, `${LIVE}_`]);
  return rows.map((r) => r.datname);
}

async function dropBenchDatabase(name: string): Promise<void> {
  if (!name.startsWith(PREFIX)) throw new Error(`refusing to drop ${name}: not a bench_restore_ database`);
  await sql('postgres', `DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
}

/** Dirty buffers written out before each timed measurement, so none pays for the one before. */
const checkpoint = () => sql('postgres', 'CHECKPOINT');

/** A runbook whose database `main` is the bench database; no gate (human time is not measured here). */
function benchRunbook(sandbox: Sandbox, backupDir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed YAML document, edited freely
  const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
  doc.system = SYSTEM;
  doc.databases.main.urlEnv = URL_ENV;
  doc.databases.main.backupDir = backupDir;
  doc.providers.flags.settings.databaseUrlEnv = URL_ENV;
  doc.gates = {};
  delete doc.drills; // they approve gates this runbook does not have, and drill a watchdog no benchmark runs
  delete doc.watch;
  doc.decisions = { timeoutSeconds: 60, onTimeout: 'abort' };
  doc.notify = [{ provider: 'log' }, { provider: 'webhook', settings: { urlEnv: 'SANDBOX_WEBHOOK_URL' } }];
  return stringify(doc);
}

/** CREATE DATABASE and pg_restore of the backup into it, nothing else: the bare path. */
async function restoreFresh(name: string, dumpDir: string, jobs: number): Promise<void> {
  await sql('postgres', `CREATE DATABASE ${quote(name)}`);
  await runTool('pg_restore', ['--exit-on-error', `--jobs=${jobs}`, `--dbname=${name}`, dumpDir], withDatabase(conn, name));
}

interface ProbeResult {
  /** Longest stretch of refused connections: first refused attempt's start to the next accepted attempt's start. */
  longestRefusedMs: number | null;
  attempts: number;
  refused: number;
  /** Median time from one attempt's start to the next (the probe's resolution). */
  attemptPeriodMs: number | null;
  /** Median time one attempt took to be accepted or refused. */
  medianConnectMs: number | null;
  /** Attempts not made because PROBE_IN_FLIGHT were still unanswered. */
  skipped: number;
  /** true when the probe may have missed the start of the swap (its first attempt was already refused). */
  startedLate: boolean;
  /** true when the refusals had not ended when the probe stopped. */
  unfinished: boolean;
  errors: string[];
}

async function tryConnect(url: string, errors: string[]): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return true;
  } catch (err) {
    const message = (err as Error).message;
    if (!errors.includes(message) && errors.length < 5) errors.push(message);
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Watches the swap from outside. Until the maintenance flag turns on (stop-writers ran; the swap is
 * next) it reads the flag every 5 ms on one connection, which costs next to nothing; from then on it
 * opens a new connection to the live name every 5 ms and records the longest stretch of refusals,
 * stopping 250 ms after connections are accepted again.
 */
function startSwapProbe(url: string, late: boolean): { stop(): Promise<ProbeResult> } {
  let stopping = false;
  const result: ProbeResult = { longestRefusedMs: null, attempts: 0, refused: 0, attemptPeriodMs: null, medianConnectMs: null, skipped: 0, startedLate: late, unfinished: false, errors: [] };
  const run = async () => {
    if (!late) {
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => undefined);
      try {
        await c.connect();
        while (!stopping) {
          const { rows } = await c.query<{ enabled: boolean }>("SELECT enabled FROM feature_flags WHERE name = 'maintenance_mode'");
          if (rows[0]?.enabled === true) break;
          await sleep(PROBE_INTERVAL_MS);
        }
      } catch {
        result.startedLate = true; // the swap ended this connection: it is already under way
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    // A new attempt every 5 ms whether or not the last one has answered (a connection takes about as
    // long), so the resolution is the interval; at most PROBE_IN_FLIGHT at once.
    const attempts: { start: number; end: number; accepted: boolean }[] = [];
    const pending = new Set<Promise<void>>();
    let lastRefusedStart: number | null = null;
    let acceptedSince = 0;
    let skipped = 0;
    while (!stopping) {
      const start = performance.now();
      if (pending.size < PROBE_IN_FLIGHT) {
        const attempt: Promise<void> = tryConnect(url, result.errors).then((accepted) => {
          attempts.push({ start, end: performance.now(), accepted });
          if (!accepted) {
            if (lastRefusedStart === null || start > lastRefusedStart) lastRefusedStart = start;
            acceptedSince = 0;
          } else if (lastRefusedStart !== null && start > lastRefusedStart) acceptedSince += 1;
          pending.delete(attempt);
        });
        pending.add(attempt);
      } else skipped += 1;
      // The swap is over once connections are accepted again for 250 ms: stop adding load to verify-live.
      if (lastRefusedStart !== null && acceptedSince >= 10 && start - lastRefusedStart >= 250) break;
      await sleep(Math.max(0, PROBE_INTERVAL_MS - (performance.now() - start)));
    }
    await Promise.all(pending);
    attempts.sort((a, b) => a.start - b.start);
    let stretchStart: number | null = null;
    for (const { start, accepted } of attempts) {
      if (!accepted) stretchStart ??= start;
      else if (stretchStart !== null) {
        result.longestRefusedMs = round(Math.max(result.longestRefusedMs ?? 0, start - stretchStart));
        stretchStart = null;
      }
    }
    if (stretchStart !== null) {
      result.unfinished = true;
      result.longestRefusedMs = round(Math.max(result.longestRefusedMs ?? 0, attempts.at(-1)!.end - stretchStart));
    }
    result.attempts = attempts.length;
    result.refused = attempts.filter((a) => !a.accepted).length;
    result.skipped = skipped;
    result.startedLate ||= attempts[0]?.accepted === false;
    const gaps = attempts.slice(1).map((a, i) => a.start - attempts[i]!.start);
    result.attemptPeriodMs = gaps.length > 0 ? round(median(gaps)) : null;
    const durations = attempts.map((a) => a.end - a.start);
    result.medianConnectMs = durations.length > 0 ? round(median(durations)) : null;
  };
  const running = run();
  return {
    async stop() {
      stopping = true;
      await running;
      return result;
    },
  };
}

/** What the concurrent writer saw through one orchestrated run, and where its writes ended up. */
interface WriterResult {
  /** INSERTs the server acknowledged. */
  acknowledged: number;
  /** Attempts that failed (connection ended by the swap, connections refused, the maintenance window). */
  failed: number;
  /** The longest time between two acknowledged writes: how long a writer that ignores the maintenance flag could not write. */
  longestGapMs: number;
  /** Acknowledged writes found afterwards in the database kept aside (before the swap) and in the live one (after). */
  inKeptDatabase: number;
  inLiveDatabase: number;
  /** Acknowledged writes found in neither: must be 0. */
  lost: number;
  errors: string[];
}

/**
 * A writer that ignores the maintenance flag (the worst case for the swap): one INSERT into
 * bench_writes on the live name every 5 ms on a kept connection, reconnecting at once when the swap
 * ends it, from the workflow's start to its end. `stop()` then looks for every acknowledged write in
 * the database kept aside and in the live one.
 */
function startConcurrentWriter(liveUrl: string, run: number): { stop(keptDatabase: string | null): Promise<WriterResult> } {
  const base = run * 1_000_000;
  const acked: number[] = [];
  const ackedAt: number[] = [];
  const errors: string[] = [];
  let failed = 0;
  let stopping = false;
  const loop = async () => {
    let c: pg.Client | null = null;
    for (let n = base; !stopping; n += 1) {
      const start = performance.now();
      try {
        if (!c) {
          c = new pg.Client({ connectionString: liveUrl });
          c.on('error', () => undefined);
          await c.connect();
        }
        await c.query('INSERT INTO bench_writes (n) VALUES ($1)', [n]);
        acked.push(n);
        ackedAt.push(performance.now());
      } catch (err) {
        failed += 1;
        const message = (err as Error).message;
        if (!errors.includes(message) && errors.length < 5) errors.push(message);
        await c?.end().catch(() => undefined);
        c = null;
      }
      await sleep(Math.max(0, PROBE_INTERVAL_MS - (performance.now() - start)));
    }
    await c?.end().catch(() => undefined);
  };
  const running = loop();
  return {
    async stop(keptDatabase) {
      stopping = true;
      await running;
      const found = async (database: string | null) => {
        if (!database) return new Set<number>();
        const rows = await sql<{ n: number }>(database, `SELECT n FROM bench_writes WHERE n >= ${base} AND n < ${base + 1_000_000}`);
        return new Set(rows.map((r) => Number(r.n)));
      };
      const kept = await found(keptDatabase);
      const live = await found(LIVE);
      const gaps = ackedAt.slice(1).map((at, i) => at - ackedAt[i]!);
      return {
        acknowledged: acked.length,
        failed,
        longestGapMs: round(Math.max(0, ...gaps)),
        inKeptDatabase: acked.filter((n) => kept.has(n)).length,
        inLiveDatabase: acked.filter((n) => live.has(n)).length,
        lost: acked.filter((n) => !kept.has(n) && !live.has(n)).length,
        errors,
      };
    },
  };
}

interface OrchestratedRun {
  workflowId: string;
  /** Workflow start to result, as the client saw it. */
  totalMs: number;
  /** Time waiting at gates (steps of kind gate), subtracted from the total: 0 here, the runbook has none. */
  gateWaitMs: number;
  measuredMs: number;
  steps: Record<string, number>;
  /** measuredMs minus the reported steps: preflight, backup check, notifications, stop/resume writers, report, orchestration. */
  otherMs: number;
  /** restore-to-side starting to verify-live ending: the orchestrated restore, verify and swap. */
  restoreVerifySwapMs: number;
  swapWindowMs: number | null;
  probe: ProbeResult | null;
  /** The concurrent writer's tally: swap-window runs only. */
  writer: WriterResult | null;
  /** Each activity: when it started (ms after the workflow started) and how long it ran. */
  activities: { activity: string; atMs: number; ms: number }[];
}

interface BareRun {
  /** CREATE DATABASE + pg_restore --jobs=2. */
  restoreMs: number;
  /** ALTER DATABASE live RENAME TO old; new RENAME TO live. */
  renameMs: number;
  totalMs: number;
}

const probeSummary = (probe: ProbeResult | null) => {
  if (!probe) return 'not started (the swap passed between two status polls)';
  if (probe.longestRefusedMs === null) return `saw no refusal in ${probe.attempts} attempts (the window fell between attempts)`;
  return `${probe.longestRefusedMs} ms${probe.startedLate ? ' (started late: a lower bound, left out)' : ''}`;
};

/** Every activity of the run from its history: type, start offset from the workflow's start, and how long it ran. */
async function activityTimeline(handle: WorkflowHandle): Promise<{ activity: string; atMs: number; ms: number }[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const begin = eventMs(events[0]!);
  const scheduled = new Map<string, string>();
  const started = new Map<string, number>();
  const timeline: { activity: string; atMs: number; ms: number }[] = [];
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    const startedAttrs = e.activityTaskStartedEventAttributes;
    if (startedAttrs) started.set(String(startedAttrs.scheduledEventId), eventMs(e));
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (done) {
      const key = String(done.scheduledEventId);
      const at = started.get(key) ?? NaN;
      timeline.push({ activity: scheduled.get(key) ?? '?', atMs: round(at - begin), ms: round(eventMs(e) - at) });
    }
  }
  return timeline.sort((a, b) => a.atMs - b.atMs);
}

/** From one step's start to another's end. */
const spanMs = (status: RollbackStatus, first: string, last: string) => {
  const from = status.steps.find((s) => s.name === first);
  const to = status.steps.find((s) => s.name === last);
  return from && to?.endedAt ? Date.parse(to.endedAt) - Date.parse(from.startedAt) : NaN;
};

const stepMs = (status: RollbackStatus, name: string) => spanMs(status, name, name);

async function run(): Promise<void> {
  const cli = await resolveTemporalCli((line) => console.log(line));
  const dir = mkdtempSync(join(tmpdir(), 'bench-restore-'));
  const backupDir = join(dir, 'backups');
  const backupsOfMain = join(backupDir, 'main');
  const runbooksDir = join(dir, 'runbooks');
  const reportsDir = join(dir, 'reports');
  mkdirSync(runbooksDir, { recursive: true });
  let env: TestWorkflowEnvironment | undefined;
  let sandbox: Sandbox | undefined;
  let worker: ChildProcess | undefined;
  let running: WorkflowHandle | undefined;
  let starting: Promise<unknown> | undefined; // the dev server or sandbox being started, if any
  let interrupted: NodeJS.Signals | null = null;
  let cleaning: Promise<void> | undefined;

  /** Everything this run started or made, undone; once, whoever asks first (finally or a signal). */
  const cleanup = () =>
    (cleaning ??= (async () => {
      const attempt = async (what: string, work: () => unknown) => {
        try {
          await work();
        } catch (err) {
          console.error(`cleanup: ${what} failed: ${(err as Error).message}`);
        }
      };
      await starting; // so a dev server still starting is stopped too
      if (running) await attempt('terminate the running workflow', () => running!.terminate('bench:restore stopped'));
      if (worker && worker.exitCode === null && worker.signalCode === null) {
        await attempt('stop the worker', async () => {
          const exited = new Promise((resolve) => worker!.once('exit', resolve));
          worker!.kill('SIGTERM');
          if ((await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)])) === false) worker!.kill('SIGKILL');
        });
      }
      await attempt('drop the bench databases', async () => {
        for (const name of await benchDatabases()) await dropBenchDatabase(name);
      });
      if (sandbox) await attempt('stop the sandbox', () => sandbox!.stop());
      if (env) await attempt('stop the dev server', () => env!.teardown());
      await attempt(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    console.error(`\n${signal}: stopping, dropping the bench databases`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const envStarting = TestWorkflowEnvironment.createLocal({ server: devServerOptions(cli.path) });
    starting = envStarting.then((e) => (env = e), () => undefined);
    env = await envStarting;
    // Only the runbook's traffic and health sections point here; no HTTP traffic is needed.
    const sandboxStarting = startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null });
    starting = sandboxStarting.then((s) => (sandbox = s), () => undefined);
    sandbox = await sandboxStarting;
    starting = undefined;
    const liveUrl = `${POSTGRES}/${LIVE}`;
    const secrets = { [URL_ENV]: liveUrl, SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` };
    const runbookText = benchRunbook(sandbox, backupDir);
    writeFileSync(join(runbooksDir, `${SYSTEM}.yaml`), runbookText);
    const runbook = parseRunbook(runbookText, `runbooks/${SYSTEM}.yaml`);

    // The database: sandbox tables, then pgbench's at scale 50.
    log(`creating ${LIVE}: sandbox tables, pgbench -i -s ${SCALE}`);
    let started = performance.now();
    await ensureSandboxDatabase(liveUrl);
    await sql(LIVE, 'CREATE TABLE bench_writes (n integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())'); // the concurrent writer's
    await execFileAsync('pgbench', ['-i', '-s', String(SCALE), '-q', '-h', conn.host, '-p', String(conn.port), '-U', conn.user, LIVE], { maxBuffer: 16 << 20 });
    const pgbenchInitMs = performance.now() - started;
    const [{ accounts }] = (await sql<{ accounts: string }>(LIVE, 'SELECT count(*) AS accounts FROM pgbench_accounts')) as [{ accounts: string }];
    const [{ bytes }] = (await sql<{ bytes: string }>(LIVE, 'SELECT pg_database_size(current_database()) AS bytes')) as [{ bytes: string }];

    // The backup, outside any timed section: the backupDatabase activity, jobs 2.
    log(`backup of ${LIVE} (backupDatabase activity, jobs ${JOBS})`);
    const logger = pino({ level: 'error' });
    const clients = new ProviderClients({ env: secrets, logger });
    const activities = createActivities({ runbooks: new Map([[SYSTEM, runbook]]), env: secrets, logger, clients, temporal: { client: env.client, namespace: 'default' }, reportsDir });
    started = performance.now();
    const manifest: BackupManifest = await new MockActivityEnvironment().run(activities.backupDatabase, { system: SYSTEM, database: 'main', backupId: BACKUP_ID, jobs: JOBS });
    await clients.close();
    const backupMs = performance.now() - started;
    const dumpDir = join(backupsOfMain, BACKUP_ID, 'dump');

    worker = await startBenchWorker(env.address, { ...secrets, RUNBOOKS_DIR: runbooksDir, REPORTS_DIR: reportsDir, WORKER_SHUTDOWN_GRACE_SECONDS: '2' });
    await waitForPoller(env.connection, 'default', 60_000, worker.pid);

    /** Between runs: only the live database stays (vacuumed, as a database in service is), no safety dumps. */
    const reset = async () => {
      for (const name of await benchDatabases()) if (name !== LIVE) await dropBenchDatabase(name);
      for (const entry of readdirSync(backupsOfMain)) if (entry !== BACKUP_ID) rmSync(join(backupsOfMain, entry), { recursive: true, force: true });
      await sql(LIVE, 'VACUUM ANALYZE');
    };

    /**
     * One dataRestore run. `watchSwap` adds the swap-window apparatus: the concurrent writer through
     * the whole run, the probe connecting every 5 ms from verify-side on, and status polled every
     * 50 ms around the swap. That load lands on the same two cores as the workflow's own steps after
     * the restore (a connection every 5 ms is a backend started every 5 ms), so the runs the ratio is
     * judged on go without it, as the bare path does, and the swap window has runs of its own.
     */
    const orchestrated = async (n: number, watchSwap: boolean): Promise<OrchestratedRun> => {
      await checkpoint();
      const workflowId = `bench-restore-${process.pid}-${n}`;
      const client = env!.client;
      started = performance.now();
      const handle = await client.workflow.start('dataRestore', {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [{ system: SYSTEM, database: 'main', backup: BACKUP_ID, reason: 'benchmark', requestedBy: 'alice', jobs: JOBS }],
      });
      running = handle;
      const writer = watchSwap ? startConcurrentWriter(liveUrl, n) : null;
      const outcome = handle.result().then((result: DataRestoreResult) => ({ result, at: performance.now() }));
      void outcome.catch(() => undefined); // awaited below; a failure surfaces there
      let probe: ReturnType<typeof startSwapProbe> | null = null;
      let probeResult: ProbeResult | null = null;
      let done: Awaited<typeof outcome> | null = null;
      let step = '';
      try {
        while (!done) {
          // Polled gently through the long steps, closely around the swap.
          done = await Promise.race([outcome, sleep(!watchSwap ? 500 : step === 'restore-to-side' ? 250 : 50).then(() => null)]);
          if (done) break;
          const status = await handle.query(statusQuery).catch(() => null);
          if (status?.state === 'awaiting_decision') throw new Error(`run ${n}: ${status.pendingDecision?.step} failed: ${status.pendingDecision?.error}`);
          if (status?.state === 'awaiting_approval') throw new Error(`run ${n}: waits for approval, but the bench runbook has no gates`);
          step = status?.currentStep ?? step;
          if (watchSwap && !probe && ['verify-side', 'stop-writers', 'swap', 'verify-live'].includes(step)) probe = startSwapProbe(liveUrl, step === 'swap' || step === 'verify-live');
        }
      } finally {
        probeResult = probe ? await probe.stop() : null;
        if (!done) await writer?.stop(null).catch(() => undefined); // failed: the writer must not outlive the run
      }
      running = undefined;
      const kept = (await benchDatabases()).find((name) => name.startsWith(`${LIVE}__pre_restore_`)) ?? null;
      const writes = writer ? await writer.stop(kept) : null;
      const totalMs = done.at - started;
      const status = await handle.query(statusQuery);
      const steps = Object.fromEntries(status.steps.map((s) => [s.name, stepMs(status, s.name)]));
      const gateWaitMs = status.steps.filter((s) => s.kind === 'gate').reduce((sum, s) => sum + steps[s.name]!, 0);
      const measuredMs = totalMs - gateWaitMs;
      return {
        workflowId,
        totalMs: round(totalMs),
        gateWaitMs: round(gateWaitMs),
        measuredMs: round(measuredMs),
        steps,
        otherMs: round(measuredMs - STEPS.reduce((sum, name) => sum + (steps[name] ?? NaN), 0)),
        restoreVerifySwapMs: round(spanMs(status, 'restore-to-side', 'verify-live')),
        swapWindowMs: done.result.swapWindowMs === null ? null : round(done.result.swapWindowMs),
        probe: probeResult,
        writer: writes,
        activities: await activityTimeline(handle),
      };
    };

    const bare = async (n: number): Promise<BareRun> => {
      const side = `${LIVE}_bare_${n}`;
      const old = `${LIVE}_bare_old_${n}`;
      await checkpoint();
      started = performance.now();
      await restoreFresh(side, dumpDir, JOBS);
      const restored = performance.now();
      await withClient(withDatabase(conn, 'postgres'), async (c) => {
        await c.query(`ALTER DATABASE ${quote(LIVE)} RENAME TO ${quote(old)}`);
        await c.query(`ALTER DATABASE ${quote(side)} RENAME TO ${quote(LIVE)}`);
      });
      const renamed = performance.now();
      return { restoreMs: round(restored - started), renameMs: round(renamed - restored), totalMs: round(renamed - started) };
    };

    const jobsOne = async (n: number): Promise<number> => {
      const name = `${LIVE}_j1_${n}`;
      await checkpoint();
      started = performance.now();
      await restoreFresh(name, dumpDir, 1);
      const ms = performance.now() - started;
      await dropBenchDatabase(name);
      return round(ms);
    };

    log('warm-up, untimed: a bare restore into a throwaway database, a dry run of the workflow');
    await restoreFresh(`${LIVE}_warm_up`, dumpDir, JOBS);
    await dropBenchDatabase(`${LIVE}_warm_up`);
    await env.client.workflow.execute('dataRestore', {
      taskQueue: TASK_QUEUE,
      workflowId: `bench-restore-${process.pid}-warm-up`,
      args: [{ system: SYSTEM, database: 'main', backup: BACKUP_ID, reason: 'benchmark warm-up', requestedBy: 'alice', dryRun: true }],
    });

    const orchestratedRuns: OrchestratedRun[] = [];
    const swapRuns: OrchestratedRun[] = [];
    const bareRuns: BareRun[] = [];
    const jobs1Ms: number[] = [];
    const report = (r: OrchestratedRun) => {
      if (process.env.BENCH_VERBOSE) for (const a of r.activities) log(`    +${a.atMs} ms ${a.activity} ${a.ms} ms`);
      log(`  ${seconds(r.measuredMs)}; ${STEPS.map((s) => `${s} ${seconds(r.steps[s] ?? NaN)}`).join(', ')}; restore, verify and swap ${seconds(r.restoreVerifySwapMs)}; swap window ${r.swapWindowMs} ms${r.writer ? `, probe ${probeSummary(r.probe)}` : ''}`);
    };
    for (let n = 1; n <= RUNS; n += 1) {
      // Alternate which path goes first, so neither always follows the other.
      const order = n % 2 === 1 ? (['orchestrated', 'bare'] as const) : (['bare', 'orchestrated'] as const);
      for (const path of order) {
        log(`run ${n}/${RUNS}: ${path === 'orchestrated' ? 'dataRestore workflow' : `bare pg_restore -j${JOBS} + rename`}`);
        if (path === 'orchestrated') {
          const r = await orchestrated(n, false);
          orchestratedRuns.push(r);
          report(r);
        } else {
          const r = await bare(n);
          bareRuns.push(r);
          log(`  ${seconds(r.totalMs)} (restore ${seconds(r.restoreMs)}, rename ${r.renameMs} ms)`);
        }
        await reset();
      }
      log(`run ${n}/${RUNS}: dataRestore workflow under a concurrent writer, the swap probed`);
      const r = await orchestrated(RUNS + n, true);
      swapRuns.push(r);
      report(r);
      await reset();
      log(`run ${n}/${RUNS}: bare pg_restore -j1 into a fresh database`);
      jobs1Ms.push(await jobsOne(n));
      log(`  ${seconds(jobs1Ms.at(-1)!)}`);
    }

    // (1) + (2)
    const orchestratedMs = median(orchestratedRuns.map((r) => r.measuredMs));
    const bareMs = median(bareRuns.map((r) => r.totalMs));
    const restoreVerifySwapMs = median(orchestratedRuns.map((r) => r.restoreVerifySwapMs));
    const stepMedians = Object.fromEntries(STEPS.map((s) => [s, round(median(orchestratedRuns.map((r) => r.steps[s] ?? NaN)))]));
    const judgedRatio = restoreVerifySwapMs / bareMs;
    const wholeRatio = orchestratedMs / bareMs;
    // (3)
    const windows = swapRuns.map((r) => r.swapWindowMs ?? NaN);
    // A probe that began after the swap had started (or saw no refusal at all) measured nothing: left out.
    const probes = swapRuns.map((r) => (r.probe && !r.probe.startedLate && r.probe.longestRefusedMs !== null ? r.probe.longestRefusedMs : null));
    const validProbes = probes.filter((p): p is number => p !== null);
    const swapWindowMs = median(windows);
    const probeMs = validProbes.length > 0 ? median(validProbes) : null;
    const swapWorstMs = Math.max(...windows, ...validProbes);
    // (4)
    const jobs2Ms = bareRuns.map((r) => r.restoreMs);

    const results = {
      benchmark: 'restore',
      at: new Date().toISOString(),
      devServerDynamicConfig: DEV_SERVER_DYNAMIC_CONFIG_VALUES,
      machine: {
        cpus: cpus().length,
        node: process.version,
        postgres: (await serverVersion(conn)).version,
        pgRestore: (await toolMajorVersion('pg_restore')).version,
      },
      runs: RUNS,
      database: {
        pgbenchScale: SCALE,
        pgbenchAccountsRows: Number(accounts),
        sizeBytes: Number(bytes),
        pgbenchInitMs: round(pgbenchInitMs),
        backup: { jobs: JOBS, ms: round(backupMs), files: manifest.files.length, bytes: manifest.files.reduce((sum, f) => sum + f.size, 0) },
      },
      orchestrated: {
        runs: orchestratedRuns,
        medianMs: round(orchestratedMs),
        medianStepsMs: stepMedians,
        medianOtherMs: round(median(orchestratedRuns.map((r) => r.otherMs))),
        medianRestoreVerifySwapMs: round(restoreVerifySwapMs),
        gates: 'none: the bench runbook sets gates: {}; gateWaitMs (steps of kind gate) is subtracted from totalMs',
      },
      bare: {
        runs: bareRuns,
        medianMs: round(bareMs),
        medianRestoreMs: round(median(bareRuns.map((r) => r.restoreMs))),
        medianRenameMs: round(median(bareRuns.map((r) => r.renameMs))),
      },
      ratio: {
        restoreVerifySwap: round3(judgedRatio),
        whole: round3(wholeRatio),
        target: TARGET_RATIO,
        judgedOn: 'restoreVerifySwap',
        met: judgedRatio <= TARGET_RATIO,
        note: 'restoreVerifySwap: restore-to-side starting to verify-live ending (pg_restore, row counts and smoke queries on the side database, stop writers, swap, live check) against the bare restore + rename; whole adds the verified safety dump taken before the restore, preflight, backup check, notifications, resume writers and the report, none of which the bare path does',
      },
      swapWindow: {
        runs: swapRuns,
        note: 'separate dataRestore runs under the concurrent writer, the probe and close status polling; their restore, verify and swap is shown for information, not judged',
        medianRestoreVerifySwapMs: round(median(swapRuns.map((r) => r.restoreVerifySwapMs))),
        workflowMs: windows,
        probeLongestRefusedMs: probes,
        medianWorkflowMs: round(swapWindowMs),
        medianProbeMs: probeMs === null ? null : round(probeMs),
        worstMs: round(swapWorstMs),
        probeIntervalMs: PROBE_INTERVAL_MS,
        targetMs: TARGET_SWAP_MS,
        met: Math.max(swapWindowMs, probeMs ?? 0) <= TARGET_SWAP_MS,
        concurrentWriter: {
          note: 'a writer ignoring the maintenance flag: one INSERT every 5 ms on the live name through each whole run',
          longestGapMs: swapRuns.map((r) => r.writer!.longestGapMs),
          acknowledged: swapRuns.reduce((sum, r) => sum + r.writer!.acknowledged, 0),
          inKeptDatabase: swapRuns.reduce((sum, r) => sum + r.writer!.inKeptDatabase, 0),
          inLiveDatabase: swapRuns.reduce((sum, r) => sum + r.writer!.inLiveDatabase, 0),
          lost: swapRuns.reduce((sum, r) => sum + r.writer!.lost, 0),
        },
      },
      jobs: {
        jobs1Ms,
        jobs2Ms,
        medianJobs1Ms: round(median(jobs1Ms)),
        medianJobs2Ms: round(median(jobs2Ms)),
        speedup: round3(median(jobs1Ms) / median(jobs2Ms)),
        note: 'CREATE DATABASE + pg_restore into a fresh database; the --jobs=2 figures are the bare path restores of (2)',
      },
    };
    const file = saveResults(results);
    const pad = (label: string) => label.padEnd(48);
    console.log(`
restore of a pgbench scale-${SCALE} database (${Number(accounts).toLocaleString('en')} rows in pgbench_accounts, ${Math.round(Number(bytes) / 1e6)} MB; backup ${Math.round(results.database.backup.bytes / 1e6)} MB), ${RUNS} runs, medians, ${cpus().length} cores
(1) ${pad('dataRestore workflow, start to result:')}${seconds(orchestratedMs)}  (gate wait subtracted: ${median(orchestratedRuns.map((r) => r.gateWaitMs))} ms; the runbook has no gates)
    ${STEPS.map((s) => `${s} ${seconds(stepMedians[s]!)}`).join(' | ')} | other ${seconds(results.orchestrated.medianOtherMs)}
    ${pad('its restore, verify and swap:')}${seconds(restoreVerifySwapMs)}  (restore-to-side start to verify-live end)
(2) ${pad(`bare pg_restore -j${JOBS} + rename:`)}${seconds(bareMs)}  (restore ${seconds(results.bare.medianRestoreMs)}, rename ${results.bare.medianRenameMs} ms)
    ${pad('ratio restore, verify and swap / bare:')}${results.ratio.restoreVerifySwap.toFixed(2)}  (target <= ${TARGET_RATIO}) ${verdict(results.ratio.met)}
    ${pad('ratio whole workflow / bare:')}${results.ratio.whole.toFixed(2)}  (for information: adds the verified safety dump, preflight and report, which the bare path does not do)
(3) ${pad('swap window, workflow swapWindowMs:')}${round(swapWindowMs)} ms
    ${pad(`probe (connect every ${PROBE_INTERVAL_MS} ms), longest refused:`)}${probeMs === null ? 'n/a (the probe missed every swap)' : `${round(probeMs)} ms`}  (worst of all runs ${round(swapWorstMs)} ms; target <= ${TARGET_SWAP_MS} ms) ${verdict(results.swapWindow.met)}
    ${pad('its restore, verify and swap under that load:')}${seconds(results.swapWindow.medianRestoreVerifySwapMs)}  (for information)
    ${pad('concurrent writer, longest gap:')}${round(median(results.swapWindow.concurrentWriter.longestGapMs))} ms median, ${round(Math.max(...results.swapWindow.concurrentWriter.longestGapMs))} ms worst; ${results.swapWindow.concurrentWriter.acknowledged} writes acknowledged: ${results.swapWindow.concurrentWriter.inKeptDatabase} in the kept database, ${results.swapWindow.concurrentWriter.inLiveDatabase} in the live one, ${results.swapWindow.concurrentWriter.lost} lost
(4) ${pad('pg_restore --jobs=1 vs --jobs=2:')}${seconds(median(jobs1Ms))} vs ${seconds(median(jobs2Ms))}: ${results.jobs.speedup.toFixed(2)}x with 2 jobs
saved ${file}`);
  } catch (err) {
    if (!interrupted) throw err; // after a signal, the error is only the workflow we terminated
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
