/**
 * The sandbox system and the first providers against it: real HTTP servers, real traffic, real
 * Prometheus text, the real Postgres database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { sendBurst } from '../sandbox/load-generator.ts';
import { LATENCY_BUCKETS } from '../sandbox/deployment.ts';
import { createClient } from '../src/providers/index.ts';
import { healthBetween } from '../src/providers/health/window.ts';
import { runHttpChecks } from '../src/providers/health/http-checks.ts';
import { quietLogger, startTestSandbox, type TestSandbox } from './harness.ts';

let sb: TestSandbox;
const ctx = () => ({ env: sb.env, logger: quietLogger });
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
  return createClient(
    'metrics',
    {
      provider: 'prometheus',
      settings: {
        url: `${sb.sandbox.urls.router}/metrics`,
        requestsMetric: 'sandbox_router_requests_total',
        latencyMetric: 'sandbox_router_request_duration_seconds',
        match,
      },
    },
    ctx(),
  );
}

describe('sandbox system', () => {
  before(async () => {
    sb = await startTestSandbox();
  });
  after(async () => {
    await sb.stop();
  });

  test('the router splits real traffic by its weights, and a weight change shows in the split at once', async () => {
    assert.deepEqual(countByVersion(await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 100)), { stable: 75, canary: 25 });
    const traffic = createClient('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } }, ctx());
    const state = await traffic.setWeights({ stable: 50, canary: 50 }, key('split'));
    assert.deepEqual(state.weights, { stable: 50, canary: 50 });
    assert.deepEqual(countByVersion(await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 100)), { stable: 50, canary: 50 });
    await traffic.setWeights({ stable: 100, canary: 0 }, key('all-stable'));
    assert.deepEqual(countByVersion(await sendBurst(`${sb.sandbox.urls.router}/api/orders`, 40)), { stable: 40 });
  });

  test('scaling through the provider opens and closes real replicas, and a version at 0 serves nothing', async () => {
    const traffic = createClient('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } }, ctx());
    await traffic.setWeights({ stable: 50, canary: 50 }, key('w'));
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
    const traffic = createClient('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } }, ctx());
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
    const traffic = createClient('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } }, ctx());
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
    const traffic = createClient('traffic', { provider: 'http-router', settings: { url: sb.sandbox.urls.router } }, ctx());
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
    const notify = createClient('notify', { provider: 'webhook', settings: { urlEnv: 'SANDBOX_WEBHOOK_URL' } }, ctx());
    await notify.send({ system: 'sandbox', title: 'rollback started', text: 'by alice: error rate 14%', severity: 'warning' });
    const last = sb.sandbox.router.notifications.at(-1) as { text: string; blocks: { type: string }[] };
    assert.equal(last.text, ':warning: *sandbox*: rollback started\nby alice: error rate 14%');
    assert.deepEqual(last.blocks.map((b) => b.type), ['section', 'section']);
    const missing = createClient('notify', { provider: 'webhook', settings: { urlEnv: 'NOT_SET_ANYWHERE' } }, ctx());
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
    const flags = createClient('flags', { provider: 'postgres-table', settings: { databaseUrlEnv: 'SANDBOX_DATABASE_URL' } }, ctx());
    try {
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
    } finally {
      await flags.close();
    }
  });
});
