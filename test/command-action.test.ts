/**
 * The runbook's `command` action for platforms with a CLI (`fly scale count 0 -a app-canary`,
 * `railway rollback <id>`): `{{placeholders}}` filled into argv when the plan is built, refused at load
 * when unknown, a plan problem when they have no value; `capture` run with the snapshot and read by
 * `{{captured}}` / `{{captured.<field>}}`; and the activities run with real programs (node scripts):
 * exit codes, success patterns, timeouts, heartbeats, secrets by environment variable name and masked,
 * no shell anywhere. Last, a phaseRollback on the real sandbox and a dev server: capture, command, a
 * failure, and compensation running the undo with the captured value.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { parseDocument, stringify } from 'yaml';
import type { CommandSummary } from '../src/actions/command.ts';
import { createCommandActivities, type CommandInput } from '../src/activities/commands.ts';
import type { ActivityDeps } from '../src/activities/deps.ts';
import { createInspectActivities } from '../src/activities/inspect.ts';
import type { CapturedValue } from '../src/contract/index.ts';
import { ProviderClients } from '../src/providers/index.ts';
import type { Action, ResolvedAction } from '../src/actions/index.ts';
import { planChanges, withCaptureFilled } from '../src/plan/change-plan.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { renderIncidentReport } from '../src/plan/report.ts';
import { CAPTURE_LIMIT, showArgv } from '../src/actions/templates.ts';
import { quietLogger } from './harness.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { decideSignal, statusQuery } from '../src/contract/messages.ts';

/** An activity context whose expected failures are not logged as warnings. */
const activityEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const sandboxRunbook = readFileSync(new URL('../runbooks/sandbox.yaml', import.meta.url), 'utf8');
const node = process.execPath;

/** The sandbox runbook as system `x`, with phase 4's command (phases[3].rollback[2]) replaced by `command`. */
function withCommand(command: Record<string, unknown>): string {
  const doc = parseDocument(sandboxRunbook).toJS() as Record<string, any>;
  doc.system = 'x';
  doc.phases[3].rollback[2] = command;
  return stringify(doc);
}

function loadProblems(text: string): string {
  try {
    parseRunbook(text, 'runbooks/x.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the runbook was accepted');
}

const KNOWN = '{{system}}, {{workflowId}}, {{requestedBy}}, {{phase}}, {{captured}}, {{captured.<field>}}';
const context = { system: 'clinic', workflowId: 'phase-rollback-7', requestedBy: 'alice' };
const status = ['railway', 'status', '--json'];
const railwayStatus = JSON.stringify({ deploymentId: 'd-41; rm -rf / $(touch pwned)', service: { name: 'api', replicas: [{ id: 'r1' }, { id: 'r2' }] }, count: 3, ok: true });
const capturedOf = (output: string, extra: Partial<CapturedValue> = {}): CapturedValue[] => [{ kind: 'command-output', provider: 'scripts', argv: status, output, durationMs: 120, ...extra } as CapturedValue];
const commandAction = (fields: Record<string, unknown>): ResolvedAction => ({ env: {}, timeoutSeconds: 60, repeatable: true, provider: 'scripts', capture: status, ...fields }) as ResolvedAction;

describe('command placeholders, refused at load when unknown', () => {
  test('an unknown placeholder is refused naming it and the known ones', () => {
    const text = withCommand({ command: ['railway', 'rollback', '--service', '{{sytem}}-api'] });
    assert.equal(loadProblems(text), `runbooks/x.yaml: phases[3].rollback[2].command[3]: unknown placeholder {{sytem}}; known placeholders: ${KNOWN}`);
  });

  test('{{captured}} needs a capture, and cannot be used inside the capture itself', () => {
    assert.equal(
      loadProblems(withCommand({ command: ['fly', 'scale', 'count', '0', '-a', 'app-canary'], undo: ['fly', 'scale', 'count', '{{captured.0.Count}}', '-a', 'app-canary'] })),
      "runbooks/x.yaml: phases[3].rollback[2].undo[3]: {{captured.0.Count}} reads what the action's capture printed, but the action has no capture: [argv...]",
    );
    assert.equal(
      loadProblems(withCommand({ command: ['railway', 'rollback'], capture: ['railway', 'status', '{{captured}}'] })),
      'runbooks/x.yaml: phases[3].rollback[2].capture[2]: {{captured}} cannot be used in capture: it is what the capture prints; capture may use {{system}}, {{workflowId}}, {{requestedBy}}, {{phase}}',
    );
  });

  test('known placeholders load; Go templates such as {{.Name}} and {{json .}} are plain text', () => {
    const runbook = parseRunbook(
      withCommand({
        command: ['fly', 'scale', 'count', '0', '-a', '{{system}}-canary', '--message', 'phase {{ phase }} by {{requestedBy}} ({{workflowId}})'],
        capture: ['fly', 'scale', 'show', '-a', '{{system}}-canary', '--json'],
        undo: ['fly', 'scale', 'count', '{{captured.0.Count}}', '-a', '{{system}}-canary'],
      }),
      'runbooks/x.yaml',
    );
    assert.deepEqual((runbook.phases[3]!.rollback[2] as { capture: string[] }).capture, ['fly', 'scale', 'show', '-a', '{{system}}-canary', '--json']);
    parseRunbook(withCommand({ command: ['docker', 'ps', '--format', '{{.Names}} {{json .}}'] }), 'runbooks/x.yaml');
  });

  test("a CLI's token is named by its variable (RAILWAY_TOKEN: RAILWAY_TOKEN), never written inline", () => {
    parseRunbook(withCommand({ command: ['railway', 'rollback'], env: { RAILWAY_TOKEN: 'RAILWAY_TOKEN' } }), 'runbooks/x.yaml');
    assert.equal(
      loadProblems(withCommand({ command: ['railway', 'rollback'], env: { RAILWAY_TOKEN: 'rw-3f9a8c7d1e2b' } })),
      'runbooks/x.yaml: phases[3].rollback[2].env.RAILWAY_TOKEN: looks like an inline secret; put it in an environment variable and reference it by name (RAILWAY_TOKEN: SOME_VARIABLE)',
    );
  });
});

describe('command placeholders, filled when the plan is built', () => {
  test('plan values and the captured JSON fill each argument, each staying one argument; a dry run shows the argv exactly', () => {
    const actions = [
      commandAction({
        command: ['railway', 'rollback', '--yes', '--message', 'phase {{phase}} rollback by {{requestedBy}} ({{workflowId}})', '--service', '{{ system }}-{{captured.service.name}}'],
        undo: ['railway', 'redeploy', '{{captured.deploymentId}}', '--replica', '{{captured.service.replicas.1.id}}', '--count={{captured.count}}', '--ok={{captured.ok}}'],
      }),
    ];
    const { changes, problems } = planChanges(actions, capturedOf(railwayStatus), { phase: 4, prefix: 'phase-4/', fill: context });
    assert.deepEqual(problems, []);
    const [change] = changes;
    assert.equal(change!.name, 'phase-4/command railway');
    assert.equal(change!.kind, 'command');
    assert.deepEqual(change!.change, {
      provider: 'scripts',
      argv: ['railway', 'rollback', '--yes', '--message', 'phase 4 rollback by alice (phase-rollback-7)', '--service', 'clinic-api'],
      env: {},
      timeoutSeconds: 60,
      successPattern: undefined,
      repeatable: true,
    });
    assert.deepEqual((change!.undo as { argv: string[] }).argv, ['railway', 'redeploy', 'd-41; rm -rf / $(touch pwned)', '--replica', 'r2', '--count=3', '--ok=true']);
    assert.equal(change!.to, "railway rollback --yes --message 'phase 4 rollback by alice (phase-rollback-7)' --service clinic-api");
    assert.equal(change!.from, `\`railway status --json\` printed ${railwayStatus.slice(0, 80)}…`);
  });

  test('{{captured}} is the whole trimmed output; without a context (the inspection) templates stay as written', () => {
    const action = commandAction({ command: ['deploy', 'restore', '{{captured}}'], undo: ['deploy', 'restore', '{{captured}}'] });
    const filled = planChanges([action], capturedOf('v1.2.3'), { phase: 2, prefix: '', fill: context });
    assert.deepEqual((filled.changes[0]!.change as { argv: string[] }).argv, ['deploy', 'restore', 'v1.2.3']);
    const early = planChanges([action], [], { phase: null, prefix: '' });
    assert.deepEqual(early.problems, []);
    assert.deepEqual((early.changes[0]!.change as { argv: string[] }).argv, ['deploy', 'restore', '{{captured}}']);
  });

  test('a placeholder with no value is a plan problem naming it, and that command is not planned', () => {
    const plan = (fields: Record<string, unknown>, output = railwayStatus, phase: number | null = 4, extra: Partial<CapturedValue> = {}) =>
      planChanges([commandAction({ command: ['railway', 'rollback'], ...fields })], capturedOf(output, extra), { phase, prefix: 'phase-4/', fill: context });
    const missingField = plan({ undo: ['railway', 'redeploy', '{{captured.deploymentID}}'] });
    assert.deepEqual(missingField.changes, []);
    assert.deepEqual(missingField.problems, [
      'phase-4/command railway: undo {{captured.deploymentID}} has no value: the output of `railway status --json` has no field deploymentID under the top level (it has fields deploymentId, service, count, ok)',
    ]);
    assert.deepEqual(plan({ undo: ['x', '{{captured.service.replicas.5.id}}'] }).problems, [
      'phase-4/command railway: undo {{captured.service.replicas.5.id}} has no value: the output of `railway status --json` has no item 5 under service.replicas (it has a list of 2)',
    ]);
    assert.deepEqual(plan({ undo: ['x', '{{captured.service}}'] }).problems, [
      'phase-4/command railway: undo {{captured.service}} has no value: the output of `railway status --json` has an object at service, not a value; name a field inside it',
    ]);
    assert.deepEqual(plan({ undo: ['x', '{{captured.id}}'] }, 'Deployment d-41 is live').problems, [
      'phase-4/command railway: undo {{captured.id}} has no value: the output of `railway status --json` is not JSON (it begins "Deployment d-41 is live")',
    ]);
    assert.deepEqual(plan({ command: ['railway', 'rollback', '--note', 'phase {{phase}}'] }, railwayStatus, null).problems, [
      'phase-4/command railway: command {{phase}} has no value: this rollback is not undoing a phase',
    ]);
    assert.deepEqual(plan({ undo: ['x', '{{captured}}'] }, '').problems, ['phase-4/command railway: undo {{captured}} has no value: the output of `railway status --json` was empty']);
    assert.deepEqual(plan({ undo: ['x', '{{captured.count}}'] }, railwayStatus, 4, { truncated: true }).problems, [
      `phase-4/command railway: undo {{captured.count}} has no value: the output of \`railway status --json\` was longer than ${CAPTURE_LIMIT} characters and was cut; capture a command that prints less`,
    ]);
  });

  test("a capture's own placeholders are filled before the snapshot runs it", () => {
    const action = commandAction({ command: ['fly', 'scale', 'count', '0'], capture: ['fly', 'scale', 'show', '-a', '{{system}}-canary', '--json', '--note', '{{phase}}'] });
    const { action: filled, problems } = withCaptureFilled(action, { ...context, phase: 5 });
    assert.deepEqual(problems, []);
    assert.deepEqual((filled as { capture: string[] }).capture, ['fly', 'scale', 'show', '-a', 'clinic-canary', '--json', '--note', '5']);
    assert.deepEqual(withCaptureFilled(action, { ...context, phase: null }).problems, ['command fly scale count 0: capture {{phase}} has no value: this rollback is not undoing a phase']);
  });

  test('argv is shown with one-argument values quoted, never run through a shell', () => {
    assert.equal(showArgv(['railway', 'rollback', "d-41; rm -rf / $(it's)", '', 'plain*']), "railway rollback 'd-41; rm -rf / $(it'\\''s)' '' plain*");
  });
});

describe('command activities with real programs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'command-action-'));
  const runbook = parseRunbook(withCommand({ command: ['true'] }), 'runbooks/x.yaml');
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', DEPLOY_TOKEN_FOR_TEST: 'tok-5ecret-9f8e7d' };
  const deps = { runbooks: new Map([['x', runbook]]), env, logger: quietLogger, clients: new ProviderClients({ env, logger: quietLogger }), temporal: undefined as never, reportsDir: dir } satisfies ActivityDeps;
  const { runCommand } = createCommandActivities(deps);
  const { inspectChanges } = createInspectActivities(deps);
  const run = (argv: string[], extra: Partial<CommandInput> = {}): Promise<CommandSummary> =>
    activityEnv().run(runCommand, { system: 'x', provider: 'scripts', argv, env: {}, timeoutSeconds: 30, repeatable: true, ...extra });
  const inspect = (actions: Action[]): Promise<Awaited<ReturnType<typeof inspectChanges>>> => activityEnv().run(inspectChanges, { system: 'x', actions });
  const script = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };
  after(() => {
    void deps.clients.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('exit 0 with the success pattern printed: exit code, duration and the last lines', async () => {
    const result = await run([node, '-e', 'for (let i = 1; i <= 45; i++) console.log(`line ${i}`); console.error("Scaled to 0 machines")'], { successPattern: '^Scaled to \\d+ machines$' });
    assert.equal(result.exitCode, 0);
    assert.ok(result.durationMs > 0);
    assert.equal(result.outputTail.length, 40, 'the last 40 lines kept');
    assert.equal(result.outputTail.at(-1), 'Scaled to 0 machines');
  });

  test('a non-zero exit, a missing success pattern and a timeout each fail with the command, how it ended and its last lines', async () => {
    await assert.rejects(run([node, '-e', 'console.log("Error: app not found"); process.exit(3)']), (err: any) => {
      assert.equal(err.type, 'CommandFailed');
      assert.equal(err.message, `${node} -e 'console.log("Error: app not found"); process.exit(3)' exited with 3: Error: app not found`);
      assert.equal(err.nonRetryable, true);
      assert.equal(err.details[0].exitCode, 3);
      return true;
    });
    await assert.rejects(run([node, '-e', 'console.log("nothing to do")'], { successPattern: '^Rolled back' }), {
      message: `${node} -e 'console.log("nothing to do")' exited 0 but its output never matched /^Rolled back/: nothing to do`,
    });
    const slow = script('slow.mjs', 'console.log("waiting for the platform"); setTimeout(() => {}, 30_000);');
    const started = Date.now();
    await assert.rejects(run([node, slow], { timeoutSeconds: 0.5 }), (err: any) => {
      assert.equal(err.message, `${node} ${slow} did not finish within 0.5 s and was stopped: waiting for the platform`);
      assert.equal(err.details[0].timedOut, true);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'stopped at its timeout');
  });

  test('heartbeats carry the last lines while it runs', async () => {
    const beats: unknown[] = [];
    const activity = activityEnv();
    activity.on('heartbeat', (details: unknown) => beats.push(details));
    const slow = script('two-steps.mjs', 'console.log("draining machine 1"); setTimeout(() => console.log("done"), 1600);');
    await activity.run(runCommand, { system: 'x', provider: 'scripts', argv: [node, slow], env: {}, timeoutSeconds: 30, repeatable: true });
    assert.ok(beats.some((b) => JSON.stringify(b) === JSON.stringify({ output: ['draining machine 1'] })), JSON.stringify(beats));
  });

  test('a secret reaches the command only as the variable the runbook names, and is masked in its output', async () => {
    const result = await run([node, '-e', 'console.log(`using ${process.env.RAILWAY_TOKEN}`); console.log(`unnamed: ${process.env.DEPLOY_TOKEN_FOR_TEST ?? "not passed"}`)'], {
      env: { RAILWAY_TOKEN: 'DEPLOY_TOKEN_FOR_TEST' },
    });
    assert.deepEqual(result.outputTail, ['using ***', 'unnamed: not passed']);
    await assert.rejects(run([node, '-e', '0'], { env: { RAILWAY_TOKEN: 'NOT_SET_ANYWHERE' } }), { message: 'environment variable NOT_SET_ANYWHERE is not set (the runbook references it)' });
  });

  test('a value that reads like shell stays one literal argument', async () => {
    const victim = join(dir, 'victim');
    mkdirSync(victim);
    const value = `d-41; rm -rf ${victim} $(touch ${join(dir, 'pwned')}) | cat /etc/passwd`;
    const [change] = planChanges([commandAction({ command: [node, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', 'rollback', '{{captured}}'] })], capturedOf(value), { phase: 1, prefix: '', fill: context }).changes;
    const result = await run((change!.change as { argv: string[] }).argv);
    assert.deepEqual(JSON.parse(result.outputTail[0]!), ['rollback', value]);
    assert.ok(existsSync(victim), 'nothing was removed');
    assert.ok(!existsSync(join(dir, 'pwned')), 'nothing was run');
  });

  test('the snapshot runs a capture once, keeping its stdout trimmed and masked; a failing capture names the command, its exit and last lines', async () => {
    const printer = script('status.mjs', 'console.log(JSON.stringify({ deploymentId: "d-41", token: process.env.RAILWAY_TOKEN }, null, 2) + "\\n\\n"); console.error("warning: on stderr, not captured")');
    const action = commandAction({ command: ['railway', 'rollback'], capture: [node, printer], env: { RAILWAY_TOKEN: 'DEPLOY_TOKEN_FOR_TEST' } });
    const inspected = await inspect([action, { ...action, command: ['railway', 'redeploy'] } as Action]);
    assert.equal(inspected.values.length, 1, 'the same capture runs once');
    const [value] = inspected.values;
    assert.equal(value!.kind, 'command-output');
    assert.deepEqual({ ...value, durationMs: 0 }, { kind: 'command-output', provider: 'scripts', argv: [node, printer], output: JSON.stringify({ deploymentId: 'd-41', token: '***' }, null, 2), durationMs: 0 });

    const big = script('big.mjs', `process.stdout.write("x".repeat(${CAPTURE_LIMIT + 100}))`);
    const cut = await inspect([commandAction({ command: ['a'], capture: [node, big] })]);
    assert.equal((cut.values[0] as { output: string }).output.length, CAPTURE_LIMIT);
    assert.equal((cut.values[0] as { truncated?: boolean }).truncated, true);

    const failing = script('fails.mjs', 'console.log("Unauthorized. Please login with `railway login`"); process.exit(1)');
    await assert.rejects(inspect([commandAction({ command: ['a'], capture: [node, failing] })]), (err: any) => {
      assert.equal(err.type, 'CommandFailed');
      assert.equal(err.message, `capture ${node} ${failing} exited with 1: Unauthorized. Please login with \`railway login\``);
      return true;
    });
  });

  test('the incident report shows what a capture printed', () => {
    const view = {
      workflowType: 'phaseRollback', workflowId: 'w', system: 'x', reason: 'r', requestedBy: 'alice', dryRun: false, startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:05.000Z',
      detectedAt: null, state: 'completed', currentStep: null, details: '', steps: [], pendingGate: null, pendingDecision: null, events: [], plan: null, healthAfter: null,
      decisionWaitMs: 0, notes: [], compensationFailures: [], report: null,
      snapshot: { takenAt: '2026-01-01T00:00:01.000Z', baseline: null, values: capturedOf('{\n  "deploymentId": "d-41"\n}', { argv: ['railway', 'status', '--json'], durationMs: 420 }) },
    } as const;
    const report = renderIncidentReport(structuredClone(view) as never, null);
    assert.ok(report.includes('## Captured before any change\n\n- `railway status --json` (scripts; exit 0, 0.4 s):\n\n  ```\n  {\n    "deploymentId": "d-41"\n  }\n  ```\n'), report);
  });
});

describe('a phase rollback with a platform CLI: capture, command, undo', { timeout: 300_000 }, () => {
  let t: RollbackTestEnv;
  const cliDir = mkdtempSync(join(tmpdir(), 'fake-cli-'));
  // A stand-in for a platform CLI (railway): `status --json` prints the live deployment, `rollback <id>` makes <id> live.
  const cli = join(cliDir, 'deploy-cli.mjs');
  writeFileSync(
    cli,
    `import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
const state = new URL('deployment.txt', import.meta.url), log = new URL('calls.jsonl', import.meta.url);
const [verb, ...rest] = process.argv.slice(2);
appendFileSync(log, JSON.stringify([verb, ...rest]) + '\\n');
if (verb === 'status') console.log(JSON.stringify({ deploymentId: readFileSync(state, 'utf8'), status: 'SUCCESS', auth: process.env.DEPLOY_TOKEN }, null, 2));
else if (verb === 'rollback') {
  for (let i = 1; i <= 5; i++) console.log('step ' + i + ' of 5, token ' + process.env.DEPLOY_TOKEN);
  writeFileSync(state, rest[0]);
  console.log('Rolled back to ' + rest[0]);
} else process.exit(2);
`,
  );
  const live = 'd-41; touch ' + join(cliDir, 'pwned');
  const calls = () => readFileSync(join(cliDir, 'calls.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]);
  const base = { reason: 'deploy d-41 breaks checkout', requestedBy: 'alice', baselineSeconds: 0, verifyWindowSeconds: 1 };
  const token = 'tok-7c1d2e3f4a5b';

  /** Phase 2 of a new sandbox system undone by the CLI: capture the live deployment, roll back, undo to the captured id. */
  async function cliSystem(extra: Record<string, any>[] = []) {
    writeFileSync(join(cliDir, 'deployment.txt'), live);
    writeFileSync(join(cliDir, 'calls.jsonl'), '');
    const system = await t.newSystem((doc) => {
      doc.phases.find((p: any) => p.id === 2).rollback = [
        {
          capture: [node, cli, 'status', '--json'],
          command: [node, cli, 'rollback', 'previous', '--system', '{{system}}', '--phase', '{{phase}}', '--by', '{{requestedBy}}', '--run', '{{workflowId}}'],
          undo: [node, cli, 'rollback', '{{captured.deploymentId}}'],
          env: { DEPLOY_TOKEN: 'DEPLOY_CLI_TOKEN' },
          successPattern: '^Rolled back to ',
          repeatable: true,
          timeoutSeconds: 30,
        },
        ...extra,
      ];
    });
    t.secrets.DEPLOY_CLI_TOKEN = token;
    return system;
  }

  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
    rmSync(cliDir, { recursive: true, force: true });
  });

  test('the command runs with plan values; after a later failure, compensation runs the undo with the captured deployment id', async () => {
    const system = await cliSystem([{ command: [node, '-e', 'console.log("smoke test failed"); process.exit(4)'], repeatable: true }]);
    const handle = await startRollback(t, { ...base, system: system.name, phases: [2] }, undefined, 'phaseRollback');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 120_000);
    assert.equal(waiting.pendingDecision?.step, `phase-2/command ${node} #2`);
    assert.equal(readFileSync(join(cliDir, 'deployment.txt'), 'utf8'), 'previous', 'the command rolled the deployment back');
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    assert.equal((await failureOf(handle.result())).type, 'RollbackFailed');

    assert.equal(readFileSync(join(cliDir, 'deployment.txt'), 'utf8'), live, 'the undo put the captured deployment back, as one argument');
    assert.ok(!existsSync(join(cliDir, 'pwned')), 'no shell ever saw the value');
    assert.deepEqual(calls(), [
      ['status', '--json'],
      ['rollback', 'previous', '--system', system.name, '--phase', '2', '--by', 'alice', '--run', handle.workflowId],
      ['rollback', live],
    ]);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(status.steps.find((s) => s.name === `phase-2/command ${node}`)?.outcome, 'compensated');
    const captured = status.snapshot?.values?.find((v) => v.kind === 'command-output');
    assert.deepEqual(captured && { ...captured, durationMs: 0 }, {
      kind: 'command-output',
      provider: 'scripts',
      argv: [node, cli, 'status', '--json'],
      output: JSON.stringify({ deploymentId: live, status: 'SUCCESS', auth: '***' }, null, 2),
      durationMs: 0,
    });
    const report = status.report!;
    assert.ok(!report.includes(token), 'the token is never in the report');
    assert.match(report, /## Captured before any change\n\n- `\S+ \S+ status --json` \(scripts; exit 0, [\d.]+ s\):\n\n  ```\n  \{\n    "deploymentId": "d-41; touch [^"]+",\n    "status": "SUCCESS",\n    "auth": "\*\*\*"\n  \}\n  ```/);
    assert.match(report, /- ran `\S+ \S+ rollback previous --system sys-\d+-\d+ --phase 2 --by alice --run rollback-\d+` \(exit 0, [\d.]+ s\): step 4 of 5, token \*\*\* \/ step 5 of 5, token \*\*\* \/ Rolled back to previous\n\n  ```\n  step 1 of 5, token \*\*\*\n/);
    assert.match(report, /- ran `\S+ -e 'console.log\("smoke test failed"\); process.exit\(4\)'`: FAILED \(exit 4, [\d.]+ s\): smoke test failed/);
    assert.match(report, /- undo: ran `\S+ \S+ rollback 'd-41; touch [^']+'` \(exit 0, [\d.]+ s\): .* \/ Rolled back to d-41; touch /);
  });

  test('a dry run shows the filled argv and changes nothing; a placeholder with no value refuses the rollback before anything runs', async () => {
    const system = await cliSystem();
    const dryRun = await startRollback(t, { ...base, system: system.name, phases: [2], dryRun: true }, undefined, 'phaseRollback');
    const [change] = (await dryRun.result()).plan.sets[0].changes;
    assert.equal(change.to, `${node} ${cli} rollback previous --system ${system.name} --phase 2 --by alice --run ${dryRun.workflowId}`);
    assert.equal(change.undo.argv[3], live);
    assert.equal(change.from, `\`${node} ${cli} status --json\` printed ${JSON.stringify({ deploymentId: live, status: 'SUCCESS', auth: '***' }, null, 2).replace(/\s+/g, ' ').slice(0, 80)}…`);
    assert.deepEqual(calls(), [['status', '--json']], 'only the capture ran');

    const broken = structuredClone(system.runbook);
    (broken.phases.find((p) => p.id === 2)!.rollback[0] as { undo: string[] }).undo = [node, cli, 'rollback', '{{captured.deploymentID}}'];
    t.runbooks.set(system.name, broken);
    const failure = await failureOf((await startRollback(t, { ...base, system: system.name, phases: [2] }, undefined, 'phaseRollback')).result());
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(
      failure.message,
      `cannot roll back:\n  phase-2/command ${node}: undo {{captured.deploymentID}} has no value: the output of \`${node} ${cli} status --json\` has no field deploymentID under the top level (it has fields deploymentId, status, auth)`,
    );
    assert.deepEqual(calls(), [['status', '--json'], ['status', '--json']], 'nothing but the capture ran');
    assert.equal(readFileSync(join(cliDir, 'deployment.txt'), 'utf8'), live);
  });
});
