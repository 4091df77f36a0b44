/**
 * The sandbox system and the first providers against it: real HTTP servers, real traffic, real
 * Prometheus text, the real Postgres database; replicas as real processes loading the platform's
 * config and secrets, kill switches in the real Redis, a flagd flag file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import { createClient as createRedisClient } from 'redis';
import { SANDBOX_FLAGS } from '../sandbox/database.ts';
import { ensureFlagdFile, ENTITY_FLAGS, PHASE_FLAGS } from '../sandbox/flagd.ts';
import { sendBurst } from '../sandbox/load-generator.ts';
import { LATENCY_BUCKETS } from '../sandbox/deployment.ts';
import { SEED_CONFIG } from '../sandbox/platform.ts';
import type { SandboxOptions } from '../sandbox/sandbox.ts';
import { ProviderClients } from '../src/providers/index.ts';
import { healthBetween } from '../src/providers/health/window.ts';
import { runHttpChecks } from '../src/providers/health/http-checks.ts';
import { quietLogger, sleep, startTestSandbox, type TestSandbox } from './harness.ts';

let sb: TestSandbox;
/** The providers' live clients, as a worker holds them: made on first use, closed after the file. */
let clients: ProviderClients;
const key = (name: string) => ({ idempotencyKey: `${name}-${Math.random()}`, actor: 'test' });

async function admin(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${sb.sandbox.urls.router}${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

function countByVersion(results: { version: string | null }[]) {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.version ?? 'none'] = (counts[r.version ?? 'none'] ?? 0) + 1;
  return counts;
}

function metricsClient(match: Record<string, string> = {}) {
  return clients.get('metrics', {
    provider: 'prometheus',
    settings: {
      url: `${sb.sandbox.urls.router}/metrics`,
      requestsMetric: 'sandbox_router_requests_total',
      latencyMetric: 'sandbox_router_request_duration_seconds',
      match,
    },
  });
}

describe('sandbox system', () => {
  before(async () => {
    sb = await startTestSandbox();
    clients = new ProviderClients({ env: sb.env, logger: quietLogger });
  });
  after(async () => {
    await clients.close();
    await sb.stop();
  });

  test('the router splits real traffic by its weights, and a weight change shows in the split at once', async () => {
    assert.deepEqual(countByVersion(await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 100)), { stable: 75, canary: 25 });
    const traffic = clients.get('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } });
    const state = await traffic.setWeights({ stable: 50, canary: 50 }, key('split'));
    assert.deepEqual(state.weights, { stable: 50, canary: 50 });
    assert.deepEqual(countByVersion(await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 100)), { stable: 50, canary: 50 });
    await traffic.setWeights({ stable: 100, canary: 0 }, key('all-stable'));
    assert.deepEqual(countByVersion(await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 40)), { stable: 40 });
  });

  test('scaling through the provider opens and closes real replicas, and a version at 0 serves nothing', async () => {
    const router = { provider: 'http-router', settings: { url: sb.sandbox.urls.router } };
    const traffic = clients.get('scaling', router);
    await clients.get('traffic', router).setWeights({ stable: 50, canary: 50 }, key('w'));
    const scaled = await traffic.scale('stable', 3, key('scale-stable'));
    assert.deepEqual(scaled.instances, { stable: 3, canary: 1 });
    assert.equal(sb.sandbox.deployments.get('stable')?.replicas.length, 3);
    await traffic.scale('canary', 0, key('scale-canary'));
    const canaryHealth = await fetch(`${sb.sandbox.urls.canary}/health`);
    assert.equal(canaryHealth.status, 503);
    // Weight 50 on a version with no replicas: the router sends everything to the one that can serve.
    assert.deepEqual(countByVersion(await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 30)), { stable: 30 });
    await traffic.scale('canary', 1, key('restore-canary'));
  });

  test('every applied change is logged once; a repeated idempotency key applies nothing more', async () => {
    const before = (await (await fetch(`${sb.sandbox.urls.router}/admin/changes`)).json()) as { changes: unknown[] };
    const headers = { 'idempotency-key': 'wf-1/shift-1', 'x-actor': 'rollback wf-1' };
    const first = await admin('/admin/weights', { weights: { stable: 90, canary: 10 } }, headers);
    const again = await admin('/admin/weights', { weights: { stable: 90, canary: 10 } }, headers);
    assert.equal(first.status, 200);
    assert.equal(again.body.replayed, true);
    assert.deepEqual(again.body.change, first.body.change);
    const conflicting = await admin('/admin/weights', { weights: { stable: 80, canary: 20 } }, headers);
    assert.equal(conflicting.status, 409);
    assert.equal(conflicting.body.error, 'idempotency key wf-1/shift-1 was used for a different change');
    const noop = await admin('/admin/weights', { weights: { stable: 90, canary: 10 } });
    assert.equal(noop.body.change, null, 'setting the same weights again is not a change');
    const after = (await (await fetch(`${sb.sandbox.urls.router}/admin/changes`)).json()) as { changes: any[] };
    assert.equal(after.changes.length, before.changes.length + 1);
    assert.deepEqual(after.changes.at(-1), {
      ...first.body.change,
      kind: 'weights',
      after: { stable: 90, canary: 10 },
      actor: 'rollback wf-1',
      idempotencyKey: 'wf-1/shift-1',
    });
  });

  test('the router refuses weights that do not add up, unknown versions and bad counts, changing nothing', async () => {
    const state = sb.sandbox.router.state();
    const changes = sb.sandbox.router.changes.length;
    assert.deepEqual((await admin('/admin/weights', { weights: { stable: 60, canary: 60 } })).body, { error: 'weights must add up to 100, not 120' });
    assert.deepEqual((await admin('/admin/weights', { weights: { stable: 100, canary: 0, blue: 0 } })).body, {
      error: 'unknown version "blue"; must be one of: stable, canary',
    });
    assert.deepEqual((await admin('/admin/instances', { version: 'stable', count: -1 })).body, { error: 'count must be an integer from 0 to 20' });
    assert.deepEqual(sb.sandbox.router.state(), state);
    assert.equal(sb.sandbox.router.changes.length, changes);
  });

  test('error rate from scraped counters matches a canary set to 20% errors', async () => {
    const traffic = clients.get('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } });
    await traffic.setWeights({ stable: 50, canary: 50 }, key('w'));
    assert.equal((await admin('/admin/fault', { version: 'canary', errorRatePct: 20 })).status, 200);
    const all = metricsClient();
    const canaryOnly = metricsClient({ version: 'canary' });
    const [allBefore, canaryBefore] = [await all.scrape(), await canaryOnly.scrape()];
    const results = await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 400);
    const [allAfter, canaryAfter] = [await all.scrape(), await canaryOnly.scrape()];
    await admin('/admin/fault', { version: 'canary', errorRatePct: 0 });

    const overall = healthBetween(allBefore, allAfter);
    const canary = healthBetween(canaryBefore, canaryAfter);
    const served500 = results.filter((r) => r.status === 500).length;
    assert.equal(overall.requests, 400);
    assert.equal(overall.errors, served500, 'the scrape counts exactly the 500s the clients saw');
    assert.ok(Math.abs(canary.errorRatePct - 20) <= 1, `canary error rate ${canary.errorRatePct}% should be 20% ± 1`);
    assert.ok(Math.abs(overall.errorRatePct - 10) <= 1, `overall error rate ${overall.errorRatePct}% should be 10% ± 1`);
    assert.ok(Math.abs(overall.successRatePct - 90) <= 1, `success rate ${overall.successRatePct}% should be 90% ± 1`);
  });

  test('p95 from histogram buckets agrees with the latencies clients measured, to the bucket', async () => {
    const traffic = clients.get('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } });
    await traffic.setWeights({ stable: 100, canary: 0 }, key('w'));
    await admin('/admin/fault', { version: 'stable', addedLatencyMs: 300 });
    const client = metricsClient();
    const first = await client.scrape();
    const timings: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 15; i += 1) {
          const started = performance.now();
          await (await fetch(`${sb.sandbox.urls.router}/api/orders`)).arrayBuffer();
          timings.push(performance.now() - started);
        }
      }),
    );
    const second = await client.scrape();
    await admin('/admin/fault', { version: 'stable', addedLatencyMs: 0 });

    const health = healthBetween(first, second);
    timings.sort((a, b) => a - b);
    const measured = timings[Math.ceil(0.95 * timings.length) - 1]!;
    const boundsMs = LATENCY_BUCKETS.map((s) => s * 1000);
    const upper = boundsMs.find((b) => b >= measured)!;
    const lower = [...boundsMs].reverse().find((b) => b < measured) ?? 0;
    assert.equal(health.requests, 120);
    assert.ok(health.p95Ms !== null && health.p95Ms >= lower && health.p95Ms <= upper, `p95 ${health.p95Ms} ms within bucket (${lower}, ${upper}] of measured ${measured.toFixed(1)} ms`);
    assert.ok(health.p95Ms! >= 300, 'the added 300 ms shows');
  });

  test('HTTP checks pass on a healthy version and fail, saying why, on one scaled to zero', async () => {
    const traffic = clients.get('scaling', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } });
    await traffic.scale('canary', 0, key('canary-off'));
    const results = await runHttpChecks([
      { name: 'stable', url: `${sb.sandbox.urls.stable}/health`, expectStatus: 200, timeoutMs: 2000 },
      { name: 'canary', url: `${sb.sandbox.urls.canary}/health`, expectStatus: 200, timeoutMs: 2000 },
      { name: 'nothing', url: 'http://127.0.0.1:1/health', expectStatus: 200, timeoutMs: 500 },
    ]);
    await traffic.scale('canary', 1, key('canary-on'));
    assert.deepEqual(
      results.map((r) => [r.name, r.passed, r.status]),
      [
        ['stable', true, 200],
        ['canary', false, 503],
        ['nothing', false, null],
      ],
    );
    assert.equal(results[1]?.detail, 'expected 200, got 503');
  });

  test('the webhook provider posts Slack-compatible JSON to the URL named by its environment variable', async () => {
    const notify = clients.get('notify', { provider: 'webhook', settings: { urlEnv: 'SANDBOX_WEBHOOK_URL' } });
    await notify.send({ system: 'sandbox', title: 'rollback started', text: 'by alice: error rate 14%', severity: 'warning' });
    const last = sb.sandbox.router.notifications.at(-1) as { text: string; blocks: { type: string }[] };
    assert.equal(last.text, ':warning: *sandbox*: rollback started\nby alice: error rate 14%');
    assert.deepEqual(last.blocks.map((b) => b.type), ['section', 'section']);
    const missing = clients.get('notify', { provider: 'webhook', settings: { urlEnv: 'NOT_SET_ANYWHERE' } });
    await assert.rejects(missing.send({ system: 'sandbox', title: 't', text: 't', severity: 'info' }), {
      message: 'environment variable NOT_SET_ANYWHERE is not set (the runbook references it)',
    });
  });

  test('the sandbox database is seeded once: a second seeding changes nothing', async () => {
    const { ensureSandboxDatabase } = await import('../sandbox/database.ts');
    const client = new pg.Client({ connectionString: sb.databaseUrl });
    await client.connect();
    const snapshot = async () =>
      (await client.query(`SELECT (SELECT count(*) FROM customers) c, (SELECT count(*) FROM orders) o, (SELECT count(*) FROM order_items) i,
        (SELECT count(*) FROM payments) p, (SELECT sum(total_cents) FROM orders) t, (SELECT count(*) FROM feature_flags) f`)).rows[0];
    try {
      const first = await snapshot();
      assert.deepEqual(first, { c: '500', o: '2000', i: '6000', p: '1000', t: first.t, f: '7' });
      await ensureSandboxDatabase(sb.databaseUrl);
      assert.deepEqual(await snapshot(), first);
    } finally {
      await client.end();
    }
  });

  test('the postgres-table flags provider flips a flag once and refuses an unknown one', async () => {
    const flags = clients.get('flags', { provider: 'postgres-table', settings: { databaseUrlEnv: 'SANDBOX_DATABASE_URL' } });
    assert.equal((await flags.readFlags()).grok_integration, true);
    await flags.setFlag('grok_integration', false, key('flag'));
    const client = new pg.Client({ connectionString: sb.databaseUrl });
    await client.connect();
    const row = async () => (await client.query("SELECT enabled, updated_by, updated_at FROM feature_flags WHERE name = 'grok_integration'")).rows[0];
    const changed = await row();
    await flags.setFlag('grok_integration', false, { idempotencyKey: 'again', actor: 'someone else' });
    assert.deepEqual(await row(), changed, 'setting it to the value it has touches nothing');
    assert.equal(changed.enabled, false);
    assert.equal(changed.updated_by, 'test');
    await client.end();
    await assert.rejects(flags.setFlag('no_such_flag', true, key('x')), { message: "unknown feature flag 'no_such_flag' in table feature_flags" });
  });
});

const readJsonFile = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** Running, not a zombie: the /proc entry exists and its state (after the command's closing parenthesis) is not Z. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').at(-1)!.trim()[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The environment a process started with, from /proc (read here only to prove what a replica loaded). */
function environmentOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; !condition(); await sleep(50)) if (Date.now() > deadline) return false;
  return true;
}

let platformCounter = 0;
const tempDir = mkdtempSync(join(tmpdir(), 'sandbox-platform-'));

describe('sandbox platform: replica processes, config, secrets, kill switches and flags', () => {
  let redis: ReturnType<typeof createRedisClient>;
  before(async () => {
    redis = createRedisClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
  });
  after(async () => {
    await redis.close();
    rmSync(tempDir, { recursive: true, force: true });
  });

  /** A fresh sandbox for one test (stopped after it): no database, its own kill-switch prefix and flagd file. */
  async function fresh(t: TestContext, options: Partial<SandboxOptions> = {}) {
    const n = ++platformCounter;
    const prefix = `sandbox-test:${process.pid}:${n}:kill_switch:`;
    const flagdFile = join(tempDir, `flags-${n}.json`);
    const s = await startTestSandbox({ database: false, redis: { killSwitchPrefix: prefix }, flagdFile, ...options });
    t.after(async () => {
      await s.stop();
      for (const key of await redis.keys(`${prefix}*`)) await redis.del(key);
    });
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const response = await fetch(`${s.sandbox.urls.router}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const replicas = async () => (await call('GET', '/admin/replicas')).body.replicas as Record<'stable' | 'canary', any[]>;
    const pids = (version: 'stable' | 'canary') => s.sandbox.deployments.get(version)!.replicas.map((r) => r.pid);
    const changes = () => s.sandbox.router.changes;
    return { sandbox: s.sandbox, prefix, flagdFile, call, replicas, pids, changes };
  }

  test('a restart gives every replica of the version a new process that loads the config and secret versions current then, the other version keeps its own, and traffic is served throughout', async (t) => {
    const s = await fresh(t);
    const [stableBefore, canaryBefore] = [s.pids('stable'), s.pids('canary')];
    const initial = await s.replicas();
    assert.deepEqual(initial.stable.map((r) => [r.version, r.replica, r.pid, r.status]), [
      ['stable', 1, stableBefore[0], 'ok'],
      ['stable', 2, stableBefore[1], 'ok'],
    ]);
    assert.deepEqual(initial.canary[0].config, SEED_CONFIG);
    assert.deepEqual(initial.canary[0].secretVersions, { XAI_API_KEY: 2, OPENAI_API_KEY: 1, WEBHOOK_HMAC_SECRET: 2 });

    // Seed 000, phase 5 rolled back: config and a key set, then a restart of stable only.
    const rotated = `rotated-${randomUUID()}`;
    assert.equal((await s.call('PUT', '/admin/config', { set: { GROK_ENABLED: 'false', LLM_PROVIDER: 'openai' } })).status, 200);
    assert.equal((await s.call('POST', '/admin/secrets/XAI_API_KEY/versions', { value: rotated })).status, 200);
    assert.deepEqual((await s.replicas()).stable, initial.stable, 'running replicas keep what they loaded until they restart');

    const traffic = sendBurst(`${s.sandbox.urls.router}/api/orders`, 60, 4);
    const restart = await s.call('POST', '/admin/restart', { version: 'stable' }, { 'x-actor': 'rollback wf-7' });
    const served = await traffic;
    assert.equal(restart.status, 200);
    const stableAfter = s.pids('stable');
    assert.equal(stableAfter.length, 2);
    assert.ok(stableAfter.every((pid) => !stableBefore.includes(pid) && running(pid)), 'two new processes');
    assert.ok(stableBefore.every((pid) => !running(pid)), 'the old processes have exited');
    assert.deepEqual(s.pids('canary'), canaryBefore, 'canary untouched');
    assert.deepEqual(restart.body.replicas.map((r: any) => [r.id, r.pid]), [
      [3, stableAfter[0]],
      [4, stableAfter[1]],
    ]);
    assert.deepEqual(served.map((r) => r.status), Array(60).fill(200), 'no request failed while stable restarted');

    const expectedConfig = { ...SEED_CONFIG, GROK_ENABLED: 'false', LLM_PROVIDER: 'openai' };
    const now = await s.replicas();
    assert.deepEqual(now.stable.map((r) => [r.replica, r.pid, r.config, r.secretVersions]), [
      [3, stableAfter[0], expectedConfig, { XAI_API_KEY: 3, OPENAI_API_KEY: 1, WEBHOOK_HMAC_SECRET: 2 }],
      [4, stableAfter[1], expectedConfig, { XAI_API_KEY: 3, OPENAI_API_KEY: 1, WEBHOOK_HMAC_SECRET: 2 }],
    ]);
    assert.deepEqual(now.canary, initial.canary, 'canary still runs what it loaded at start');
    assert.equal(environmentOf(stableAfter[0]!).XAI_API_KEY, rotated, 'the new process holds version 3');
    assert.notEqual(environmentOf(canaryBefore[0]!).XAI_API_KEY, rotated);
    assert.deepEqual(Object.keys(environmentOf(stableAfter[0]!)).sort(), [...Object.keys(expectedConfig), 'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'OPENAI_API_KEY', 'WEBHOOK_HMAC_SECRET', 'XAI_API_KEY'].sort(), 'its environment is config and secrets, nothing else');

    assert.deepEqual(s.changes().map((c) => [c.id, c.kind, c.before, c.after, c.actor]), [
      [1, 'config', { GROK_ENABLED: 'true', LLM_PROVIDER: 'grok' }, { GROK_ENABLED: 'false', LLM_PROVIDER: 'openai' }, 'anonymous'],
      [2, 'secret', { name: 'XAI_API_KEY', version: 3, state: null, latest: 2 }, { name: 'XAI_API_KEY', version: 3, state: 'ENABLED', latest: 3 }, 'anonymous'],
      [3, 'restart', { version: 'stable', pids: stableBefore }, { version: 'stable', pids: stableAfter }, 'rollback wf-7'],
    ]);
    for (const path of ['/admin/replicas', '/admin/secrets', '/admin/changes', '/admin/config', '/admin/state']) {
      assert.ok(!JSON.stringify((await s.call('GET', path)).body).includes(rotated), `${path} never shows a secret value`);
    }
  });

  test('config set and unset change only what differs and are logged once; setting what is already there records nothing', async (t) => {
    const s = await fresh(t);
    const headers = { 'idempotency-key': 'wf-3/phase-3-config', 'x-actor': 'rollback wf-3' };
    const body = { set: { DUAL_LANE_ROUTING_ENABLED: 'false', ROUTING_MODE: 'single', USE_LANGGRAPH: 'true' }, unset: ['ENABLE_RAG', 'NOT_THERE'] };
    const first = await s.call('PUT', '/admin/config', body, headers);
    assert.equal(first.status, 200);
    const expected = { ...SEED_CONFIG, DUAL_LANE_ROUTING_ENABLED: 'false', ROUTING_MODE: 'single' } as Record<string, string>;
    delete expected.ENABLE_RAG;
    assert.deepEqual(first.body.config, expected);
    assert.deepEqual((await s.call('GET', '/admin/config')).body, { config: expected });
    assert.deepEqual(first.body.change, {
      id: 1,
      at: first.body.change.at,
      kind: 'config',
      before: { DUAL_LANE_ROUTING_ENABLED: 'true', ROUTING_MODE: 'dual-lane', ENABLE_RAG: 'true' },
      after: { DUAL_LANE_ROUTING_ENABLED: 'false', ROUTING_MODE: 'single', ENABLE_RAG: null },
      actor: 'rollback wf-3',
      idempotencyKey: 'wf-3/phase-3-config',
    });
    const replayed = await s.call('PUT', '/admin/config', body, headers);
    assert.deepEqual(replayed.body, { ...first.body, replayed: true });
    const again = await s.call('PUT', '/admin/config', body);
    assert.equal(again.body.change, null, 'the same values again are not a change');
    assert.equal(s.changes().length, 1);
    assert.equal(s.sandbox.router.replays, 1);
  });

  test('bad config is refused with 400 naming the problem, and nothing changes', async (t) => {
    const s = await fresh(t);
    const refusals: [unknown, string][] = [
      [{ set: { 'routing-mode': 'single' } }, 'config key "routing-mode" must be an environment variable name (A-Z, 0-9 and _)'],
      [{ set: { ROUTING_MODE: 1 } }, 'set.ROUTING_MODE must be a string of at most 4096 characters'],
      [{ set: { XAI_API_KEY: 'x' } }, 'XAI_API_KEY is a secret; change it through /admin/secrets/XAI_API_KEY/versions'],
      [{ set: { NODE_OPTIONS: '--inspect' } }, "config key NODE_OPTIONS is refused: NODE_* variables change how the replica's Node starts"],
      [{ set: { ROUTING_MODE: 'single' }, unset: ['ROUTING_MODE'] }, 'ROUTING_MODE is both set and unset'],
      [{ unset: 'ENABLE_RAG' }, 'unset must be a list of keys; expected {"set": {"KEY": "value"}, "unset": ["KEY"]}'],
      [{ config: { ROUTING_MODE: 'single' } }, 'unknown field "config"; expected {"set": {"KEY": "value"}, "unset": ["KEY"]}'],
      [[], 'expected {"set": {"KEY": "value"}, "unset": ["KEY"]}'],
    ];
    for (const [body, error] of refusals) assert.deepEqual(await s.call('PUT', '/admin/config', body), { status: 400, body: { error } });
    assert.deepEqual((await s.call('GET', '/admin/config')).body.config, SEED_CONFIG);
    assert.deepEqual(s.changes(), []);
  });

  test('disabling the latest secret version makes the previous one latest, and a restarted replica loads it', async (t) => {
    const s = await fresh(t);
    const disabled = await s.call('PUT', '/admin/secrets/XAI_API_KEY/versions/2', { state: 'DISABLED' }, { 'x-actor': 'rollback wf-9' });
    assert.equal(disabled.status, 200);
    assert.deepEqual([disabled.body.change.kind, disabled.body.change.before, disabled.body.change.after], [
      'secret',
      { name: 'XAI_API_KEY', version: 2, state: 'ENABLED', latest: 2 },
      { name: 'XAI_API_KEY', version: 2, state: 'DISABLED', latest: 1 },
    ]);
    const { secrets } = (await s.call('GET', '/admin/secrets')).body;
    assert.deepEqual(Object.keys(secrets), ['XAI_API_KEY', 'OPENAI_API_KEY', 'WEBHOOK_HMAC_SECRET']);
    assert.deepEqual(secrets.XAI_API_KEY.versions.map((v: any) => [v.version, v.state, typeof v.createdAt]), [
      [1, 'ENABLED', 'string'],
      [2, 'DISABLED', 'string'],
    ]);
    assert.equal(secrets.XAI_API_KEY.latest, 1);
    assert.equal((await s.call('PUT', '/admin/secrets/XAI_API_KEY/versions/2', { state: 'DISABLED' })).body.change, null, 'disabled twice is one change');

    const canaryBefore = s.pids('canary')[0]!;
    const stableKey = environmentOf(s.pids('stable')[0]!).XAI_API_KEY;
    assert.equal((await s.call('POST', '/admin/restart', { version: 'canary' })).status, 200);
    const canary = s.pids('canary')[0]!;
    assert.notEqual(canary, canaryBefore);
    const now = await s.replicas();
    assert.deepEqual(now.canary.map((r) => [r.pid, r.secretVersions.XAI_API_KEY]), [[canary, 1]]);
    assert.deepEqual(now.stable.map((r) => r.secretVersions.XAI_API_KEY), [2, 2], 'stable was not restarted');
    assert.notEqual(environmentOf(canary).XAI_API_KEY, stableKey, 'version 1 is another value than version 2');

    // With no version enabled, a replica starts without the secret at all.
    await s.call('PUT', '/admin/secrets/XAI_API_KEY/versions/1', { state: 'DISABLED' });
    await s.call('POST', '/admin/restart', { version: 'canary' });
    const [bare] = (await s.replicas()).canary;
    assert.deepEqual(bare.secretVersions, { OPENAI_API_KEY: 1, WEBHOOK_HMAC_SECRET: 2 });
    assert.equal(environmentOf(bare.pid).XAI_API_KEY, undefined);
    assert.deepEqual(s.changes().map((c) => c.kind), ['secret', 'restart', 'secret', 'restart']);
  });

  test('an unknown secret or version is refused with 404 naming it and the known ones, and a bad state or value with 400', async (t) => {
    const s = await fresh(t);
    const before = (await s.call('GET', '/admin/secrets')).body;
    assert.deepEqual(await s.call('PUT', '/admin/secrets/XAI_API_KEY/versions/7', { state: 'DISABLED' }), {
      status: 404,
      body: { error: 'secret XAI_API_KEY has no version 7; its versions are: 1, 2' },
    });
    const unknown = { error: 'unknown secret "ANTHROPIC_API_KEY"; known secrets: XAI_API_KEY, OPENAI_API_KEY, WEBHOOK_HMAC_SECRET' };
    assert.deepEqual(await s.call('PUT', '/admin/secrets/ANTHROPIC_API_KEY/versions/1', { state: 'DISABLED' }), { status: 404, body: unknown });
    assert.deepEqual(await s.call('POST', '/admin/secrets/ANTHROPIC_API_KEY/versions', { value: 'sk-x' }), { status: 404, body: unknown });
    assert.deepEqual(await s.call('PUT', '/admin/secrets/XAI_API_KEY/versions/1', { state: 'off' }), {
      status: 400,
      body: { error: 'state must be "ENABLED" or "DISABLED"' },
    });
    assert.deepEqual(await s.call('POST', '/admin/secrets/XAI_API_KEY/versions', { value: '' }), {
      status: 400,
      body: { error: 'expected {"value": "<the new secret value>"}: a non-empty string of at most 4096 characters' },
    });
    assert.deepEqual((await s.call('GET', '/admin/secrets')).body, before);
    assert.deepEqual(s.changes(), []);
  });

  test('a kill switch set in Redis turns the feature off on the very next request on every replica, and clearing it turns it back on', async (t) => {
    const s = await fresh(t);
    const ports = [...s.sandbox.deployments.values()].flatMap((d) => d.replicas.map((r) => [d.version, r.port] as const));
    const feature = async (version: string, port: number) => {
      const response = await fetch(`http://127.0.0.1:${port}/api/features/ai_scoring`);
      return { status: response.status, body: { ...((await response.json()) as object), expectedVersion: version } };
    };
    const on = (version: string) => ({ status: 200, body: { version, feature: 'ai_scoring', enabled: true, expectedVersion: version } });
    const off = (version: string) => ({ status: 200, body: { version, feature: 'ai_scoring', enabled: false, reason: 'kill switch', expectedVersion: version } });
    for (const [version, port] of ports) assert.deepEqual(await feature(version, port), on(version));

    await redis.set(`${s.prefix}ai_scoring`, 'true');
    const through = await s.call('GET', '/api/features/ai_scoring');
    assert.deepEqual(through, { status: 200, body: { version: through.body.version, feature: 'ai_scoring', enabled: false, reason: 'kill switch' } });
    for (const [version, port] of ports) assert.deepEqual(await feature(version, port), off(version));
    assert.deepEqual((await s.call('GET', '/api/features/appointments')).body.enabled, true, 'other features are not affected');

    await redis.set(`${s.prefix}ai_scoring`, 'false');
    for (const [version, port] of ports) assert.deepEqual(await feature(version, port), on(version));
    await redis.set(`${s.prefix}ai_scoring`, '1');
    for (const [version, port] of ports) assert.deepEqual(await feature(version, port), off(version));
    await redis.del(`${s.prefix}ai_scoring`);
    for (const [version, port] of ports) assert.deepEqual(await feature(version, port), on(version));
  });

  test('with Redis unreachable a feature answers 503 saying so, and requests that touch no feature are served as usual', async (t) => {
    const s = await fresh(t, { redis: { url: 'redis://127.0.0.1:1', killSwitchPrefix: 'unused:' } });
    const [port] = s.sandbox.deployments.get('stable')!.replicas.map((r) => r.port);
    const response = await fetch(`http://127.0.0.1:${port}/api/features/ai_scoring`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), { version: 'stable', feature: 'ai_scoring', error: 'kill switch store unreachable: connect ECONNREFUSED 127.0.0.1:1' });
    const orders = await sendBurst(`${s.sandbox.urls.router}/api/orders`, 20);
    assert.deepEqual(orders.map((r) => r.status), Array(20).fill(200));
  });

  test("the flagd file is made with the five phase flags and seed 004's entity flags and evaluated on each request: a disabled flag or one defaulting to off reads false at once", async (t) => {
    const s = await fresh(t);
    const file = readJsonFile(s.flagdFile);
    assert.deepEqual(Object.keys(file.flags), [...PHASE_FLAGS, ...Object.keys(ENTITY_FLAGS)]);
    assert.ok(PHASE_FLAGS.every((name) => SANDBOX_FLAGS[name]?.description.startsWith('Phase')), 'the phase flags of sandbox/database.ts');
    assert.deepEqual(file.flags.grok_integration, { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' });
    assert.deepEqual(file.flags.legacy_entity_paths, { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' }, 'off after the cutover');
    const allOn = { ...Object.fromEntries(PHASE_FLAGS.map((name) => [name, true])), ...ENTITY_FLAGS };
    const flags = async () => (await s.call('GET', '/api/flags')).body.flags;
    assert.deepEqual(await flags(), allOn);

    file.flags.grok_integration.state = 'DISABLED';
    file.flags.langgraph_enabled.defaultVariant = 'off';
    writeFileSync(s.flagdFile, JSON.stringify(file));
    assert.deepEqual(await flags(), { ...allOn, grok_integration: false, langgraph_enabled: false });
    assert.equal(await ensureFlagdFile(s.flagdFile), false, 'an existing file is left as it is');
    assert.deepEqual(readJsonFile(s.flagdFile), file);

    writeFileSync(s.flagdFile, '{"flags": ');
    const broken = await s.call('GET', '/api/flags');
    assert.equal(broken.status, 503);
    assert.match(broken.body.error, new RegExp(`^flagd file ${s.flagdFile} unreadable: `));
  });

  test('the same Idempotency-Key on a restart restarts once: a retry while it runs and one after it both get the first answer', async (t) => {
    const s = await fresh(t);
    const before = s.pids('canary');
    const headers = { 'idempotency-key': 'wf-5/restart-canary', 'x-actor': 'rollback wf-5' };
    const [first, during] = await Promise.all([
      s.call('POST', '/admin/restart', { version: 'canary' }, headers),
      sleep(20).then(() => s.call('POST', '/admin/restart', { version: 'canary' }, headers)),
    ]);
    const later = await s.call('POST', '/admin/restart', { version: 'canary' }, headers);
    assert.equal(first.status, 200);
    assert.deepEqual(during.body, { ...first.body, replayed: true });
    assert.deepEqual(later.body, { ...first.body, replayed: true });
    const after = s.pids('canary');
    assert.equal(after.length, 1);
    assert.notEqual(after[0], before[0]);
    assert.deepEqual(first.body.replicas.map((r: any) => r.pid), after);
    assert.deepEqual(s.changes().map((c) => [c.kind, c.before, c.after, c.idempotencyKey]), [
      ['restart', { version: 'canary', pids: before }, { version: 'canary', pids: after }, 'wf-5/restart-canary'],
    ]);
    assert.equal(s.sandbox.router.replays, 2);
    assert.deepEqual(await s.call('POST', '/admin/restart', { version: 'stable' }, headers), {
      status: 409,
      body: { error: 'idempotency key wf-5/restart-canary was used for a different change' },
    });
    assert.deepEqual(await s.call('POST', '/admin/restart', { version: 'blue' }), { status: 400, body: { error: 'unknown version "blue"; must be one of: stable, canary' } });
  });

  test('scaling starts and stops real replica processes, each answering its own /health', async (t) => {
    const s = await fresh(t);
    const [first] = s.pids('stable');
    assert.equal((await s.call('PUT', '/admin/instances', { version: 'stable', count: 4 })).status, 200);
    const four = s.pids('stable');
    assert.equal(new Set(four).size, 4);
    assert.equal(four[0], first);
    for (const pid of four) {
      assert.ok(running(pid));
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /sandbox\/replica\.mjs/);
    }
    assert.deepEqual((await s.replicas()).stable.map((r) => [r.replica, r.pid]), four.map((pid, i) => [i + 1, pid]));
    assert.equal((await s.call('PUT', '/admin/instances', { version: 'stable', count: 1 })).status, 200);
    assert.deepEqual(s.pids('stable'), [first]);
    assert.deepEqual(four.slice(1).filter(running), [], 'the three scaled away have exited');
  });

  test('replicas report every request to their deployment: its /metrics counts exactly what they served, 20% errors under a 20% fault', async (t) => {
    const s = await fresh(t);
    assert.equal((await s.call('PUT', '/admin/fault', { version: 'stable', errorRatePct: 20 })).status, 200);
    const ports = s.sandbox.deployments.get('stable')!.replicas.map((r) => r.port);
    const statuses: number[] = [];
    for (let i = 0; i < 50; i += 1) statuses.push((await fetch(`http://127.0.0.1:${ports[i % 2]}/api/orders`)).status);
    const metrics = await (await fetch(`${s.sandbox.urls.stable}/metrics`)).text();
    const sample = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
    assert.equal(statuses.filter((x) => x === 500).length, 10, 'each replica fails every fifth of its 25');
    assert.equal(sample('sandbox_http_requests_total{version="stable",status="200"}'), 40);
    assert.equal(sample('sandbox_http_requests_total{version="stable",status="500"}'), 10);
    assert.equal(sample('sandbox_http_request_duration_seconds_count{version="stable"}'), 50);
  });

  test('stopping the sandbox leaves no replica process behind', async (t) => {
    const s = await fresh(t);
    const pids = [...s.pids('stable'), ...s.pids('canary')];
    assert.equal(pids.filter(running).length, 3);
    await s.sandbox.stop();
    assert.deepEqual(pids.filter(running), []);
  });

  test('a SIGKILLed sandbox/main.ts leaves no replica process behind: each exits when its IPC channel closes', async () => {
    const env = { PATH: process.env.PATH ?? '', SANDBOX_ROUTER_PORT: '0', SANDBOX_STABLE_PORT: '0', SANDBOX_CANARY_PORT: '0', SANDBOX_DATABASE_URL: 'off', SANDBOX_REDIS_URL: 'off', SANDBOX_LOAD_RPS: '0' };
    const main = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../sandbox/main.ts', import.meta.url))], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => main.once('exit', resolve));
    try {
      let output = '';
      const router = await new Promise<string>((resolve, reject) => {
        main.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const url = /sandbox ready: router (\S+)/.exec(output)?.[1];
          if (url) resolve(url);
        });
        main.once('exit', () => reject(new Error(`sandbox/main.ts exited before it was ready:\n${output}`)));
      });
      const { replicas } = (await (await fetch(`${router}/admin/replicas`)).json()) as { replicas: Record<string, { pid: number }[]> };
      const pids = Object.values(replicas).flat().map((r) => r.pid);
      assert.equal(pids.filter(running).length, 3);
      main.kill('SIGKILL');
      await exited;
      assert.ok(await until(() => pids.every((pid) => !running(pid))), `replicas still running: ${pids.filter(running).join(', ')}`);
    } finally {
      main.kill('SIGKILL');
    }
  });
});
