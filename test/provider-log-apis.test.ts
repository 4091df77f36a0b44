/**
 * Log checks read from a log API instead of a command: the cloud-logging provider (Cloud Logging v2
 * entries.list) and the fly-logs provider (Fly's logs endpoint) against their emulators
 * (test/emulators/cloud-logging.ts, test/emulators/fly-logs.ts): the window measured is what is
 * counted, pages are followed (and capped), failures are named with what to do; then the runbook's
 * `logsFrom:` form, refused at load when it names the wrong provider or a field its provider does not
 * take, and judged by the check runner with the same words as a log command's count.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import type { ActivityDeps } from '../src/activities/deps.ts';
import { createCheckRunner } from '../src/activities/health-checks.ts';
import { cloudLogging } from '../src/providers/cloud-logging/cloud-logging.ts';
import { flyLogsProvider } from '../src/providers/fly/logs.ts';
import { ProviderClients } from '../src/providers/index.ts';
import type { LogsClient } from '../src/providers/types.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { CloudLoggingEmulator } from './emulators/cloud-logging.ts';
import { googleError } from './emulators/cloud-run.ts';
import { FlyLogsEmulator } from './emulators/fly-logs.ts';
import { quietLogger } from './harness.ts';

const GCP_TOKEN = 'ya29.test-cloud-logging-3f9a';
const FLY_TOKEN = 'fo1_test_fly_logs_8b2c';
const APP = 'clinic-app';
const env = { GCP_ACCESS_TOKEN: GCP_TOKEN, FLY_API_TOKEN: FLY_TOKEN };

/** A window of ten seconds ending now, and instants before, inside and after it. */
function windowNow() {
  const untilMs = Date.now();
  const sinceMs = untilMs - 10_000;
  return { span: { sinceMs, untilMs }, before: new Date(sinceMs - 5_000), inside: (s: number) => new Date(sinceMs + s * 1000), after: new Date(untilMs + 5_000) };
}

async function cloudLoggingClient(t: TestContext, settings: Record<string, unknown> = {}, clientEnv: Record<string, string> = env) {
  const emulator = await new CloudLoggingEmulator(GCP_TOKEN).start();
  t.after(() => emulator.stop());
  const parsed = cloudLogging.settingsSchema.parse({ project: 'medicalcor-prod', baseUrl: emulator.url, tokenEnv: 'GCP_ACCESS_TOKEN', ...settings });
  return { emulator, logs: cloudLogging.create(parsed, { env: clientEnv, logger: quietLogger }).logs };
}

async function flyLogsClient(t: TestContext, settings: Record<string, unknown> = {}, clientEnv: Record<string, string> = env) {
  const emulator = await new FlyLogsEmulator(FLY_TOKEN).start();
  t.after(() => emulator.stop());
  emulator.addApp(APP);
  const parsed = flyLogsProvider.settingsSchema.parse({ app: APP, baseUrl: emulator.url, tokenEnv: 'FLY_API_TOKEN', ...settings });
  return { emulator, logs: flyLogsProvider.create(parsed, { env: clientEnv, logger: quietLogger }).logs };
}

const texts = (read: Awaited<ReturnType<LogsClient['readWindow']>>) => read.lines.map((l) => `${l.severity} ${l.text}`);

describe('cloud-logging provider against an emulator of entries.list', () => {
  test("reads the window's entries the filters select, oldest first: the settings' and the check's filter and the window's timestamps, in one request", async (t) => {
    const { emulator, logs } = await cloudLoggingClient(t, { filter: 'resource.labels.service_name="medicalcor-api"' });
    const w = windowNow();
    emulator.write({ severity: 'ERROR', text: 'before the window', at: w.before });
    emulator.write({ severity: 'ERROR', text: 'db timeout', at: w.inside(1) });
    emulator.write({ severity: 'INFO', text: 'request served', at: w.inside(2) });
    emulator.write({ severity: 'CRITICAL', json: { message: 'pool exhausted', pool: 'main' }, at: w.inside(3) });
    emulator.write({ severity: 'ERROR', text: 'another service', service: 'billing', at: w.inside(4) });
    emulator.write({ severity: 'ERROR', text: 'after the window', at: w.after });

    const read = await logs.readWindow({ filter: 'severity>=ERROR' }, w.span);
    assert.deepEqual(texts(read), ['ERROR db timeout', 'CRITICAL pool exhausted']);
    assert.equal(read.cutShort, null);
    assert.equal(read.pages, 1);
    const [request] = emulator.requests;
    assert.equal(`${request!.method} ${request!.path}`, 'POST /v2/entries:list');
    assert.equal(request!.headers.authorization, `Bearer ${GCP_TOKEN}`);
    assert.deepEqual(request!.body, {
      resourceNames: ['projects/medicalcor-prod'],
      filter: `(resource.labels.service_name="medicalcor-api") AND (severity>=ERROR) AND timestamp>="${new Date(w.span.sinceMs).toISOString()}" AND timestamp<="${new Date(w.span.untilMs).toISOString()}"`,
      orderBy: 'timestamp asc',
      pageSize: 1000,
    });
  });

  test('follows nextPageToken to the end, through the empty pages the API gives while it is still searching', async (t) => {
    const { emulator, logs } = await cloudLoggingClient(t, { pageSize: 2 });
    const w = windowNow();
    for (let i = 1; i <= 5; i++) emulator.write({ severity: 'ERROR', text: `error ${i}`, at: w.inside(i) });
    emulator.emptyPagesFirst = 2;
    const read = await logs.readWindow({}, w.span);
    assert.deepEqual(texts(read), ['ERROR error 1', 'ERROR error 2', 'ERROR error 3', 'ERROR error 4', 'ERROR error 5']);
    assert.equal(read.pages, 5, 'two empty pages, then 2 + 2 + 1 entries');
    const tokens = emulator.requests.map((r) => (r.body as { pageToken?: string }).pageToken ?? null);
    assert.equal(tokens[0], null);
    assert.equal(new Set(tokens).size, 5, 'each page asked for with the token the one before gave');
  });

  test('stops at maxPages and says the window was not read whole', async (t) => {
    const { emulator, logs } = await cloudLoggingClient(t, { pageSize: 2, maxPages: 2 });
    const w = windowNow();
    for (let i = 1; i <= 5; i++) emulator.write({ severity: 'ERROR', text: `error ${i}`, at: w.inside(i) });
    const read = await logs.readWindow({}, w.span);
    assert.equal(read.lines.length, 4);
    assert.equal(read.cutShort, 'Cloud Logging had more than 2 page(s) of 2 entries in the window (settings.maxPages)');
    assert.equal(emulator.requests.length, 2);
  });

  test('a refused token, a token not set, a filter the API refuses and a project not readable are each named with what to do', async (t) => {
    const { logs: wrong } = await cloudLoggingClient(t, {}, { GCP_ACCESS_TOKEN: 'ya29.expired' });
    const w = windowNow();
    await assert.rejects(wrong.readWindow({}, w.span), {
      message: 'Cloud Logging POST /v2/entries:list answered 401: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. The access token in GCP_ACCESS_TOKEN was refused (expired? access tokens last about an hour): put a fresh one there (gcloud auth print-access-token).',
    });
    const { emulator, logs } = await cloudLoggingClient(t, {}, {});
    await assert.rejects(logs.readWindow({}, w.span), { message: 'environment variable GCP_ACCESS_TOKEN is not set (the runbook references it)' });
    assert.equal(emulator.requests.length, 0, 'nothing sent without a token');
    const { logs: filtered } = await cloudLoggingClient(t);
    await assert.rejects(filtered.readWindow({ filter: 'severity>=ERROR OR textPayload:"x"' }, w.span), (err: Error) => {
      assert.match(err.message, /^Cloud Logging POST \/v2\/entries:list answered 400: Unparseable filter: .*\. Cloud Logging refused the filter: check the filter of the runbook's check and of the provider's settings/);
      return true;
    });
    const { logs: other } = await cloudLoggingClient(t, { project: 'someone-else' });
    await assert.rejects(other.readWindow({}, w.span), {
      message: 'Cloud Logging POST /v2/entries:list answered 403: The caller does not have permission to read projects/someone-else. The token\'s account may not read these logs: it needs logging.logEntries.list (roles/logging.viewer) on projects/someone-else.',
    });
  });

  test('a 503 is asked again (entries.list only reads); one that persists is named as a server error', async (t) => {
    const { emulator, logs } = await cloudLoggingClient(t);
    const w = windowNow();
    emulator.write({ severity: 'ERROR', text: 'db timeout', at: w.inside(1) });
    const unavailable = { ...googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.'), headers: { 'retry-after': '0' } };
    emulator.failNext(unavailable, { times: 2 });
    assert.deepEqual(texts(await logs.readWindow({}, w.span)), ['ERROR db timeout']);
    assert.equal(emulator.requests.length, 3);
    emulator.failNext(unavailable, { times: 10 });
    await assert.rejects(logs.readWindow({}, w.span), (err: Error) => {
      assert.match(err.message, /^Cloud Logging POST \/v2\/entries:list answered 503 \(.+\): The service is currently unavailable\. Cloud Logging had a server error: the health check can be run again\.$/);
      return true;
    });
  });
});

describe("fly-logs provider against an emulator of Fly's logs endpoint", () => {
  test('reads the lines of the window, of one instance and region when asked, with the bearer token', async (t) => {
    const { emulator, logs } = await flyLogsClient(t);
    const w = windowNow();
    emulator.log(APP, { level: 'error', message: 'ERROR before the window', at: w.before });
    emulator.log(APP, { level: 'error', message: 'ERROR db timeout', at: w.inside(1) });
    emulator.log(APP, { level: 'info', message: 'GET /health 200', at: w.inside(2) });
    emulator.log(APP, { level: 'error', message: 'ERROR in ord', region: 'ord', instance: '9080e6f3a12d87', at: w.inside(3) });
    const all = await logs.readWindow({}, w.span);
    assert.deepEqual(texts(all), ['error ERROR db timeout', 'info GET /health 200', 'error ERROR in ord']);
    assert.equal(all.cutShort, null);
    assert.equal(emulator.requests[0]!.headers.authorization, `Bearer ${FLY_TOKEN}`);
    assert.equal(emulator.requests[0]!.path, `/api/v1/apps/${APP}/logs`);
    assert.equal(emulator.requests[0]!.query.get('next_token'), '');

    emulator.requests.length = 0;
    const ord = await logs.readWindow({ region: 'ord', instance: '9080e6f3a12d87' }, w.span);
    assert.deepEqual(texts(ord), ['error ERROR in ord']);
    assert.deepEqual([emulator.requests[0]!.query.get('region'), emulator.requests[0]!.query.get('instance')], ['ord', '9080e6f3a12d87']);
  });

  test('pages with next_token until a page comes back empty, and stops at the first line past the window without asking further', async (t) => {
    const { emulator, logs } = await flyLogsClient(t);
    emulator.pageSize = 3;
    const w = windowNow();
    for (let i = 1; i <= 7; i++) emulator.log(APP, { level: 'error', message: `ERROR ${i}`, at: w.inside(i) });
    const read = await logs.readWindow({}, w.span);
    assert.equal(read.lines.length, 7);
    assert.equal(read.pages, 4, '3 + 3 + 1 lines, then an empty page: caught up');
    const tokens = emulator.requests.map((r) => r.query.get('next_token'));
    assert.equal(tokens[0], '');
    assert.deepEqual(tokens.slice(1), [String(emulator.apps.get(APP)![2]!.ns), String(emulator.apps.get(APP)![5]!.ns), String(emulator.apps.get(APP)![6]!.ns)]);

    emulator.requests.length = 0;
    for (let i = 0; i < 10; i++) emulator.log(APP, { level: 'error', message: 'ERROR later', at: w.after });
    const again = await logs.readWindow({}, w.span);
    assert.equal(again.lines.length, 7);
    assert.equal(emulator.requests.length, 3, 'the third page holds a line past the window: no fourth request');
  });

  test('stops at maxPages and says the window was not read whole', async (t) => {
    const { emulator, logs } = await flyLogsClient(t, { maxPages: 2 });
    emulator.pageSize = 2;
    const w = windowNow();
    for (let i = 1; i <= 5; i++) emulator.log(APP, { message: `ERROR ${i}`, at: w.inside(i) });
    const read = await logs.readWindow({}, w.span);
    assert.equal(read.lines.length, 4);
    assert.equal(read.cutShort, 'the Fly logs API still had pages after 2 (settings.maxPages)');
  });

  test('a refused token and an unknown app are named with what to do; a 503 is asked again', async (t) => {
    const w = windowNow();
    const { logs: wrong } = await flyLogsClient(t, {}, { FLY_API_TOKEN: 'fo1_revoked' });
    await assert.rejects(wrong.readWindow({}, w.span), {
      message: `Fly logs API GET /api/v1/apps/${APP}/logs?next_token= answered 401: You must be authenticated to view this. The token in FLY_API_TOKEN was refused (expired, revoked or not for this organization); make one with \`fly tokens create readonly\` and set FLY_API_TOKEN.`,
    });
    const { logs: missing } = await flyLogsClient(t, { app: 'clinic-app-typo' });
    await assert.rejects(missing.readWindow({}, w.span), {
      message: "Fly logs API GET /api/v1/apps/clinic-app-typo/logs?next_token= answered 404: Could not find App \"clinic-app-typo\". No Fly app 'clinic-app-typo' is visible to this token; check settings.app (`fly apps list`).",
    });
    const { emulator, logs } = await flyLogsClient(t);
    emulator.log(APP, { message: 'ERROR db timeout', at: w.inside(1) });
    emulator.failNext({ status: 503, body: { error: 'upstream unavailable' }, headers: { 'retry-after': '0' } });
    assert.equal((await logs.readWindow({}, w.span)).lines.length, 1);
    assert.deepEqual(emulator.requests.map((r) => r.query.get('next_token')).slice(0, 2), ['', ''], 'the same page asked again');
  });
});

describe('log checks from a log API in the runbook', () => {
  const base = {
    approvers: { oncall: ['alice', 'bob'] },
    rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
    notify: [{ provider: 'log' }],
  };
  const providers = (emulators: { gcp?: string; fly?: string } = {}) => ({
    gcp: { provider: 'cloud-logging', settings: { project: 'medicalcor-prod', tokenEnv: 'GCP_ACCESS_TOKEN', ...(emulators.gcp ? { baseUrl: emulators.gcp } : {}) } },
    fly: { provider: 'fly-logs', settings: { app: APP, tokenEnv: 'FLY_API_TOKEN', ...(emulators.fly ? { baseUrl: emulators.fly } : {}) } },
    scripts: { provider: 'command', settings: {} },
  });
  const load = (checks: unknown[], withProviders: Record<string, unknown> = providers()) => parseRunbook(stringify({ system: 'api', ...base, providers: withProviders, health: { checks } }), 'runbooks/api.yaml');
  const problems = (checks: unknown[], withProviders?: Record<string, unknown>) => {
    try {
      load(checks, withProviders);
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('the runbook was accepted');
  };

  test('logsFrom names a provider of log lines, or takes the only one; what it adds must be what that provider takes', () => {
    const runbook = load([{ name: 'api-errors', logsFrom: { provider: 'gcp', filter: 'severity>=ERROR' }, pattern: 'ERROR', atMost: 5 }]);
    assert.deepEqual(runbook.health.checks[0], { name: 'api-errors', logsFrom: { provider: 'gcp', filter: 'severity>=ERROR' }, pattern: 'ERROR', ignoreCase: false, atMost: 5, timeoutSeconds: 60 });
    const only = load([{ name: 'app-errors', logsFrom: { region: 'ams' } }], { fly: providers().fly });
    assert.deepEqual(only.health.checks[0], { name: 'app-errors', logsFrom: { provider: 'fly', region: 'ams' }, ignoreCase: false, atMost: 0, timeoutSeconds: 60 });

    assert.equal(
      problems([
        { name: 'a', logsFrom: { provider: 'fly', filter: 'severity>=ERROR' }, pattern: 'ERROR' },
        { name: 'b', logsFrom: { provider: 'scripts' }, pattern: 'ERROR' },
        { name: 'c', logsFrom: { filter: 'severity>=ERROR' }, pattern: 'ERROR' },
        { name: 'd', logsFrom: { provider: 'gcp', region: 'amsterdam' }, pattern: '(' },
      ]),
      [
        'runbooks/api.yaml: health.checks[3].logsFrom.region: must be a Fly region code like ams or ord',
        'runbooks/api.yaml: health.checks[3].pattern: not a valid regular expression: Invalid regular expression: /(/: Unterminated group',
      ].join('\n'),
    );
    assert.equal(
      problems([
        { name: 'a', logsFrom: { provider: 'fly', filter: 'severity>=ERROR' }, pattern: 'ERROR' },
        { name: 'b', logsFrom: { provider: 'scripts' }, pattern: 'ERROR' },
        { name: 'c', logsFrom: { filter: 'severity>=ERROR' }, pattern: 'ERROR' },
      ]),
      [
        'runbooks/api.yaml: health.checks[0].logsFrom.filter: fly-logs (providers.fly) takes no filter; it takes: instance, region',
        "runbooks/api.yaml: health.checks[1].logsFrom.provider: provider 'scripts' (command) offers no log lines; those that do: gcp, fly",
        'runbooks/api.yaml: health.checks[2].logsFrom.provider: required: gcp and fly both offer log lines; name one',
      ].join('\n'),
    );
  });

  test('the check runner counts the matching lines of the window in the words of a log command\'s count; a window not read whole cannot pass', async (t) => {
    const gcp = await new CloudLoggingEmulator(GCP_TOKEN).start();
    const fly = await new FlyLogsEmulator(FLY_TOKEN).start();
    t.after(() => Promise.all([gcp.stop(), fly.stop()]));
    const withCap = providers({ gcp: gcp.url, fly: fly.url });
    (withCap.gcp.settings as Record<string, unknown>).pageSize = 2;
    (withCap.gcp.settings as Record<string, unknown>).maxPages = 1;
    const runbook = load(
      [
        { name: 'api-errors', logsFrom: { provider: 'fly' }, pattern: 'ERROR', atMost: 2 },
        { name: 'api-errors-quiet', logsFrom: { provider: 'fly', region: 'ord' }, pattern: 'error', ignoreCase: true, atMost: 2 },
        { name: 'run-errors', logsFrom: { provider: 'gcp', filter: 'severity>=ERROR' }, atMost: 5 },
      ],
      withCap,
    );
    const w = windowNow();
    for (let i = 1; i <= 3; i++) fly.log(APP, { level: 'error', message: `ERROR db timeout ${i}`, at: w.inside(i) });
    fly.log(APP, { level: 'error', message: 'ERROR in ord', region: 'ord', at: w.inside(4) });
    fly.log(APP, { level: 'error', message: 'ERROR long ago', at: w.before });
    for (let i = 1; i <= 3; i++) gcp.write({ severity: 'ERROR', text: `error ${i}`, at: w.inside(i) });
    const deps = { runbooks: new Map([['api', runbook]]), env, logger: quietLogger, clients: new ProviderClients({ env, logger: quietLogger }), temporal: undefined as never, reportsDir: '/nonexistent' } satisfies ActivityDeps;
    t.after(() => deps.clients.close());
    const outcomes = await createCheckRunner(deps, runbook)(runbook.health.checks, w.span);
    assert.deepEqual(outcomes, [
      { name: 'api-errors', passed: false, detail: '4 line(s) matched /ERROR/, at most 2 allowed' },
      { name: 'api-errors-quiet', passed: true, detail: '1 line(s) matched /error/i' },
      { name: 'run-errors', passed: false, detail: '2 line(s) in the window in the 2 entries read, but the window was not read whole: Cloud Logging had more than 1 page(s) of 2 entries in the window (settings.maxPages)' },
    ]);

    const noToken = { ...deps, env: {}, clients: new ProviderClients({ env: {}, logger: quietLogger }) };
    t.after(() => noToken.clients.close());
    const [unreadable] = await createCheckRunner(noToken, runbook)(runbook.health.checks.slice(0, 1), w.span);
    assert.deepEqual(unreadable, { name: 'api-errors', passed: false, detail: 'its lines cannot be counted: environment variable FLY_API_TOKEN is not set (the runbook references it)' });
  });
});
