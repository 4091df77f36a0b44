/**
 * `npm run bench:rollback`: what Temporal orchestration costs a rollback, measured side by side in
 * one run on this machine, against the real dev server, a real worker process and the real sandbox.
 *   (a) an immediate rollback as a workflow vs the same activity calls in a plain script: ratio and
 *       overhead per activity (target: median overhead per activity <= 50 ms);
 *   (b) approve signal to the next activity starting, over 50 gates (target: p95 <= 150 ms);
 *   (c) 50 concurrent dry runs on distinct systems: time to all complete, worker peak RSS.
 * Prints a summary and writes bench-results/rollback-<time>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { createActivities } from '../../src/activities/index.ts';
import { ProviderClients } from '../../src/providers/index.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import { TASK_QUEUE } from '../../src/contract/index.ts';
import { approveSignal, statusQuery } from '../../src/workflows/signals.ts';
import { DEV_SERVER_DYNAMIC_CONFIG_VALUES, devServerOptions, waitForPoller } from '../lib/temporal.ts';
import { resolveTemporalCli } from '../temporal-cli.ts';
import { eventMs, round, saveResults } from './common.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const GATES = 50;
const DRY_RUNS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const median = (values: number[]) => percentile(values, 50);

/** A runbook for the bench: no waiting anywhere (zero windows, HTTP checks only), optional step gates. */
function benchRunbook(sandbox: Sandbox, system: string, gates: boolean): string {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed YAML document, edited freely
  const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
  doc.system = system;
  delete doc.health.metrics; // a zero-length window measures nothing; checks still verify
  doc.health.windowSeconds = 0;
  doc.gates = gates ? { 'gradual-step': { role: 'oncall', timeoutSeconds: 600 }, 'before-cleanup': { role: 'oncall', timeoutSeconds: 600 } } : {};
  doc.notify = [{ provider: 'log' }, { provider: 'webhook', settings: { urlEnv: 'SANDBOX_WEBHOOK_URL' } }];
  return stringify(doc);
}

async function resetSandbox(sandbox: Sandbox): Promise<void> {
  const put = (path: string, body: unknown) => fetch(`${sandbox.urls.router}${path}`, { method: 'PUT', body: JSON.stringify(body) });
  await put('/admin/weights', { weights: { stable: 75, canary: 25 } });
  await put('/admin/instances', { version: 'stable', count: 2 });
  await put('/admin/instances', { version: 'canary', count: 1 });
}

function peakRssMb(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMb: round(kb('VmRSS') / 1024), peakMb: round(kb('VmHWM') / 1024) };
}

async function run(): Promise<void> {
  const cli = await resolveTemporalCli((line) => console.log(line));
  const env = await TestWorkflowEnvironment.createLocal({ server: devServerOptions(cli.path) });
  const sandbox = await startSandbox({ ports: { router: 0, stable: 0, canary: 0 }, databaseUrl: null });
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const secrets = { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` };
  writeFileSync(join(dir, 'bench.yaml'), benchRunbook(sandbox, 'bench', false));
  writeFileSync(join(dir, 'gates.yaml'), benchRunbook(sandbox, 'gates', true));
  for (let i = 1; i <= DRY_RUNS; i += 1) writeFileSync(join(dir, `dry-${i}.yaml`), benchRunbook(sandbox, `dry-${i}`, false));
  let worker: ChildProcess | undefined;
  let clients: ProviderClients | undefined;
  try {
    worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
      env: { ...process.env, ...secrets, TEMPORAL_ADDRESS: env.address, RUNBOOKS_DIR: dir, REPORTS_DIR: join(dir, 'reports'), WORKER_METRICS_ADDRESS: 'off', LOG_LEVEL: 'error', LOG_FORMAT: 'json' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitForPoller(env.connection, 'default', 60_000);
    const input = { system: 'bench', reason: 'benchmark', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 };

    // (a) workflow vs plain script, alternating so both see the same machine state.
    const runbook = parseRunbook(benchRunbook(sandbox, 'bench', false), 'runbooks/bench.yaml');
    const logger = pino({ level: 'error' });
    clients = new ProviderClients({ env: secrets, logger });
    const acts = createActivities({ runbooks: new Map([['bench', runbook]]), env: secrets, logger, clients, temporal: { client: env.client, namespace: 'default' }, reportsDir: join(dir, 'reports') });
    const mock = new MockActivityEnvironment();
    const plainScript = async (n: number) => {
      const key = (step: string) => `plain-${n}:${step}`;
      const change = { system: 'bench', actor: 'bench' };
      await mock.run(acts.preflight, { system: 'bench', workflowId: `plain-${n}`, workflowType: 'fullRollback', startedAt: new Date().toISOString(), dryRun: false });
      await mock.run(acts.captureSnapshot, { system: 'bench', baselineSeconds: 0 });
      await mock.run(acts.notify, { system: 'bench', title: 'start', text: 'bench', severity: 'info' as const });
      await mock.run(acts.scaleVersion, { ...change, version: 'stable', count: 3, idempotencyKey: key('scale') });
      await mock.run(acts.setWeights, { ...change, weights: { stable: 100, canary: 0 }, idempotencyKey: key('shift') });
      await mock.run(acts.verifyHealth, { system: 'bench', windowSeconds: 0 });
      await mock.run(acts.scaleVersion, { ...change, version: 'canary', count: 0, idempotencyKey: key('cleanup') });
      await mock.run(acts.publishReport, { system: 'bench', workflowId: `plain-${n}`, markdown: '# report' });
      await mock.run(acts.notify, { system: 'bench', title: 'done', text: 'bench', severity: 'info' as const });
    };
    const ACTIVITIES = 9;
    const workflowMs: number[] = [];
    const serverMs: number[] = [];
    const scriptMs: number[] = [];
    for (let i = 0; i <= RUNS; i += 1) {
      await resetSandbox(sandbox);
      let started = performance.now();
      const workflowId = `bench-a-${i}-${Date.now()}`;
      await env.client.workflow.execute('fullRollback', { taskQueue: TASK_QUEUE, workflowId, args: [input] });
      const wf = performance.now() - started;
      const history = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      await resetSandbox(sandbox);
      started = performance.now();
      await plainScript(i);
      const plain = performance.now() - started;
      if (i > 0) {
        // run 0 warms both paths (workflow bundle caches, HTTP keep-alive) and is not counted
        workflowMs.push(wf);
        scriptMs.push(plain);
        serverMs.push(eventMs(history.at(-1)!) - eventMs(history[0]!));
      }
    }
    const overheadPerActivity = workflowMs.map((w, i) => (w - scriptMs[i]!) / ACTIVITIES);
    const a = {
      runs: RUNS,
      activitiesPerRollback: ACTIVITIES,
      workflowMs: workflowMs.map(round),
      workflowServerMs: serverMs.map(round),
      plainScriptMs: scriptMs.map(round),
      medianWorkflowMs: round(median(workflowMs)),
      medianPlainScriptMs: round(median(scriptMs)),
      ratio: round(median(workflowMs) / median(scriptMs)),
      medianOverheadPerActivityMs: round(median(overheadPerActivity)),
      targetOverheadPerActivityMs: 50,
    };

    // (b) approve -> next activity start, from the server's own event times.
    await resetSandbox(sandbox);
    // GATES - 1 gradual steps (a gate after each but the last) plus the gate before cleanup.
    const steps = Array.from({ length: GATES }, (_, i) => 2 * (GATES - 1 - i));
    const handle = await env.client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `bench-gates-${Date.now()}`,
      args: [{ ...input, system: 'gates', mode: 'gradual', steps }],
    });
    let approved = 0;
    while (approved < GATES) {
      const status = await handle.query(statusQuery);
      if (status.state === 'completed' || status.state === 'failed' || status.state === 'aborted') break;
      if (status.pendingGate && status.events.filter((e) => e.kind === 'approved').length === approved) {
        await handle.signal(approveSignal, { by: 'bob' });
        approved += 1;
      } else await sleep(5);
    }
    await handle.result();
    const events = (await handle.fetchHistory()).events ?? [];
    const latencies: number[] = [];
    events.forEach((event, index) => {
      if (!event.workflowExecutionSignaledEventAttributes) return;
      const next = events.slice(index).find((e) => e.activityTaskStartedEventAttributes);
      if (next) latencies.push(eventMs(next) - eventMs(event));
    });
    const b = {
      gates: latencies.length,
      p50Ms: round(percentile(latencies, 50)),
      p95Ms: round(percentile(latencies, 95)),
      maxMs: round(Math.max(...latencies)),
      targetP95Ms: 150,
    };

    // (c) 50 concurrent dry runs on distinct systems.
    const rssBefore = peakRssMb(worker.pid!);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: DRY_RUNS }, (_, i) =>
        env.client.workflow.execute('fullRollback', {
          taskQueue: TASK_QUEUE,
          workflowId: `bench-dry-${i}-${Date.now()}`,
          args: [{ ...input, system: `dry-${i + 1}`, dryRun: true }],
        }),
      ),
    );
    const c = { dryRuns: DRY_RUNS, allCompleteMs: round(performance.now() - started), workerRssBeforeMb: rssBefore.rssMb, workerPeakRssMb: peakRssMb(worker.pid!).peakMb };

    // The dev server's non-default settings are saved with the figures: they move them (see DEV_SERVER_DYNAMIC_CONFIG).
    const results = { benchmark: 'rollback', at: new Date().toISOString(), machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, devServerDynamicConfig: DEV_SERVER_DYNAMIC_CONFIG_VALUES, a, b, c };
    const file = saveResults(results);
    console.log(`
(a) immediate rollback, ${RUNS} runs: workflow median ${a.medianWorkflowMs} ms vs plain script ${a.medianPlainScriptMs} ms
    ratio ${a.ratio}; overhead per activity median ${a.medianOverheadPerActivityMs} ms (target <= 50 ms) ${a.medianOverheadPerActivityMs <= 50 ? 'MET' : 'NOT MET'}
(b) approve -> next activity start over ${b.gates} gates: p50 ${b.p50Ms} ms, p95 ${b.p95Ms} ms (target <= 150 ms) ${b.p95Ms <= 150 ? 'MET' : 'NOT MET'}
(c) ${c.dryRuns} concurrent dry runs: all complete in ${c.allCompleteMs} ms; worker peak RSS ${c.workerPeakRssMb} MB
saved ${file}`);
  } finally {
    await clients?.close();
    worker?.kill('SIGTERM');
    await sandbox.stop();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
