/**
 * The Alertmanager webhook receiver (src/triggers/alert-receiver.ts) on a real dev server with a
 * production-wired worker and the real sandbox. Payloads are Alertmanager's webhook format, version 4
 * (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config), as Alertmanager posts them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAlertReceiver } from '../src/triggers/alert-receiver.ts';
import { quietLogger } from './harness.ts';
import { startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { approveSignal, statusQuery } from '../src/contract/messages.ts';

let t: RollbackTestEnv;
let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;
const TOKEN = 'alertmanager-shared-token';

function webhook(alerts: Record<string, unknown>[], status = 'firing') {
  return {
    version: '4',
    groupKey: '{}:{alertname="CanaryErrorRate"}',
    truncatedAlerts: 0,
    status,
    receiver: 'rollbacks',
    groupLabels: { alertname: 'CanaryErrorRate' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://127.0.0.1:9093',
    alerts: alerts.map((a) => ({ status, annotations: {}, endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://127.0.0.1:9090/graph', ...a })),
  };
}

async function post(body: unknown, token: string | null = TOKEN): Promise<{ status: number; body: any }> {
  const response = await fetch(receiver.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('Alertmanager receiver', { timeout: 120_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    receiver = await startAlertReceiver({ address: '127.0.0.1:0', token: TOKEN, runbooks: t.runbooks, client: t.env.client, logger: quietLogger });
  });
  after(async () => {
    await receiver?.close();
    await t?.stop();
  });

  test('a firing alert naming a system and its rule starts that rollback, detected when the alert started; sent again it starts nothing more', async () => {
    const { name, sandbox } = await t.newSystem();
    const startsAt = new Date(Date.now() - 90_000).toISOString();
    const alert = { labels: { alertname: 'CanaryErrorRate', rollback_system: name, rollback_rule: 'error-rate', severity: 'page' }, annotations: { summary: 'canary 5xx above 10% for 2m' }, startsAt, fingerprint: 'a1b2c3d4e5f60718' };
    const first = await post(webhook([alert]));
    assert.equal(first.status, 200);
    const workflowId = `${name}-error-rate-alert-a1b2c3d4e5f60718`;
    assert.deepEqual(first.body.results, [{ alert: 'CanaryErrorRate', system: name, rule: 'error-rate', outcome: 'started', detail: `started ${workflowId}`, workflowId }]);
    const rollback = t.env.client.workflow.getHandle(workflowId);
    const waiting = await waitForStatus(rollback, (s) => s.state === 'awaiting_approval');
    assert.equal(waiting.workflowType, 'fullRollback');
    assert.equal(waiting.detectedAt, startsAt);
    assert.equal(waiting.requestedBy, 'alertmanager');
    assert.equal(waiting.reason, 'Alertmanager alert CanaryErrorRate: canary 5xx above 10% for 2m');

    // Alertmanager re-sends a firing group every repeat_interval: the same alert is the same incident.
    const again = await post(webhook([alert]));
    assert.equal(again.body.results[0].outcome, 'repeated');
    // Another alert of the same system while its rollback runs is answered with the running one.
    const other = await post(webhook([{ ...alert, labels: { ...alert.labels, alertname: 'CanaryLatency' }, fingerprint: 'ffff000011112222' }]));
    assert.deepEqual(other.body.results[0], {
      alert: 'CanaryLatency',
      system: name,
      rule: 'error-rate',
      outcome: 'already-running',
      detail: `a rollback of ${name} is already running: ${workflowId} (fullRollback)`,
      workflowId,
    });
    await rollback.signal(approveSignal, { by: 'bob' });
    await rollback.result();
    const afterwards = await post(webhook([alert]));
    assert.equal(afterwards.body.results[0].outcome, 'repeated', 'a finished incident is not started again by a late copy of its alert');
    assert.deepEqual(sandbox.router.changes.map((c) => c.kind), ['instances', 'weights', 'instances'], 'one rollback in all');
    assert.equal((await rollback.query(statusQuery)).state, 'completed');
  });

  test('resolved alerts, unknown systems and rules, and a rule that only scales are answered and recorded, never acted on', async () => {
    const { name, sandbox } = await t.newSystem();
    const startsAt = new Date().toISOString();
    const resolved = await post(webhook([{ labels: { alertname: 'error-rate', system: name }, startsAt }], 'resolved'));
    assert.deepEqual(resolved.body.results.map((r: any) => [r.outcome, r.detail]), [['ignored', 'resolved: recorded, nothing to do']]);
    const answered = await post(
      webhook([
        { labels: { alertname: 'error-rate', system: 'payments' }, startsAt },
        { labels: { alertname: 'DiskFull', system: name }, startsAt },
        { labels: { alertname: 'memory', system: name }, startsAt },
        { labels: { alertname: 'error-rate' }, startsAt },
      ]),
    );
    assert.equal(answered.status, 200);
    assert.deepEqual(answered.body.results.map((r: any) => [r.outcome, r.detail]), [
      ['ignored', `unknown system 'payments'; known systems: ${[...t.runbooks.keys()].sort().join(', ')}`],
      ['ignored', `no watch rule 'DiskFull' in the ${name} runbook; its rules: error-rate, p95-latency, success-rate, grok-circuit-breaker, memory`],
      ['ignored', 'rule memory does not roll back (it scales or alerts): left to the watchdog'],
      ['ignored', 'no rollback_system or system label: no runbook to act on'],
    ]);
    assert.deepEqual(sandbox.router.changes, []);
  });

  test('a wrong or missing token, a body that is not JSON and a payload that is not a webhook are refused, naming the problem', async () => {
    assert.deepEqual(await post(webhook([]), 'wrong'), { status: 401, body: { error: 'missing or wrong bearer token' } });
    assert.deepEqual(await post(webhook([]), null), { status: 401, body: { error: 'missing or wrong bearer token' } });
    assert.deepEqual(await post('{"version": "4", '), { status: 400, body: { error: 'the body is not JSON: expected an Alertmanager webhook payload (version 4)' } });
    const notWebhook = await post({ version: '4', status: 'firing' });
    assert.equal(notWebhook.status, 400);
    assert.match(notWebhook.body.error, /^not an Alertmanager webhook payload:\n {2}alerts: /);
  });

  test('it refuses to listen beyond loopback without a token', async () => {
    await assert.rejects(startAlertReceiver({ address: '0.0.0.0:0', token: null, runbooks: t.runbooks, client: t.env.client, logger: quietLogger }), {
      message: 'the alert receiver would listen on 0.0.0.0:0 without a token: set the variable ALERT_RECEIVER_TOKEN_ENV names, or listen on 127.0.0.1',
    });
  });
});
