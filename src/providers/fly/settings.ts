/**
 * The fly-machines provider's runbook settings: the Fly app each runbook version names, the API
 * endpoint and token variable, where a scale-up creates Machines, whose env vars `config` is, and how
 * long a Machine may take to start or stop.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';

const appName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a Fly app name: lowercase letters, digits and hyphens');

export const settingsSchema = z
  .strictObject({
    apps: z
      .record(z.string().min(1), appName)
      .refine((apps) => Object.keys(apps).length > 0, 'must map at least one version to a Fly app')
      .describe('runbook version name -> Fly app name, e.g. { stable: clinic-app, canary: clinic-app-canary }'),
    baseUrl: z.url().default('https://api.machines.dev').describe('Machines API endpoint (http://_api.internal:4280 inside the Fly WireGuard network)'),
    tokenEnv: envVarName.describe('environment variable holding a Fly.io API token (fly tokens create deploy), sent as Authorization: Bearer'),
    region: z
      .string()
      .regex(/^[a-z]{3}$/, 'must be a Fly region code like ams or ord')
      .optional()
      .describe('region for Machines a scale-up creates (default: the region of the Machine whose config is copied)'),
    configVersion: z
      .string()
      .min(1)
      .optional()
      .describe('the version whose app `config` reads and changes (needed when `apps` names more than one)'),
    pollIntervalMs: z.int().positive().default(1000).describe('pause before asking again when a wait for a Machine state timed out and time remains'),
    requestTimeoutMs: z.int().positive().default(15_000).describe('timeout of one API request (a wait request gets its wait on top)'),
    waitTimeoutSeconds: z.int().positive().max(3600).default(60).describe('longest wait for a Machine to reach started (or stopped) after a change'),
  })
  .refine((s) => s.configVersion === undefined || s.configVersion in s.apps, { message: 'must be one of the versions in apps', path: ['configVersion'] });
export type Settings = z.infer<typeof settingsSchema>;
