/**
 * The cloud-logging provider's runbook settings: whose logs (a project, or the resource names
 * entries.list takes), a filter every read adds (the service, say), the token variable, the endpoint,
 * and how much of a window one check may read.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';

const resourceName = z
  .string()
  .regex(/^(projects|organizations|billingAccounts|folders)\/[^/\s]+(\/locations\/[^/\s]+\/buckets\/[^/\s]+\/views\/[^/\s]+)?$/, 'must be a resource name entries.list takes: projects/{id}, organizations/{id}, billingAccounts/{id}, folders/{id}, or a log view');

export const settingsSchema = z.strictObject({
  project: z
    .string()
    .regex(/^([a-z][-a-z0-9]{4,28}[a-z0-9]|\d+)$/, 'must be a Google Cloud project ID (like medicalcor-prod) or number')
    .describe('Google Cloud project ID or number whose logs are read (resourceNames projects/{project} unless resourceNames is given)'),
  resourceNames: z.array(resourceName).min(1).optional().describe('instead of the project: the resource names entries.list reads, e.g. a log view projects/p/locations/global/buckets/b/views/v'),
  filter: z
    .string()
    .min(1)
    .optional()
    .describe('a filter in the Logging query language added to every check\'s, e.g. resource.type="cloud_run_revision" AND resource.labels.service_name="medicalcor-api"'),
  baseUrl: z.url().default('https://logging.googleapis.com').describe('Cloud Logging API endpoint'),
  tokenEnv: envVarName.describe('environment variable holding an OAuth 2 access token (gcloud auth print-access-token), sent as Authorization: Bearer; it needs logging.logEntries.list (roles/logging.viewer)'),
  pageSize: z.int().min(1).max(1000).default(1000).describe('entries asked for per request (the API returns at most 1000)'),
  maxPages: z.int().min(1).max(1000).default(20).describe('requests one check may make; a window with more entries is not read whole, and the check fails unless it already counted too many'),
  requestTimeoutMs: z.int().positive().default(30_000).describe('timeout of one API request'),
});
export type Settings = z.infer<typeof settingsSchema>;
