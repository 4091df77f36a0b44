/** Notifications into the worker's log: always available, and the default channel of every runbook. */
import { z } from 'zod';
import type { NotifyProvider } from '../types.ts';

const settingsSchema = z.strictObject({});

export const logNotify: NotifyProvider<z.infer<typeof settingsSchema>> = {
  id: 'log',
  settingsSchema,
  create: (_settings, { logger }) => ({
    async send(notification) {
      const level = notification.severity === 'info' ? 'info' : 'warn';
      logger[level]({ system: notification.system, severity: notification.severity, text: notification.text }, notification.title);
    },
  }),
};
