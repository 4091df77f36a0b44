/** Notifications into the worker's log: always available, and the default channel of every runbook. */
import { z } from 'zod';
import type { ProviderDefinition } from '../types.ts';

const settingsSchema = z.strictObject({});

export const logNotify: ProviderDefinition<'notify', z.infer<typeof settingsSchema>> = {
  id: 'log',
  description: "notifications into the worker's log; always available, the default channel",
  capabilities: ['notify'],
  settingsSchema,
  example: {},
  create: (_settings, { logger }) => ({
    notify: {
      async send(notification) {
        const level = notification.severity === 'info' ? 'info' : 'warn';
        logger[level]({ system: notification.system, severity: notification.severity, text: notification.text }, notification.title);
      },
    },
  }),
};
