/**
 * A rollback whose health verification counts error lines read from log APIs, through the real worker
 * on a Temporal dev server: seed 000's Fly fullRollback by instance counts (Fly Machines API emulator,
 * test/emulators/fly-machines.ts) verified by a log check reading the stable app's lines from Fly's
 * logs endpoint (test/emulators/fly-logs.ts; shape as fly-go's GetAppLogs reads it,
 * https://github.com/superfly/fly-go/blob/main/resource_logs.go) and, in the passing case, by one
 * reading Cloud Logging's entries.list as well (test/emulators/cloud-logging.ts;
 * https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list). The app logs its errors
 * while the rollback verifies, as a live one would: lines from before the rollback, and the canary's,
 * are not counted.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { RollbackStatus } from '../src/contract/index.ts';
import { decideSignal, statusQuery } from '../src/contract/messages.ts';
import { CloudLoggingEmulator } from './emulators/cloud-logging.ts';
import { FlyLogsEmulator } from './emulators/fly-logs.ts';
import { FlyMachinesEmulator } from './emulators/fly-machines.ts';
import { addMinimalRunbook, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const FLY_TOKEN = 'fo1_test_log_api_rollbacks_71c3';
const GCP_TOKEN = 'ya29.test-log-api-rollbacks-2d8e';
const IMAGE = 'registry.fly.io/healthcare-clinic-backend:deployment-01JA4XK2';

let t: RollbackTestEnv;
let fly: FlyMachinesEmulator;
let flyLogs: FlyLogsEmulator;
let gcp: CloudLoggingEmulator;

before(async () => {
  t = await startRollbackTestEnv();
  fly = await new FlyMachinesEmulator(FLY_TOKEN).start();
  flyLogs = await new FlyLogsEmulator(FLY_TOKEN).start();
  gcp = await new CloudLoggingEmulator(GCP_TOKEN).start();
  t.secrets.FLY_API_TOKEN = FLY_TOKEN;
  t.secrets.GCP_ACCESS_TOKEN = GCP_TOKEN;
});

after(async () => {
  await Promise.all([fly?.stop(), flyLogs?.stop(), gcp?.stop()]);
  await t?.stop();
});

const started = (app: string) => fly.machines(app).filter((m) => m.state === 'started').length;
const counts = (system: string) => ({ stable: started(`${system}-stable`), canary: started(`${system}-canary`) });

/**
 * Seed 000's two Fly apps, 2 Machines each, a traffic section on fly-machines, and health verified
 * for 6 s by `checks`, which read logs through the providers `app-logs` (the stable app's Fly logs)
 * and `run-logs` (Cloud Logging).
 */
function system(name: string, checks: unknown[]): void {
  fly.addApp(`${name}-stable`);
  fly.addApp(`${name}-canary`);
  for (let i = 0; i < 2; i++) {
    fly.addMachine(`${name}-stable`, { image: IMAGE });
    fly.addMachine(`${name}-canary`, { image: IMAGE });
  }
  flyLogs.addApp(`${name}-stable`);
  addMinimalRunbook(t, name, {
    traffic: {
      provider: 'fly-machines',
      settings: { apps: { stable: `${name}-stable`, canary: `${name}-canary` }, baseUrl: fly.url, tokenEnv: 'FLY_API_TOKEN', pollIntervalMs: 10, requestTimeoutMs: 15_000, waitTimeoutSeconds: 30 },
      stableInstances: 3,
      stepPauseSeconds: 0,
    },
    providers: {
      'app-logs': { provider: 'fly-logs', settings: { app: `${name}-stable`, baseUrl: flyLogs.url, tokenEnv: 'FLY_API_TOKEN' } },
      'run-logs': { provider: 'cloud-logging', settings: { project: 'medicalcor-prod', baseUrl: gcp.url, tokenEnv: 'GCP_ACCESS_TOKEN', filter: `resource.labels.service_name="${name}"` } },
    },
    health: { checks, windowSeconds: 6 },
  });
}

const apiErrors = { name: 'api-errors', logsFrom: { provider: 'app-logs' }, pattern: 'ERROR', atMost: 5 };

/**
 * Once the rollback verifies, the app logs `errors` ERROR lines and some INFO ones (a little after the
 * verification started, well inside its 6 s window), the canary and Cloud Run `runErrors` errors.
 */
async function logWhileVerifying(handle: WorkflowHandle, name: string, errors: number, runErrors = 0): Promise<void> {
  await waitForStatus(handle, (s) => s.steps.some((step) => step.name === 'verify:shift-traffic' && step.outcome === 'running'), 120_000);
  await sleep(1500);
  for (let i = 1; i <= errors; i++) {
    flyLogs.log(`${name}-stable`, { level: 'error', message: `ERROR upstream timeout after 30000 ms (request ${i})` });
    flyLogs.log(`${name}-stable`, { level: 'info', message: `GET /api/appointments 200 (request ${i})` });
  }
  for (let i = 1; i <= runErrors; i++) gcp.write({ severity: 'ERROR', text: `pool exhausted (${i})`, service: name });
  gcp.write({ severity: 'INFO', text: 'request served', service: name });
}

/** What an app logged before the rollback started: not in the window, not counted. */
function loggedBefore(name: string): void {
  const earlier = new Date(Date.now() - 60_000);
  for (let i = 0; i < 10; i++) flyLogs.log(`${name}-stable`, { level: 'error', message: 'ERROR before the rollback', at: earlier });
  for (let i = 0; i < 10; i++) gcp.write({ severity: 'ERROR', text: 'before the rollback', service: name, at: earlier });
}

const steps = (status: RollbackStatus) => status.steps.map((s) => `${s.name}:${s.outcome}`);

describe('rollbacks verified by error lines read from log APIs', () => {
  test("too many error lines in Fly's logs during verification: the step fails naming the check, the count and the maximum; compensation puts the counts back", async () => {
    system('logs-too-many', [apiErrors]);
    loggedBefore('logs-too-many');
    const handle = await startRollback(t, { system: 'logs-too-many', mode: 'immediate', reason: 'seed 000: canary error rate 14%', requestedBy: 'alice', baselineSeconds: 0 });
    await logWhileVerifying(handle, 'logs-too-many', 7);
    const waiting = await waitForStatus(handle, (s) => s.pendingDecision !== null, 120_000);
    assert.equal(waiting.pendingDecision?.step, 'verify:shift-traffic');
    assert.equal(waiting.pendingDecision?.error, 'health not verified: check api-errors failed: 7 line(s) matched /ERROR/, at most 5 allowed');
    assert.deepEqual(counts('logs-too-many'), { stable: 3, canary: 0 }, 'the rollback itself happened');
    // The logs were read with the token, page by page from the first, until a page came back empty.
    const reads = flyLogs.calls('GET', /^\/api\/v1\/apps\/logs-too-many-stable\/logs$/);
    assert.ok(reads.length >= 2, `${reads.length} request(s)`);
    assert.ok(reads.every((r) => r.headers.authorization === `Bearer ${FLY_TOKEN}`));
    assert.equal(reads[0]!.query.get('next_token'), '');

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    const failure = await failureOf(handle.result());
    assert.match(failure.message, /^fullRollback of logs-too-many failed/);
    assert.deepEqual(counts('logs-too-many'), { stable: 2, canary: 2 });
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.healthAfter?.checks, [{ name: 'api-errors', passed: false, detail: '7 line(s) matched /ERROR/, at most 5 allowed' }]);
    assert.deepEqual(status.steps.filter((s) => s.kind === 'change').map((s) => `${s.name}:${s.outcome}`), ['scale-stable:compensated', 'shift-traffic:compensated']);
  });

  test('error lines within the maximum in Fly\'s logs and in Cloud Logging: verification passes and the rollback completes', async () => {
    system('logs-few', [apiErrors, { name: 'run-errors', logsFrom: { provider: 'run-logs', filter: 'severity>=ERROR' }, atMost: 5 }]);
    loggedBefore('logs-few');
    const handle = await startRollback(t, { system: 'logs-few', mode: 'immediate', reason: 'seed 000: canary error rate 14%', requestedBy: 'alice', baselineSeconds: 0 });
    await logWhileVerifying(handle, 'logs-few', 3, 2);
    await handle.result();
    assert.deepEqual(counts('logs-few'), { stable: 3, canary: 0 });
    const status = await handle.query(statusQuery);
    assert.deepEqual(steps(status), ['preflight:succeeded', 'capture-snapshot:succeeded', 'notify-start:succeeded', 'scale-stable:succeeded', 'shift-traffic:succeeded', 'verify:shift-traffic:succeeded']);
    assert.equal(status.healthAfter?.passed, true);
    assert.deepEqual(status.healthAfter?.checks, [
      { name: 'api-errors', passed: true, detail: '3 line(s) matched /ERROR/' },
      { name: 'run-errors', passed: true, detail: '2 line(s) in the window' },
    ]);
    const [read] = gcp.calls('POST', /^\/v2\/entries:list$/).filter((r) => String((r.body as { filter?: string }).filter).includes('"logs-few"'));
    assert.match(String((read!.body as { filter: string }).filter), /^\(resource\.labels\.service_name="logs-few"\) AND \(severity>=ERROR\) AND timestamp>="[^"]+" AND timestamp<="[^"]+"$/);
  });
});
