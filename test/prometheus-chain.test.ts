/**
 * The alerting chain with real binaries: a real Prometheus (built from its Go module, pinned in
 * scripts/alerting-binaries.ts) scrapes the sandbox router with the rules `rollback watch rules`
 * writes from the runbook, and a real Alertmanager sends the alerts to the worker's receiver
 * (src/triggers/alert-receiver.ts) with a bearer token it reads from a file. A canary fault fires the
 * error-rate alert; exactly one fullRollback starts though Alertmanager repeats the notification, and
 * the resolved notification is recorded. Everything listens on loopback, on free ports.
 *
 * References: https://prometheus.io/docs/prometheus/latest/configuration/configuration/ (scrape and
 * rule_files), https://prometheus.io/docs/prometheus/latest/querying/api/#rules (GET /api/v1/rules),
 * https://prometheus.io/docs/alerting/latest/configuration/ (route timings, webhook_config).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parse, parseDocument, stringify } from 'yaml';
import { resolveAlertingBinaries, type AlertingBinaries } from '../scripts/alerting-binaries.ts';
import { startService, stopService, type Service } from '../scripts/lib/processes.ts';
import { approveSignal, statusQuery } from '../src/contract/messages.ts';
import { startAlertReceiver, type AlertOutcome } from '../src/triggers/alert-receiver.ts';
import { freePort, sleep } from './harness.ts';
import { runCli, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const TOKEN = 'chain-test-bearer-token';
let binaries: AlertingBinaries;
let t: RollbackTestEnv;
let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;
let dir: string;
const services: Service[] = [];
/** What the receiver logged for each alert: its record of every notification, repeats and resolved ones included. */
const received: (AlertOutcome & { msg: string })[] = [];

/** Polls `read` until it returns something, or fails after `timeoutMs` saying what it waited for. */
async function waitFor<T>(what: string, read: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; the receiver recorded: ${JSON.stringify(received.map((r) => [r.alert, r.outcome]))}`);
    await sleep(250);
  }
}

async function getJson(url: string): Promise<any> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

const ready = (name: string, url: string) => waitFor(`${name} at ${url}`, () => fetch(url).then((r) => (r.ok ? true : undefined), () => undefined), 60_000);

/** A real Prometheus with `config` (YAML text), its data in a folder of its own; resolves when it is ready. */
async function startPrometheus(name: string, config: string): Promise<string> {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'prometheus.yml'), config);
  const address = `127.0.0.1:${await freePort()}`;
  services.push(
    startService(name, binaries.prometheus, [
      `--config.file=${join(home, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(home, 'data')}`,
      `--web.listen-address=${address}`,
      '--rules.alert.resend-delay=1s', // firing alerts go to Alertmanager each second, not each minute
      '--log.level=warn',
    ], process.env),
  );
  await ready(name, `http://${address}/-/ready`);
  return `http://${address}`;
}

describe('Prometheus and Alertmanager in front of the receiver', { timeout: 600_000 }, () => {
  before(async () => {
    binaries = await resolveAlertingBinaries((line) => console.log(line));
    dir = mkdtempSync(join(tmpdir(), 'prometheus-chain-'));
    t = await startRollbackTestEnv();
    const log = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          const record = JSON.parse(line);
          if (record.outcome) received.push(record);
        }
        done();
      },
    });
    receiver = await startAlertReceiver({ address: '127.0.0.1:0', token: TOKEN, runbooks: t.runbooks, client: t.env.client, logger: pino({ level: 'info' }, log) });
  });
  after(async () => {
    // Everything this file started, newest first: nothing is left running.
    for (const service of services.reverse()) await stopService(service, 10_000);
    await receiver?.close();
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a real Prometheus loads every rule the sandbox runbook writes, with inconclusive: alert and inconclusive: breach', async () => {
    // The rules files go beside the runbooks folder, not in it: the loader reads every YAML file there as a runbook.
    const runbooks = join(dir, 'runbooks-loaded');
    mkdirSync(runbooks);
    const sandbox = parseDocument(readFileSync('runbooks/sandbox.yaml', 'utf8')).toJS() as Record<string, any>;
    writeFileSync(join(runbooks, 'sandbox.yaml'), stringify(sandbox));
    writeFileSync(join(runbooks, 'strict.yaml'), stringify({ ...sandbox, system: 'strict', watch: { ...sandbox.watch, inconclusive: 'breach' } }));
    // Both at once: each CLI run spends seconds loading the providers.
    const runs = await Promise.all(['sandbox', 'strict'].map((system) => runCli(t.env.address, ['watch', 'rules', '--system', system, '--runbooks', runbooks, '--out', join(dir, `${system}.rules.yml`)])));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const prometheus = await startPrometheus('prometheus-rules', stringify({ rule_files: [join(dir, 'sandbox.rules.yml'), join(dir, 'strict.rules.yml')] }));
    const groups = await waitFor('both rule groups', async () => {
      const { data } = await getJson(`${prometheus}/api/v1/rules?type=alert`);
      return data.groups.length === 2 ? data.groups : undefined;
    });
    assert.deepEqual(
      groups.map((g: any) => [g.name, g.interval, g.rules.map((r: any) => [r.name, r.duration, r.labels.system, r.health === 'err' ? r.lastError : 'loaded'])]),
      ['sandbox', 'strict'].map((system) => [
        `rollback-watch-${system}`,
        30,
        [
          ['error-rate', 30, system, 'loaded'],
          ['p95-latency', 30, system, 'loaded'],
          ['success-rate', 30, system, 'loaded'],
          ['grok-circuit-breaker', 300, system, 'loaded'],
          ['memory', 30, system, 'loaded'],
        ],
      ]),
    );
    await stopService(services.pop()!, 10_000);
  });

  test('a canary fault fires the error-rate alert: one fullRollback starts though Alertmanager repeats it, and the resolved notification is recorded', async (context) => {
    let written: Record<string, any> = {};
    const system = await t.newSystem((doc) => {
      // The watch interval is the rules' window and evaluation interval: short, so the test takes seconds
      // (3 s of the harness's 40 requests a second is 120 requests, above minRequests).
      // success-rate would fire with error-rate on the same fault and be refused by the lock; one rule keeps
      // the record plain (test/alert-receiver.test.ts covers a second alert of a system while it rolls back).
      doc.watch.intervalSeconds = 3;
      doc.watch.rules = doc.watch.rules.filter((r: { name: string }) => r.name !== 'success-rate');
      written = structuredClone(doc);
    });
    const runbooks = join(dir, 'runbooks-chain');
    mkdirSync(runbooks);
    writeFileSync(join(runbooks, `${system.name}.yaml`), stringify(written));
    const tokenFile = join(dir, 'receiver-token');
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    const rulesFile = join(dir, 'rules.yml');
    const run = await runCli(t.env.address, ['watch', 'rules', '--system', system.name, '--runbooks', runbooks, '--out', rulesFile, '--receiver-url', receiver.url, '--credentials-file', tokenFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes(TOKEN), 'the token is never printed');
    const snippet = parse(run.stdout.slice(run.stdout.indexOf('\n', run.stdout.indexOf('# Alertmanager:'))));

    // Alertmanager with the printed route and receiver, timings small so it repeats within seconds.
    const alertmanagerHome = join(dir, 'alertmanager');
    mkdirSync(alertmanagerHome);
    const route = { receiver: 'rollbacks', group_wait: '1s', group_interval: '1s', repeat_interval: '2s', routes: snippet.route.routes };
    writeFileSync(join(alertmanagerHome, 'alertmanager.yml'), stringify({ route, receivers: snippet.receivers }));
    const alertmanager = `127.0.0.1:${await freePort()}`;
    services.push(
      startService('alertmanager', binaries.alertmanager, [
        `--config.file=${join(alertmanagerHome, 'alertmanager.yml')}`,
        `--storage.path=${join(alertmanagerHome, 'data')}`,
        `--web.listen-address=${alertmanager}`,
        '--cluster.listen-address=', // a single Alertmanager: no gossip port
        '--log.level=warn',
      ], process.env),
    );
    await ready('alertmanager', `http://${alertmanager}/-/ready`);
    const router = new URL(system.sandbox.urls.router);
    const prometheus = await startPrometheus(
      'prometheus',
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [rulesFile],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [alertmanager] }] }] },
        scrape_configs: [{ job_name: 'sandbox', static_configs: [{ targets: [router.host] }] }],
      }),
    );
    await waitFor('the sandbox scraped', async () => ((await getJson(`${prometheus}/api/v1/query?query=up`)).data.result[0]?.value[1] === '1' ? true : undefined));

    system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    const faulted = Date.now();
    const started = await waitFor('the error-rate alert to start a rollback', () => received.find((r) => r.system === system.name && r.outcome === 'started'));
    assert.equal(started.alert, 'error-rate');
    context.diagnostic(`fault to rollback started: ${((Date.now() - faulted) / 1000).toFixed(1)} s`);
    const workflowId = started.workflowId!;
    assert.match(workflowId, new RegExp(`^${system.name}-error-rate-alert-[0-9a-f]+$`));
    // Alertmanager sends the still-firing group again every repeat_interval: each is the same incident.
    const repeats = await waitFor('a repeated notification', () => {
      const found = received.filter((r) => r.outcome === 'repeated');
      return found.length > 0 ? found : undefined;
    });
    assert.deepEqual(repeats[0], { ...repeats[0], alert: 'error-rate', system: system.name, rule: 'error-rate', detail: `this alert already started ${workflowId}`, workflowId });

    const rollback = t.env.client.workflow.getHandle(workflowId);
    const waiting = await waitForStatus(rollback, (s) => s.state === 'awaiting_approval', 60_000);
    assert.equal(waiting.requestedBy, 'alertmanager');
    assert.match(waiting.reason, /^Alertmanager alert error-rate: sys-\d+-\d+: error rate \d+\.\d%, above 10%$/);
    // The fault stays: only the rollback taking traffic off the canary can resolve the alert.
    await rollback.signal(approveSignal, { by: 'bob' });
    await rollback.result();
    const completed = Date.now();
    assert.equal((await rollback.query(statusQuery)).state, 'completed');

    // The rollback moved traffic off the canary: the error rate falls, the alert resolves, and Alertmanager says so.
    const resolved = await waitFor('the resolved notification', () => received.find((r) => r.system === system.name && r.detail === 'resolved: recorded, nothing to do'));
    context.diagnostic(`rollback completed to resolved notification: ${((Date.now() - completed) / 1000).toFixed(1)} s`);
    assert.deepEqual(resolved, { ...resolved, alert: 'error-rate', rule: 'error-rate', outcome: 'ignored', workflowId: null });
    const afterResolved = received.slice(received.indexOf(resolved) + 1);
    assert.ok(afterResolved.every((r) => r.outcome !== 'started'), 'nothing starts after the incident resolved');

    const rollbacks: string[] = [];
    for await (const workflow of t.env.client.workflow.list({ query: `RollbackSystem = '${system.name}'` })) rollbacks.push(`${workflow.type} ${workflow.workflowId}`);
    assert.deepEqual(rollbacks, [`fullRollback ${workflowId}`], 'exactly one rollback of the system');
    assert.deepEqual(received.filter((r) => r.outcome === 'started').length, 1);
    assert.deepEqual(system.sandbox.router.changes.map((c) => c.kind), ['instances', 'weights', 'instances'], 'one rollback in all');
  });
});
