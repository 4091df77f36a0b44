/**
 * The operator's path through the real Temporal Web UI (the UI embedded in the dev server), driven in
 * headless Debian Chromium by playwright-core: start a fullRollback from the Start Workflow form, watch
 * its Current Details reach the approval gate, approve it with the Signal dialog, see it complete.
 * Screenshots of each stage go to test-results/browser/.
 *
 * Runs against a dev server started with its UI on a free port, a production-wired worker and the real
 * sandbox (no Postgres needed). Chromium is /usr/bin/chromium, or CHROMIUM_PATH; never downloaded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser } from 'playwright-core';
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import type { Runbook } from '../../src/runbook/schema.ts';
import { createRollbackWorker, type RollbackWorker } from '../../src/worker/worker.ts';
import { freePort, quietLogger, startTemporal, testWorkerEnv } from '../harness.ts';
import { scheduleDrill } from '../../src/cli/drill.ts';
import { drillScheduleId, type DrillResult } from '../../src/contract/index.ts';
import { testDefaults } from '../rollback-harness.ts';
import { launchChromium, SHOTS, TemporalUi } from './ui-driver.ts';
import { statusQuery } from '../../src/contract/messages.ts';

/** runbooks/sandbox.yaml for this sandbox with the short windows test/rollback-harness.ts uses. */
function testRunbook(sandbox: Sandbox, system: string): Runbook {
  const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
  doc.system = system;
  testDefaults(doc);
  // Room for a slow browser between gate and approval.
  doc.gates['before-cleanup'].timeoutSeconds = 120;
  doc.gates['before-phase-11'].timeoutSeconds = 120;
  doc.decisions.timeoutSeconds = 120;
  doc.providers.redis.settings.killSwitchPrefix = `browser-${process.pid}:kill_switch:`;
  // A drill that runs in seconds: the watchdog judges every second, the canary fails every request.
  doc.watch.intervalSeconds = 1;
  doc.drills['canary-errors'].scenario = { fault: { version: 'canary', errorRatePct: 100 } };
  doc.drills['canary-errors'].detectWithinMinutes = 1;
  doc.drills['canary-errors'].verifySeconds = 1;
  return parseRunbook(stringify(doc), `runbooks/${system}.yaml`);
}

// The dev server is this file's own: the names README.md shows can be used as they are.
const system = 'sandbox';
const workflowId = 'rollback-sandbox-1';
const input = { system, reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 };
const approval = { by: 'bob', comment: 'looks good' };

let env: TestWorkflowEnvironment | undefined;
let worker: RollbackWorker | undefined;
let running: Promise<void> | undefined;
let sandbox: Sandbox | undefined;
let reportsDir: string | undefined;
let browser: Browser | undefined;
let ui: TemporalUi;
let runbook: Runbook;

describe('Temporal Web UI', { timeout: 180_000 }, () => {
  before(async () => {
    const uiPort = await freePort();
    env = await startTemporal({ uiPort });
    reportsDir = mkdtempSync(join(tmpdir(), 'reports-'));
    sandbox = await startSandbox({
      ports: { router: 0, stable: 0, canary: 0 },
      databaseUrl: null,
      loadRequestsPerSecond: 40,
      redis: { killSwitchPrefix: `browser-${process.pid}:kill_switch:` },
      flagdFile: join(reportsDir, 'flags.flagd.json'),
    });
    worker = await createRollbackWorker({
      connection: env.nativeConnection,
      client: env.client,
      namespace: 'default',
      env: testWorkerEnv,
      runbooks: new Map([[system, (runbook = testRunbook(sandbox, system))]]),
      secrets: { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` },
      logger: quietLogger,
      reportsDir,
    });
    running = worker.run();
    const launched = await launchChromium();
    browser = launched.browser;
    ui = new TemporalUi(launched.page, `http://127.0.0.1:${uiPort}`);
  });

  after(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await sandbox?.stop();
    await env?.teardown();
    if (reportsDir) rmSync(reportsDir, { recursive: true, force: true });
  });

  test('an operator starts a rollback in the Web UI, sees it wait for approval in Current Details, approves it with a signal and sees it complete', async (t) => {
    const stage = ui.stages(t);
    await stage('start form', () => ui.startFromForm(workflowId, 'fullRollback', input, '01-start-form.png'));
    await stage('awaiting approval', async () => {
      await ui.openAt(workflowId, 'awaiting approval from oncall (0 of 1) before cleanup');
      await ui.currentDetails().getByText(`${system}: immediate rollback requested by alice: canary error rate 14%`).waitFor();
      await ui.page.screenshot({ path: join(SHOTS, '02-awaiting-approval.png') });
    });
    await stage('signal dialog', () => ui.sendSignal(workflowId, 'approve', approval, '03-signal-dialog.png'));
    await stage('completed', async () => {
      await ui.header().getByText('Completed', { exact: true }).waitFor();
      await ui.waitForCurrentDetails('rollback completed');
      await ui.page.screenshot({ path: join(SHOTS, '04-completed.png') });
    });

    // What the UI showed is what happened: the client and the sandbox agree.
    const handle = env!.client.workflow.getHandle(workflowId);
    await handle.result();
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'completed');
    assert.deepEqual(
      status.events.map((e) => [e.kind, e.by, e.gate, e.detail]),
      [['approved', 'bob', 'before-cleanup', 'looks good']],
      "the UI's json/plain signal input arrived as the approval",
    );
    assert.deepEqual(sandbox!.router.state(), { weights: { stable: 100, canary: 0 }, instances: { stable: 3, canary: 0 } });
  });

  test('an operator starts phaseRollback of the cutover (seed 004 stage 11) from the form, is refused and then approves its gate in the Update dialog, and the flag file and every replica show the rollback', async (t) => {
    const stage = ui.stages(t);
    const id = 'rollback-sandbox-phase-11';
    const phases = { system, phases: [11], reason: 'cutover broke conversation continuity', requestedBy: 'alice', baselineSeconds: 0, verifyWindowSeconds: 1 };
    await stage('start form', () => ui.startFromForm(id, 'phaseRollback', phases, '05-phase-start-form.png'));
    await stage('awaiting approval', async () => {
      await ui.openAt(id, 'awaiting approval from oncall (0 of 1) before undoing phase 11: Cutover');
      await ui.page.screenshot({ path: join(SHOTS, '06-phase-awaiting-approval.png') });
    });
    await stage('update dialog', async () => {
      // An Update answers in the dialog: someone not in the role is refused there, and nothing is recorded.
      assert.equal(await ui.sendUpdate(id, 'approve', { by: 'dave' }, '07-update-refused.png'), 'refused: dave is not an approver for role oncall (alice, bob, carol)');
      assert.equal(await ui.sendUpdate(id, 'approve', { by: 'carol', comment: 'continuity first' }), null);
    });
    await stage('completed', async () => {
      await ui.header().getByText('Completed', { exact: true }).waitFor();
      await ui.waitForCurrentDetails('rollback completed');
      await ui.page.screenshot({ path: join(SHOTS, '08-phase-completed.png') });
    });
    const status = await env!.client.workflow.getHandle(id).query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.gate]), [['approved', 'carol', 'before-phase-11']]);
    const served = (await (await fetch(`${sandbox!.urls.router}/api/flags`)).json()) as { flags: Record<string, boolean> };
    assert.equal(served.flags.legacy_entity_paths, true, 'the flag file turned the legacy paths back on');
    const { replicas } = (await (await fetch(`${sandbox!.urls.router}/admin/replicas`)).json()) as { replicas: Record<string, { config: Record<string, string> }[]> };
    for (const list of Object.values(replicas)) for (const replica of list) assert.equal(replica.config.ENTITY_SYSTEM, 'legacy', 'every replica restarted onto the legacy entity system');
  });

  test("the drill's Schedule is listed on the UI's Schedules page, triggered from there, and the drill completes with its scorecard in the result", async (t) => {
    const stage = ui.stages(t);
    const scheduleId = drillScheduleId(system, 'canary-errors');
    assert.equal(await scheduleDrill(env!.client, system, 'canary-errors', runbook.drills['canary-errors']!), 'created');
    // The tests above rolled the canary back: put the canary release back, as a staging drill starts from one.
    const put = (path: string, body: unknown) => fetch(`${sandbox!.urls.router}${path}`, { method: 'PUT', body: JSON.stringify(body) });
    await put('/admin/instances', { version: 'stable', count: 2 });
    await put('/admin/instances', { version: 'canary', count: 1 });
    await put('/admin/weights', { weights: { stable: 75, canary: 25 } });
    const before = sandbox!.router.state();
    await stage('schedules page', async () => {
      await ui.page.goto(`${ui.uiUrl}/namespaces/default/schedules`);
      await ui.page.getByRole('link', { name: scheduleId }).waitFor();
      await ui.page.screenshot({ path: join(SHOTS, '09-schedules.png') });
      await ui.page.getByRole('link', { name: scheduleId }).click();
      await ui.page.getByRole('heading', { name: scheduleId }).waitFor();
    });
    await stage('trigger', async () => {
      await ui.page.getByRole('button', { name: 'Schedule Actions' }).click();
      await ui.page.getByRole('menuitem', { name: 'Trigger' }).click();
      const dialog = ui.page.getByRole('dialog').filter({ hasText: 'Trigger Immediately' });
      await dialog.getByText("Use the Schedule's overlap policy.").waitFor();
      await ui.page.screenshot({ path: join(SHOTS, '10-schedule-trigger.png') });
      await dialog.getByRole('button', { name: 'Trigger' }).click();
    });
    let drillId = '';
    await stage('drill started by the schedule', async () => {
      const deadline = Date.now() + 30_000;
      while (!drillId && Date.now() < deadline) {
        drillId = (await env!.client.schedule.getHandle(scheduleId).describe()).info.recentActions.at(-1)?.action.workflow.workflowId ?? '';
        if (!drillId) await new Promise((r) => setTimeout(r, 250));
      }
      assert.match(drillId, /^drill-sandbox-canary-errors-/);
    });
    const result: DrillResult = await env!.client.workflow.getHandle(drillId).result();
    assert.equal(result.outcome, 'passed', result.why ?? '');
    await stage('scorecard in the result', async () => {
      await ui.page.goto(`${ui.uiUrl}/namespaces/default/workflows/${encodeURIComponent(drillId)}`);
      await ui.header().getByText('Completed', { exact: true }).waitFor();
      await ui.page.getByText('"stage": "detection"').first().waitFor();
      await ui.page.getByRole('tab', { name: 'User Metadata' }).click();
      await ui.waitForCurrentDetails('detected, rolled back, verified, put back');
      await ui.page.screenshot({ path: join(SHOTS, '11-drill-scorecard.png'), fullPage: true });
    });
    assert.deepEqual(sandbox!.router.state(), before, 'the drill put the sandbox back as it was');
    await env!.client.schedule.getHandle(scheduleId).delete();
    await env!.client.workflow.getHandle('rollback-watchdog:sandbox').cancel();
  });
});
