/**
 * rollbackWatchdog: seed 000's "Automatic Triggers", run for real (error rate > 10%, P95 > 3000 ms,
 * success rate < 90%: immediate rollback; circuit breaker open > 5 minutes: disable that feature only;
 * memory > 95%: scale and alert, then roll back if not resolved). One per system, under the fixed ID
 * `rollback-watchdog:<system>`; started by `rollback watch start` and by `npm start` for the sandbox.
 *
 *   load the runbook's watch section -> every interval (a durable timer): scrape, judge each rule
 *   over the requests since the last scrape, record ->
 *   a rule breached enough intervals in a row: act (start the rollback it names, or scale and alert) ->
 *   follow what it started, watching but not acting again -> back to watching
 *
 * How it judges is src/plan/watch.ts (pure): inconclusive is never healthy, one bad interval is not
 * an incident, a rule acts once per incident. The rollback it starts carries `detectedAt` = the first
 * breach, so the incident report measures detection. The runbook's approvers may `pause` it (for a
 * load test, say) and `resume` it; the `status` query and the UI's current details show the last
 * evaluations with their values, the breaches so far and what each rule would do.
 */
import {
  CancellationScope,
  condition,
  isCancellation,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RollbackActivities } from '../activities/index.ts';
import type { StoredSample, WatchReport } from '../activities/watch.ts';
import {
  parseWatchdogPayload,
  searchAttributes,
  WATCH_TASK_QUEUE,
  watchdogInput,
  type RuleEvaluation,
  type WatchdogAction,
  type WatchdogEvent,
  type WatchdogInput,
  type WatchdogStatus,
  type WatchObservation,
} from '../contract/index.ts';
import { breachesNeeded, describeAction, describeRule, freshRuleState, judgeInterval, routineReportAfter, shouldAct, type JudgedInterval, type RuleState, type WatchRule, type WatchSection } from '../plan/watch.ts';
import { activities, notify } from './activities.ts';
import { now } from './board.ts';
import { surfaceKnownFailure } from './failures.ts';
import { parseInput } from './input.ts';
import { admitWatchdog } from './watchdog-admission.ts';
import { pauseSignal, resumeSignal, watchdogStatusQuery } from '../contract/messages.ts';


/**
 * One scrape per interval, as a local activity: a quick HTTP GET whose answer is recorded in the
 * history as a marker, without a round trip through the task queue. The interval itself is a durable
 * timer, so a watchdog holds no worker slot while it waits (500 watchdogs on one worker).
 */
const { scrapeWatch: scrape } = proxyLocalActivities<RollbackActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

/**
 * The watch loop (src/activities/watch.ts, watchSystem): the scrapes and judgements of a healthy
 * system run in one long activity on the watch queue, which reports only when there is something to
 * do or show, instead of a workflow task and six history events every interval. Its heartbeats say
 * where it stands; one missed for three intervals (a minute at least) means its worker is gone, and
 * the retry carries on from the last one elsewhere. It only reads, so it is retried without limit,
 * except when the runbook's watch section is gone.
 */
const watchLoop = (system: string, intervalSeconds: number) =>
  proxyActivities<RollbackActivities>({
    taskQueue: WATCH_TASK_QUEUE,
    summary: `watch ${system} every ${intervalSeconds} s`,
    startToCloseTimeout: '1 day',
    heartbeatTimeout: `${Math.max(60, 3 * intervalSeconds)} seconds`,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes: ['InvalidRunbook'] },
  }).watchSystem;

/** Bounds on what the status keeps; older evaluations stay in earlier runs' histories. */
const KEEP_EVALUATIONS = 20;
const KEEP_ACTIONS = 20;
const KEEP_EVENTS = 30;

/** The watchdog's state carried across continue-as-new. */
interface Carried {
  /** The last scrape, the start of the next window. */
  previous: StoredSample | null;
  rules: Record<string, RuleState>;
  evaluations: WatchdogStatus['evaluations'];
  evaluationsTotal: number;
  actions: WatchdogAction[];
  events: WatchdogEvent[];
  paused: WatchdogStatus['paused'];
  following: WatchdogAction | null;
  /** For a scale-up being followed: when it rolls back if the rule still breaches, and how. */
  deadline: { at: string; mode: 'immediate' | 'gradual' } | null;
  /** When the watch loop's next scrape is due (absent in runs from before the watch loop). */
  nextAt?: string | null;
}

const keepLast = <T>(list: T[], n: number) => list.splice(0, Math.max(0, list.length - n));

export async function rollbackWatchdog(raw: WatchdogInput): Promise<string> {
  const input = parseInput('rollbackWatchdog', watchdogInput, raw);
  const { system, startedBy } = input;
  await admitWatchdog(input);
  const carried = (input.carried as Carried | undefined) ?? {
    rules: {},
    evaluations: [],
    evaluationsTotal: 0,
    actions: [],
    events: [{ at: now(), kind: 'started', by: startedBy, detail: `watchdog of ${system} started by ${startedBy}` }],
    paused: null,
    following: null,
    deadline: null,
    previous: null,
  };
  const status: WatchdogStatus = {
    system,
    state: 'watching',
    startedBy,
    intervalSeconds: 0,
    paused: carried.paused,
    following: carried.following,
    rules: [],
    evaluations: carried.evaluations,
    evaluationsTotal: carried.evaluationsTotal,
    actions: carried.actions,
    events: carried.events,
  };
  const rules = carried.rules;
  let deadline = carried.deadline;
  let shownState: WatchdogStatus['state'] | null = null;
  /** The watch section the last evaluation used. */
  let judged: WatchSection | null = null;
  /** The last scrape: the start of the next interval's window. */
  let previous: StoredSample | null = carried.previous ?? null;
  /** When the next scrape is due, so a new watch loop keeps the cadence of the last. */
  let nextAt: string | null = carried.nextAt ?? null;

  const record = (event: Omit<WatchdogEvent, 'at'>) => {
    status.events.push({ at: now(), ...event });
    keepLast(status.events, KEEP_EVENTS);
  };
  setHandler(watchdogStatusQuery, () => status);
  // Signals wait in the history until their handlers are set, after the runbook says who may send them.
  let settings = await activities(`load the watch section of ${system}`)
    .loadWatch({ system })
    .catch((err: unknown) => surfaceKnownFailure(err, new Set(['InvalidRunbook'])));
  status.intervalSeconds = settings.watch.intervalSeconds;
  // Handlers never throw (a throwing handler fails every workflow task after it): a bad request is refused and recorded.
  setHandler(pauseSignal, (raw) => {
    const parsed = parseWatchdogPayload('pause', raw);
    if (!parsed.ok) return record({ kind: 'refused', by: parsed.by, detail: parsed.why });
    const { by, reason, untilMinutes } = parsed.payload;
    if (!settings.operators.includes(by)) return record({ kind: 'refused', by, detail: `pause: ${by} is not an approver of ${system} (may: ${settings.operators.join(', ')})` });
    const until = parsed.payload.until ? new Date(parsed.payload.until).toISOString() : untilMinutes ? new Date(Date.now() + untilMinutes * 60_000).toISOString() : null;
    if (until && Date.parse(until) <= Date.now()) return record({ kind: 'refused', by, detail: `pause: until ${until} is already past` });
    status.paused = { by, reason, until };
    record({ kind: 'paused', by, detail: `paused by ${by}${until ? ` until ${until}` : ''}: ${reason}` });
    show();
  });
  setHandler(resumeSignal, (raw) => {
    const parsed = parseWatchdogPayload('resume', raw);
    if (!parsed.ok) return record({ kind: 'refused', by: parsed.by, detail: parsed.why });
    const { by } = parsed.payload;
    if (!settings.operators.includes(by)) return record({ kind: 'refused', by, detail: `resume: ${by} is not an approver of ${system} (may: ${settings.operators.join(', ')})` });
    if (!status.paused) return record({ kind: 'refused', by, detail: 'resume: the watchdog is not paused' });
    status.paused = null;
    record({ kind: 'resumed', by, detail: `resumed by ${by}` });
    show();
  });
  upsertSearchAttributes([
    { key: searchAttributes.system, value: system },
    { key: searchAttributes.kind, value: 'rollbackWatchdog' },
  ]);

  try {
    for (;;) {
      await waitWhilePaused();
      // While it watches (not following what it started), the watch loop does the scraping; runs
      // from before it replay their scrape per interval as they were recorded.
      if (!status.following && patched('watch-loop-activity')) {
        const report = await watchUntilReport();
        if (report) await takeReport(report);
        else continue; // paused while it watched
      } else {
        const tick = Date.now();
        const measured = await scrape({ system, previous });
        settings = measured;
        previous = measured.sample;
        if (measured.observation) {
          judge(measured.watch, measured.minRequests, measured.observation);
          if (status.following) await follow(measured.watch);
          else if (!status.paused) await act(measured.watch);
        }
        show();
        // The next scrape one interval after this one began: the time spent scraping and judging does
        // not stretch the interval (500 watchdogs on a busy worker would drift, and detect later).
        await sleep(Math.max(1, measured.watch.intervalSeconds * 1000 - (Date.now() - tick)));
      }
      // A new run every maxHistoryEvents keeps the history short; a new run too as soon as another
      // build is made current, since the watchdog, unlike a rollback, moves to the current build (a
      // rollback stays Pinned to the build that started it).
      const info = workflowInfo();
      if (info.historyLength > input.maxHistoryEvents || info.targetWorkerDeploymentVersionChanged) {
        await makeContinueAsNewFunc<typeof rollbackWatchdog>({ initialVersioningBehavior: 'AUTO_UPGRADE' })({ system, startedBy, maxHistoryEvents: input.maxHistoryEvents, reportEvery: input.reportEvery, carried: { previous, nextAt, rules, evaluations: status.evaluations, evaluationsTotal: status.evaluationsTotal, actions: status.actions, events: status.events, paused: status.paused, following: status.following, deadline } });
      }
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        record({ kind: 'stopped', by: null, detail: 'watchdog stopped (cancelled)' });
        setCurrentDetails(`**${system}: watchdog stopped**`);
      });
    }
    throw err;
  }

  /** While paused: until resumed, or until the pause's own end. */
  async function waitWhilePaused(): Promise<void> {
    // A window across the pause would judge the pause: the first scrape after it starts a fresh one.
    if (status.paused) {
      previous = null;
      nextAt = null;
    }
    while (status.paused) {
      show();
      const until = status.paused.until ? Date.parse(status.paused.until) - Date.now() : null;
      if (until === null) await condition(() => status.paused === null);
      else if (!(await condition(() => status.paused === null, Math.max(until, 1)))) {
        record({ kind: 'resumed', by: null, detail: `pause by ${status.paused.by} ended at ${status.paused.until}` });
        status.paused = null;
      }
    }
  }

  /** Runs the watch loop until it reports; null when the watchdog was paused meanwhile (the loop is cancelled). */
  async function watchUntilReport(): Promise<WatchReport | null> {
    const scope = new CancellationScope();
    const routineAfter = routineReportAfter(workflowInfo().workflowId, status.evaluationsTotal, input.reportEvery);
    const loop = scope.run(() => watchLoop(system, settings.watch.intervalSeconds)({ system, previous, rules, nextAt, reportEvery: input.reportEvery, routineAfter }));
    const pausing = scope.run(() => condition(() => status.paused !== null));
    try {
      return await Promise.race([loop, pausing.then(() => null)]);
    } finally {
      scope.cancel();
      await Promise.allSettled([loop, pausing]);
    }
  }

  /** What the watch loop saw: its evaluations into the status, then whatever is due. */
  async function takeReport(report: WatchReport): Promise<void> {
    settings = report;
    previous = report.previous;
    nextAt = report.nextAt;
    Object.assign(rules, report.rules);
    takeEvaluations(report.watch, report.evaluations, report.evaluated, report.changes);
    if (!status.paused) await act(report.watch);
    show();
  }

  /** Every rule against one interval (runs from before the watch loop judge here, once per interval). */
  function judge(watch: WatchSection, minRequests: number, observation: WatchObservation): void {
    const judged = judgeInterval(watch, minRequests, observation, rules);
    Object.assign(rules, judged.rules);
    takeEvaluations(watch, [{ at: observation.at, results: judged.results }], 1, judged.changes);
  }

  /** Evaluations into the status; rules that became inconclusive are alerted once, and noted when measurable again. */
  function takeEvaluations(watch: WatchSection, evaluations: { at: string; results: RuleEvaluation[] }[], count: number, changes: JudgedInterval['changes']): void {
    for (const { kind, evaluation } of changes) {
      if (kind === 'inconclusive') {
        record({ kind: 'inconclusive', by: null, detail: `${evaluation.rule}: ${evaluation.detail}` });
        void notify({ system, title: `watchdog cannot judge ${evaluation.rule}`, text: `${evaluation.detail}. Neither healthy nor a breach until it can measure again.`, severity: 'warning' }).catch(() => undefined);
      } else {
        record({ kind: 'conclusive', by: null, detail: `${evaluation.rule}: measurable again: ${evaluation.detail}` });
      }
    }
    status.evaluations.push(...evaluations);
    keepLast(status.evaluations, KEEP_EVALUATIONS);
    status.evaluationsTotal += count;
    status.intervalSeconds = watch.intervalSeconds;
    judged = watch;
  }

  function ruleView(rule: WatchRule, intervalSeconds: number) {
    const state = rules[rule.name] ?? freshRuleState();
    const needed = breachesNeeded(rule, intervalSeconds);
    let wouldDo: string;
    if (!state.armed) wouldDo = 'nothing: it acted in this incident; it re-arms once healthy';
    else if (state.streak >= needed && status.following) wouldDo = `nothing while it follows what it started (${status.following.what}); then ${describeAction(rule.action)}`;
    else if (state.streak >= needed) wouldDo = describeAction(rule.action);
    else if (state.streak > 0) wouldDo = `${describeAction(rule.action)} after ${needed - state.streak} more breach(es) in a row`;
    else wouldDo = state.last?.verdict === 'inconclusive' ? 'nothing: inconclusive' : 'nothing: healthy';
    return { name: rule.name, description: describeRule(rule, intervalSeconds), needed, streak: state.streak, firstBreachAt: state.firstBreachAt, armed: state.armed, last: state.last, wouldDo };
  }

  /** The first armed rule with enough breaches acts; the others wait for the incident to end. */
  async function act(watch: WatchSection): Promise<void> {
    const rule = watch.rules.find((r) => shouldAct(r, rules[r.name] ?? freshRuleState(), watch.intervalSeconds));
    if (!rule) return;
    const state = rules[rule.name]!;
    rules[rule.name] = { ...state, armed: false };
    const why = state.last?.detail ?? rule.name;
    const detectedAt = state.firstBreachAt;
    const action = rule.action;
    if ('alert' in action) {
      remember({ rule: rule.name, at: now(), detectedAt, what: 'alerted', workflowId: null, outcome: 'alerted' });
      await notify({ system, title: `watchdog: ${rule.name} breached`, text: why, severity: 'critical' });
      return;
    }
    if ('scaleAndAlert' in action) {
      const { version, instances, deadlineSeconds, thenRollback, provider } = action.scaleAndAlert;
      const { workflowId, runId } = workflowInfo();
      const change = { system, idempotencyKey: `${workflowId}:${runId}:scale:${rule.name}:${detectedAt}`, actor: `rollback-watchdog via ${workflowId}` };
      // A rule naming a scaling provider scales that provider's target; otherwise the traffic section's version.
      if (provider) await activities(`scale ${version} to ${instances} (${provider}): ${rule.name}`).scaleTarget({ ...change, provider, target: version, instances });
      else await activities(`scale ${version} to ${instances}: ${rule.name}`).scaleVersion({ ...change, version, count: instances });
      await notify({ system, title: `watchdog: ${rule.name} breached; scaled ${version} to ${instances}`, text: `${why}. Rolls back (${thenRollback}) if still breached after ${deadlineSeconds} s.`, severity: 'critical' });
      deadline = { at: new Date(Date.now() + deadlineSeconds * 1000).toISOString(), mode: thenRollback };
      startFollowing(remember({ rule: rule.name, at: now(), detectedAt, what: `scaled ${version} to ${instances}; ${thenRollback} fullRollback if still breached at the deadline`, workflowId: null, outcome: null }));
      return;
    }
    await startRollback(rule, why, detectedAt, 'rollback' in action ? { workflowType: 'fullRollback', input: { mode: action.rollback } } : { workflowType: 'configRollback', input: { ...action.configRollback } });
  }

  /** Starts the rollback a rule names (or, if one of the system runs, follows that one instead). */
  async function startRollback(rule: WatchRule, why: string, detectedAt: string | null, what: { workflowType: 'fullRollback' | 'configRollback'; input: Record<string, unknown> }): Promise<void> {
    const stamp = (detectedAt ?? now()).replace(/[^0-9]/g, '').slice(0, 14);
    const outcome = await activities(`start a ${what.workflowType} of ${system}: ${rule.name}`).startTriggeredRollback({
      system,
      workflowType: what.workflowType,
      workflowId: `${system}-${rule.name}-${stamp}`,
      input: { ...what.input, system, reason: `watchdog rule ${rule.name}: ${why}`, requestedBy: 'rollback-watchdog', ...(detectedAt ? { detectedAt } : {}) },
    });
    const description = outcome.started ? `started ${what.workflowType} ${outcome.workflowId}` : `did not start a ${what.workflowType}: ${outcome.why}; following it`;
    startFollowing(remember({ rule: rule.name, at: now(), detectedAt, what: description, workflowId: outcome.workflowId, outcome: null }));
    void notify({ system, title: `watchdog: ${rule.name} breached`, text: `${why}. ${description}.`, severity: 'critical' }).catch(() => undefined);
  }

  /** While it follows a rollback: has it ended? While it follows a scale-up: resolved, or past its deadline? */
  async function follow(watch: WatchSection): Promise<void> {
    const following = status.following!;
    if (following.workflowId) {
      const { running, status: ended } = await activities(`has ${following.workflowId} ended?`).rollbackOutcome({ workflowId: following.workflowId });
      if (running) return;
      following.outcome = ended;
      status.following = null;
      return;
    }
    const rule = watch.rules.find((r) => r.name === following.rule);
    const state = rule ? rules[rule.name] : undefined;
    if (!rule || !state || state.streak === 0) {
      following.outcome = 'resolved before the deadline';
      status.following = null;
      deadline = null;
      await notify({ system, title: `watchdog: ${following.rule} resolved`, text: state?.last?.detail ?? 'the rule is gone from the runbook', severity: 'info' });
      return;
    }
    if (deadline && Date.now() >= Date.parse(deadline.at)) {
      following.outcome = `still breached at the deadline (${state.last?.detail}); rolling back`;
      status.following = null;
      const mode = deadline.mode;
      deadline = null;
      await startRollback(rule, state.last?.detail ?? rule.name, following.detectedAt, { workflowType: 'fullRollback', input: { mode } });
    }
  }

  function remember(action: WatchdogAction): WatchdogAction {
    status.actions.push(action);
    keepLast(status.actions, KEEP_ACTIONS);
    return action;
  }

  function startFollowing(action: WatchdogAction): void {
    status.following = action;
  }

  /** The UI's current details and the RollbackState search attribute say what it is doing now. */
  function show(): void {
    status.state = status.paused ? 'paused' : status.following ? 'following' : 'watching';
    // After acting, so each rule's "would do" says what it does now (a rule that just acted is disarmed).
    if (judged) status.rules = judged.rules.map((rule) => ruleView(rule, judged!.intervalSeconds));
    // Only on change: each upsert is an event in the history.
    if (status.state !== shownState) upsertSearchAttributes([{ key: searchAttributes.state, value: status.state }]);
    shownState = status.state;
    const last = status.evaluations.at(-1);
    const lines = last ? last.results.map((r) => `- ${r.rule}: ${r.detail}${rules[r.rule]?.streak ? ` (${rules[r.rule]!.streak} in a row)` : ''}`) : ['- no evaluation yet'];
    const head =
      status.state === 'paused'
        ? `paused by ${status.paused!.by}: ${status.paused!.reason}`
        : status.state === 'following'
          ? `following: ${status.following!.what}`
          : `watching every ${status.intervalSeconds} s`;
    // Between the watch loop's reports the newest evaluation is in its heartbeat, on the pending activity.
    const live = status.state === 'watching' ? `\n\nReported every ${input.reportEvery} evaluations, and at once when a verdict changes; the newest is in the pending watchSystem activity's heartbeat.` : '';
    setCurrentDetails(`**${system} watchdog: ${head}**\n\nLast evaluation${last ? ` (${last.at})` : ''}:\n${lines.join('\n')}${live}`);
  }
}

