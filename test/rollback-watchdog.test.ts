/**
 * rollbackWatchdog end to end on a real dev server, a production-wired worker and the real sandbox:
 * its rules are judged from real scrapes of the sandbox router's /metrics, driven by the sandbox's
 * fault, circuit-breaker and memory switches, and what it starts is checked in the router's change
 * log, the service's answers and the rollbacks' own status.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { TASK_QUEUE, watchdogWorkflowId, type WatchdogStatus } from '../src/contract/index.ts';
import { failureOf, startRollbackTestEnv, waitForStatus, type RollbackTestEnv, type TestSystem } from './rollback-harness.ts';
import { routineReportAfter } from '../src/plan/watch.ts';
import { approveSignal, pauseSignal, resumeSignal, statusQuery, watchdogStatusQuery } from '../src/contract/messages.ts';

let t: RollbackTestEnv;

/** Seed 000's rate rules, judged every second, two breaches in a row. */
const rateRules = [
  { name: 'error-rate', metric: 'errorRatePct', above: 10, consecutive: 2, action: { rollback: 'immediate' } },
  { name: 'success-rate', metric: 'successRatePct', below: 90, consecutive: 2, action: { rollback: 'immediate' } },
];

async function watchedSystem(rules: unknown[], options?: { loadRequestsPerSecond?: number }): Promise<TestSystem> {
  return t.newSystem((doc) => {
    doc.watch = { intervalSeconds: 1, rules };
  }, options);
}

/**
 * These tests follow the status interval by interval, so the watch loop reports after every
 * evaluation (`reportEvery: 1`); the test of the watch loop itself runs with the default.
 */
async function startWatchdog(system: string, extra: Record<string, unknown> = {}): Promise<WorkflowHandle> {
  const handle = await t.env.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId: watchdogWorkflowId(system), args: [{ system, startedBy: 'alice', reportEvery: 1, ...extra }] });
  t.started.push(handle); // RECORD_HISTORIES keeps its history as a replay fixture
  return handle;
}

async function watchUntil(handle: WorkflowHandle, predicate: (s: WatchdogStatus) => boolean, timeoutMs = 40_000): Promise<WatchdogStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: WatchdogStatus | undefined;
  while (Date.now() < deadline) {
    last = await handle.query(watchdogStatusQuery);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`watchdog condition not reached in ${timeoutMs} ms; last status: ${JSON.stringify(last, null, 2)}`);
}

const admin = (system: TestSystem, route: string, body: unknown) =>
  fetch(`${system.sandbox.urls.router}/admin/${route}`, { method: 'PUT', body: JSON.stringify(body) }).then(async (r) => assert.equal(r.status, 200, await r.text()));

describe('rollbackWatchdog', { timeout: 240_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
  });

  test('a canary error rate above 10% for 2 intervals starts one immediate fullRollback, detected at the first breach; it follows it, acts no more, then watches again', async () => {
    const system = await watchedSystem(rateRules);
    await admin(system, 'weights', { weights: { stable: 50, canary: 50 } });
    const watchdog = await startWatchdog(system.name);
    const healthy = await watchUntil(watchdog, (s) => s.evaluationsTotal >= 2);
    assert.equal(healthy.state, 'watching');
    assert.match(healthy.rules[0]!.last!.detail, /^error rate \d+\.\d%, at most 10\.0%$/);
    assert.equal(healthy.rules[0]!.description, 'error rate above 10.0% for 2 evaluations (2 s): start an immediate fullRollback');

    system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    const following = await watchUntil(watchdog, (s) => s.state === 'following');
    assert.equal(following.actions.length, 1);
    const action = following.actions[0]!;
    assert.equal(action.rule, 'error-rate', 'the first rule in the runbook acts; the second waits for the incident to end');
    assert.equal(following.rules[0]!.wouldDo, 'nothing: it acted in this incident; it re-arms once healthy');
    if (following.rules[1]!.streak >= 2) {
      assert.equal(following.rules[1]!.wouldDo, `nothing while it follows what it started (started fullRollback ${action.workflowId}); then start an immediate fullRollback`);
    }
    const breaches = following.evaluations.filter((e) => e.results[0]!.verdict === 'breach');
    assert.ok(breaches.length >= 2);
    assert.equal(action.detectedAt, breaches[0]!.at, 'detected at the first of the breaches');
    assert.match(breaches.at(-1)!.results[0]!.detail, /^error rate \d+\.\d% above 10\.0%$/);

    const rollback = t.env.client.workflow.getHandle(action.workflowId!);
    const waiting = await waitForStatus(rollback, (s) => s.state === 'awaiting_approval');
    assert.equal(waiting.workflowType, 'fullRollback');
    assert.equal(waiting.requestedBy, 'rollback-watchdog');
    assert.equal(waiting.detectedAt, action.detectedAt);
    assert.match(waiting.reason, /^watchdog rule error-rate: error rate \d+\.\d% above 10\.0%$/);
    assert.deepEqual(system.sandbox.router.state().weights, { stable: 100, canary: 0 });

    // While it follows the rollback, both rules still breach or have breached: nothing more starts.
    await watchUntil(watchdog, (s) => s.evaluationsTotal >= following.evaluationsTotal + 2);
    await rollback.signal(approveSignal, { by: 'bob' });
    await rollback.result();
    const after = await watchUntil(watchdog, (s) => s.state === 'watching' && s.rules.every((r) => r.armed));
    assert.equal(after.actions.length, 1, 'one rollback for one incident');
    assert.equal(after.actions[0]!.outcome, 'completed');
    assert.deepEqual(system.sandbox.router.changes.map((c) => c.kind), ['weights', 'instances', 'weights', 'instances']);
    await watchdog.cancel();
  });

  test('the watch loop: a healthy system adds nothing to its watchdog\'s history between reports, the loop judging each interval in its heartbeats; a fault is reported and acted on at once', async () => {
    const system = await watchedSystem(rateRules);
    await admin(system, 'weights', { weights: { stable: 50, canary: 50 } });
    // A routine report every reportEvery evaluations unless something changes, on the watchdog's own
    // phase (drawn from its ID, which holds the pid here): a reportEvery near the default whose phase
    // leaves this watchdog 10 to 15 quiet intervals after its first report, so the quiet can be watched.
    const reportEvery = [30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29].find((n) => {
      const after = routineReportAfter(watchdogWorkflowId(system.name), 1, n);
      return after >= 10 && after <= 15;
    })!;
    const quietFor = routineReportAfter(watchdogWorkflowId(system.name), 1, reportEvery);
    const watchdog = await startWatchdog(system.name, { reportEvery });
    const first = await watchUntil(watchdog, (s) => s.evaluationsTotal >= 1);
    assert.equal(first.evaluationsTotal, 1, 'the first verdicts are reported at once');
    assert.equal(first.rules[0]!.last!.verdict, 'healthy');
    const before = await watchdog.describe();
    await new Promise((r) => setTimeout(r, 6_000));
    const quiet = await watchdog.describe();
    assert.equal(quiet.historyLength, before.historyLength, 'six healthy intervals: not one event in the history');
    assert.equal((await watchdog.query(watchdogStatusQuery)).evaluationsTotal, 1, 'the status stands at the last report');
    const routine = await watchUntil(watchdog, (s) => s.evaluationsTotal > 1, 30_000);
    assert.equal(routine.evaluationsTotal, 1 + quietFor, `the routine report comes on the watchdog's phase: after ${quietFor} evaluations (reportEvery ${reportEvery})`);
    assert.ok((await watchdog.describe()).historyLength > quiet.historyLength);
    const loop = quiet.raw.pendingActivities?.[0];
    assert.equal(loop?.activityType?.name, 'watchSystem');
    const beat = defaultPayloadConverter.fromPayload<{ evaluated: number; rules: Record<string, { streak: number; last: { verdict: string } }> }>(loop!.heartbeatDetails!.payloads![0]!);
    assert.ok(beat.evaluated >= 1, `the loop's heartbeat says where it stands: ${JSON.stringify(beat)}`);
    assert.equal(beat.rules['error-rate']!.last.verdict, 'healthy');

    system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    const following = await watchUntil(watchdog, (s) => s.state === 'following', 15_000);
    const breaches = following.evaluations.filter((e) => e.results[0]!.verdict === 'breach');
    assert.equal(following.actions[0]!.detectedAt, breaches[0]!.at, 'detected at the first breach, which the loop reported when the verdict changed');
    assert.ok(following.evaluationsTotal >= 8, `every interval judged, the quiet ones included: ${following.evaluationsTotal}`);
    const rollback = t.env.client.workflow.getHandle(following.actions[0]!.workflowId!);
    await waitForStatus(rollback, (s) => s.state === 'awaiting_approval');
    assert.deepEqual(system.sandbox.router.state().weights, { stable: 100, canary: 0 });
    await watchdog.cancel();
    await rollback.terminate('test done');
  });

  test('no traffic is inconclusive: alerted once per rule, shown with the reason, never healthy and never a rollback', async () => {
    const system = await watchedSystem(rateRules, { loadRequestsPerSecond: 0 });
    const watchdog = await startWatchdog(system.name);
    const status = await watchUntil(watchdog, (s) => s.evaluationsTotal >= 4);
    for (const rule of status.rules) {
      assert.equal(rule.last?.verdict, 'inconclusive');
      assert.equal(rule.last?.detail, 'inconclusive: 0 requests in 1 s, at least 5 needed');
      assert.equal(rule.wouldDo, 'nothing: inconclusive');
      assert.equal(rule.streak, 0);
    }
    assert.deepEqual(status.events.filter((e) => e.kind === 'inconclusive').map((e) => e.detail), [
      'error-rate: inconclusive: 0 requests in 1 s, at least 5 needed',
      'success-rate: inconclusive: 0 requests in 1 s, at least 5 needed',
    ]);
    assert.deepEqual(status.actions, []);
    assert.deepEqual(system.sandbox.router.changes, []);
    const alerts = (system.sandbox.router.notifications as { text?: string }[]).filter((n) => JSON.stringify(n).includes('watchdog cannot judge'));
    assert.equal(alerts.length, 2, 'one alert per rule, not one per interval');
    await watchdog.cancel();
  });

  test('a circuit breaker open for its duration disables only that feature (configRollback of one kill switch)', async () => {
    const system = await watchedSystem([
      ...rateRules,
      { name: 'grok-circuit-breaker', gauge: 'sandbox_circuit_breaker_open{feature="grok"}', above: 0, forSeconds: 3, action: { configRollback: { killSwitches: { grok: true } } } },
    ]);
    const feature = `${system.sandbox.urls.router}/api/features/grok`;
    const watchdog = await startWatchdog(system.name);
    const closed = await watchUntil(watchdog, (s) => s.evaluationsTotal >= 1);
    assert.equal(closed.rules[2]!.last?.detail, 'sandbox_circuit_breaker_open{feature="grok"} 0, at most 0');
    assert.equal(closed.rules[2]!.needed, 3);

    await admin(system, 'circuit-breaker', { feature: 'grok', open: true });
    const following = await watchUntil(watchdog, (s) => s.actions.length > 0);
    assert.equal(following.actions[0]!.rule, 'grok-circuit-breaker');
    const rollback = t.env.client.workflow.getHandle(following.actions[0]!.workflowId!);
    await rollback.result();
    const status = await rollback.query(statusQuery);
    assert.equal(status.workflowType, 'configRollback');
    const answer = (await (await fetch(feature)).json()) as Record<string, unknown>;
    assert.deepEqual([answer.feature, answer.enabled, answer.reason], ['grok', false, 'kill switch'], 'grok is off');
    assert.deepEqual(system.sandbox.router.changes.map((c) => c.kind), ['circuit-breaker'], 'traffic, config and instances untouched');
    // The breaker is still open, but the rule acted in this incident: it waits to be healthy again.
    const later = await watchUntil(watchdog, (s) => s.state === 'watching' && s.evaluationsTotal >= following.evaluationsTotal + 4);
    assert.equal(later.actions.length, 1);
    assert.equal(later.rules[2]!.wouldDo, 'nothing: it acted in this incident; it re-arms once healthy');
    await watchdog.cancel();
  });

  test('memory above 95% scales and alerts, then rolls back when still not resolved at the deadline', async () => {
    const system = await watchedSystem([
      { name: 'memory', gauge: 'sandbox_memory_usage_ratio', above: 0.95, consecutive: 2, action: { scaleAndAlert: { version: 'stable', instances: 4, deadlineSeconds: 4, thenRollback: 'immediate' } } },
    ]);
    const watchdog = await startWatchdog(system.name);
    await watchUntil(watchdog, (s) => s.evaluationsTotal >= 1);
    await admin(system, 'memory', { version: 'canary', ratio: 0.97 });
    const scaled = await watchUntil(watchdog, (s) => s.state === 'following');
    assert.equal(scaled.following?.what, 'scaled stable to 4; immediate fullRollback if still breached at the deadline');
    assert.equal(system.sandbox.router.state().instances.stable, 4);
    const rolling = await watchUntil(watchdog, (s) => s.actions.length === 2);
    assert.equal(rolling.actions[0]!.outcome, 'still breached at the deadline (sandbox_memory_usage_ratio 0.97 above 0.95); rolling back');
    assert.equal(rolling.actions[1]!.detectedAt, rolling.actions[0]!.detectedAt, 'the rollback is dated from the first breach, not the deadline');
    const rollback = t.env.client.workflow.getHandle(rolling.actions[1]!.workflowId!);
    await waitForStatus(rollback, (s) => s.state === 'awaiting_approval');
    await rollback.signal(approveSignal, { by: 'bob' });
    await rollback.result();
    const notified = JSON.stringify(system.sandbox.router.notifications);
    assert.match(notified, /watchdog: memory breached; scaled stable to 4/);
    await watchdog.cancel();
  });

  test('pause and resume by an approver; a stranger, a malformed pause and a second watchdog are refused', async () => {
    const system = await watchedSystem(rateRules);
    await admin(system, 'weights', { weights: { stable: 50, canary: 50 } });
    const watchdog = await startWatchdog(system.name);
    await assert.rejects(startWatchdog(system.name), WorkflowExecutionAlreadyStartedError);
    await watchdog.signal(pauseSignal, { by: 'mallory', reason: 'let me' });
    await watchdog.signal(pauseSignal, { by: 'bob' });
    await watchdog.signal(pauseSignal, { by: 'bob', reason: 'too late', until: '2020-01-01T00:00:00Z' });
    await watchdog.signal(pauseSignal, { by: 'bob', reason: 'planned load test', until: new Date(Date.now() + 3_600_000).toISOString() });
    const paused = await watchUntil(watchdog, (s) => s.state === 'paused');
    assert.deepEqual(paused.events.filter((e) => e.kind === 'refused').map((e) => e.detail), [
      'pause: mallory is not an approver of ' + system.name + ' (may: alice, bob, carol, dana, erin)',
      "pause: 'reason' is required",
      'pause: until 2020-01-01T00:00:00.000Z is already past',
    ]);
    assert.match(paused.paused!.until!, /^\d{4}-/, 'paused until the instant given');
    system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    await new Promise((r) => setTimeout(r, 4000));
    const still = await watchdog.query(watchdogStatusQuery);
    assert.equal(still.state, 'paused');
    assert.deepEqual(still.actions, [], 'a paused watchdog does not act');
    await watchdog.signal(resumeSignal, { by: 'bob' });
    const acted = await watchUntil(watchdog, (s) => s.actions.length === 1);
    const rollback = t.env.client.workflow.getHandle(acted.actions[0]!.workflowId!);
    await waitForStatus(rollback, (s) => s.state === 'awaiting_approval');
    await rollback.signal(approveSignal, { by: 'bob' });
    await rollback.result();
    await watchdog.cancel();
  });

  test('one watchdog per system whatever the workflow ID: a second one started from the UI under another ID ends at once, naming the one that watches', async () => {
    const system = await watchedSystem(rateRules);
    const own = watchdogWorkflowId(system.name);
    const typedIntoTheUi = async () => {
      const handle = await t.env.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId: `my-watchdog-${Date.now()}`, args: [{ system: system.name }] });
      t.started.push(handle); // RECORD_HISTORIES keeps the refusals as replay fixtures too
      return handle;
    };
    const alone = await failureOf((await typedIntoTheUi()).result());
    assert.equal(alone.type, 'WatchdogAlreadyRunning');
    assert.match(alone.message, new RegExp(`^a watchdog of ${system.name} runs only under the workflow ID ${own}, so that there is one per system whatever starts it; start it with that ID \\(rollback watch start --system ${system.name}\\); my-watchdog-\\d+ stops without watching$`));
    const watchdog = await startWatchdog(system.name);
    await watchUntil(watchdog, (s) => s.evaluationsTotal >= 1);
    const second = await typedIntoTheUi();
    const refused = await failureOf(second.result());
    assert.equal(refused.message, `${own} is already watching ${system.name}; one watchdog per system (a second would double every alert and race for every rollback), so ${second.workflowId} stops without watching`);
    const history = await second.fetchHistory();
    assert.ok(!history.events!.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'scrapeWatch' || e.markerRecordedEventAttributes?.markerName === 'core_local_activity'), 'the second never scraped');
    assert.equal((await watchdog.describe()).status.name, 'RUNNING', 'the first watches on');
    await watchdog.cancel();
  });

  test("watchdog state typed into the start form is refused naming the field; it is carried only from one run to the next", async () => {
    const system = await watchedSystem(rateRules);
    const junk = await startWatchdog(system.name, { carried: { streaks: 'x' } });
    const failure = await failureOf(junk.result());
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(failure.message, "invalid rollbackWatchdog input:\n  carried: is the watchdog's own state, handed from one run to the next when it continues as new; leave it out to start a watchdog");
  });

  test('a system without a watch section or an unknown system: the watchdog ends at once, naming the problem', async () => {
    const system = await t.newSystem((doc) => {
      delete doc.watch;
      delete doc.drills; // they need a watchdog to detect their faults
    });
    const noWatch = await startWatchdog(system.name);
    assert.equal((await failureOf(noWatch.result())).message, `the ${system.name} runbook has no watch: section: nothing to watch`);
    const unknown = await startWatchdog('no-such-system');
    assert.match((await failureOf(unknown.result())).message, /^unknown system 'no-such-system'; known systems: /);
  });

  for (const [rule, fault, pattern] of [
    ['p95-latency', { errorRatePct: 0, addedLatencyMs: 3500 }, /^p95 latency \d+ ms above 3000 ms$/],
    ['success-rate', { errorRatePct: 100, addedLatencyMs: 0 }, /^success rate \d+\.\d% below 90\.0%$/],
  ] as const) {
    test(`seed 000's ${rule} rule, alone in the runbook, starts the immediate rollback`, async () => {
      const rules = [
        { name: 'p95-latency', metric: 'p95Ms', above: 3000, consecutive: 2, action: { rollback: 'immediate' } },
        { name: 'success-rate', metric: 'successRatePct', below: 90, consecutive: 2, action: { rollback: 'immediate' } },
      ].filter((r) => r.name === rule);
      const system = await watchedSystem(rules);
      await admin(system, 'weights', { weights: { stable: 50, canary: 50 } });
      const watchdog = await startWatchdog(system.name);
      await watchUntil(watchdog, (s) => s.evaluationsTotal >= 1);
      system.sandbox.deployments.get('canary')!.fault = fault;
      const acted = await watchUntil(watchdog, (s) => s.actions.length === 1);
      assert.equal(acted.actions[0]!.rule, rule);
      const breach = [...acted.evaluations].reverse().find((e) => e.results[0]!.verdict === 'breach')!;
      assert.match(breach.results[0]!.detail, pattern);
      const rollback = t.env.client.workflow.getHandle(acted.actions[0]!.workflowId!);
      system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 0, addedLatencyMs: 0 };
      await waitForStatus(rollback, (s) => s.state === 'awaiting_approval');
      await rollback.signal(approveSignal, { by: 'bob' });
      await rollback.result();
      await watchdog.cancel();
    });
  }

  test('an unreachable metrics endpoint is inconclusive, with the reason, and starts nothing', async () => {
    const system = await watchedSystem(rateRules);
    t.runbooks.get(system.name)!.health.metrics!.settings.url = 'http://127.0.0.1:9/metrics'; // port 9 (discard): nothing listens
    const watchdog = await startWatchdog(system.name);
    const status = await watchUntil(watchdog, (s) => s.evaluationsTotal >= 3);
    for (const rule of status.rules) {
      assert.equal(rule.last?.verdict, 'inconclusive');
      assert.match(rule.last!.detail, /^inconclusive: metrics not read: /);
    }
    assert.deepEqual(status.actions, []);
    assert.deepEqual(system.sandbox.router.changes, []);
    await watchdog.cancel();
  });

  test('a blip shorter than the consecutive count does not act, and a healthy interval starts the count again', async () => {
    const system = await watchedSystem([{ name: 'error-rate', metric: 'errorRatePct', above: 10, consecutive: 4, action: { rollback: 'immediate' } }]);
    await admin(system, 'weights', { weights: { stable: 50, canary: 50 } });
    const watchdog = await startWatchdog(system.name);
    await watchUntil(watchdog, (s) => s.evaluationsTotal >= 1);
    system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    await watchUntil(watchdog, (s) => (s.rules[0]?.streak ?? 0) >= 1);
    system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 0, addedLatencyMs: 0 };
    const settled = await watchUntil(watchdog, (s) => s.rules[0]!.streak === 0 && s.rules[0]!.last?.verdict === 'healthy');
    const later = await watchUntil(watchdog, (s) => s.evaluationsTotal >= settled.evaluationsTotal + 3);
    assert.deepEqual(later.actions, [], 'no rollback for a blip');
    assert.ok(later.evaluations.some((e) => e.results[0]!.verdict === 'breach'), 'the blip was seen');
    assert.deepEqual(system.sandbox.router.changes.map((c) => c.kind), ['weights'], 'only the test\'s own weight change');
    await watchdog.cancel();
  });

  test('continue-as-new keeps its state: evaluations, events, a pause and the breach count carry over', async () => {
    const system = await watchedSystem([{ name: 'error-rate', metric: 'errorRatePct', above: 10, consecutive: 1000, action: { rollback: 'immediate' } }]);
    await admin(system, 'weights', { weights: { stable: 50, canary: 50 } });
    system.sandbox.deployments.get('canary')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    const watchdog = await startWatchdog(system.name, { maxHistoryEvents: 200 });
    const firstRun = (await watchdog.describe()).runId;
    await watchUntil(watchdog, (s) => (s.rules[0]?.streak ?? 0) >= 2);
    await watchdog.signal(pauseSignal, { by: 'bob', reason: 'keep me paused across runs', untilMinutes: 60 });
    await watchUntil(watchdog, (s) => s.state === 'paused');
    await watchdog.signal(resumeSignal, { by: 'bob' });
    // About 6 events per evaluation (an activity and a workflow task): past 200 it continues as new.
    const latestRun = () => t.env.client.workflow.getHandle(watchdogWorkflowId(system.name)).describe();
    for (let deadline = Date.now() + 90_000; (await latestRun()).runId === firstRun && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 500));
    const latest = await latestRun();
    assert.notEqual(latest.runId, firstRun, 'it continued as new');
    const carried = await watchUntil(watchdog, (s) => s.evaluationsTotal >= 36, 30_000);
    assert.ok(latest.historyLength < 260, `history stays bounded: ${latest.historyLength} events`);
    assert.ok(carried.rules[0]!.streak >= 30, `the breach count carried over: ${carried.rules[0]!.streak}`);
    assert.equal(carried.evaluations.length, 20, 'the last 20 evaluations are kept');
    assert.deepEqual(carried.events.map((e) => e.kind), ['started', 'paused', 'resumed']);
    await watchdog.cancel();
  });
});
