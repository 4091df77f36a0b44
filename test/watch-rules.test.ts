/**
 * The watchdog's judging (src/plan/watch.ts), pure: inconclusive is neither healthy nor a breach,
 * one bad interval is not an incident, a healthy one starts the count again, a rule acts once per
 * incident, and the runbook's watch section refuses what would never work.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseDocument, stringify } from 'yaml';
import { parseRunbook } from '../src/runbook/load.ts';
import { advance, breachesNeeded, describeRule, evaluateRule, freshRuleState, routineReportAfter, shouldAct, type RuleState, type WatchObservation, type WatchRule } from '../src/plan/watch.ts';
import { sampleFromText } from '../src/providers/health/prometheus.ts';

const sandboxRunbook = readFileSync(new URL('../runbooks/sandbox.yaml', import.meta.url), 'utf8');
const runbook = parseRunbook(sandboxRunbook, 'runbooks/sandbox.yaml');
const rules = Object.fromEntries(runbook.watch!.rules.map((r) => [r.name, r])) as Record<string, WatchRule>;

const window = (requests: number, errorRatePct: number, p95Ms: number | null = 120) => ({ seconds: 30, requests, errors: Math.round((requests * errorRatePct) / 100), errorRatePct, successRatePct: 100 - errorRatePct, p95Ms });
const observe = (at: number, w: ReturnType<typeof window> | null, gauges: Record<string, number | null> = {}, problem: string | null = null): WatchObservation => ({
  at: new Date(Date.UTC(2026, 11, 2, 3, 0, at)).toISOString(),
  window: w,
  gauges,
  problem,
});

/** Runs `rule` over the observations, returning the state after each and the indexes at which it would act. */
function run(rule: WatchRule, observations: WatchObservation[], inconclusiveIsBreach = false) {
  let state: RuleState = freshRuleState();
  const acted: number[] = [];
  observations.forEach((o, i) => {
    state = advance(state, evaluateRule(rule, 20, 30, o), o.at, inconclusiveIsBreach);
    if (shouldAct(rule, state, 30)) {
      acted.push(i);
      state = { ...state, armed: false };
    }
  });
  return { state, acted };
}

describe('watch rules', () => {
  test("the sandbox runbook carries seed 000's automatic triggers, in words", () => {
    assert.deepEqual(runbook.watch!.rules.map((r) => describeRule(r, runbook.watch!.intervalSeconds)), [
      'error rate above 10.0% for 2 evaluations (60 s): start an immediate fullRollback',
      'p95 latency above 3000 ms for 2 evaluations (60 s): start an immediate fullRollback',
      'success rate below 90.0% for 2 evaluations (60 s): start an immediate fullRollback',
      'sandbox_circuit_breaker_open{feature="grok"} above 0 for 10 evaluations (300 s): start a configRollback: engage kill switch grok',
      'sandbox_memory_usage_ratio above 0.95 for 2 evaluations (60 s): scale stable to 4 and alert; immediate fullRollback if still breached after 600 s',
    ]);
  });

  test('too little traffic, no histogram, or metrics that cannot be read are inconclusive, each with its reason', () => {
    const rule = rules['error-rate']!;
    assert.deepEqual(evaluateRule(rule, 20, 30, observe(0, window(3, 50))), { rule: 'error-rate', value: null, verdict: 'inconclusive', detail: 'inconclusive: 3 requests in 30 s, at least 20 needed' });
    assert.equal(evaluateRule(rules['p95-latency']!, 20, 30, observe(0, window(100, 0, null))).detail, 'inconclusive: no latency histogram in the interval');
    assert.equal(evaluateRule(rule, 20, 30, observe(0, null, {}, 'metrics not read: fetch failed')).detail, 'inconclusive: metrics not read: fetch failed');
    assert.equal(evaluateRule(rules.memory!, 20, 30, observe(0, window(100, 0), { sandbox_memory_usage_ratio: null })).detail, 'inconclusive: no series sandbox_memory_usage_ratio on the metrics endpoint');
    assert.deepEqual(evaluateRule(rule, 20, 30, observe(0, window(100, 14))), { rule: 'error-rate', value: 14, verdict: 'breach', detail: 'error rate 14.0% above 10.0%' });
    assert.deepEqual(evaluateRule(rule, 20, 30, observe(0, window(100, 10))), { rule: 'error-rate', value: 10, verdict: 'healthy', detail: 'error rate 10.0%, at most 10.0%' });
  });

  test('flapping never acts: a healthy interval between breaches starts the count again', () => {
    const flapping = Array.from({ length: 10 }, (_, i) => observe(i, window(100, i % 2 ? 2 : 30)));
    const { acted, state } = run(rules['error-rate']!, flapping);
    assert.deepEqual(acted, []);
    assert.equal(state.streak, 0);
  });

  test('an inconclusive interval neither counts as healthy nor as a breach: the run of breaches goes on across it, and is dated from its first', () => {
    const { acted, state } = run(rules['error-rate']!, [observe(0, window(100, 30)), observe(30, window(2, 0)), observe(60, window(100, 30))]);
    assert.deepEqual(acted, [2]);
    assert.equal(state.firstBreachAt, observe(0, null).at);
  });

  test('no data never acts, unless the runbook says inconclusive: breach', () => {
    const silence = Array.from({ length: 5 }, (_, i) => observe(i, null, {}, 'metrics not read: connection refused'));
    assert.deepEqual(run(rules['error-rate']!, silence).acted, []);
    assert.deepEqual(run(rules['error-rate']!, silence, true).acted, [1]);
  });

  test('a rule acts once per incident and re-arms only after a healthy interval', () => {
    const breach = (i: number) => observe(i, window(100, 40));
    const { acted } = run(rules['error-rate']!, [breach(0), breach(1), breach(2), breach(3), observe(4, window(100, 1)), breach(5), breach(6)]);
    assert.deepEqual(acted, [1, 6]);
  });

  test('forSeconds is the number of intervals it must hold, rounded up', () => {
    assert.equal(breachesNeeded(rules['grok-circuit-breaker']!, 30), 10);
    assert.equal(breachesNeeded(rules['grok-circuit-breaker']!, 45), 7);
    assert.equal(breachesNeeded(rules['grok-circuit-breaker']!, 600), 1);
  });

  test('gauges are read from the exposition: the highest of the matching series, null when none matches', () => {
    const text = [
      '# TYPE sandbox_circuit_breaker_open gauge',
      'sandbox_circuit_breaker_open{feature="grok"} 1',
      'sandbox_circuit_breaker_open{feature="search"} 0',
      '# TYPE sandbox_memory_usage_ratio gauge',
      'sandbox_memory_usage_ratio{version="stable"} 0.4',
      'sandbox_memory_usage_ratio{version="canary"} 0.97',
    ].join('\n') + '\n';
    const settings = { url: 'http://127.0.0.1:1/metrics', requestsMetric: 'x_total', latencyMetric: 'y', statusLabel: 'status', match: {}, timeoutMs: 1000 };
    const sample = sampleFromText(text, settings, 0, ['sandbox_circuit_breaker_open{feature="grok"}', 'sandbox_memory_usage_ratio', 'sandbox_memory_usage_ratio{version="stable"}', 'missing_gauge']);
    assert.deepEqual(sample.gauges, {
      'sandbox_circuit_breaker_open{feature="grok"}': 1,
      sandbox_memory_usage_ratio: 0.97,
      'sandbox_memory_usage_ratio{version="stable"}': 0.4,
      missing_gauge: null,
    });
  });

  test('a watch section that could never work is refused at load, naming the problem', () => {
    const variant = (edit: (doc: Record<string, any>) => void) => {
      const doc = parseDocument(sandboxRunbook).toJS() as Record<string, any>;
      doc.system = 'x';
      edit(doc);
      try {
        parseRunbook(stringify(doc), 'runbooks/x.yaml');
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    assert.match(variant((d) => (d.watch.rules[0].below = 5)), /watch\.rules\[0\]: give exactly one of above and below/);
    assert.match(variant((d) => (d.watch.rules[0].gauge = 'up')), /watch\.rules\[0\]: give exactly one of metric and gauge/);
    assert.match(variant((d) => (d.watch.rules[3].gauge = 'breaker open')), /must be a series like circuit_breaker_open\{feature="grok"\}/);
    assert.match(variant((d) => (d.watch.rules[4].action.scaleAndAlert.version = 'blue')), /unknown version 'blue'; must be one of: stable, canary/);
    assert.match(variant((d) => (d.watch.rules[1].name = 'error-rate')), /duplicate rule name error-rate/);
    assert.match(variant((d) => (d.watch.rules[0].action = { rollback: 'now' })), /watch\.rules\[0\]\.action: must be one of \{rollback: immediate\|gradual\}/);
    assert.match(variant((d) => delete d.health.metrics), /rule error-rate needs metrics: add health\.metrics/);
  });

  test('routine reports are spread over the phases of reportEvery by workflow ID, and each watchdog keeps its phase', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `rollback-watchdog:checkout-${i}`);
    const perPhase = new Map<number, number>();
    for (const id of ids) {
      const after = routineReportAfter(id, 0, 30);
      assert.ok(after >= 1 && after <= 30, `${id}: ${after}`);
      perPhase.set(after, (perPhase.get(after) ?? 0) + 1);
      // Wherever it stands, its routine report lands on the same count modulo 30; one report on, a full 30.
      for (const total of [1, 7, after, 29, 61]) assert.equal((total + routineReportAfter(id, total, 30)) % 30, after % 30);
      assert.equal(routineReportAfter(id, after, 30), 30);
    }
    // 1,000 watchdogs started together: about 33 report per interval, none anywhere near all at once.
    assert.equal(perPhase.size, 30);
    assert.ok(Math.max(...perPhase.values()) <= 60, `at most 60 on one interval: ${JSON.stringify([...perPhase])}`);
    assert.equal(routineReportAfter('rollback-watchdog:checkout', 12, 1), 1, 'reportEvery 1 reports after every evaluation');
    assert.equal(routineReportAfter('rollback-watchdog:checkout', 0, 30), routineReportAfter('rollback-watchdog:checkout', 30, 30), 'the same phase in every run');
  });
});
