/**
 * The runbook's watch rules as Prometheus alerting rules (src/plan/prometheus-rules.ts) and the
 * `rollback watch rules` command that writes them: the exact PromQL of each rule kind, `for:` as the
 * watchdog counts breaches, a rule PromQL cannot say refused by name, and the Alertmanager snippet
 * that names the token's file, never the token. test/prometheus-chain.test.ts loads these rules into
 * a real Prometheus.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseDocument, stringify } from 'yaml';
import { alertmanagerSnippet, prometheusRules, ruleExpression, type MetricSeries } from '../src/plan/prometheus-rules.ts';
import { parseRunbook } from '../src/runbook/load.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const sandboxYaml = readFileSync(join(root, 'runbooks/sandbox.yaml'), 'utf8');
const runbook = parseRunbook(sandboxYaml, 'runbooks/sandbox.yaml');
const watch = runbook.watch!;
const series: MetricSeries = { requestsMetric: 'sandbox_router_requests_total', latencyMetric: 'sandbox_router_request_duration_seconds', statusLabel: 'status', match: {} };
const rule = (name: string) => watch.rules.find((r) => r.name === name)!;

function cli(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('watch rules as Prometheus alerting rules', () => {
  test('each rule kind is its exact PromQL: rates over one watch interval with enough traffic, p95 from the histogram in ms, a gauge at its worst series', () => {
    const traffic = 'and on() (sum(increase(sandbox_router_requests_total[30s])) >= 20)';
    assert.equal(
      ruleExpression(rule('error-rate'), watch, 20, series),
      `(100 * sum(rate(sandbox_router_requests_total{status=~"5.."}[30s])) / sum(rate(sandbox_router_requests_total[30s])) > 10) ${traffic}`,
    );
    assert.equal(
      ruleExpression(rule('success-rate'), watch, 20, series),
      `(100 * sum(rate(sandbox_router_requests_total{status=~"[23].."}[30s])) / sum(rate(sandbox_router_requests_total[30s])) < 90) ${traffic}`,
    );
    assert.equal(
      ruleExpression(rule('p95-latency'), watch, 20, series),
      `(1000 * histogram_quantile(0.95, sum by (le) (rate(sandbox_router_request_duration_seconds_bucket[30s]))) > 3000) ${traffic}`,
    );
    assert.equal(ruleExpression(rule('grok-circuit-breaker'), watch, 20, series), 'max(sandbox_circuit_breaker_open{feature="grok"}) > 0');
    assert.equal(ruleExpression(rule('memory'), watch, 20, series), 'max(sandbox_memory_usage_ratio) > 0.95');
  });

  test("inconclusive: breach fires on too little traffic or no series too, and the provider's match labels are quoted into every selector", () => {
    const strict = { ...watch, intervalSeconds: 60, inconclusive: 'breach' as const };
    const matched = { ...series, match: { version: 'canary', job: 'say "hi"\\' } };
    const requests = 'sandbox_router_requests_total{version="canary",job="say \\"hi\\"\\\\"}';
    assert.equal(
      ruleExpression(rule('error-rate'), strict, 50, matched),
      `(100 * sum(rate(sandbox_router_requests_total{version="canary",job="say \\"hi\\"\\\\",status=~"5.."}[60s])) / sum(rate(${requests}[60s])) > 10) ` +
        `and on() (sum(increase(${requests}[60s])) >= 50) or on() (sum(increase(${requests}[60s])) < 50) or on() absent(${requests})`,
    );
    assert.equal(ruleExpression(rule('memory'), strict, 50, matched), 'max(sandbox_memory_usage_ratio) > 0.95 or on() absent(sandbox_memory_usage_ratio)');
  });

  test('for: is the watchdog\'s wait: (consecutive - 1) intervals, forSeconds as written; alerts are named after their rule and labelled with the system', () => {
    const file = prometheusRules('sandbox', watch, 20, series);
    assert.equal(file.groups.length, 1);
    assert.deepEqual({ name: file.groups[0]!.name, interval: file.groups[0]!.interval }, { name: 'rollback-watch-sandbox', interval: '30s' });
    assert.deepEqual(
      file.groups[0]!.rules.map((r) => [r.alert, r.for, r.labels]),
      [
        ['error-rate', '30s', { system: 'sandbox', rule: 'error-rate', severity: 'page' }],
        ['p95-latency', '30s', { system: 'sandbox', rule: 'p95-latency', severity: 'page' }],
        ['success-rate', '30s', { system: 'sandbox', rule: 'success-rate', severity: 'page' }],
        ['grok-circuit-breaker', '300s', { system: 'sandbox', rule: 'grok-circuit-breaker', severity: 'page' }],
        ['memory', '30s', { system: 'sandbox', rule: 'memory', severity: 'page' }],
      ],
    );
    assert.deepEqual(file.groups[0]!.rules[0]!.annotations, {
      summary: 'sandbox: error rate {{ printf "%.1f" $value }}%, above 10%',
      description: 'sandbox runbook, watch rule error-rate: error rate above 10.0% for 2 evaluations (60 s): start an immediate fullRollback',
    });
    const once = { ...rule('error-rate'), consecutive: undefined, name: 'at-once', action: { alert: true as const } };
    const [atOnce] = prometheusRules('sandbox', { ...watch, rules: [once] }, 20, series).groups[0]!.rules;
    assert.deepEqual([atOnce!.for, atOnce!.labels.severity], ['0s', 'warning']);
  });

  test('a rate rule is refused, named, when the runbook names no series Prometheus can query; gauge rules need none', () => {
    assert.throws(() => prometheusRules('sandbox', watch, 20, { problem: 'the runbook has no health.metrics section naming the request and latency series' }), {
      name: 'Error',
      message: 'watch rule error-rate cannot be written as a Prometheus rule: the runbook has no health.metrics section naming the request and latency series',
    });
    const gaugesOnly = { ...watch, rules: [rule('memory')] };
    assert.equal(prometheusRules('sandbox', gaugesOnly, 20, { problem: 'none' }).groups[0]!.rules[0]!.expr, 'max(sandbox_memory_usage_ratio) > 0.95');
    assert.throws(() => ruleExpression(rule('p95-latency'), watch, 20, { ...series, latencyMetric: 'request-duration' }), {
      message: "watch rule p95-latency cannot be written as a Prometheus rule: health.metrics.settings.latencyMetric 'request-duration' is not a Prometheus metric name",
    });
  });

  test('the Alertmanager snippet routes the system to the receiver with the token read from a file', () => {
    assert.deepEqual(alertmanagerSnippet('sandbox', 'http://127.0.0.1:9095/alertmanager', '/etc/alertmanager/rollback-token'), {
      route: { routes: [{ receiver: 'rollbacks', matchers: ['system="sandbox"'], group_by: ['alertname', 'system'] }] },
      receivers: [
        {
          name: 'rollbacks',
          webhook_configs: [{ url: 'http://127.0.0.1:9095/alertmanager', send_resolved: true, http_config: { authorization: { credentials_file: '/etc/alertmanager/rollback-token' } } }],
        },
      ],
    });
  });
});

describe('rollback watch rules', () => {
  test('it writes the rules file with --out and prints the Alertmanager part, naming the token file and never the token', () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-rules-'));
    try {
      const out = join(dir, 'rules.yml');
      const run = cli(['watch', 'rules', '--system', 'sandbox', '--runbooks', 'runbooks', '--out', out, '--receiver-url', 'http://127.0.0.1:9595/alertmanager', '--credentials-file', '/run/secrets/am-token'], {
        ALERT_RECEIVER_TOKEN: 'the-secret-token-value',
      });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(parse(readFileSync(out, 'utf8')), JSON.parse(JSON.stringify(prometheusRules('sandbox', watch, 20, series))));
      assert.match(run.stdout, new RegExp(`^wrote 5 alerting rules to ${out} \\(load it with rule_files: in prometheus.yml\\)\n`));
      const snippet = parse(run.stdout.slice(run.stdout.indexOf('\n', run.stdout.indexOf('# Alertmanager:'))));
      assert.deepEqual(snippet, alertmanagerSnippet('sandbox', 'http://127.0.0.1:9595/alertmanager', '/run/secrets/am-token'));
      assert.ok(!run.stdout.includes('the-secret-token-value') && !run.stderr.includes('the-secret-token-value'));
      // Without --out, one valid rules file is printed: the Alertmanager part is comments.
      const printed = cli(['watch', 'rules', '--system', 'sandbox'], { ALERT_RECEIVER_ADDRESS: '127.0.0.1:9700' });
      assert.equal(printed.code, 0, printed.stderr);
      assert.deepEqual(parse(printed.stdout), parse(readFileSync(out, 'utf8')));
      assert.match(printed.stdout, /^# {9}- url: http:\/\/127\.0\.0\.1:9700\/alertmanager$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a rule PromQL cannot say is refused by name with exit 3 and no file written; an unknown system is a usage error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-rules-'));
    try {
      const doc = parseDocument(sandboxYaml).toJS() as Record<string, any>;
      doc.health.metrics.settings.match = { 'app-name': 'clinic' };
      writeFileSync(join(dir, 'sandbox.yaml'), stringify(doc));
      const out = join(dir, 'rules.yml');
      const refused = cli(['watch', 'rules', '--system', 'sandbox', '--runbooks', dir, '--out', out]);
      assert.deepEqual([refused.code, refused.stderr, refused.stdout], [3, "watch rule error-rate cannot be written as a Prometheus rule: 'app-name' in health.metrics.settings is not a Prometheus label name\n", '']);
      assert.throws(() => readFileSync(out), { code: 'ENOENT' });
      const unknown = cli(['watch', 'rules', '--system', 'payments', '--runbooks', dir]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, new RegExp(`^rollback watch: no runbook for system 'payments' in ${dir}\n`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
