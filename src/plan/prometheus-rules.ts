/**
 * The runbook's `watch:` rules written as Prometheus alerting rules, so a team that alerts from
 * Prometheus and Alertmanager keeps its thresholds in one place, the runbook, and the alerts reach
 * the worker's Alertmanager receiver (src/triggers/alert-receiver.ts) under the names it acts on:
 * the alert is named after the watch rule and labelled with its system.
 *
 * Each rule says what the watchdog judges (src/plan/watch.ts), in PromQL:
 * - a rate over one watch interval (`[intervalSeconds]`), as the watchdog measures one interval;
 * - errors are statuses 5xx and successes 2xx and 3xx, as the metrics window counts them;
 * - p95 is histogram_quantile over the latency histogram's buckets, in milliseconds;
 * - fewer requests than minRequests is inconclusive: the rate rule holds only with enough traffic
 *   (`and on() ... >= minRequests`), unless the runbook says `inconclusive: breach`, when too little
 *   traffic or no series at all fires it too;
 * - a gauge is its worst series (max), as the watchdog reads several replicas;
 * - `consecutive: n` is `for:` (n - 1) intervals (the first breach already covers one interval),
 *   `forSeconds` is `for:` as written.
 * Pure: the CLI writes the YAML.
 */
import type { WatchRule, WatchSection } from '../runbook/watch-schema.ts';
import { breachesNeeded, describeRule } from './watch.ts';

/** The series the runbook's health.metrics section names (the prometheus provider's settings). */
export interface MetricSeries {
  requestsMetric: string;
  latencyMetric: string;
  statusLabel: string;
  /** Only series with these label values count. */
  match: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for: string;
  labels: { system: string; rule: string; severity: 'page' | 'warning' };
  annotations: { summary: string; description: string };
}

export interface RulesFile {
  groups: { name: string; interval: string; rules: AlertingRule[] }[];
}

/** A watch rule that PromQL cannot say; the message names the rule and why. */
export class UnexpressibleRuleError extends Error {}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

const quote = (value: string) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;

/** `name{a="x",b=~"5.."}` from a name, equality labels and extra matchers already written. */
function selector(name: string, labels: Record<string, string>, extra: string[] = []): string {
  const matchers = [...Object.entries(labels).map(([k, v]) => `${k}=${quote(v)}`), ...extra];
  return matchers.length ? `${name}{${matchers.join(',')}}` : name;
}

/** What a threshold comparison is written as, with the number as PromQL prints it. */
const comparison = (rule: WatchRule) => (rule.above !== undefined ? `> ${rule.above}` : `< ${rule.below!}`);

/** Problems with the series names that would make every metric rule wrong, or null. */
function seriesProblem(series: MetricSeries): string | null {
  for (const [what, name] of [['requestsMetric', series.requestsMetric], ['latencyMetric', series.latencyMetric]] as const) {
    if (!METRIC_NAME.test(name)) return `health.metrics.settings.${what} '${name}' is not a Prometheus metric name`;
  }
  const label = [series.statusLabel, ...Object.keys(series.match)].find((l) => !LABEL_NAME.test(l));
  return label === undefined ? null : `'${label}' in health.metrics.settings is not a Prometheus label name`;
}

/** The PromQL of one rule; throws UnexpressibleRuleError naming the rule when it cannot be written. */
export function ruleExpression(rule: WatchRule, watch: Pick<WatchSection, 'intervalSeconds' | 'inconclusive'>, minRequests: number, series: MetricSeries | { problem: string }): string {
  const refuse = (why: string): never => {
    throw new UnexpressibleRuleError(`watch rule ${rule.name} cannot be written as a Prometheus rule: ${why}`);
  };
  const breachOnNoData = watch.inconclusive === 'breach';
  if (rule.gauge) {
    const gauge = `max(${rule.gauge}) ${comparison(rule)}`;
    return breachOnNoData ? `${gauge} or on() absent(${rule.gauge})` : gauge;
  }
  if ('problem' in series) return refuse(series.problem);
  const problem = seriesProblem(series);
  if (problem) return refuse(problem);
  const window = `[${watch.intervalSeconds}s]`;
  const requests = selector(series.requestsMetric, series.match);
  const rate = (extra: string[] = []) => `sum(rate(${selector(series.requestsMetric, series.match, extra)}${window}))`;
  const value = {
    errorRatePct: () => `100 * ${rate([`${series.statusLabel}=~"5.."`])} / ${rate()}`,
    successRatePct: () => `100 * ${rate([`${series.statusLabel}=~"[23].."`])} / ${rate()}`,
    p95Ms: () => `1000 * histogram_quantile(0.95, sum by (le) (rate(${selector(`${series.latencyMetric}_bucket`, series.match)}${window})))`,
  }[rule.metric!]();
  const traffic = `sum(increase(${requests}${window}))`;
  const judged = `(${value} ${comparison(rule)}) and on() (${traffic} >= ${minRequests})`;
  return breachOnNoData ? `${judged} or on() (${traffic} < ${minRequests}) or on() absent(${requests})` : judged;
}

/** `for:` of a rule: as many evaluations as the watchdog needs before it acts. */
export function ruleFor(rule: WatchRule, intervalSeconds: number): string {
  if (rule.forSeconds !== undefined) return `${rule.forSeconds}s`;
  return `${(breachesNeeded(rule, intervalSeconds) - 1) * intervalSeconds}s`;
}

const UNITS: Record<NonNullable<WatchRule['metric']>, [string, string]> = { errorRatePct: ['error rate', '%'], successRatePct: ['success rate', '%'], p95Ms: ['p95 latency', ' ms'] };

/** The alert's one line: what was measured and the bound, filled by Alertmanager's template. */
function summary(system: string, rule: WatchRule): string {
  const bound = rule.above !== undefined ? `above ${rule.above}` : `below ${rule.below!}`;
  if (!rule.metric) return `${system}: ${rule.gauge} is {{ $value }}, ${bound}`;
  const [subject, unit] = UNITS[rule.metric];
  return `${system}: ${subject} {{ printf "%.1f" $value }}${unit}, ${bound}${unit}`;
}

/**
 * Every watch rule of `system` as one Prometheus rule group evaluated every watch interval. Throws
 * UnexpressibleRuleError naming the first rule that cannot be written (a rate rule without the
 * prometheus metrics provider: there are no series names to write it with).
 */
export function prometheusRules(system: string, watch: WatchSection, minRequests: number, series: MetricSeries | { problem: string }): RulesFile {
  const rules = watch.rules.map(
    (rule): AlertingRule => ({
      alert: rule.name,
      expr: ruleExpression(rule, watch, minRequests, series),
      for: ruleFor(rule, watch.intervalSeconds),
      // Rules that only alert are no page; the others change the system (the receiver or the watchdog acts).
      labels: { system, rule: rule.name, severity: 'alert' in rule.action ? 'warning' : 'page' },
      annotations: { summary: summary(system, rule), description: `${system} runbook, watch rule ${rule.name}: ${describeRule(rule, watch.intervalSeconds)}` },
    }),
  );
  return { groups: [{ name: `rollback-watch-${system}`, interval: `${watch.intervalSeconds}s`, rules }] };
}

/** Alertmanager's side (https://prometheus.io/docs/alerting/latest/configuration/): where the system's alerts go. */
export interface AlertmanagerSnippet {
  route: { routes: { receiver: string; matchers: string[]; group_by: string[] }[] };
  receivers: { name: string; webhook_configs: { url: string; send_resolved: true; http_config: { authorization: { credentials_file: string } } }[] }[];
}

/**
 * The route and receiver that send `system`'s alerts to the worker's receiver at `url`, with the
 * bearer token read from `credentialsFile` by Alertmanager: the token itself is never written here.
 */
export function alertmanagerSnippet(system: string, url: string, credentialsFile: string): AlertmanagerSnippet {
  return {
    route: { routes: [{ receiver: 'rollbacks', matchers: [`system=${quote(system)}`], group_by: ['alertname', 'system'] }] },
    receivers: [{ name: 'rollbacks', webhook_configs: [{ url, send_resolved: true, http_config: { authorization: { credentials_file: credentialsFile } } }] }],
  };
}
