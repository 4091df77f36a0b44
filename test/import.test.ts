import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { importMarkdown, ImportRefused, MAX_MARKDOWN_BYTES, readMarkdownText } from '../src/import/index.ts';
import { importRunbook } from '../src/cli/import.ts';
import { UsageError } from '../src/cli/args.ts';
import { parseRunbook, RunbookError } from '../src/runbook/load.ts';
import { fillPlaceholders } from './import-fill.ts';

const fixtures = new URL('./fixtures/import/', import.meta.url);
const seeds = [0, 1, 2, 3, 4].map((i) => `seed-00${i}.md`);
const read = (name: string) => readFileSync(new URL(name, fixtures), 'utf8');

function importSeed(name: string, system = name.replace(/\.md$/, '')) {
  return importMarkdown(read(`seeds/${name}`), { file: name, system });
}

describe('rollback import: the seeds', () => {
  for (const name of seeds) {
    test(`${name}: the draft is refused with its placeholders named, then loads by the real loader once they are filled`, () => {
      const { yaml, report } = importSeed(name);
      const system = name.replace(/\.md$/, '');
      if (report.placeholders.length > 0) {
        assert.throws(
          () => parseRunbook(yaml, `${system}.yaml`),
          (err: Error) => err instanceof RunbookError && /still holds the placeholder <FILL: /.test(err.message) && err.problems.length >= report.placeholders.length,
        );
      }
      const runbook = parseRunbook(fillPlaceholders(yaml), `${system}.yaml`);
      assert.equal(runbook.system, system);
      // Every command line is accounted for, and the shares add up.
      assert.equal(report.counts.total, report.lines.length);
      assert.equal(report.counts.typed + report.counts.absorbed + report.counts.opaque + report.counts.unmapped + report.counts.destructive, report.counts.total);
    });

    test(`${name}: no destructive line is emitted live, each is commented out with its reason`, () => {
      const { yaml, report } = importSeed(name);
      const live = yaml.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
      for (const line of report.lines.filter((l) => l.kind === 'destructive')) {
        assert.match(yaml, new RegExp(`# NOT EMITTED \\(destructive\\): line ${line.line}: `), `line ${line.line} has no NOT EMITTED comment`);
        for (const word of ['FLUSHDB', 'destroy', 'prune', '--force', 'reset', 'DROP DATABASE', 'volume rm', 'backups restore']) {
          if (line.text.includes(word)) assert.doesNotMatch(live, new RegExp(word.replace(/[-\s]/g, (c) => `\\${c}`)), `${word} appears outside a comment`);
        }
      }
    });
  }

  test('seed 000: every emitted item cites its source line and text, and thresholds, stages and RTO come from the prose', () => {
    const { yaml, report } = importSeed('seed-000.md');
    assert.match(yaml, /# line 15: fly scale count 0 -a healthcare-clinic-backend-canary\n\s+# scale: fly scale count -> scale/);
    assert.match(yaml, /- scale:\n\s+target: healthcare-clinic-backend-canary\n\s+instances: 0\n\s+provider: fly-healthcare-clinic-backend-canary/);
    assert.match(yaml, /# line 28: Error Rate > 10%: Immediate rollback\n\s+errorRatePct: 10/);
    assert.match(yaml, /# line 358: Detection: < 2 minutes\n\s+detectionMinutes: 2/);
    assert.match(yaml, /# NOT EMITTED \(destructive\): line 173: redis-cli FLUSHDB -- FLUSHDB deletes every key/);
    assert.deepEqual(
      report.thresholds.filter((t) => t.withinSeconds).map((t) => [t.metric, t.value, t.withinSeconds]),
      [['errorRatePct', 1, 300], ['p95Ms', { timesBaseline: 1.1 }, 600], ['successRatePct', 99, 900]],
    );
    const line = (n: number) => report.lines.find((l) => l.line === n)!;
    assert.deepEqual([line(212).kind, line(212).as, line(212).value], ['typed', 'dataRestore', 'db_backup_20250129_120000.sql']);
    assert.deepEqual([line(280).as, line(68).kind, line(63).kind, line(94).kind], ['statusPage', 'absorbed', 'unmapped', 'opaque']);
    // "Verify direct chat is working" (a POST of a test message) and "Test critical endpoints" become checks of the verification.
    const runbook = parseRunbook(fillPlaceholders(yaml), 'seed-000.yaml');
    assert.deepEqual(runbook.health.checks.map((c) => ('url' in c ? [c.name, c.method ?? 'GET'] : [c.name, 'command'])), [
      ['check-line-68', 'POST'],
      ['healthcare-clinic-backend-health', 'GET'],
      ['test-critical-endpoints', 'command'],
      ['verify-data-integrity', 'command'],
    ]);
  });

  test('seed 004: git reset --hard becomes its safe equivalent, a git-revert of the range after the tag', () => {
    const { yaml, report } = importSeed('seed-004.md');
    const reset = report.lines.find((l) => l.text.startsWith('git reset --hard'))!;
    assert.equal(reset.kind, 'destructive');
    assert.match(reset.reason, /emitted instead: git-revert migration-start\.\.HEAD/);
    assert.match(yaml, /# SAFE EQUIVALENT of a destructive line[^\n]*\n\s+- git-revert: migration-start\.\.HEAD/);
    assert.deepEqual(report.lines.filter((l) => l.kind === 'typed').map((l) => [l.as, l.target]), [['redis-restore', 'session:*:agentic_state']]);
  });

  test('seed 002: a 50/50 update-traffic becomes the traffic section, 100% to one revision a release, PREV the previous one', () => {
    const { yaml, report } = importSeed('seed-002.md');
    const runbook = parseRunbook(fillPlaceholders(yaml), 'seed-002.yaml');
    assert.deepEqual(runbook.traffic?.gradualSteps, [50, 0]);
    assert.deepEqual(runbook.traffic?.settings.versions, { stable: 'medicalcor-api-00014-def', canary: 'medicalcor-api-00015-abc' });
    assert.deepEqual(report.lines.filter((l) => l.line === 453 || l.line === 118).map((l) => [l.as, l.target, l.value]), [
      ['release', 'medicalcor-api', 'medicalcor-api-00014-def'],
      ['release', 'medicalcor-api', 'previous'],
    ]);
    assert.equal(runbook.gates['before-swap']?.role ?? runbook.gates['before-phase']?.role, 'dba');
  });
});

describe('rollback import: a runbook of another team (not one of the seeds)', () => {
  test('a Kubernetes runbook: rollouts, scaling, kill switch and flag typed; helm opaque; never-run lines destructive; approvals, RTO and drill cadence read', () => {
    const { yaml, report } = importMarkdown(read('unseen/payments-k8s.md'), { file: 'payments-k8s.md', system: 'payments' });
    const by = (text: string) => report.lines.find((l) => l.text.startsWith(text))!;
    assert.deepEqual([by('kubectl -n payments rollout undo deployment/payments-api').as, by('kubectl -n payments rollout undo deployment/payments-api').value], ['release', '17']);
    assert.deepEqual([by('kubectl -n payments scale').as, by('kubectl -n payments scale').value], ['scale', '6']);
    assert.equal(by('redis-cli').as, 'kill-switch');
    assert.deepEqual([by('psql "$PAYMENTS_DB_URL" -c "UPDATE').as, by('psql "$PAYMENTS_DB_URL" -c "UPDATE').target], ['flag', 'fraud-model-v2']);
    assert.equal(by('pg_restore').as, 'dataRestore');
    assert.equal(by('kubectl -n payments rollout status').kind, 'absorbed');
    assert.equal(by('kubectl -n payments get deploy').kind, 'absorbed');
    for (const never of ['kubectl -n payments delete pvc', 'helm uninstall', 'psql "$PAYMENTS_DB_URL" -c "DROP DATABASE', 'git push --force']) assert.equal(by(never).kind, 'destructive', never);
    assert.equal(by('curl -X POST').as, 'notify');
    assert.equal(by('./hack/smoke.sh').kind, 'absorbed', 'a smoke test under "Verify" is a command check');
    assert.equal(by('kubectl -n payments annotate').kind, 'opaque');
    assert.deepEqual(report.gates.map((g) => g.role).sort(), ['dba', 'payments-lead']);
    assert.deepEqual(report.rto.map((r) => [r.stage, r.minutes]), [['total', 20]]);
    assert.deepEqual(report.drills.map((d) => d.cron), ['0 10 1-7 * 2']);
    assert.deepEqual(report.thresholds.map((t) => [t.metric, t.value]), [['errorRatePct', 5], ['p95Ms', 1200], ['successRatePct', 97], ['errorRatePct', 1]]);
    const runbook = parseRunbook(fillPlaceholders(yaml), 'payments.yaml');
    assert.equal(runbook.providers['kubernetes-payments']?.settings.namespace, 'payments');
    assert.deepEqual(runbook.providers['kubernetes-payments']?.settings.deployments, { 'payments-api': 'payments-api', 'payments-worker': 'payments-worker' });
  });
});

describe('rollback import: input it cannot use', () => {
  test('an empty file, a binary one and one over the size limit are refused with the reason, and a large real one is read in time', () => {
    assert.throws(() => readMarkdownText(Buffer.alloc(0), 'empty.md'), new ImportRefused('empty.md is empty: there is nothing to import'));
    assert.throws(() => readMarkdownText(Buffer.from('   \n\n'), 'blank.md'), new ImportRefused('blank.md holds only white space: there is nothing to import'));
    assert.throws(() => readMarkdownText(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]), 'logo.png'), new ImportRefused('logo.png is not a text file (it holds NUL bytes); give the markdown runbook'));
    const tenMb = Buffer.alloc(10 * 1024 * 1024, 'a');
    assert.throws(() => readMarkdownText(tenMb, 'huge.md'), new ImportRefused(`huge.md is 10.0 MB; the importer reads markdown runbooks up to 2 MB`));
    // Just under the limit is accepted (how fast it is read is npm run bench:import's business, not a test's).
    const seed = read('seeds/seed-000.md');
    const big = seed.repeat(Math.floor((MAX_MARKDOWN_BYTES - 1) / Buffer.byteLength(seed)));
    assert.equal(readMarkdownText(Buffer.from(big), 'big.md'), big);
    // Read section by section, a document gives the same command lines as each of its sections read alone.
    const twice = `${seed}\n${seed}`;
    const { report } = importMarkdown(twice, { file: 'twice.md', system: 'twice' });
    const once = importMarkdown(seed, { file: 'once.md', system: 'once' }).report;
    const offset = seed.split('\n').length;
    assert.deepEqual(report.lines.map((l) => [l.line, l.kind, l.text]), [...once.lines, ...once.lines.map((l) => ({ ...l, line: l.line + offset }))].map((l) => [l.line, l.kind, l.text]));
  });

  test('an unclosed code fence is read to the end of the file as code, with a warning naming its line', () => {
    const text = '# Rollback\n\n```bash\nfly scale count 0 -a app-canary\nfly status -a app\n';
    const { report, yaml } = importMarkdown(text, { file: 'broken.md', system: 'broken' });
    assert.deepEqual(report.warnings, ['the code block opened at line 3 is never closed: read to the end of the file as code']);
    assert.deepEqual(report.lines.map((l) => [l.line, l.kind, l.as]), [[4, 'typed', 'scale'], [5, 'absorbed', undefined]]);
    assert.match(yaml, /instances: 0/);
  });

  test('a shell block with an unbalanced quote is still read as far as it goes, with the parser error in the warnings', () => {
    const { report } = importMarkdown("# R\n\n```bash\nfly apps restart app\necho 'oops\n```\n", { file: 'q.md', system: 'q' });
    assert.equal(report.lines[0]?.as, 'restart');
    assert.ok(report.warnings.some((w) => w.startsWith('shell block at line 4:')), report.warnings.join('\n'));
  });
});

describe('rollback import: the command', () => {
  test('writes the draft and the JSON report, refuses to overwrite them without --force, and refuses a binary file changing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollback-import-'));
    try {
      const out = join(dir, 'seed-002.yaml');
      const reportFile = join(dir, 'report.json');
      const errors: string[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void errors.push(args.join(' '));
      try {
        assert.equal(await importRunbook([new URL('seeds/seed-002.md', fixtures).pathname, '--out', out, '--report', reportFile]), 0);
        const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { counts: { total: number }; system: string };
        assert.equal(report.system, 'seed-002');
        assert.match(errors.join('\n'), new RegExp(`^rollback import: ${report.counts.total} command lines: `));
        await assert.rejects(importRunbook([new URL('seeds/seed-002.md', fixtures).pathname, '--out', out]), new UsageError(`${out} exists; give another name or --force`));
        const binary = join(dir, 'runbook.md');
        writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01]));
        assert.equal(await importRunbook([binary, '--out', join(dir, 'never.yaml')]), 1);
        assert.match(errors.at(-1)!, /runbook\.md is not a text file \(it holds NUL bytes\)/);
        assert.equal(existsSync(join(dir, 'never.yaml')), false);
      } finally {
        console.error = original;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
