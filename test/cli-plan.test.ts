/**
 * `rollback plan` against the real sandbox (router, Redis), run as an operator types it: its plan is
 * the plan a dry-run workflow makes for the same input on a real dev server and production-wired
 * worker, read from the same live state, and it changes nothing. A provider that does not answer is
 * named, and the plan goes on with the targets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { ChangeRollbackResult } from '../src/contract/index.ts';
import { freePort } from './harness.ts';
import { startRollback, startRollbackTestEnv, type RollbackTestEnv } from './rollback-harness.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'plan-'));
let t: RollbackTestEnv;

/** The CLI in its own process with the worker's secrets in its environment and no Temporal address. */
function rollbackPlan(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...t.secrets };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'plan', ...args], { cwd: repoRoot, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A new sandbox system and its runbook written as <system>.yaml, as the worker holds it. */
async function systemWithFile(edit?: (doc: Record<string, any>) => void) {
  let written: Record<string, any> = {};
  const system = await t.newSystem((doc) => {
    edit?.(doc);
    written = doc; // the harness points notify at this system's webhook variable after this
  });
  const file = join(dir, `${system.name}.yaml`);
  writeFileSync(file, stringify(written));
  return { ...system, file };
}

describe('rollback plan', { timeout: 600_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('fullRollback gradual: the live weights, and the steps and gates of a dry-run workflow for the same input; nothing changed', async () => {
    const { name, sandbox, file } = await systemWithFile();
    const live = sandbox.router.state();
    const run = await rollbackPlan([file, '--workflow', 'fullRollback', '--mode', 'gradual', '--steps', '50,0', '--baseline', '0', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const planned = JSON.parse(run.stdout);
    assert.deepEqual(planned.unreachable, []);
    assert.deepEqual(planned.blockers, []);
    assert.deepEqual(planned.snapshot.traffic, live);

    const handle = await startRollback(t, { system: name, mode: 'gradual', steps: [50, 0], reason: 'compare with rollback plan', requestedBy: 'alice', baselineSeconds: 0, dryRun: true });
    const dryRun = await handle.result();
    assert.deepEqual(dryRun.snapshot.traffic, live);
    assert.deepEqual(planned.plan, dryRun.plan);
    assert.deepEqual(
      planned.plan.steps.map((s: { name: string; description: string }) => `${s.name}: ${s.description}`),
      ['scale-stable: scale stable from 2 to 3', 'shift-traffic-1: shift canary to 50%, stable to 50%', 'shift-traffic-2: shift canary to 0%, stable to 100%', 'cleanup: scale canary to 0 (cleanup)'],
    );
    assert.deepEqual(planned.plan.gates, [{ gate: 'before-cleanup', role: 'oncall', approvers: ['alice', 'bob', 'carol'], required: 1, forbidRequester: true }]);
    // Neither the plan nor the dry run touched the router.
    assert.deepEqual(sandbox.router.changes, []);
    assert.deepEqual(sandbox.router.state(), live);

    const text = await rollbackPlan([file, '--workflow', 'fullRollback', '--mode', 'immediate', '--baseline', '0']);
    assert.equal(text.code, 0, text.stderr);
    const weights = Object.entries(live.weights).map(([v, w]) => `${v} ${w}%`).join(', ');
    const instances = Object.entries(live.instances).map(([v, n]) => `${v} ${n}`).join(', ');
    assert.match(text.stdout, new RegExp(`^Plan of fullRollback for ${name} \\(.*${name}\\.yaml\\), as a dry run would make it; nothing was changed and no workflow was started\\.\\n`));
    assert.ok(text.stdout.includes(`Current: weights ${weights}; instances ${instances}\n`), text.stdout);
    assert.ok(
      text.stdout.includes(
        '\nSteps:\n  1. scale-stable: scale stable from 2 to 3\n  2. shift-traffic: shift canary to 0%, stable to 100%\n  3. cleanup: scale canary to 0 (cleanup)\n\nGates:\n  gate before-cleanup: 1 of role oncall (alice, bob, carol), not the requester\n',
      ),
      text.stdout,
    );
    assert.match(text.stdout, /\nStart it: rollback start fullRollback --system sys-\d+-\d+ <the same flags> --reason "<why>" --by <you>\n$/);
    assert.deepEqual(sandbox.router.changes, []);
  });

  test('configRollback: the kill switch read live from Redis, planned as the dry-run workflow plans it', async () => {
    const { name, file } = await systemWithFile();
    const run = await rollbackPlan([file, '--workflow', 'configRollback', '--kill-switch', 'grok', '--baseline', '0', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const planned = JSON.parse(run.stdout);
    const handle = await startRollback(t, { system: name, killSwitches: { grok: true }, reason: 'compare with rollback plan', requestedBy: 'alice', baselineSeconds: 0, dryRun: true }, undefined, 'configRollback');
    const dryRun = (await handle.result()) as ChangeRollbackResult;
    assert.deepEqual(planned.plan, dryRun.plan);
    assert.deepEqual(planned.snapshot.values, dryRun.snapshot.values);
    assert.deepEqual(planned.blockers, dryRun.blockers);
    assert.deepEqual(
      dryRun.plan.sets.map((s) => [s.title, s.changes.map((c) => c.kind)]),
      [['kill switches', ['kill-switch']]],
    );
  });

  test('a traffic router that does not answer is named with its error; the plan shows the targets only (exit 1)', async () => {
    const closed = await freePort();
    const { file } = await systemWithFile((doc) => {
      doc.traffic.settings.url = `http://127.0.0.1:${closed}`;
    });
    const run = await rollbackPlan([file, '--workflow', 'fullRollback', '--mode', 'immediate', '--baseline', '0']);
    assert.equal(run.code, 1, run.stderr);
    assert.ok(
      run.stdout.includes(
        '\nSteps (targets only: the current state was not read):\n  1. scale-stable: scale stable to 3\n  2. shift-traffic: set weights stable 100%, canary 0%\n  3. cleanup: scale canary to 0\n',
      ),
      run.stdout,
    );
    assert.ok(
      run.stdout.includes(
        `\nNot reached:\n  - http-router: could not read traffic: router GET /admin/state: no answer after 3 attempts (fetch failed). Check that the router answers at http://127.0.0.1:${closed}; plan shows targets only\n`,
      ),
      run.stdout,
    );
    assert.doesNotMatch(run.stdout, /Start it/);
  });
});
