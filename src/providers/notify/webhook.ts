/**
 * Notifications to an incoming webhook that takes Slack's JSON (`text` plus `blocks`); Slack, Mattermost
 * and most chat tools accept it. The URL is a secret (it grants posting), so the runbook names the
 * environment variable that holds it.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { secretFromEnv, type ProviderDefinition } from '../types.ts';

const settingsSchema = z.strictObject({
  urlEnv: envVarName,
  timeoutMs: z.int().positive().default(5000),
});
type Settings = z.infer<typeof settingsSchema>;

const icons = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' } as const;

export const webhookNotify: ProviderDefinition<'notify', Settings> = {
  id: 'webhook',
  description: 'Slack-compatible JSON (text and blocks) to an incoming-webhook URL held in an environment variable',
  capabilities: ['notify'],
  settingsSchema,
  example: { urlEnv: 'SLACK_WEBHOOK_URL' },
  create: (settings, context) => ({
    notify: {
      async send(notification) {
        const url = secretFromEnv(context, settings.urlEnv);
        const headline = `${icons[notification.severity]} *${notification.system}*: ${notification.title}`;
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            text: `${headline}\n${notification.text}`,
            blocks: [
              { type: 'section', text: { type: 'mrkdwn', text: headline } },
              { type: 'section', text: { type: 'mrkdwn', text: notification.text } },
            ],
          }),
          signal: AbortSignal.timeout(settings.timeoutMs),
        });
        // Name the variable, not the URL: the URL is the secret.
        if (!response.ok) throw new Error(`webhook (${settings.urlEnv}) answered ${response.status}`);
      },
    },
  }),
};
