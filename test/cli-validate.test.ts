/**
 * `rollback validate <runbook.yaml>` as an operator types it (the CLI in its own process): offline,
 * every problem at once with its path and its line and column, exit 0 or 1, and --json.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkRunbookFile } from '../src/runbook/validate.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'validate-'));

/** The CLI with only PATH and HOME from this process: no SANDBOX_* or provider variables, no Temporal. */
function validate(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'validate', ...args], { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A small runbook for a system "shop": a router, a flag file, one gate, one phase. */
const shop = `system: shop
traffic:
  provider: http-router
  settings:
    url: http://127.0.0.1:9
  stable: stable
  canary: canary
providers:
  flags:
    provider: flagd-file
    settings:
      path: flags.json
health:
  thresholds:
    errorRatePct: 10
approvers:
  oncall: [alice, bob]
gates:
  before-cleanup:
    role: oncall
    required: 1
phases:
  - id: 1
    name: checkout v2
    rollback:
      - flag: checkout_v2
        enabled: false
notify:
  - provider: webhook
    settings:
      urlEnv: SHOP_WEBHOOK_URL
rto:
  detectionMinutes: 2
  decisionMinutes: 5
  executionMinutes: 10
  verificationMinutes: 5
`;

/** Writes `text` as <dir>/<case>/shop.yaml (the file name is the system's) and returns its path. */
function runbookFile(name: string, text: string | Buffer): string {
  mkdirSync(join(dir, name), { recursive: true });
  const path = join(dir, name, 'shop.yaml');
  writeFileSync(path, text);
  return path;
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('rollback validate', () => {

  test('the sandbox runbook is valid (exit 0); the variables it names but this shell lacks are warnings, each with its line', async () => {
    const run = await validate(['runbooks/sandbox.yaml']);
    assert.equal(run.code, 0);
    assert.equal(
      run.stdout,
      'runbooks/sandbox.yaml: valid runbook for system sandbox (8 phases, 4 gates, 5 providers), 3 warnings\n' +
        '  See what a rollback would do: rollback plan runbooks/sandbox.yaml --workflow fullRollback --mode immediate\n',
    );
    assert.equal(
      run.stderr,
      [
        'runbooks/sandbox.yaml:23:23: warning: providers.flags.settings.databaseUrlEnv: environment variable SANDBOX_DATABASE_URL is not set here; the worker needs it set to use this',
        'runbooks/sandbox.yaml:132:15: warning: notify[1].settings.urlEnv: environment variable SANDBOX_WEBHOOK_URL is not set here; the worker needs it set to use this',
        'runbooks/sandbox.yaml:159:13: warning: databases.main.urlEnv: environment variable SANDBOX_DATABASE_URL is not set here; the worker needs it set to use this',
        '',
      ].join('\n'),
    );
    const set = await validate(['runbooks/sandbox.yaml'], { SANDBOX_DATABASE_URL: 'postgres://127.0.0.1/x', SANDBOX_WEBHOOK_URL: 'http://127.0.0.1:9/hook' });
    assert.equal(set.code, 0);
    assert.equal(set.stderr, '');
    assert.match(set.stdout, /\(8 phases, 4 gates, 5 providers\)\n/);
  });

  test('every schema problem of a broken runbook at once, each with its path, line and column (exit 1)', async () => {
    const broken = shop
      .replace('errorRatePct: 10', 'errorRatePct: ten')
      .replace('required: 1', 'required: 0')
      .replace('    name: checkout v2\n', '')
      .replace('  decisionMinutes: 5\n', '  decisionMinutes: 5\n  verifyMinutes: 5\n');
    const file = runbookFile('broken', broken);
    const run = await validate([file]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      [
        `${file}:15:19: health.thresholds.errorRatePct: expected number, received string`,
        `${file}:21:15: gates.before-cleanup.required: Too small: expected number to be >=1`,
        `${file}:32:3: rto: unknown key 'verifyMinutes'`,
        `${file}:23:5: phases[0].name: required (expected string)`,
        `${file}:30:15: warning: notify[0].settings.urlEnv: environment variable SHOP_WEBHOOK_URL is not set here; the worker needs it set to use this`,
        `${file}: 4 errors; provider references are checked once these errors are fixed`,
        '',
      ].join('\n'),
    );
    // The same as JSON, for scripts and editors.
    const json = await validate([file, '--json']);
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.valid, false);
    assert.deepEqual(parsed.errors[0], { path: 'health.thresholds.errorRatePct', message: 'expected number, received string', line: 15, column: 19 });
    assert.equal(parsed.errors.length, 4);
    assert.equal(parsed.notChecked, 'provider references are checked once these errors are fixed');
  });

  test('no file given is a usage error (exit 2)', async () => {
    const run = await validate([]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^rollback validate: missing <runbook.yaml>\n/);
  });
});

/** The same checks in this process (the CLI above prints exactly these findings). */
describe('checkRunbookFile', () => {
  const messages = (file: string, env: Record<string, string> = {}) => {
    const check = checkRunbookFile(file, env);
    return { errors: check.errors.map((e) => `${e.line ?? '-'}:${e.column ?? '-'} ${e.path}: ${e.message}`), warnings: check.warnings.map((w) => `${w.line}:${w.column} ${w.path}: ${w.message}`), valid: check.runbook !== null };
  };

  test('a good runbook is valid with its providers filled in; a variable set in the environment is no warning', () => {
    const check = checkRunbookFile(runbookFile('good', shop), { SHOP_WEBHOOK_URL: 'http://127.0.0.1:9/hook' });
    assert.deepEqual(check.errors, []);
    assert.deepEqual(check.warnings, []);
    assert.equal(check.runbook?.system, 'shop');
    assert.equal((check.runbook?.phases[0]?.rollback[0] as { provider?: string }).provider, 'flags');
  });

  test('provider problems once the schema holds: an unknown provider id named with the known ones', () => {
    const { errors } = messages(runbookFile('providers', shop.replace('provider: flagd-file', 'provider: flagsd')));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^10:15 providers\.flags\.provider: unknown provider 'flagsd'; must be one of: http-router, .*flagd-file, /);
  });

  test('a gate no workflow has is named with the one meant; an action naming a missing provider and a file named for another system, together', () => {
    const gate = messages(runbookFile('gates', shop.replace('before-cleanup:', 'before-clenup:')));
    assert.equal(gate.errors.length, 1);
    assert.match(gate.errors[0]!, /^20:5 gates\.before-clenup: unknown gate 'before-clenup' \(did you mean 'before-cleanup'\?\); gates are: before-cleanup, /);
    const other = join(dir, 'gates', 'store.yaml');
    writeFileSync(other, shop.replace('        enabled: false\n', '        enabled: false\n        provider: flagz\n'));
    assert.deepEqual(messages(other).errors, [
      "28:19 phases[0].rollback[0].provider: no provider named 'flagz' under providers:; those offering feature flags: flags",
      "1:9 system: 'shop' does not match the file name (store)",
    ]);
  });

  test("an imported draft's <FILL: ...> placeholders are named with the schema's problems, as the loader refuses them", () => {
    const draft = shop.replace('  stable: stable\n', '  stable: "<FILL: the stable version>"\n').replace('    errorRatePct: 10\n', '    errorRatePct: ten\n');
    assert.deepEqual(messages(runbookFile('draft', draft)).errors, [
      '15:19 health.thresholds.errorRatePct: expected number, received string',
      '6:11 traffic.stable: still holds the placeholder <FILL: the stable version>; fill it in (rollback import left it there)',
    ]);
  });

  test('malformed YAML is refused with each syntax error at its line and column', () => {
    const { errors, valid } = messages(runbookFile('yaml', shop.replace('  oncall: [alice, bob]', '  oncall: [alice, bob')));
    assert.equal(valid, false);
    assert.ok(errors.length >= 1);
    for (const error of errors) assert.match(error, /^\d+:\d+ : YAML syntax error: /);
    assert.match(errors[0]!, /^18:1 : YAML syntax error: /);
  });

  test('a missing file, a directory and a binary file are one error each, named', () => {
    assert.deepEqual(messages(join(dir, 'nowhere', 'shop.yaml')).errors, ['-:- : cannot read the file: no such file']);
    assert.deepEqual(messages(dir).errors, ['-:- : cannot read the file: it is a directory']);
    assert.deepEqual(messages(runbookFile('binary', Buffer.from([0x73, 0x79, 0x73, 0x00, 0xff, 0xfe, 0x01]))).errors, ['-:- : is not a text file (a NUL byte at offset 3); a runbook is YAML text']);
    assert.deepEqual(messages(runbookFile('latin1', Buffer.from('system: caf\xe9\n', 'latin1'))).errors, ['-:- : is not UTF-8 text; a runbook is YAML text in UTF-8']);
  });
});
