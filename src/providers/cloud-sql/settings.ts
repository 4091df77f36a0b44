/**
 * The cloud-sql provider's runbook settings: the Google Cloud project whose instances it reads and
 * clones, the API endpoint and the token variable, and how long a clone (or a label change) may take.
 * Instance names are not settings: the runbook's restore names the source and the clone.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';

export const settingsSchema = z.strictObject({
  project: z
    .string()
    .regex(/^([a-z][-a-z0-9]{4,28}[a-z0-9]|\d+)$/, 'must be a Google Cloud project ID (like medicalcor-prod) or number')
    .describe('Google Cloud project ID or number holding the instances (gcloud --project)'),
  baseUrl: z.url().default('https://sqladmin.googleapis.com').describe('Cloud SQL Admin API endpoint'),
  tokenEnv: envVarName.describe('environment variable holding an OAuth 2 access token (gcloud auth print-access-token), sent as Authorization: Bearer'),
  pollIntervalMs: z.int().positive().default(10_000).describe('how often a running operation, or an instance still being created, is polled'),
  timeoutMs: z
    .int()
    .positive()
    .default(7_200_000)
    .describe('longest wait for a clone (or a label change) to finish; a clone copies the whole instance, so large ones take long'),
  requestTimeoutMs: z.int().positive().default(30_000).describe('timeout of one API request'),
});
export type Settings = z.infer<typeof settingsSchema>;
