/**
 * The cloud-run provider's runbook settings: the project, region and service, the token variable, the
 * revision each runbook version starts as (then pinned by a traffic tag of its name), the Secret
 * Manager endpoint, and how long a change may take.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';

const revisionSelector = z
  .string()
  .regex(/^(LATEST|PREVIOUS|[a-z][-a-z0-9]*)$/, 'must be LATEST, PREVIOUS or a revision name like my-service-00014-def');

export const settingsSchema = z.strictObject({
  project: z
    .string()
    .regex(/^([a-z][-a-z0-9]{4,28}[a-z0-9]|\d+)$/, 'must be a Google Cloud project ID (like medicalcor-prod) or number')
    .describe('Google Cloud project ID or number'),
  location: z
    .string()
    .regex(/^[a-z]+(-[a-z]+)+\d+$/, 'must be a Cloud Run region like europe-west3')
    .describe('Cloud Run region (gcloud --region), e.g. europe-west3'),
  service: z
    .string()
    .regex(/^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$/, 'must be a Cloud Run service name: lowercase letters, digits and hyphens, starting with a letter')
    .describe('Cloud Run service name, e.g. medicalcor-api'),
  baseUrl: z.url().default('https://run.googleapis.com').describe('Cloud Run Admin API endpoint'),
  secretManagerUrl: z
    .url()
    .default('https://secretmanager.googleapis.com')
    .describe(
      "Secret Manager API endpoint, for the secrets the service's env references (secretKeyRef); a bare secret name is in the service's project, projects/{p}/secrets/{s} in another; same token as tokenEnv",
    ),
  tokenEnv: envVarName.describe('environment variable holding an OAuth 2 access token (gcloud auth print-access-token), sent as Authorization: Bearer'),
  versions: z
    // A version's name is the traffic tag that pins it (traffic.ts), so it must be one Cloud Run takes.
    .record(z.string().regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a traffic tag (the version is pinned by a tag of its name): lowercase letters, digits and hyphens, starting with a letter'), revisionSelector)
    .refine((v) => Object.keys(v).length > 0, 'must name at least one version')
    .default({ stable: 'PREVIOUS', canary: 'LATEST' })
    .describe(
      'runbook version name -> the revision it is until a change pins it by a traffic tag of its name: a revision name, LATEST (latest ready revision) or PREVIOUS (the ready revision before it)',
    ),
  pollIntervalMs: z.int().positive().default(2000).describe('how often a running operation or a reconciling service is polled'),
  timeoutMs: z.int().positive().default(600_000).describe('longest wait for a change to finish (operation and reconciliation)'),
  requestTimeoutMs: z.int().positive().default(30_000).describe('timeout of one API request'),
});
export type Settings = z.infer<typeof settingsSchema>;

