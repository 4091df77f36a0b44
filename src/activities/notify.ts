import { log } from '@temporalio/activity';
import type { Notification } from '../providers/types.ts';
import type { ActivityDeps } from './deps.ts';
import { runbookFor } from './runbook.ts';

export const createNotifyActivities = (deps: ActivityDeps) => ({
  /**
   * Sends a notification to every channel of the runbook; a channel that fails is reported and the
   * others still get it. Safe to retry: a repeated message is noise, not harm; only failed channels
   * make it throw, so only a failure is repeated.
   */
  async notify(notification: Notification): Promise<{ sent: string[]; failed: string[] }> {
    const runbook = runbookFor(deps, notification.system);
    const sent: string[] = [];
    const failed: string[] = [];
    for (const channel of runbook.notify) {
      try {
        await deps.clients.get('notify', channel).send(notification);
        sent.push(channel.provider);
      } catch (err) {
        log.warn('notification channel failed', { channel: channel.provider, error: (err as Error).message });
        failed.push(channel.provider);
      }
    }
    return { sent, failed };
  },
});
