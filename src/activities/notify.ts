import { Context, log } from '@temporalio/activity';
import { ROLLBACK_WORKFLOWS, type RollbackState } from '../contract/index.ts';
import type { Notification, StatusIncident } from '../providers/types.ts';
import type { ActivityDeps } from './deps.ts';
import { runbookFor } from './runbook.ts';

/**
 * What the status page says for each state of a rollback. A failed or aborted rollback leaves the
 * incident open: the public page must not call resolved what engineers are still fixing.
 */
const INCIDENT_STATUS: Record<RollbackState, StatusIncident['status']> = {
  running: 'identified',
  awaiting_approval: 'identified',
  awaiting_decision: 'identified',
  compensating: 'identified',
  completed: 'resolved',
  failed: 'identified',
  aborted: 'identified',
};

export const createNotifyActivities = (deps: ActivityDeps) => {
  /** The rollback in the Temporal Web UI, when the worker knows the UI's address (TEMPORAL_UI_URL). */
  const uiUrl = (workflowId: string): string | undefined => {
    const base = deps.env.TEMPORAL_UI_URL?.replace(/\/+$/, '');
    if (!base) return undefined;
    const namespace = Context.current().info.workflowNamespace ?? 'default';
    return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  };

  return {
    /**
     * Sends a notification to every channel of the runbook, and for a rollback keeps the runbook's
     * status page incident in step with its state (opened at the first, resolved when it completes).
     * A channel that fails is reported and the others still get it: notifications never fail a
     * rollback. Safe to retry: a repeated message is noise, not harm (Slack edits its one message per
     * rollback; the incident is found again by the rollback's ID and an unchanged update sends nothing).
     */
    async notify(notification: Notification): Promise<{ sent: string[]; failed: string[] }> {
      const runbook = runbookFor(deps, notification.system);
      const rollback = notification.rollback ? { ...notification.rollback, uiUrl: notification.rollback.uiUrl ?? uiUrl(notification.rollback.workflowId) } : undefined;
      const message: Notification = { ...notification, ...(rollback ? { rollback } : {}) };
      const sent: string[] = [];
      const failed: string[] = [];
      for (const channel of runbook.notify) {
        try {
          await deps.clients.get('notify', channel).send(message);
          sent.push(channel.provider);
        } catch (err) {
          log.warn('notification channel failed', { channel: channel.provider, error: (err as Error).message });
          failed.push(channel.provider);
        }
      }
      if (runbook.statusPage && rollback && (ROLLBACK_WORKFLOWS as readonly string[]).includes(rollback.workflowType)) {
        try {
          const page = deps.clients.get('statusPage', runbook.statusPage);
          const status = INCIDENT_STATUS[rollback.state as RollbackState] ?? 'identified';
          const text = `${notification.title}. ${notification.text}`;
          const { id } = await page.open({ system: notification.system, rollbackId: rollback.workflowId, title: `${notification.system}: rolling back`, status, text });
          await page.update(id, { status, text });
          sent.push(runbook.statusPage.provider);
        } catch (err) {
          log.warn('status page not updated', { provider: runbook.statusPage.provider, error: (err as Error).message });
          failed.push(runbook.statusPage.provider);
        }
      }
      return { sent, failed };
    },
  };
};
