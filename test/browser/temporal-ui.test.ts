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
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { parseRunbook } from '../../src/runbook/load.ts';
import type { Runbook } from '../../src/runbook/schema.ts';
import { createRollbackWorker, type RollbackWorker } from '../../src/worker/worker.ts';
import { TASK_QUEUE } from '../../src/contract/index.ts';
import { statusQuery } from '../../src/workflows/signals.ts';
import { freePort, quietLogger, startTemporal, testWorkerEnv } from '../harness.ts';
import { testDefaults } from '../rollback-harness.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-results/browser/', import.meta.url));
const UI_TIMEOUT = 30_000;

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
  return parseRunbook(stringify(doc), `runbooks/${system}.yaml`);
}

/** Polls `check` until it returns true; fails after `timeoutMs` saying what never happened. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = UI_TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
  }
  throw new Error(`within ${timeoutMs / 1000} s the UI never showed ${what}`);
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
let page: Page;
let uiUrl: string;

// No skipping: .ci/run installs Debian's chromium, and a missing browser must fail loudly.
if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);

describe('Temporal Web UI', { timeout: 180_000 }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const uiPort = await freePort();
    uiUrl = `http://127.0.0.1:${uiPort}`;
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
      runbooks: new Map([[system, testRunbook(sandbox, system)]]),
      secrets: { SANDBOX_WEBHOOK_URL: `${sandbox.urls.router}/hooks/notify` },
      logger: quietLogger,
      reportsDir,
    });
    running = worker.run();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    // A fresh context is a fresh profile: no cookies, no local storage, light theme, UTC.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', timezoneId: 'UTC' });
    context.setDefaultTimeout(UI_TIMEOUT);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await sandbox?.stop();
    await env?.teardown();
    if (reportsDir) rmSync(reportsDir, { recursive: true, force: true });
  });

  /** Runs `stages` in order; a stage that fails leaves a screenshot named after it. */
  function stages(t: TestContext) {
    return async (name: string, run: () => Promise<void>) => {
      const started = Date.now();
      try {
        await run();
      } catch (err) {
        await page.screenshot({ path: join(SHOTS, `failed-${name.replaceAll(' ', '-')}.png`) }).catch(() => undefined);
        throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
      }
      t.diagnostic(`${name}: ${Date.now() - started} ms`);
    };
  }

  const header = () => page.locator('header').filter({ has: page.getByTestId('workflow-id-heading') });
  const currentDetails = () => page.frameLocator('iframe[title="output"]');

  /** Current Details is fetched once when the tab opens; the UI refetches it when R is pressed. */
  const waitForCurrentDetails = (text: string) =>
    waitUntil(`"${text}" in Current Details`, async () => {
      if (await currentDetails().getByText(text).isVisible().catch(() => false)) return true;
      await page.keyboard.press('r');
      return currentDetails()
        .getByText(text)
        .waitFor({ timeout: 1_000 })
        .then(() => true, () => false);
    });

  /** The Start Workflow form, filled and submitted as an operator would. */
  async function startFromForm(workflowId: string, workflowType: string, input: unknown, shot: string): Promise<void> {
    await page.goto(`${uiUrl}/namespaces/default/workflows`);
    await page.getByRole('button', { name: 'Start Workflow' }).click();
    await page.getByRole('heading', { name: 'Start a Workflow' }).waitFor();
    await page.getByLabel('Workflow ID').fill(workflowId);
    await page.getByLabel('Task Queue').fill(TASK_QUEUE);
    await page.getByLabel('Workflow Type').fill(workflowType);
    // The input is a CodeMirror editor. It reformats its JSON on blur, which moves the submit button
    // under the pointer: give it the formatted text it would produce and blur it before clicking.
    await page.getByRole('main').locator('[contenteditable="true"][data-language="json"]').fill(JSON.stringify(input, null, 2));
    await page.getByLabel('Workflow Type').focus();
    assert.equal(await page.getByLabel('json/plain').isChecked(), true, 'encoding json/plain');
    await page.getByText('Task Queue is Active').waitFor(); // the UI saw our worker polling 'rollbacks'
    await page.setViewportSize({ width: 1280, height: 1000 }); // the whole form, submit button included
    await page.screenshot({ path: join(SHOTS, shot) });
    await page.setViewportSize({ width: 1280, height: 800 });
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/api/v1/namespaces/default/workflows/${workflowId}`),
      page.getByTestId('start-workflow-button').click(),
    ]);
    assert.equal(response.status(), 200, `start answered ${response.status()}: ${await response.text()}`);
    await page.getByText('Workflow started successfully').waitFor();
  }

  /** The workflow's page, User Metadata tab, until Current Details says `waitingFor`. */
  async function openAt(workflowId: string, waitingFor: string): Promise<void> {
    await page.goto(`${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    await header().getByText('Running', { exact: true }).waitFor();
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    await page.getByRole('heading', { name: 'Current Details' }).waitFor();
    await waitForCurrentDetails(waitingFor);
  }

  /** More Actions > Send a Signal, the signal picked from the workflow's own definitions, a JSON payload. */
  async function sendSignal(workflowId: string, name: string, payload: unknown, shot?: string): Promise<void> {
    await header().getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
    // The signal names come from the workflow's own definitions (__temporal_workflow_metadata).
    await dialog.getByTestId('signal-select-button').click();
    await dialog.getByRole('option', { name, exact: true }).click();
    await dialog.locator('[contenteditable="true"][data-language="json"]').fill(JSON.stringify(payload, null, 2));
    await dialog.getByRole('heading', { name: 'Send a Signal' }).click(); // blur the editor
    if (shot) await page.screenshot({ path: join(SHOTS, shot) });
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${workflowId}/signal/${name}`)),
      dialog.getByRole('button', { name: 'Submit' }).click(),
    ]);
    assert.equal(response.status(), 200, `signal answered ${response.status()}: ${await response.text()}`);
    await dialog.waitFor({ state: 'hidden' });
  }

  /**
   * More Actions > Send an Update: the update picked from the workflow's own definitions, a JSON
   * payload. Resolves with the refusal the dialog shows (its validator's message), or null once the
   * update succeeded and the dialog closed.
   */
  async function sendUpdate(workflowId: string, name: string, payload: unknown, shot?: string): Promise<string | null> {
    const dialog = page.getByRole('dialog', { name: 'Send an Update' });
    if (!(await dialog.isVisible())) {
      await header().getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send an Update' }).click();
      await dialog.getByTestId('update-select-button').click();
      await dialog.getByRole('option', { name, exact: true }).click();
    }
    await dialog.locator('[contenteditable="true"][data-language="json"]').fill(JSON.stringify(payload, null, 2));
    await dialog.getByRole('heading', { name: 'Send an Update' }).click(); // blur the editor
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${workflowId}/update/`)),
      dialog.getByRole('button', { name: 'Submit' }).click(),
    ]);
    const outcome = (await response.json()) as { outcome?: { failure?: { message: string } } };
    if (shot) await page.screenshot({ path: join(SHOTS, shot) });
    const refusal = outcome.outcome?.failure?.message ?? null;
    if (refusal) await dialog.getByText(refusal).first().waitFor();
    else await dialog.waitFor({ state: 'hidden' });
    return refusal;
  }

  test('an operator starts a rollback in the Web UI, sees it wait for approval in Current Details, approves it with a signal and sees it complete', async (t) => {
    const stage = stages(t);
    await stage('start form', () => startFromForm(workflowId, 'fullRollback', input, '01-start-form.png'));
    await stage('awaiting approval', async () => {
      await openAt(workflowId, 'awaiting approval from oncall (0 of 1) before cleanup');
      await currentDetails().getByText(`${system}: immediate rollback requested by alice: canary error rate 14%`).waitFor();
      await page.screenshot({ path: join(SHOTS, '02-awaiting-approval.png') });
    });
    await stage('signal dialog', () => sendSignal(workflowId, 'approve', approval, '03-signal-dialog.png'));
    await stage('completed', async () => {
      await header().getByText('Completed', { exact: true }).waitFor();
      await waitForCurrentDetails('rollback completed');
      await page.screenshot({ path: join(SHOTS, '04-completed.png') });
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
    const stage = stages(t);
    const id = 'rollback-sandbox-phase-11';
    const phases = { system, phases: [11], reason: 'cutover broke conversation continuity', requestedBy: 'alice', baselineSeconds: 0, verifyWindowSeconds: 1 };
    await stage('start form', () => startFromForm(id, 'phaseRollback', phases, '05-phase-start-form.png'));
    await stage('awaiting approval', async () => {
      await openAt(id, 'awaiting approval from oncall (0 of 1) before undoing phase 11: Cutover');
      await page.screenshot({ path: join(SHOTS, '06-phase-awaiting-approval.png') });
    });
    await stage('update dialog', async () => {
      // An Update answers in the dialog: someone not in the role is refused there, and nothing is recorded.
      assert.equal(await sendUpdate(id, 'approve', { by: 'dave' }, '07-update-refused.png'), 'refused: dave is not an approver for role oncall (alice, bob, carol)');
      assert.equal(await sendUpdate(id, 'approve', { by: 'carol', comment: 'continuity first' }), null);
    });
    await stage('completed', async () => {
      await header().getByText('Completed', { exact: true }).waitFor();
      await waitForCurrentDetails('rollback completed');
      await page.screenshot({ path: join(SHOTS, '08-phase-completed.png') });
    });
    const status = await env!.client.workflow.getHandle(id).query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.gate]), [['approved', 'carol', 'before-phase-11']]);
    const served = (await (await fetch(`${sandbox!.urls.router}/api/flags`)).json()) as { flags: Record<string, boolean> };
    assert.equal(served.flags.legacy_entity_paths, true, 'the flag file turned the legacy paths back on');
    const { replicas } = (await (await fetch(`${sandbox!.urls.router}/admin/replicas`)).json()) as { replicas: Record<string, { config: Record<string, string> }[]> };
    for (const list of Object.values(replicas)) for (const replica of list) assert.equal(replica.config.ENTITY_SYSTEM, 'legacy', 'every replica restarted onto the legacy entity system');
  });
});
