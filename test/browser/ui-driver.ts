/**
 * Driving the real Temporal Web UI as an operator does, in Debian's Chromium (playwright-core): the
 * Start Workflow form, a workflow's Current Details, the Send a Signal and Send an Update dialogs.
 * Shared by the browser test against the dev server's UI and the one against the cluster's UI server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TASK_QUEUE } from '../../src/contract/index.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SHOTS = fileURLToPath(new URL('../../test-results/browser/', import.meta.url));
export const UI_TIMEOUT = 30_000;

/** Headless Debian Chromium with a fresh profile: no cookies, light theme, UTC. Never downloaded. */
export async function launchChromium(): Promise<{ browser: Browser; page: Page }> {
  // No skipping: .ci/run and npm test install Debian's chromium, and a missing browser must fail loudly.
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', timezoneId: 'UTC' });
  context.setDefaultTimeout(UI_TIMEOUT);
  return { browser, page: await context.newPage() };
}

/** Polls `check` until it returns true; fails after `timeoutMs` saying what never happened. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = UI_TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
  }
  throw new Error(`within ${timeoutMs / 1000} s the UI never showed ${what}`);
}

export class TemporalUi {
  constructor(
    readonly page: Page,
    readonly uiUrl: string,
  ) {}

  /** Runs `stages` in order; a stage that fails leaves a screenshot named after it. */
  stages(t: TestContext) {
    return async (name: string, run: () => Promise<void>) => {
      const started = Date.now();
      try {
        await run();
      } catch (err) {
        await this.page.screenshot({ path: join(SHOTS, `failed-${name.replaceAll(' ', '-')}.png`) }).catch(() => undefined);
        throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
      }
      t.diagnostic(`${name}: ${Date.now() - started} ms`);
    };
  }

  header() {
    return this.page.locator('header').filter({ has: this.page.getByTestId('workflow-id-heading') });
  }
  currentDetails() {
    return this.page.frameLocator('iframe[title="output"]');
  }

  /** Current Details is fetched once when the tab opens; the UI refetches it when R is pressed. */
  waitForCurrentDetails(text: string) {
    return waitUntil(`"${text}" in Current Details`, async () => {
      if (await this.currentDetails().getByText(text).isVisible().catch(() => false)) return true;
      await this.page.keyboard.press('r');
      return this.currentDetails()
        .getByText(text)
        .waitFor({ timeout: 1_000 })
        .then(() => true, () => false);
    });
  }

  /** The Start Workflow form, filled and submitted as an operator would. */
  async startFromForm(workflowId: string, workflowType: string, input: unknown, shot: string): Promise<void> {
    await this.page.goto(`${this.uiUrl}/namespaces/default/workflows`);
    await this.page.getByRole('button', { name: 'Start Workflow' }).click();
    await this.page.getByRole('heading', { name: 'Start a Workflow' }).waitFor();
    await this.page.getByLabel('Workflow ID').fill(workflowId);
    await this.page.getByLabel('Task Queue').fill(TASK_QUEUE);
    await this.page.getByLabel('Workflow Type').fill(workflowType);
    // The input is a CodeMirror editor. It reformats its JSON on blur, which moves the submit button
    // under the pointer: give it the formatted text it would produce and blur it before clicking.
    await this.page.getByRole('main').locator('[contenteditable="true"][data-language="json"]').fill(JSON.stringify(input, null, 2));
    await this.page.getByLabel('Workflow Type').focus();
    assert.equal(await this.page.getByLabel('json/plain').isChecked(), true, 'encoding json/plain');
    await this.page.getByText('Task Queue is Active').waitFor(); // the UI saw our worker polling 'rollbacks'
    await this.page.setViewportSize({ width: 1280, height: 1000 }); // the whole form, submit button included
    await this.page.screenshot({ path: join(SHOTS, shot) });
    await this.page.setViewportSize({ width: 1280, height: 800 });
    const [response] = await Promise.all([
      this.page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/api/v1/namespaces/default/workflows/${workflowId}`),
      this.page.getByTestId('start-workflow-button').click(),
    ]);
    assert.equal(response.status(), 200, `start answered ${response.status()}: ${await response.text()}`);
    await this.page.getByText('Workflow started successfully').waitFor();
  }

  /** The workflow's page, User Metadata tab, until Current Details says `waitingFor`. */
  async openAt(workflowId: string, waitingFor: string): Promise<void> {
    await this.page.goto(`${this.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    await this.header().getByText('Running', { exact: true }).waitFor();
    await this.page.getByRole('tab', { name: 'User Metadata' }).click();
    await this.page.getByRole('heading', { name: 'Current Details' }).waitFor();
    await this.waitForCurrentDetails(waitingFor);
  }

  /** More Actions > Send a Signal, the signal picked from the workflow's own definitions, a JSON payload. */
  async sendSignal(workflowId: string, name: string, payload: unknown, shot?: string): Promise<void> {
    await this.header().getByRole('button', { name: 'More Actions' }).click();
    await this.page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    const dialog = this.page.getByRole('dialog', { name: 'Send a Signal' });
    // The signal names come from the workflow's own definitions (__temporal_workflow_metadata).
    await dialog.getByTestId('signal-select-button').click();
    await dialog.getByRole('option', { name, exact: true }).click();
    await dialog.locator('[contenteditable="true"][data-language="json"]').fill(JSON.stringify(payload, null, 2));
    await dialog.getByRole('heading', { name: 'Send a Signal' }).click(); // blur the editor
    if (shot) await this.page.screenshot({ path: join(SHOTS, shot) });
    const [response] = await Promise.all([
      this.page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${workflowId}/signal/${name}`)),
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
  async sendUpdate(workflowId: string, name: string, payload: unknown, shot?: string): Promise<string | null> {
    const dialog = this.page.getByRole('dialog', { name: 'Send an Update' });
    if (!(await dialog.isVisible())) {
      await this.header().getByRole('button', { name: 'More Actions' }).click();
      await this.page.getByRole('menuitem', { name: 'Send an Update' }).click();
      await dialog.getByTestId('update-select-button').click();
      await dialog.getByRole('option', { name, exact: true }).click();
    }
    await dialog.locator('[contenteditable="true"][data-language="json"]').fill(JSON.stringify(payload, null, 2));
    await dialog.getByRole('heading', { name: 'Send an Update' }).click(); // blur the editor
    const [response] = await Promise.all([
      this.page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${workflowId}/update/`)),
      dialog.getByRole('button', { name: 'Submit' }).click(),
    ]);
    const outcome = (await response.json()) as { outcome?: { failure?: { message: string } } };
    if (shot) await this.page.screenshot({ path: join(SHOTS, shot) });
    const refusal = outcome.outcome?.failure?.message ?? null;
    if (refusal) await dialog.getByText(refusal).first().waitFor();
    else await dialog.waitFor({ state: 'hidden' });
    return refusal;
  }
}
