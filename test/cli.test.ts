/**
 * The operator CLI (`rollback`) run as a child process against a real dev server, the production-wired
 * worker and the real sandbox: exit codes and printed text are what an on-call engineer relies on.
 * The tests follow one rollback from start to completion, so they run in order.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { runCli, startRollbackTestEnv, waitForStatus, type CliRun, type RollbackTestEnv, type TestSystem } from './rollback-harness.ts';
import { statusQuery } from '../src/contract/messages.ts';

const binPath = fileURLToPath(new URL('../scripts/bin/rollback.mjs', import.meta.url));

let t: RollbackTestEnv;

// Only this test's server, nothing TEMPORAL_* from the developer's shell (the default UI link is checked).
const rollback = (...args: string[]) => runCli(t.env.address, args);

/** Visibility lags the workflow a little: run `list` until its output satisfies `done`. */
async function listUntil(args: string[], done: (stdout: string) => boolean): Promise<CliRun> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const run = await rollback('list', ...args);
    if (done(run.stdout) || Date.now() > deadline) return run;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('rollback CLI', { timeout: 240_000 }, () => {
  let system: TestSystem;
  let id: string;
  let handle: WorkflowHandle;

  before(async () => {
    t = await startRollbackTestEnv();
    system = await t.newSystem();
  });
  after(async () => {
    await t?.stop();
  });

  test('start begins a rollback, prints its ID, UI link and next commands, and sets the summary and details the UI shows', async () => {
    const run = await rollback('start', 'fullRollback', '--system', system.name, '--mode', 'immediate', '--reason', 'canary error rate 14%', '--by', 'alice');
    assert.equal(run.code, 0, run.stderr);
    id = /^Started fullRollback (\S+)$/m.exec(run.stdout)?.[1] ?? assert.fail(`no workflow ID in:\n${run.stdout}`);
    assert.match(id, new RegExp(`^rollback-${system.name}-\\d{8}T\\d{6}$`));
    assert.ok(run.stdout.includes(`http://localhost:8233/namespaces/default/workflows/${id}`), run.stdout);
    assert.ok(run.stdout.includes(`rollback status ${id}`), run.stdout);
    assert.ok(run.stdout.includes(`rollback approve ${id} --by <approver>`), run.stdout);
    handle = t.env.client.workflow.getHandle(id);
    t.started.push(handle);
    const described = await handle.describe();
    assert.equal(described.type, 'fullRollback');
    assert.equal(described.taskQueue, 'rollbacks');
    assert.equal(await described.staticSummary(), `${system.name}: immediate rollback requested by alice: canary error rate 14%`);
    assert.deepEqual(JSON.parse((await described.staticDetails()) ?? 'null'), {
      system: system.name,
      reason: 'canary error rate 14%',
      requestedBy: 'alice',
      mode: 'immediate',
    });
  });

  test('status shows the rollback waiting for approval, who may approve and the steps so far', async () => {
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    const run = await rollback('status', id);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^ {2}state: +awaiting_approval \(step gate:before-cleanup\)$/m);
    assert.match(run.stdout, /^ {2}requested by: +alice$/m);
    assert.match(run.stdout, /^Waiting for approval at gate before-cleanup, before cleanup \(canary scaled to 0\)$/m);
    assert.match(run.stdout, /^ {2}may approve: +bob, carol \(role oncall; alice requested it and may not approve\)$/m);
    assert.match(run.stdout, /^ {2}approvals: +0 of 1$/m);
    assert.match(run.stdout, /^ {2}verify:shift-traffic +succeeded +1 /m);
    assert.match(run.stdout, /^ {2}gate:before-cleanup +running +1 /m);
  });

  test('an approval from someone who is not an approver is refused at once by the workflow (an Update), exit code 3 with the reason, and leaves no trace in history', async () => {
    const run = await rollback('approve', id, '--by', 'mallory');
    assert.equal(run.code, 3, run.stdout + run.stderr);
    assert.equal(run.stderr.trim(), 'REFUSED: mallory is not an approver for role oncall (alice, bob, carol)');
    assert.equal((await handle.query(statusQuery)).state, 'awaiting_approval', 'still waiting');
    assert.ok(!JSON.stringify((await handle.fetchHistory()).events).includes('mallory'), 'the refused Update never entered history');
  });

  test('an approval from bob is accepted, and the rollback then completes', async () => {
    const run = await rollback('approve', id, '--by', 'bob', '--comment', 'error rate back under 1%');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^accepted: approved by bob at gate before-cleanup \(1 of 1\)$/m);
    await handle.result();
    assert.equal((await handle.query(statusQuery)).state, 'completed');
    assert.deepEqual(system.sandbox.router.state().instances, { stable: 3, canary: 0 });
  });

  test('decide with an action that does not exist exits 2 naming the allowed actions, and sends nothing', async () => {
    const eventsBefore = (await handle.query(statusQuery)).events.length;
    const run = await rollback('decide', id, '--by', 'bob', '--action', 'yolo');
    assert.equal(run.code, 2);
    assert.equal(run.stderr.split('\n')[0], "rollback decide: --action must be one of retry, skip, compensate, abort; got 'yolo'");
    assert.match(run.stderr, /^Usage: rollback decide <workflowId> --by <you> --action retry\|skip\|compensate\|abort \[--key <key file>\]$/m);
    assert.equal((await handle.query(statusQuery)).events.length, eventsBefore);
  });

  test('status --json prints the raw status query result, also once the rollback has finished', async () => {
    const run = await rollback('status', id, '--json');
    assert.equal(run.code, 0, run.stderr);
    const status = JSON.parse(run.stdout);
    assert.equal(status.workflowId, id);
    assert.equal(status.state, 'completed');
    assert.deepEqual(
      status.events.map((e: any) => [e.kind, e.by, e.detail]),
      [['approved', 'bob', 'error rate back under 1%']],
    );
  });

  test('a dry run with --wait prints the plan from live state as a table and changes nothing', async () => {
    const other = await t.newSystem();
    const changes = other.sandbox.router.changes.length;
    const run = await rollback('start', 'fullRollback', '--system', other.name, '--mode', 'gradual', '--reason', 'practice', '--by', 'alice', '--dry-run', '--wait', '--id', `dry-${other.name}`);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Dry run: nothing was changed\.$/m);
    assert.match(run.stdout, /^Now: +weights stable 75, canary 25; instances stable 2, canary 1$/m);
    assert.match(run.stdout, /^ {2}STEP +PHASE +FROM +TO +WHAT$/m);
    assert.match(run.stdout, /^ {2}scale-stable +capacity +2 +3 +scale stable from 2 to 3$/m);
    assert.match(run.stdout, /^ {2}shift-traffic-1 +shift +stable 75, canary 25 +stable 50, canary 50 +shift canary to 50%, stable to 50%$/m);
    assert.match(run.stdout, /^ {2}shift-traffic-2 +shift +stable 50, canary 50 +stable 100, canary 0 /m);
    assert.match(run.stdout, /^ {2}cleanup +cleanup +1 +0 /m);
    assert.match(run.stdout, /^ {2}before-cleanup: 1 approval\(s\) from oncall \(alice, bob, carol\); the requester may not approve$/m);
    assert.doesNotMatch(run.stdout, /rollback approve/, 'a dry run has nothing to approve');
    assert.equal(other.sandbox.router.changes.length, changes);

    const listed = await listUntil(['--system', system.name], (out) => out.includes(id));
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ID +KIND +SYSTEM +STATE +STARTED$/m);
    assert.match(listed.stdout, new RegExp(`^${id} +fullRollback +${system.name} +completed +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`, 'm'));
    assert.doesNotMatch(listed.stdout, /dry-/, 'only the system asked for');
    const all = await listUntil([], (out) => out.includes(id) && out.includes(`dry-${other.name}`));
    assert.ok(all.stdout.indexOf(`dry-${other.name}`) < all.stdout.indexOf(id), `newest first:\n${all.stdout}`);
    const none = await rollback('list', '--system', system.name, '--state', 'awaiting_approval');
    assert.match(none.stdout, /^no rollbacks in namespace default match: /);
  });

  test('mistakes exit 2 with one line naming the problem followed by the usage; help exits 0', async () => {
    const cases: [string[], string][] = [
      [['rollbak'], "rollback: unknown command 'rollbak'"],
      [['start', 'fullRollback', '--system', system.name, '--mode', 'immediate', '--by', 'alice'], 'rollback start: missing --reason <why>'],
      [['start', 'fullRollback', '--system', system.name, '--reason', 'r', '--by', 'alice'], 'rollback start: missing --mode'],
      [['start', 'fullRollback', '--system', system.name, '--mode', 'gradual', '--steps', '50,20', '--reason', 'r', '--by', 'alice'], 'rollback start: --steps: the last step must take the canary to 0'],
      [['approve', id], 'rollback approve: missing --by <your name>'],
      [['reject', id, '--by', 'bob'], 'rollback reject: missing --reason <why>'],
      [['status', id, '--verbose'], "rollback status: Unknown option '--verbose'"],
    ];
    for (const [args, line] of cases) {
      const run = await rollback(...args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stderr.split('\n')[0], line);
      assert.match(run.stderr, /^Usage: rollback /m);
    }
    const help = await runCli(t.env.address, ['help'], tmpdir(), [binPath]); // the shim finds tsx and the CLI from any directory
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^ {2}rollback decide <workflowId> --by <you> --action retry\|skip\|compensate\|abort \[--key <key file>\]$/m);
    const startHelp = await rollback('start', '--help');
    assert.equal(startHelp.code, 0);
    assert.match(startHelp.stdout, /^Usage: rollback start <type>/);
  });

  test('a workflow that does not exist is named with its namespace, exit code 1', async () => {
    for (const args of [['status', 'rollback-nope'], ['approve', 'rollback-nope', '--by', 'bob']]) {
      const run = await rollback(...args);
      assert.equal(run.code, 1, run.stdout);
      assert.equal(run.stderr.trim(), 'no workflow rollback-nope in namespace default');
    }
  });

  test('phaseRollback and configRollback start from the CLI: a dry run prints every change with the value found now, a kill switch takes effect, and a secret value is refused unechoed', async () => {
    const other = await t.newSystem();
    const dry = await rollback('start', 'phaseRollback', '--system', other.name, '--from', '11', '--to', '10', '--reason', 'cutover broke continuity', '--by', 'alice', '--dry-run', '--wait');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^Dry run: nothing was changed\.$/m);
    assert.match(dry.stdout, /^phase 11: Cutover; gate before-phase-11: 1 approval\(s\) from oncall \(alice, bob, carol\); then health verified for 1 s$/m);
    assert.match(dry.stdout, /^ {2}phase-11\/flag legacy_entity_paths +false +true *$/m);
    assert.match(dry.stdout, /^ {2}phase-10\/config USE_DELTA_ENTITIES +USE_DELTA_ENTITIES=true +USE_DELTA_ENTITIES=false *$/m);

    const secret = await rollback('start', 'configRollback', '--system', other.name, '--secret', 'XAI_API_KEY=xai-live-7f3c9d', '--reason', 'bad key', '--by', 'alice');
    assert.equal(secret.code, 2);
    assert.equal(secret.stderr.split('\n')[0], `rollback start: --secret XAI_API_KEY= must be "previous" or a version number; a secret's value never goes into a rollback`);
    assert.doesNotMatch(secret.stderr, /7f3c9d/, 'the value typed by mistake is not echoed');

    const kill = await rollback('start', 'configRollback', '--system', other.name, '--kill-switch', 'grok', '--verify-window', '1', '--reason', 'grok answers wrong', '--by', 'alice', '--wait');
    assert.equal(kill.code, 0, kill.stderr);
    assert.match(kill.stdout, /^ {2}kill switch grok +off +on \(feature off\) *$/m);
    const answer = (await (await fetch(`${other.sandbox.urls.router}/api/features/grok`)).json()) as { enabled: boolean };
    assert.equal(answer.enabled, false, 'the service now answers with grok off');
  });

  test("an abort sent to a rollback that has ended says how it ended in the rollback's own states, like status does", async () => {
    const other = await t.newSystem();
    const started = await rollback('start', 'fullRollback', '--system', other.name, '--mode', 'immediate', '--reason', 'canary error rate 14%', '--by', 'alice', '--id', `abort-${other.name}`);
    assert.equal(started.code, 0, started.stderr);
    const aborted = t.env.client.workflow.getHandle(`abort-${other.name}`);
    await waitForStatus(aborted, (s) => s.state === 'awaiting_approval');
    const abort = await rollback('abort', aborted.workflowId, '--by', 'bob', '--reason', 'wrong system');
    assert.equal(abort.code, 0, abort.stderr);
    await assert.rejects(aborted.result());
    assert.match((await rollback('status', aborted.workflowId)).stdout, /^ {2}state: +aborted$/m);
    const again = await rollback('abort', aborted.workflowId, '--by', 'bob', '--reason', 'make sure');
    assert.equal(again.code, 3);
    assert.equal(again.stderr.trim(), `not sent: ${aborted.workflowId} has ended (aborted); there is nothing left to send it to. See: rollback status ${aborted.workflowId}`);
  });

  test('output piped into a command that stops reading ends quietly with status 0, as git log | head does', async () => {
    // `true` exits without reading: every write the CLI makes afterwards meets a closed pipe (EPIPE).
    for (const args of [['list'], ['providers']]) {
      const run = await new Promise<CliRun>((resolve, reject) => {
        const cli = [process.execPath, '--import', 'tsx', fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)), ...args].map((a) => `'${a}'`).join(' ');
        const child = spawn('bash', ['-c', `${cli} | true; echo "cli exited $\{PIPESTATUS[0]}" >&2`], { env: { ...process.env, TEMPORAL_ADDRESS: t.env.address } });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout: '', stderr }));
      });
      assert.equal(run.stderr, 'cli exited 0\n', `rollback ${args.join(' ')} | true`);
    }
  });

  test('watch: start, status with each rule, a pause refused to a stranger (exit 3) and taken from an approver, resume, a second start refused, stop', async () => {
    const watched = await t.newSystem((doc) => {
      doc.watch.intervalSeconds = 1;
    });
    const start = await rollback('watch', 'start', '--system', watched.name, '--by', 'alice');
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, new RegExp(`^started rollback-watchdog:${watched.name}$`, 'm'));
    const again = await rollback('watch', 'start', '--system', watched.name);
    assert.equal(again.code, 3);
    assert.equal(again.stderr.trim(), `a watchdog of ${watched.name} is already running: rollback-watchdog:${watched.name} (rollback watch status --system ${watched.name})`);

    let status: CliRun;
    for (let deadline = Date.now() + 20_000; ; ) {
      status = await rollback('watch', 'status', '--system', watched.name);
      if (/\(([2-9]|\d\d+) evaluations\)/.test(status.stdout) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^${watched.name} watchdog: watching every 1 s \\(\\d+ evaluations\\)$`, 'm'));
    assert.match(status.stdout, /^ {2}error-rate +error rate \d+\.\d%, at most 10\.0% +0\/2 +nothing: healthy$/m);
    assert.match(status.stdout, /^ {2}grok-circuit-breaker +sandbox_circuit_breaker_open\{feature="grok"\} 0, at most 0 +0\/300 +nothing: healthy$/m);

    const stranger = await rollback('watch', 'pause', '--system', watched.name, '--by', 'mallory', '--reason', 'quiet please');
    assert.equal(stranger.code, 3);
    assert.equal(stranger.stderr.trim(), `refused: pause: mallory is not an approver of ${watched.name} (may: alice, bob, carol, dana, erin)`);
    const pause = await rollback('watch', 'pause', '--system', watched.name, '--by', 'bob', '--reason', 'planned load test', '--minutes', '30');
    assert.equal(pause.code, 0, pause.stderr);
    assert.match(pause.stdout, new RegExp(`^paused: ${watched.name} watchdog: paused by bob until .+: planned load test`));
    const resume = await rollback('watch', 'resume', '--system', watched.name, '--by', 'bob');
    assert.equal(resume.code, 0, resume.stderr);
    assert.match(resume.stdout, /^resumed: .+ watchdog: watching every 1 s/);
    const missingReason = await rollback('watch', 'pause', '--system', watched.name, '--by', 'bob');
    assert.equal(missingReason.code, 2);
    assert.equal(missingReason.stderr.split('\n')[0], 'rollback watch: missing --reason <why>');

    const stop = await rollback('watch', 'stop', '--system', watched.name);
    assert.equal(stop.code, 0, stop.stderr);
    const handle = t.env.client.workflow.getHandle(`rollback-watchdog:${watched.name}`);
    await assert.rejects(handle.result(), /cancel/i);
    const none = await rollback('watch', 'status', '--system', 'nothing-here');
    assert.equal(none.code, 1);
    assert.equal(none.stderr.trim(), 'no watchdog of nothing-here is running (start one: rollback watch start --system nothing-here)');
  });
});
