/**
 * A failing activity's stack trace, as Temporal records it, names our source files and lines, not lines
 * of the built file the worker runs: a worker process started as production starts it
 * (src/build/worker-command.ts; src/worker/stack-traces.ts maps its frames through the map worker-build.ts
 * writes beside the build).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parse, stringify } from 'yaml';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { workerCommand } from '../src/build/worker-command.ts';
import { freePort, sleep, startTemporal } from './harness.ts';

const root = join(import.meta.dirname, '..');
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
let env: TestWorkflowEnvironment;
let dir: string;
let worker: ChildProcess;

before(async () => {
  env = await startTemporal();
  dir = mkdtempSync(join(tmpdir(), 'worker-stack-traces-'));
  // The sandbox's runbook with its router on a port nothing answers: reading traffic fails in our HTTP client.
  const runbook = parse(readFileSync(join(root, 'runbooks/sandbox.yaml'), 'utf8')) as { traffic: { settings: { url: string } } };
  runbook.traffic.settings.url = `http://127.0.0.1:${await freePort()}`;
  writeFileSync(join(dir, 'sandbox.yaml'), stringify(runbook));
  const command = await workerCommand();
  worker = spawn(process.execPath, command.args, {
    env: {
      ...command.env,
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      RUNBOOKS_DIR: dir,
      REPORTS_DIR: join(dir, 'reports'),
      WORKER_METRICS_ADDRESS: 'off',
      WORKER_DEPLOYMENT: 'off',
      ALERT_RECEIVER_ADDRESS: 'off',
      SANDBOX_WEBHOOK_URL: 'http://127.0.0.1:9/hooks/notify',
      ROLLBACKS_MAIN_JOB_PID: String(process.pid),
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
});

after(async () => {
  if (worker.exitCode === null && worker.signalCode === null) {
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.kill('SIGTERM');
    await exited;
  }
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

test("an activity's stack trace names the source file and line that made its error; the workflow's still names its own", async () => {
  const handle = await env.client.workflow.start('fullRollback', {
    taskQueue: TASK_QUEUE,
    workflowId: `stack-trace-${process.pid}`,
    args: [{ system: 'sandbox', mode: 'immediate', reason: 'read a stack trace', requestedBy: 'alice', baselineSeconds: 0, dryRun: true }],
  });
  let failure: { message?: string | null; stackTrace?: string | null } | null | undefined;
  for (const deadline = Date.now() + 60_000; !failure && Date.now() < deadline; await sleep(200)) {
    const { raw } = await handle.describe();
    failure = raw.pendingActivities?.find((activity) => activity.lastFailure)?.lastFailure;
  }
  assert.ok(failure?.stackTrace, 'the activity failed with a stack trace within 60 s');
  const source = join(root, 'src/providers/http-api.ts');
  const line = readFileSync(source, 'utf8').split('\n').findIndex((text) => text.includes('return new ApiError(withAdvice(head, advice)')) + 1;
  assert.match(failure.message ?? '', /^router GET \/admin\/state: no answer after 3 attempts \(fetch failed\)\. Check that the router answers at /);
  assert.match(failure.stackTrace, new RegExp(`^Error: router GET /admin/state: no answer .*\\n {4}at apiFailure \\(${literally(source)}:${line}:\\d+\\)\\n`));
  assert.match(failure.stackTrace, new RegExp(`\\n {4}at async captureSnapshot \\(${literally(join(root, 'src/activities/snapshot.ts'))}:\\d+:\\d+\\)\\n`), 'the activity is named with its file');
  assert.doesNotMatch(failure.stackTrace, /\.cache\/worker/, 'no frame names the built file');
  // The UI's stack trace tab, which the SDK maps through the workflow bundle's own map: the flag leaves it as it was.
  assert.match(await handle.query<string>('__stack_trace'), new RegExp(`\\n {4}at fullRollback \\(${literally(join(root, 'src/workflows/full-rollback.ts'))}:\\d+:\\d+\\)\\n`));
  await handle.terminate('read its stack trace');
});
