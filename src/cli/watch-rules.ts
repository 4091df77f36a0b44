/**
 * `rollback watch rules --system <name>`: the runbook's watch rules as a Prometheus rules file
 * (src/plan/prometheus-rules.ts), and the Alertmanager route and receiver that send those alerts to
 * the worker's receiver. Reads only runbook files; talks to no Temporal service.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { alertmanagerSnippet, prometheusRules, UnexpressibleRuleError, type MetricSeries } from '../plan/prometheus-rules.ts';
import { watchMinRequests } from '../plan/watch.ts';
import type { Runbook } from '../runbook/schema.ts';
import { EXIT_REFUSED, UsageError } from './args.ts';

/** Where the receiver listens when ALERT_RECEIVER_ADDRESS does not say (npm start's worker takes it here). */
const DEFAULT_RECEIVER = '127.0.0.1:9095';
/** Where Alertmanager reads the token from: a file only Alertmanager can read, never the token itself. */
export const DEFAULT_CREDENTIALS_FILE = '/etc/alertmanager/rollback-token';

export interface WatchRulesOptions {
  system: string;
  runbooks: string | undefined;
  out: string | undefined;
  receiverUrl: string | undefined;
  credentialsFile: string | undefined;
}

/** The series the health section's metrics provider names, or why PromQL has none to use. */
async function seriesOf(runbook: Runbook): Promise<MetricSeries | { problem: string }> {
  const metrics = runbook.health.metrics;
  if (!metrics) return { problem: 'the runbook has no health.metrics section naming the request and latency series' };
  if (metrics.provider !== 'prometheus') return { problem: `health.metrics uses the ${metrics.provider} provider; only prometheus names series a Prometheus server can query` };
  const { prometheus } = await import('../providers/health/prometheus.ts');
  const settings = prometheus.settingsSchema.parse(metrics.settings);
  return { requestsMetric: settings.requestsMetric, latencyMetric: settings.latencyMetric, statusLabel: settings.statusLabel, match: settings.match };
}

function receiverUrl(given: string | undefined): string {
  if (given !== undefined) {
    if (!/^https?:\/\/[^\s]+$/.test(given)) throw new UsageError(`--receiver-url must be an http(s) URL; got '${given}'`);
    return given;
  }
  const address = process.env.ALERT_RECEIVER_ADDRESS && process.env.ALERT_RECEIVER_ADDRESS !== 'off' ? process.env.ALERT_RECEIVER_ADDRESS : DEFAULT_RECEIVER;
  return `http://${address}/alertmanager`;
}

export async function watchRules(options: WatchRulesOptions): Promise<number> {
  const dir = options.runbooks ?? process.env.RUNBOOKS_DIR ?? 'runbooks';
  const url = receiverUrl(options.receiverUrl);
  // Loaded here: the runbook loader brings every provider, which `rollback help` need not wait for.
  const { loadRunbooks } = await import('../runbook/load.ts');
  const runbook = loadRunbooks(resolve(dir)).get(options.system);
  if (!runbook) throw new UsageError(`no runbook for system '${options.system}' in ${dir}`);
  if (!runbook.watch) throw new UsageError(`the ${options.system} runbook has no watch: section`);
  let rules;
  try {
    rules = prometheusRules(runbook.system, runbook.watch, watchMinRequests(runbook.watch, runbook.health.minRequests), await seriesOf(runbook));
  } catch (err) {
    if (!(err instanceof UnexpressibleRuleError)) throw err;
    console.error(err.message);
    return EXIT_REFUSED;
  }
  const header = `# Prometheus alerting rules from the ${runbook.system} runbook's watch: section (rollback watch rules --system ${runbook.system}).\n# Change the thresholds in the runbook and write this file again.\n`;
  const snippet = stringify(alertmanagerSnippet(runbook.system, url, options.credentialsFile ?? DEFAULT_CREDENTIALS_FILE), { lineWidth: 0 }).trimEnd();
  const advice = `Alertmanager: route ${runbook.system}'s alerts to the worker's receiver (the token file holds the value of the variable ALERT_RECEIVER_TOKEN_ENV names):`;
  const count = rules.groups[0]!.rules.length;
  if (options.out) {
    writeFileSync(options.out, header + stringify(rules, { lineWidth: 0 }));
    console.log(`wrote ${count} alerting rules to ${options.out} (load it with rule_files: in prometheus.yml)\n\n# ${advice}\n${snippet}`);
  } else {
    // The snippet goes out as comments, so what is printed is still one valid rules file.
    console.log(`${header}${stringify(rules, { lineWidth: 0 })}\n# ${advice}\n${snippet.replace(/^/gm, '#   ')}`);
  }
  return 0;
}
