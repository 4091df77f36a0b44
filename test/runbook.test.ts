import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { parseDocument, stringify } from 'yaml';
import { loadRunbooks, parseRunbook, RunbookSetError } from '../src/runbook/load.ts';

const good = readFileSync(new URL('../runbooks/sandbox.yaml', import.meta.url), 'utf8');

/** The sandbox runbook renamed to system `x`, with one edit applied to its parsed form. */
function variant(edit: (doc: Record<string, any>) => void): string {
  const doc = parseDocument(good).toJS() as Record<string, any>;
  doc.system = 'x';
  edit(doc);
  return stringify(doc);
}

function problemsOf(text: string, file = 'runbooks/x.yaml'): string {
  try {
    parseRunbook(text, file);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the runbook was accepted');
}

describe('runbook files', () => {
  test('the sandbox runbook loads with its defaults filled in', () => {
    const runbook = parseRunbook(good, 'runbooks/sandbox.yaml');
    assert.equal(runbook.system, 'sandbox');
    assert.equal(runbook.traffic?.provider, 'http-router');
    assert.deepEqual(runbook.health.thresholds, { errorRatePct: 10, p95Ms: 3000, successRatePct: 90 });
    assert.deepEqual(runbook.approvers.oncall, ['alice', 'bob', 'carol']);
    assert.equal(runbook.gates['before-cleanup']?.forbidRequester, true);
    assert.equal((runbook.health.checks[0] as { expectStatus?: number } | undefined)?.expectStatus, 200, 'expectStatus defaults to 200');
    assert.deepEqual(runbook.phases.map((p) => p.id), [1, 2, 3, 4, 5, 9, 10, 11], "seed 000's phases and seed 004's stages 9-11");
    assert.equal(runbook.databases.main?.urlEnv, 'SANDBOX_DATABASE_URL');
  });

  test('a threshold of the wrong type is refused with file, path and reason', () => {
    const text = variant((doc) => (doc.health.thresholds.p95Ms = 'fast'));
    assert.equal(problemsOf(text), 'runbooks/x.yaml: health.thresholds.p95Ms: expected number, received string');
  });

  test('an unknown traffic provider lists the valid ones', () => {
    const text = variant((doc) => (doc.traffic.provider = 'flyio'));
    assert.equal(problemsOf(text), "runbooks/x.yaml: traffic.provider: unknown traffic provider 'flyio'; must be one of: http-router, cloud-run");
  });

  test('an unknown notify provider names its position in the list', () => {
    const text = variant((doc) => doc.notify.push({ provider: 'pagerduty' }));
    assert.equal(problemsOf(text), "runbooks/x.yaml: notify[2].provider: unknown notify provider 'pagerduty'; must be one of: log, webhook, slack");
  });

  test('a webhook URL written inline instead of an environment variable name is refused', () => {
    const text = variant((doc) => (doc.notify[1].settings = { url: 'https://hooks.slack.com/services/T000/B000/XXXX' }));
    assert.equal(
      problemsOf(text),
      'runbooks/x.yaml: notify[1].settings.url: looks like an inline secret; put it in an environment variable and reference it by name (urlEnv: SOME_VARIABLE)',
    );
  });

  test('a database URL with a password is refused as an inline secret', () => {
    const text = variant((doc) => (doc.databases.main.urlEnv = 'postgres://app:hunter2@db:5432/app'));
    assert.equal(
      problemsOf(text),
      'runbooks/x.yaml: databases.main.urlEnv: must name an environment variable (like SLACK_WEBHOOK_URL), not hold its value',
    );
    const inline = variant((doc) => (doc.databases.main.url = 'postgres://app:hunter2@db:5432/app'));
    assert.match(problemsOf(inline), /^runbooks\/x\.yaml: databases\.main\.url: looks like an inline secret/);
  });

  test('a secret-named key holding a value is refused even without a URL', () => {
    const text = variant((doc) => (doc.traffic.settings.adminToken = 's3cr3t'));
    assert.match(problemsOf(text), /^runbooks\/x\.yaml: traffic\.settings\.adminToken: looks like an inline secret/);
  });

  test('a gate naming a role with no approvers is refused with the known roles', () => {
    const text = variant((doc) => (doc.gates['before-cleanup'].role = 'sre'));
    assert.equal(problemsOf(text), "runbooks/x.yaml: gates.before-cleanup.role: unknown role 'sre'; must be one of: oncall, dba, platform-lead");
  });

  test('a gate needing more approvals than its role has people is refused', () => {
    const text = variant((doc) => (doc.gates['before-swap'].required = 2));
    assert.equal(problemsOf(text), "runbooks/x.yaml: gates.before-swap.required: needs 2 approvals but role 'dba' lists only 1");
  });

  test('a misspelt gate name is refused with the gates the workflows use, instead of silently dropping the approval', () => {
    const text = variant((doc) => {
      doc.gates['before-swp'] = doc.gates['before-swap'];
      delete doc.gates['before-swap'];
    });
    assert.equal(
      problemsOf(text),
      "runbooks/x.yaml: gates.before-swp: unknown gate 'before-swp' (did you mean 'before-swap'?); gates are: before-cleanup, gradual-step, before-release, before-release-<target> (fullRollback); before-swap, before-schema-rollback (dataRestore); before-phase, before-phase-<id>, before-release, before-release-<target> (phaseRollback); before-config-change, before-kill-switch (configRollback)",
    );
    const far = variant((doc) => {
      doc.gates.approval = doc.gates['before-swap'];
    });
    assert.match(problemsOf(far), /^runbooks\/x\.yaml: gates\.approval: unknown gate 'approval'; gates are: /);
  });

  test('a URL carrying a credential in its query string is refused like other inline secrets', () => {
    const text = variant((doc) => {
      doc.health.metrics.settings.url = 'https://metrics.example.test/federate?match=up&token=abc123';
    });
    assert.equal(
      problemsOf(text),
      'runbooks/x.yaml: health.metrics.settings.url: carries a credential in its query string (token); put it in an environment variable and reference it by name (urlEnv: SOME_VARIABLE)',
    );
    const harmless = variant((doc) => {
      doc.health.checks[0].url = 'http://127.0.0.1:18080/health?verbose=1';
    });
    assert.doesNotThrow(() => parseRunbook(harmless, 'runbooks/x.yaml'));
  });

  test('a runbook in the earlier format is refused with the replacement written out from its own content', () => {
    const text = variant((doc) => {
      doc.flags = doc.providers.flags;
      delete doc.providers.flags;
      doc.phases[2].rollback = { flags: { dual_lane_routing: false }, config: { ROUTING_MODE: 'single' }, restart: true };
    });
    assert.equal(
      problemsOf(text),
      [
        'runbooks/x.yaml: flags: flag stores are named under providers: now (actions and stopWriters refer to them by name). Replace this section with:',
        'providers:',
        '  flags:',
        '    provider: postgres-table',
        '    settings:',
        '      databaseUrlEnv: SANDBOX_DATABASE_URL',
        '      table: feature_flags',
        'runbooks/x.yaml: phases[2].rollback: a phase now lists its rollback actions in order. Replace it with:',
        'rollback:',
        '  - flag: dual_lane_routing',
        '    enabled: false',
        '  - config:',
        '      ROUTING_MODE: single',
        '  - restart: all',
      ].join('\n'),
    );
  });

  test('a system without a router loads: traffic and health may be left out (and with them the watch rules and drills that need them)', () => {
    const text = variant((doc) => {
      delete doc.traffic;
      delete doc.health;
      delete doc.watch;
      delete doc.drills;
    });
    const runbook = parseRunbook(text, 'runbooks/x.yaml');
    assert.equal(runbook.traffic, undefined);
    assert.deepEqual(runbook.health.thresholds, { errorRatePct: 10, p95Ms: 3000, successRatePct: 90 }, "seed 000's triggers by default");
    const kept = problemsOf(variant((doc) => delete doc.traffic));
    assert.match(kept, /drills\.canary-errors: drill canary-errors rehearses a fullRollback, which needs a traffic section/);
    assert.match(kept, /watch\.rules\[0\]\.action: rule error-rate rolls back, which needs a traffic or release section/);
    assert.match(kept, /watch\.rules\[4\]\.action: rule memory scales, which needs a traffic section/);
    const badPattern = problemsOf(variant((doc) => doc.phases[0].rollback.push({ command: ['true'], successPattern: '(?m)^done' })));
    assert.match(badPattern, /phases\[0\]\.rollback\[\d+\]\.successPattern: not a valid regular expression: Invalid regular expression: \/\(\?m\)\^done\/: Invalid group/);
  });

  test("a drill's approver who may not pass a gate it lists, an unknown gate, and a drill without its scenario are refused", () => {
    const problems = problemsOf(
      variant((doc) => {
        doc.drills['canary-errors'].approver = 'dana';
        doc.drills['canary-errors'].approveGates.push('before-swp');
        delete doc.drills['canary-errors'].scenario;
      }),
    );
    assert.equal(
      problems,
      [
        'runbooks/x.yaml: drills.canary-errors.scenario: a drill that is not a dry run needs a scenario to inject',
        'runbooks/x.yaml: drills.canary-errors.approver: dana may not pass gate before-cleanup: role oncall lists alice, bob, carol',
        "runbooks/x.yaml: drills.canary-errors.approveGates[1]: unknown gate 'before-swp'; the runbook's gates: before-cleanup, before-swap, before-phase-9, before-phase-11",
      ].join('\n'),
      'every problem at once',
    );
  });

  test('each action gets its provider: the one named, or the only one that can; otherwise the problem says which to name', () => {
    const runbook = parseRunbook(good, 'runbooks/sandbox.yaml');
    assert.deepEqual(runbook.phases[4]!.rollback.map((a) => ('provider' in a ? a.provider : null)), ['flags', 'app', 'app', 'app'], 'config, secret-version and restart filled in');
    const ambiguous = variant((doc) => {
      delete doc.phases[0].rollback[0].provider;
    });
    assert.equal(problemsOf(ambiguous), 'runbooks/x.yaml: phases[0].rollback[0].provider: required: flags and flagd both offer feature flags; name one');
    const wrong = variant((doc) => {
      doc.phases[0].rollback[1].provider = 'redis';
    });
    assert.equal(problemsOf(wrong), "runbooks/x.yaml: phases[0].rollback[1].provider: provider 'redis' (redis) offers no config; those that do: app");
    const unnamed = variant((doc) => {
      doc.phases[0].rollback[0].provider = 'launchdarkly';
    });
    assert.match(problemsOf(unnamed), /phases\[0\]\.rollback\[0\]\.provider: no provider named 'launchdarkly' under providers:; those offering feature flags: flags, flagd$/);
  });

  test('a phase gate for a phase the runbook lacks, an unknown keyspace and an unknown action kind are refused', () => {
    const text = variant((doc) => {
      doc.gates['before-phase-7'] = { role: 'oncall' };
      doc.phases[5].rollback[0]['redis-restore'] = 'sesions';
    });
    assert.equal(
      problemsOf(text),
      [
        "runbooks/x.yaml: gates.before-phase-7: gate before-phase-7 names phase 7, which this runbook does not have (its phases: 1, 2, 3, 4, 5, 9, 10, 11)",
        "runbooks/x.yaml: phases[5].rollback[0].redis-restore: unknown keyspace 'sesions'; must be one of: sessions",
      ].join('\n'),
    );
    const unknownKind = variant((doc) => {
      doc.phases[0].rollback.push({ deploy: 'stable' });
    });
    assert.match(problemsOf(unknownKind), /^runbooks\/x\.yaml: phases\[0\]\.rollback\[3\]: /);
  });

  test('provider settings are checked by the provider', () => {
    const text = variant((doc) => (doc.traffic.settings = { url: 'not a url' }));
    assert.equal(problemsOf(text), 'runbooks/x.yaml: traffic.settings.url: Invalid URL');
  });

  test('unknown keys, missing fields and bad enums are all listed at once', () => {
    const text = variant((doc) => {
      doc.traffic.weight = 5;
      delete doc.rto.decisionMinutes;
      doc.gates['before-cleanup'].onTimeout = 'panic';
    });
    assert.equal(
      problemsOf(text),
      [
        "runbooks/x.yaml: traffic: unknown key 'weight'",
        'runbooks/x.yaml: gates.before-cleanup.onTimeout: must be one of: "abort", "approve"; received "panic"',
        'runbooks/x.yaml: rto.decisionMinutes: required (expected number)',
      ].join('\n'),
    );
  });

  test('a YAML syntax error names the line', () => {
    assert.match(problemsOf('system: x\ntraffic: [unclosed\n'), /^runbooks\/x\.yaml: YAML syntax error at line \d+: /);
  });

  test('a YAML alias bomb is refused naming the file and what to do, before it expands', () => {
    const laughs = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (const [name, from] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e']]) laughs.push(`${name}: &${name} [${Array(9).fill(`*${from}`).join(', ')}]`);
    const dir = mkdtempSync(join(tmpdir(), 'runbooks-'));
    try {
      writeFileSync(join(dir, 'x.yaml'), `system: x\n${laughs.join('\n')}\n`);
      assert.throws(
        () => loadRunbooks(dir),
        (err: unknown) =>
          err instanceof RunbookSetError &&
          err.message === `${relative(process.cwd(), join(dir, 'x.yaml'))}: YAML aliases expand too far (more than 100 expansions, as in a "billion laughs" attack); write the values out instead of nesting aliases`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // A few aliases, as people use them to share settings, still load.
    assert.doesNotThrow(() => parseRunbook(good.replace('  before-swap:\n', '  before-swap: &dba\n').replace(/ {2}before-phase-9:(.|\n)*?timeoutSeconds: 900\n/, '  before-phase-9: *dba\n'), 'runbooks/sandbox.yaml'));
  });

  test('a kill switch its provider does not list is refused when the runbook loads, with the closest one; so are glob and control characters in a feature name', () => {
    assert.equal(
      problemsOf(variant((doc) => doc.phases[0].rollback.push({ 'kill-switch': 'grk' }))),
      "runbooks/x.yaml: phases[0].rollback[3].kill-switch: unknown kill switch 'grk' (did you mean 'grok'?); the settings of providers.redis list: grok, ai_scoring",
    );
    assert.equal(
      problemsOf(variant((doc) => (doc.watch.rules[3].action.configRollback.killSwitches = { grock: true }))),
      "runbooks/x.yaml: watch.rules[3].action.configRollback.killSwitches: unknown kill switch 'grock' (did you mean 'grok'?); the settings of providers.redis list: grok, ai_scoring",
    );
    assert.equal(
      problemsOf(variant((doc) => delete doc.providers.redis.settings.killSwitches)),
      "runbooks/x.yaml: watch.rules[3].action.configRollback.killSwitches: unknown kill switch 'grok'; the settings of providers.redis list: none",
    );
    assert.equal(
      problemsOf(variant((doc) => doc.phases[0].rollback.push({ 'kill-switch': 'kill_switch:*' }))),
      'runbooks/x.yaml: phases[0].rollback[3].kill-switch: must be one feature name: no spaces, control characters or glob characters (* ? [ ] { } \\)',
    );
  });

  test('a scale action with a negative or huge instance count, or no provider that scales, is refused when the runbook loads', () => {
    const scaled = (scale: unknown, edit: (doc: Record<string, any>) => void = () => undefined) =>
      problemsOf(
        variant((doc) => {
          doc.providers.router = { provider: 'http-router', settings: { url: 'http://127.0.0.1:18080' } };
          doc.phases[0].rollback.push({ scale });
          edit(doc);
        }),
      );
    assert.equal(scaled({ target: 'canary', instances: -1 }), 'runbooks/x.yaml: phases[0].rollback[3].scale.instances: must be 0 or more');
    assert.equal(scaled({ target: 'canary', instances: 10_000 }), 'runbooks/x.yaml: phases[0].rollback[3].scale.instances: must be at most 1000');
    assert.equal(
      scaled({ target: 'canary', instances: 0 }, (doc) => delete doc.providers.router),
      'runbooks/x.yaml: phases[0].rollback[3]: needs a provider of instance scaling, and none is under providers: (one of: http-router, fly-machines, kubernetes, docker-compose)',
    );
  });

  test('a system whose name differs from its file name is refused', () => {
    assert.equal(problemsOf(good, 'runbooks/other.yaml'), "runbooks/other.yaml: system: 'sandbox' does not match the file name (other)");
  });

  test('a directory with one broken file fails naming that file, and nothing is loaded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbooks-'));
    try {
      writeFileSync(join(dir, 'sandbox.yaml'), good);
      writeFileSync(join(dir, 'x.yaml'), variant((doc) => (doc.health.thresholds.p95Ms = 'fast')));
      assert.throws(
        () => loadRunbooks(dir),
        (err: unknown) =>
          err instanceof RunbookSetError &&
          err.message === `${relative(process.cwd(), join(dir, 'x.yaml'))}: health.thresholds.p95Ms: expected number, received string`,
      );
      rmSync(join(dir, 'x.yaml'));
      assert.deepEqual([...loadRunbooks(dir).keys()], ['sandbox']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an empty runbooks directory is an error, not an empty worker', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbooks-'));
    try {
      assert.throws(() => loadRunbooks(dir), { message: `no runbook files (*.yaml) in ${dir}` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
