/**
 * Judging the runbook's `watch:` rules (watch-schema.ts) against one interval's measurements. Pure,
 * so the rules are tested directly and rollbackWatchdog runs them deterministically.
 *
 * What the metric-driven rollout tools get wrong, and this does not:
 * - no traffic or no data is inconclusive: never counted healthy (a silent outage is not health)
 *   and never a breach (an idle system is not broken), unless the runbook says `inconclusive: breach`;
 * - one bad interval does not act: a rule needs `consecutive` breaches (or `forSeconds` of them) in a
 *   row, and a healthy interval starts the count again; an inconclusive one leaves it as it was;
 * - a rule acts once per incident: after acting it re-arms only when it has been healthy again, so a
 *   rollback that did not cure the symptom is not followed by another, and another;
 * - every evaluation keeps its value, threshold and reason, so anyone can see why it decided.
 */
import type { RuleEvaluation, WatchObservation } from '../contract/index.ts';
import type { WatchAction, WatchRule, WatchSection } from '../runbook/watch-schema.ts';

export type { WatchAction, WatchRule, WatchSection } from '../runbook/watch-schema.ts';
export type { RuleEvaluation, WatchObservation, WatchVerdict } from '../contract/index.ts';

/** Where a rule stands between evaluations (carried across continue-as-new). */
export interface RuleState {
  /** Breaches in a row (inconclusive intervals neither add nor reset). */
  streak: number;
  /** When the current run of breaches began: the incident's detection time. */
  firstBreachAt: string | null;
  /** False once the rule has acted, until it is healthy again. */
  armed: boolean;
  last: RuleEvaluation | null;
}

export const freshRuleState = (): RuleState => ({ streak: 0, firstBreachAt: null, armed: true, last: null });

const LABELS: Record<NonNullable<WatchRule['metric']>, string> = { errorRatePct: 'error rate', p95Ms: 'p95 latency', successRatePct: 'success rate' };

function format(rule: WatchRule, value: number): string {
  if (rule.metric === 'p95Ms') return `${Math.round(value)} ms`;
  if (rule.metric) return `${value.toFixed(1)}%`;
  return String(Math.round(value * 1000) / 1000);
}

const subject = (rule: WatchRule) => (rule.metric ? LABELS[rule.metric] : rule.gauge!);

/** Evaluations in a row the rule needs before it acts. */
export function breachesNeeded(rule: WatchRule, intervalSeconds: number): number {
  if (rule.consecutive) return rule.consecutive;
  if (rule.forSeconds) return Math.max(1, Math.ceil(rule.forSeconds / intervalSeconds));
  return 1;
}

/** What a rule does, in words: "start an immediate fullRollback". */
export function describeAction(action: WatchAction): string {
  if ('rollback' in action) return `start an ${action.rollback} fullRollback`;
  if ('configRollback' in action) {
    const switches = Object.entries(action.configRollback.killSwitches ?? {}).map(([f, on]) => `${on ? 'engage' : 'release'} kill switch ${f}`);
    const flags = Object.entries(action.configRollback.flags ?? {}).map(([f, on]) => `set flag ${f} ${on}`);
    return `start a configRollback: ${[...switches, ...flags].join(', ')}`;
  }
  if ('scaleAndAlert' in action) {
    const s = action.scaleAndAlert;
    return `scale ${s.version}${s.provider ? ` (${s.provider})` : ''} to ${s.instances} and alert; ${s.thenRollback} fullRollback if still breached after ${s.deadlineSeconds} s`;
  }
  return 'alert the runbook channels';
}

/** The rule in words: "error rate above 10% for 2 evaluations: start an immediate fullRollback". */
export function describeRule(rule: WatchRule, intervalSeconds: number): string {
  const needed = breachesNeeded(rule, intervalSeconds);
  const bound = rule.above !== undefined ? `above ${format(rule, rule.above)}` : `below ${format(rule, rule.below!)}`;
  const held = needed > 1 ? ` for ${needed} evaluations (${needed * intervalSeconds} s)` : '';
  return `${subject(rule)} ${bound}${held}: ${describeAction(rule.action)}`;
}

/** One rule against one interval. */
export function evaluateRule(rule: WatchRule, minRequests: number, intervalSeconds: number, observation: WatchObservation): RuleEvaluation {
  const inconclusive = (why: string): RuleEvaluation => ({ rule: rule.name, value: null, verdict: 'inconclusive', detail: `inconclusive: ${why}` });
  if (observation.problem) return inconclusive(observation.problem);
  let value: number | null;
  if (rule.metric) {
    const window = observation.window;
    if (!window || window.requests < minRequests) return inconclusive(`${window?.requests ?? 0} requests in ${intervalSeconds} s, at least ${minRequests} needed`);
    value = window[rule.metric];
    if (value === null) return inconclusive('no latency histogram in the interval');
  } else {
    value = observation.gauges[rule.gauge!] ?? null;
    if (value === null) return inconclusive(`no series ${rule.gauge} on the metrics endpoint`);
  }
  const breached = rule.above !== undefined ? value > rule.above : value < rule.below!;
  const bound = rule.above !== undefined ? `above ${format(rule, rule.above)}` : `below ${format(rule, rule.below!)}`;
  const within = rule.above !== undefined ? `at most ${format(rule, rule.above)}` : `at least ${format(rule, rule.below!)}`;
  return {
    rule: rule.name,
    value,
    verdict: breached ? 'breach' : 'healthy',
    detail: breached ? `${subject(rule)} ${format(rule, value)} ${bound}` : `${subject(rule)} ${format(rule, value)}, ${within}`,
  };
}

/** The rule's state after `evaluation`; `inconclusiveIsBreach` is the runbook's `inconclusive: breach`. */
export function advance(state: RuleState, evaluation: RuleEvaluation, at: string, inconclusiveIsBreach: boolean): RuleState {
  const verdict = evaluation.verdict === 'inconclusive' && inconclusiveIsBreach ? 'breach' : evaluation.verdict;
  if (verdict === 'breach') return { ...state, streak: state.streak + 1, firstBreachAt: state.firstBreachAt ?? at, last: evaluation };
  if (verdict === 'healthy') return { streak: 0, firstBreachAt: null, armed: true, last: evaluation };
  return { ...state, last: evaluation };
}

/** Whether the rule should act now: armed, with enough breaches in a row. */
export function shouldAct(rule: WatchRule, state: RuleState, intervalSeconds: number): boolean {
  return state.armed && state.streak >= breachesNeeded(rule, intervalSeconds);
}

/** The gauge selectors the rules read, for the scrape. */
export function gaugeSelectors(watch: WatchSection): string[] {
  return [...new Set(watch.rules.flatMap((r) => (r.gauge ? [r.gauge] : [])))];
}

/** The minimum requests per interval below which rates are inconclusive. */
export function watchMinRequests(watch: WatchSection, healthMinRequests: number): number {
  return watch.minRequests ?? healthMinRequests;
}

/** One interval judged: each rule's evaluation and state after it, and the rules whose measurability changed. */
export interface JudgedInterval {
  results: RuleEvaluation[];
  rules: Record<string, RuleState>;
  /** Rules that could be judged before and cannot now (alerted once), and rules measurable again. */
  changes: { kind: 'inconclusive' | 'conclusive'; evaluation: RuleEvaluation }[];
}

/**
 * Every rule of the watch section against one interval, from the states before it (`rules` is not
 * changed). The watchdog judges this way in its workflow and in its watch loop alike.
 */
export function judgeInterval(watch: WatchSection, minRequests: number, observation: WatchObservation, rules: Readonly<Record<string, RuleState>>): JudgedInterval {
  const after: Record<string, RuleState> = { ...rules };
  const results: RuleEvaluation[] = [];
  const changes: JudgedInterval['changes'] = [];
  for (const rule of watch.rules) {
    const before = rules[rule.name] ?? freshRuleState();
    const evaluation = evaluateRule(rule, minRequests, watch.intervalSeconds, observation);
    after[rule.name] = advance(before, evaluation, observation.at, watch.inconclusive === 'breach');
    results.push(evaluation);
    const was = before.last?.verdict;
    if (evaluation.verdict === 'inconclusive' && was !== 'inconclusive') changes.push({ kind: 'inconclusive', evaluation });
    else if (evaluation.verdict !== 'inconclusive' && was === 'inconclusive') changes.push({ kind: 'conclusive', evaluation });
  }
  return { results, rules: after, changes };
}

/** The first armed rule with enough breaches in a row: the one that acts now, if any. */
export const ruleDue = (watch: WatchSection, rules: Readonly<Record<string, RuleState>>): WatchRule | undefined =>
  watch.rules.find((r) => shouldAct(r, rules[r.name] ?? freshRuleState(), watch.intervalSeconds));

/**
 * After how many evaluations this watch loop sends its routine report (one with nothing new). Each
 * watchdog reports when its running count of evaluations reaches its own phase of `reportEvery`,
 * drawn from its workflow ID: watchdogs started together (a fleet's `rollback watch start`, a worker
 * restart) would otherwise all report on the same interval, and a worker that caches only some of
 * them would replay every one of them within a minute (the memory peak `bench:watch` measured),
 * then sit idle for `reportEvery` intervals. Spread over the phases, a thousand watchdogs reporting
 * every 30 evaluations send about 33 reports per interval. Pure and from the ID alone, so the
 * workflow computes it deterministically and a watchdog keeps its phase across continue-as-new.
 */
export function routineReportAfter(workflowId: string, evaluationsTotal: number, reportEvery: number): number {
  const due = (reportPhase(workflowId, reportEvery) - (evaluationsTotal % reportEvery) + reportEvery) % reportEvery;
  return due === 0 ? reportEvery : due;
}

/** A phase in [0, reportEvery) from the ID's FNV-1a hash: stable across runs, builds and machines. */
function reportPhase(workflowId: string, reportEvery: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < workflowId.length; i += 1) {
    hash ^= workflowId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % reportEvery;
}
