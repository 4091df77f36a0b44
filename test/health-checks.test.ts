/**
 * Health verification that checks what the seeds check: HTTP requests with a method, headers (a
 * secret one by environment variable) and a body whose JSON answer must hold a value (seed 002's
 * `curl /health | jq` expecting {"status": "healthy"}, seed 000's POST /test/chat); commands judged by
 * exit code and output; log lines matching a pattern counted from a command (seed 001's `railway logs
 * | grep ERROR | wc -l`); staged thresholds, each by its time (seed 000's "< 1% errors within 5
 * minutes, p95 back to baseline within 10"); limits relative to the baseline (seed 001's "more than
 * 50% worse than baseline"). Against real local HTTP servers, a real Prometheus text endpoint and real
 * programs; last, a phaseRollback on a dev server whose phase verification fails on a wrong JSON field
 * and is compensated, its header secret in no history, log or report.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { stringify } from 'yaml';
import type { ActivityDeps } from '../src/activities/deps.ts';
import { createHealthActivities, type VerifyHealthInput } from '../src/activities/health.ts';
import { TASK_QUEUE, type HealthVerdict, type RollbackStatus, type StageOutcome, type WindowHealth } from '../src/contract/index.ts';
import { decideSignal, statusQuery } from '../src/contract/messages.ts';
import { renderIncidentReport } from '../src/plan/report.ts';
import { ProviderClients } from '../src/providers/index.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { createRollbackWorker, installRuntime, type RollbackWorker } from '../src/worker/worker.ts';
import { startTemporal, testWorkerEnv } from './harness.ts';
import { failureOf, waitForStatus } from './rollback-harness.ts';

const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'health-checks-'));
const TOKEN = 'hc-7f3e9a1b2c4d5e6f';

/** Every log line of this process: the activities', the worker's and the SDK's own (installed first, so it wins). */
const logged: string[] = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, done) => (logged.push(String(chunk)), done()) }));
installRuntime(testWorkerEnv, logger);

/** A real HTTP server answering with `handle`; its base URL. */
async function serve(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => handle(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const json = (res: ServerResponse, status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

/**
 * A Prometheus text endpoint whose counters grow by `perScrape` requests at each scrape: `errorPct` of
 * them 500s, all of them in one latency bucket: fast (0, 0.1] s, so p95 is 95 ms; slow (0.3, 0.5] s, 490 ms.
 */
function metricsEndpoint() {
  const state = { errorPct: 0, latency: 'fast' as 'fast' | 'slow', perScrape: 20, ok: 0, errors: 0, fast: 0, slow: 0 };
  const text = () => {
    const errors = Math.round((state.perScrape * state.errorPct) / 100);
    state.errors += errors;
    state.ok += state.perScrape - errors;
    state[state.latency] += state.perScrape;
    const total = state.fast + state.slow;
    return [
      '# TYPE http_requests_total counter',
      `http_requests_total{status="200"} ${state.ok}`,
      `http_requests_total{status="500"} ${state.errors}`,
      '# TYPE http_request_duration_seconds histogram',
      `http_request_duration_seconds_bucket{le="0.1"} ${state.fast}`,
      `http_request_duration_seconds_bucket{le="0.3"} ${state.fast}`,
      `http_request_duration_seconds_bucket{le="0.5"} ${total}`,
      `http_request_duration_seconds_bucket{le="+Inf"} ${total}`,
      `http_request_duration_seconds_count ${total}`,
      '',
    ].join('\n');
  };
  return { state, text };
}

const approversAndRto = {
  approvers: { oncall: ['alice', 'bob'] },
  rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
  notify: [{ provider: 'log' }],
};

function runbookText(system: string, sections: Record<string, unknown>): string {
  return stringify({ system, ...approversAndRto, providers: { scripts: { provider: 'command', settings: {} } }, ...sections });
}

function loadProblems(sections: Record<string, unknown>): string {
  try {
    parseRunbook(runbookText('x', sections), 'runbooks/x.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the runbook was accepted');
}

describe('health checks in the runbook, refused at load when wrong', () => {
  test('every kind of check loads: HTTP with method, headers, a secret header, body and JSON; a command; a log count', () => {
    const runbook = parseRunbook(
      runbookText('x', {
        health: {
          checks: [
            { name: 'chat', url: 'https://app.example/test/chat', method: 'POST', headers: { 'X-Client': 'rollback' }, headersFromEnv: { Authorization: { env: 'CHAT_TOKEN', prefix: 'Bearer ' }, 'X-Api-Key': 'CHAT_API_KEY' }, body: { message: 'test' }, json: { path: '$.reply', matches: '.+' }, timeoutSeconds: 5 },
            { name: 'ready', url: 'https://app.example/ready', json: [{ path: 'status', equals: 'ready' }, { path: '$.checks.database', in: ['ok'] }, { path: '$.latency_ms', above: 0, below: 500 }] },
            { name: 'migrations', command: ['alembic', 'current'], outputMatches: '\\(head\\)' },
            { name: 'error-lines', logs: ['docker', 'compose', 'logs', '--since', '{{since}}', 'api'], pattern: 'ERROR', atMost: 3 },
          ],
        },
      }),
      'runbooks/x.yaml',
    );
    assert.deepEqual(runbook.health.checks.map((c) => [c.name, ('provider' in c ? c.provider : null) ?? null]), [['chat', null], ['ready', null], ['migrations', 'scripts'], ['error-lines', 'scripts']], 'command and log checks get the commands provider');
  });

  test('a credential written into headers, a bad JSON path or expectation, a body on GET and an unknown placeholder are refused, each with what to write', () => {
    const problems = loadProblems({
      health: {
        checks: [
          { name: 'a', url: 'https://app.example/health', headers: { Authorization: 'Bearer abc' } },
          { name: 'b', url: 'https://app.example/health', json: { path: '$.status[', equals: 'ok' } },
          { name: 'c', url: 'https://app.example/health', json: { path: '$.status', equals: 'ok', in: ['ok'] } },
          { name: 'd', url: 'https://app.example/health', body: 'x' },
          { name: 'e', logs: ['railway', 'logs', '--since', '{{start}}'], pattern: 'ERROR' },
        ],
      },
    });
    assert.equal(
      problems,
      [
        'runbooks/x.yaml: health.checks[0].headers.Authorization: carries a credential; name the environment variable holding it under headersFromEnv (Authorization: SOME_VARIABLE)',
        'runbooks/x.yaml: health.checks[1].json.path: not a path at "["; write $.status, $.checks.database, $.items[0].id or checks.database',
        'runbooks/x.yaml: health.checks[2].json: give one of equals, in (only above and below go together, as a range)',
        'runbooks/x.yaml: health.checks[3].body: a GET request has no body; use method POST (or PUT, PATCH)',
        'runbooks/x.yaml: health.checks[4].logs[3]: unknown placeholder {{start}}; a check may use {{since}} and {{sinceSeconds}}',
      ].join('\n'),
    );
  });

  test('a stage naming an unknown check, limiting metrics without a metrics source, or a relative limit of the wrong form is refused', () => {
    assert.equal(
      loadProblems({ health: { checks: [{ name: 'up', url: 'https://app.example/health' }], stages: [{ name: 'first', withinSeconds: 60, checks: ['upp'] }, { name: 'second', withinSeconds: 300, errorRatePct: 1 }] } }),
      ["runbooks/x.yaml: health.stages[0].checks[0]: unknown check 'upp'; checks here: up", 'runbooks/x.yaml: health.stages[1]: stage second limits errorRatePct, which needs health.metrics (a prometheus endpoint)'].join('\n'),
    );
    assert.equal(loadProblems({ health: { thresholds: { p95Ms: { timesBaselin: 1.5 } } } }), "runbooks/x.yaml: health.thresholds.p95Ms: a relative limit is {timesBaseline: n}: timesBaseline: Invalid input: expected number, received undefined; Unrecognized key: \"timesBaselin\"");
  });
});

describe('verifyHealth against real servers and programs', () => {
  const metrics = metricsEndpoint();
  const servers: Server[] = [];
  let base = '';
  let metricsUrl = '';
  const runbooks = new Map<string, Runbook>();
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HEALTH_TOKEN: TOKEN };
  const deps = { runbooks, env, logger, clients: new ProviderClients({ env, logger }), temporal: undefined as never, reportsDir: dir } satisfies ActivityDeps;
  const { verifyHealth } = createHealthActivities(deps);
  const activityLog: string[] = [];
  const activityEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('DEBUG', (entry) => activityLog.push(`${entry.message} ${JSON.stringify(entry.meta)}`)) });
  let counter = 0;

  /** A runbook of its own with `health`; verifyHealth on it. */
  function system(health: Record<string, unknown>): string {
    const name = `web-${++counter}`;
    runbooks.set(name, parseRunbook(runbookText(name, { health: { minRequests: 5, windowSeconds: 1, ...health } }), `runbooks/${name}.yaml`));
    return name;
  }
  const verify = (name: string, extra: Partial<VerifyHealthInput> = {}): Promise<HealthVerdict> => activityEnv().run(verifyHealth, { system: name, windowSeconds: 1, ...extra });
  const refusal = async (promise: Promise<unknown>): Promise<ApplicationFailure & { details: [HealthVerdict] }> => {
    const err = await promise.then(
      () => assert.fail('health was verified'),
      (e: unknown) => e,
    );
    assert.equal((err as ApplicationFailure).type, 'HealthNotVerified');
    return err as ApplicationFailure & { details: [HealthVerdict] };
  };
  const prometheus = () => ({ provider: 'prometheus', settings: { url: metricsUrl, requestsMetric: 'http_requests_total', latencyMetric: 'http_request_duration_seconds' } });
  const script = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };

  before(async () => {
    const app = await serve((req, body, res) => {
      if (req.url === '/health') return json(res, 200, { status: 'healthy' });
      if (req.url === '/ready') return json(res, 200, { status: 'degraded', checks: { database: 'ok', redis: 'timeout' } });
      if (req.url === '/test/chat') {
        // Seed 000's POST /test/chat: answers only the request the check describes.
        const ok = req.method === 'POST' && req.headers['content-type'] === 'application/json' && req.headers.authorization === `Bearer ${TOKEN}` && req.headers['x-client'] === 'rollback' && JSON.parse(body).message === 'test';
        return ok ? json(res, 200, { reply: 'hello', model: 'openai' }) : json(res, 400, { error: 'unexpected request' });
      }
      if (req.url === '/echo') return json(res, 200, { status: 'degraded', seen: req.headers.authorization });
      if (req.url === '/slow') return void setTimeout(() => json(res, 200, { status: 'healthy' }), 3000);
      if (req.url === '/metrics') return res.writeHead(200, { 'content-type': 'text/plain' }).end(metrics.text());
      json(res, 404, {});
    });
    servers.push(app.server);
    base = app.url;
    metricsUrl = `${app.url}/metrics`;
  });
  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await deps.clients.close();
  });

  test("a POST with a JSON body and a secret header passes when the answer holds what the check expects (seed 000's /test/chat)", async () => {
    const name = system({
      checks: [
        { name: 'chat', url: `${base}/test/chat`, method: 'POST', headers: { 'X-Client': 'rollback' }, headersFromEnv: { Authorization: { env: 'HEALTH_TOKEN', prefix: 'Bearer ' } }, body: { message: 'test' }, json: [{ path: '$.reply', matches: '^h' }, { path: 'model', in: ['openai', 'grok'] }] },
        { name: 'health', url: `${base}/health`, json: { path: '$.status', equals: 'healthy' } },
      ],
    });
    const verdict = await verify(name);
    assert.deepEqual(verdict.checks, [
      { name: 'chat', passed: true, detail: 'ok' },
      { name: 'health', passed: true, detail: 'ok' },
    ]);
  });

  test("a wrong JSON field fails naming the check, the path, the value it saw and the one expected (seed 002's /ready)", async () => {
    const name = system({ checks: [{ name: 'ready', url: `${base}/ready`, json: [{ path: '$.status', equals: 'ready' }, { path: '$.checks.database', equals: 'ok' }, { path: '$.checks.redis', in: ['ok', 'degraded'] }, { path: '$.checks.queue', equals: 'ok' }] }] });
    const err = await refusal(verify(name));
    assert.equal(err.message, 'health not verified: check ready failed: $.status is "degraded", expected "ready"; $.checks.redis is "timeout", expected one of ["ok","degraded"]; $.checks.queue is missing, expected "ok"');
    assert.equal(err.details[0].checks[0]!.passed, false);
  });

  test('a header secret is masked in the failure even when the service echoes it back, and is in no log line', async () => {
    const name = system({ checks: [{ name: 'echo', url: `${base}/echo`, headersFromEnv: { Authorization: { env: 'HEALTH_TOKEN', prefix: 'Bearer ' } }, json: { path: '$.seen', equals: 'nobody' } }] });
    const err = await refusal(verify(name));
    assert.equal(err.message, 'health not verified: check echo failed: $.seen is "Bearer ***", expected "nobody"');
    assert.ok(!JSON.stringify(err.details).includes(TOKEN));
    assert.ok(![...logged, ...activityLog].some((line) => line.includes(TOKEN)), 'the token is in no log line');
  });

  test('a check that does not answer within its timeout fails saying so, without waiting for the answer', async () => {
    const name = system({ checks: [{ name: 'slow', url: `${base}/slow`, timeoutSeconds: 0.3 }] });
    const started = Date.now();
    const err = await refusal(verify(name));
    assert.equal(err.message, 'health not verified: check slow failed: no answer within 0.3 s');
    assert.ok(Date.now() - started < 2000, `gave up after ${Date.now() - started} ms`);
  });

  test('a command check is judged by its exit code and its output; a secret it is given is masked', async () => {
    const name = system({
      checks: [
        { name: 'migrations', command: [node, '-e', 'console.log("4f2a (head)")'], outputMatches: '\\(head\\)' },
        { name: 'behind', command: [node, '-e', 'console.log("3e1b"); console.log("token " + process.env.T)'], env: { T: 'HEALTH_TOKEN' }, outputMatches: '\\(head\\)' },
        { name: 'smoke', command: [node, '-e', 'console.error("smoke test failed"); process.exit(3)'] },
      ],
    });
    const err = await refusal(verify(name));
    assert.equal(err.message, 'health not verified: check behind failed: output did not match /\\(head\\)/ (last output: 3e1b | token ***); check smoke failed: exited with 3, expected 0 (last output: smoke test failed)');
    assert.deepEqual(err.details[0].checks.map((c) => [c.name, c.passed]), [['migrations', true], ['behind', false], ['smoke', false]]);
  });

  test("too many error lines fails with the count and the limit (seed 001's railway logs | grep ERROR | wc -l); {{since}} is the window's start", async () => {
    const logs = script('fake-logs.mjs', `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(join(dir, 'logs-args.json'))}, JSON.stringify(process.argv.slice(2)));\nconsole.log('INFO started\\nERROR db timeout\\nINFO ok\\nERROR db timeout\\nerror: lower case\\nERROR again');\n`);
    const name = system({ checks: [{ name: 'error-lines', logs: [node, logs, '--since', '{{since}}', '--for={{sinceSeconds}}s'], pattern: 'ERROR', atMost: 1 }] });
    const started = Date.now();
    const err = await refusal(verify(name));
    assert.equal(err.message, 'health not verified: check error-lines failed: 3 line(s) matched /ERROR/, at most 1 allowed');
    const [, since, length] = JSON.parse(readFileSync(join(dir, 'logs-args.json'), 'utf8')) as string[];
    assert.match(since!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Math.abs(Date.parse(since!) - started) < 2000, `${since} is when verification started`);
    assert.equal(length, '--for=1s');

    const ignoringCase = system({ checks: [{ name: 'error-lines', logs: [node, logs], pattern: 'error', ignoreCase: true, atMost: 4 }] });
    assert.deepEqual((await verify(ignoringCase)).checks, [{ name: 'error-lines', passed: true, detail: '4 line(s) matched /error/i' }]);
    const broken = system({ checks: [{ name: 'error-lines', logs: [node, '-e', 'console.error("not logged in"); process.exit(1)'], pattern: 'ERROR' }] });
    assert.match((await refusal(verify(broken))).message, /^health not verified: check error-lines failed: \S+ -e .* exited with 1, so its lines cannot be counted \(last output: not logged in\)$/);
  });

  test("p95 more than 1.5 times the baseline fails naming the limit and the baseline it came from (seed 001's 'more than 50% worse')", async () => {
    const baseline: WindowHealth = { seconds: 5, requests: 100, errors: 0, errorRatePct: 0, successRatePct: 100, p95Ms: 100 };
    const name = system({ metrics: prometheus(), thresholds: { p95Ms: { timesBaseline: 1.5 } } });
    metrics.state.latency = 'slow';
    const err = await refusal(verify(name, { baseline }));
    assert.equal(err.message, 'health not verified: p95 latency 490 ms above 150 ms (1.5 × baseline 100 ms)');
    metrics.state.latency = 'fast';
    assert.equal(Math.round((await verify(name, { baseline })).window!.p95Ms!), 95);
    assert.equal((await refusal(verify(name, { baseline: null }))).message, 'health not verified: p95 latency cannot be judged against the baseline: none was measured before the first change');
  });

  test('a staged threshold missed at its time fails naming the stage, the value and the limit; the stage before it was met', async () => {
    const baseline: WindowHealth = { seconds: 5, requests: 100, errors: 0, errorRatePct: 0, successRatePct: 100, p95Ms: 100 };
    const name = system({
      metrics: prometheus(),
      stageIntervalSeconds: 0.4,
      stageWindowSeconds: 1,
      stages: [
        { name: 'errors-below-1pct', withinSeconds: 1.2, errorRatePct: 1 },
        { name: 'p95-at-baseline', withinSeconds: 2, p95Ms: { timesBaseline: 1 } },
        { name: 'success-above-99pct', withinSeconds: 3, successRatePct: 99 },
      ],
    });
    metrics.state.latency = 'slow';
    const started = Date.now();
    const err = await refusal(verify(name, { baseline }));
    const took = Date.now() - started;
    metrics.state.latency = 'fast';
    assert.equal(err.message, 'health not verified: stage p95-at-baseline missed at 2 s: p95 latency 490 ms above 100 ms (1 × baseline 100 ms)');
    assert.ok(took >= 2000 && took < 3000, `failed at its time, after ${took} ms`);
    const stages = err.details[0].stages!;
    assert.deepEqual(stages.map((s) => [s.name, s.outcome]), [['errors-below-1pct', 'met'], ['p95-at-baseline', 'missed'], ['success-above-99pct', 'met']], 'each stage is judged on its own: success was above 99% from the start');
    assert.ok(stages[0]!.atSeconds! <= 1.2);
    assert.equal(stages[1]!.atSeconds, 2);
  });

  test('a stage that holds only later is measured until it does, before its time; every stage met passes', async () => {
    const name = system({
      metrics: prometheus(),
      stageIntervalSeconds: 0.3,
      stageWindowSeconds: 0.5,
      checks: [{ name: 'health', url: `${base}/health`, json: { path: '$.status', equals: 'healthy' } }],
      stages: [
        { name: 'errors-below-1pct', withinSeconds: 3, errorRatePct: 1, checks: ['health'] },
        { name: 'success-above-99pct', withinSeconds: 3.5, successRatePct: 99 },
      ],
    });
    metrics.state.errorPct = 25;
    const recovered = setTimeout(() => (metrics.state.errorPct = 0), 1000);
    try {
      const verdict = await verify(name);
      assert.equal(verdict.passed, true);
      const [errors, success] = verdict.stages!;
      assert.equal(errors!.outcome, 'met');
      assert.ok(errors!.atSeconds! >= 1 && errors!.atSeconds! <= 3, `met at ${errors!.atSeconds} s, after the errors stopped`);
      assert.equal(success!.outcome, 'met');
    } finally {
      clearTimeout(recovered);
      metrics.state.errorPct = 0;
    }
    const missing = system({ metrics: prometheus(), stageIntervalSeconds: 0.3, stageWindowSeconds: 0.5, stages: [{ name: 'errors-below-1pct', withinSeconds: 1, errorRatePct: 1 }] });
    metrics.state.errorPct = 25;
    try {
      assert.equal((await refusal(verify(missing))).message, 'health not verified: stage errors-below-1pct missed at 1 s: error rate 25.0% above 1%');
    } finally {
      metrics.state.errorPct = 0;
    }
  });
});

/**
 * A history as a replay fixture names no path of the machine it ran on: this run's temporary directory
 * becomes /tmp/health-checks (in payloads too, which the JSON carries in base64) and the checkout /app,
 * as the other fixtures have it.
 */
function asFixture(json: string): string {
  const checkout = new URL('..', import.meta.url).pathname;
  const plain = (text: string) => text.replaceAll(dir, '/tmp/health-checks').replaceAll(checkout, '/app/');
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return typeof node === 'string' ? plain(node) : node;
    const entries = Object.entries(node).map(([key, value]) => [key, key === 'data' && typeof value === 'string' ? Buffer.from(plain(Buffer.from(value, 'base64').toString('utf8'))).toString('base64') : walk(value)]);
    return Object.fromEntries(entries);
  };
  return JSON.stringify(walk(JSON.parse(json)), null, 2);
}

describe('staged verification in the incident report', () => {
  test('each stage is listed with its time and what became of it', () => {
    const stages: StageOutcome[] = [
      { name: 'errors-below-1pct', withinSeconds: 300, outcome: 'met', atSeconds: 45, reasons: [] },
      { name: 'p95-at-baseline', withinSeconds: 600, outcome: 'missed', atSeconds: 600, reasons: ['p95 latency 490 ms above 100 ms (1 × baseline 100 ms)'] },
      { name: 'success-above-99pct', withinSeconds: 900, outcome: 'not_reached', atSeconds: null, reasons: [] },
    ];
    const reasons = ['stage p95-at-baseline missed at 600 s: p95 latency 490 ms above 100 ms (1 × baseline 100 ms)'];
    const status = { workflowType: 'fullRollback', workflowId: 'rollback-1', system: 'clinic', reason: 'p95 3.4 s', requestedBy: 'alice', dryRun: false, startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:10:00.000Z', detectedAt: null, state: 'failed', currentStep: null, details: '', steps: [], pendingGate: null, pendingDecision: null, events: [], snapshot: null, plan: null, blockers: [], healthAfter: { passed: false, reasons, window: null, checks: [], stages }, decisionWaitMs: 0, notes: [], compensationFailures: [], report: null } satisfies RollbackStatus;
    assert.match(
      renderIncidentReport(status, null),
      /- \*\*After\*\*: NOT verified; not measured\n  - stage p95-at-baseline missed at 600 s: p95 latency 490 ms above 100 ms \(1 × baseline 100 ms\)\n  - stage errors-below-1pct, due by 300 s: met at 45 s\n  - stage p95-at-baseline, due by 600 s: MISSED at 600 s\n  - stage success-above-99pct, due by 900 s: not reached\n/,
    );
  });
});

describe('a phaseRollback whose phase verification fails on a wrong JSON field', { timeout: 120_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: RollbackWorker;
  let running: Promise<void>;
  let app: { url: string; server: Server };
  const runbooks = new Map<string, Runbook>();
  const reportsDir = join(dir, 'reports');
  const state = join(dir, 'deployment.txt');
  const deploy = join(dir, 'deploy.mjs');

  before(async () => {
    env = await startTemporal();
    app = await serve((req, _body, res) => json(res, 200, { status: 'degraded', seen: req.headers.authorization }));
    writeFileSync(deploy, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(state)}, process.argv[2]);\n`);
    worker = await createRollbackWorker({ connection: env.nativeConnection, client: env.client, namespace: 'default', env: testWorkerEnv, runbooks, secrets: { PATH: process.env.PATH ?? '', READY_TOKEN: TOKEN }, logger, reportsDir });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    app?.server.close();
    await env?.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the verify step fails naming the check, the field, its value and the one expected; compensation undoes the phase; the token is in no history, log or report', async () => {
    writeFileSync(state, 'v2');
    runbooks.set(
      'clinic',
      parseRunbook(
        runbookText('clinic', {
          decisions: { timeoutSeconds: 60, onTimeout: 'abort' },
          phases: [
            {
              id: 2,
              name: 'LangGraph extraction',
              // `node` from PATH, not this machine's path to it: the history may be kept as a replay fixture.
              rollback: [{ command: ['node', deploy, 'v1'], undo: ['node', deploy, 'v2'], repeatable: true }],
              verify: { checks: [{ name: 'ready', url: `${app.url}/ready`, headersFromEnv: { Authorization: { env: 'READY_TOKEN', prefix: 'Bearer ' } }, json: [{ path: '$.status', equals: 'ready' }, { path: '$.seen', equals: 'nobody' }] }] },
            },
          ],
        }),
        'runbooks/clinic.yaml',
      ),
    );
    const handle = await env.client.workflow.start('phaseRollback', { taskQueue: TASK_QUEUE, workflowId: 'phase-rollback-health-1', args: [{ system: 'clinic', reason: 'chat answers 500', requestedBy: 'alice', phases: [2], baselineSeconds: 0 }] });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 60_000);
    const expected = 'health not verified: check ready failed: $.status is "degraded", expected "ready"; $.seen is "Bearer ***", expected "nobody"';
    assert.equal(waiting.pendingDecision?.step, 'verify:phase-2');
    assert.equal(waiting.pendingDecision?.error, expected);
    assert.equal(waiting.healthAfter?.reasons[0], 'check ready failed: $.status is "degraded", expected "ready"; $.seen is "Bearer ***", expected "nobody"');
    assert.equal(readFileSync(state, 'utf8'), 'v1', 'the phase was undone before verification');

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    assert.equal((await failureOf(handle.result())).type, 'RollbackFailed');
    assert.equal(readFileSync(state, 'utf8'), 'v2', 'compensation put the deployment back');
    const status = await handle.query(statusQuery);
    assert.equal(status.steps.find((s) => s.name === 'phase-2/command node')?.outcome, 'compensated');

    // RECORD_HISTORIES=<dir> keeps it for test/replay.test.ts, this run's temporary directory named as one fixed path.
    const recorded = await handle.fetchHistory();
    if (process.env.RECORD_HISTORIES) writeFileSync(join(process.env.RECORD_HISTORIES, 'phaseRollback-v5-health-checks-01-failed.json'), asFixture(historyToJSON(recorded)));
    // Every payload of the history decoded: the token is nowhere, its masked form is.
    const history = JSON.stringify(recorded.events, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value));
    assert.ok(history.includes('Bearer ***'));
    assert.ok(!history.includes(TOKEN), 'the token is in no event of the history');
    assert.ok(!logged.some((line) => line.includes(TOKEN)), 'the token is in no log line');
    assert.ok(logged.some((line) => line.includes('$.seen is \\"Bearer ***\\"')), 'the failure was logged, masked');
    const reports = readdirSync(reportsDir, { recursive: true }).map(String).filter((f) => f.endsWith('.md'));
    assert.ok(reports.length > 0);
    for (const report of reports) assert.ok(!readFileSync(join(reportsDir, report), 'utf8').includes(TOKEN), `${report} has no token`);
  });
});
