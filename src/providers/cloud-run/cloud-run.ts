/**
 * A Google Cloud Run service through the Cloud Run Admin API v2: its traffic split between revisions
 * (seed 002's `gcloud run services update-traffic --to-revisions=REV=50,...`), the plain environment
 * variables of what serves (`gcloud run services update --update-env-vars`), its releases (the revision
 * serving and the one before it, or one named by revision, traffic tag or image; a rollback routes 100%
 * of traffic to it, deploying an image no revision runs yet as `gcloud run deploy --image` does),
 * and the Secret Manager secrets its env loads (seed 002's `gcloud secrets versions enable/disable`,
 * then `--update-secrets NAME=secret:N`).
 *
 * Every change is a read-modify-write of the whole Service, PATCHed back with the etag read and
 * followed to the end of its long-running operation; the API takes no idempotency key, so each change
 * reads first and sends nothing when the service already is as asked.
 *
 * The provider in files:
 *   settings.ts  the runbook settings
 *   api.ts       the Admin API: one client, the resources, the PATCH, operations and reconciling
 *   traffic.ts, config.ts, releases.ts   the capabilities (versions pinned by traffic tags: traffic.ts)
 *   serving.ts   template changes made where traffic goes: the new revision takes the old one's place
 *   secrets.ts   the Secret Manager secrets its env loads (secret-manager.ts: the Secret Manager API v1),
 *                pinned in a new revision made where traffic goes, as config changes are (serving.ts)
 *
 * API reference: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
 */
import type { ProviderClient, ProviderContext, ProviderDefinition } from '../types.ts';
import { cloudRunApi } from './api.ts';
import { cloudRunConfig } from './config.ts';
import { cloudRunReleases } from './releases.ts';
import { secretManagerApi } from './secret-manager.ts';
import { cloudRunSecrets } from './secrets.ts';
import { settingsSchema, type Settings } from './settings.ts';
import { cloudRunTraffic } from './traffic.ts';

function create(settings: Settings, context: ProviderContext): ProviderClient<'traffic' | 'config' | 'releases' | 'secrets'> {
  const api = cloudRunApi(settings, context);
  return {
    traffic: cloudRunTraffic(api, settings),
    config: cloudRunConfig(api, settings, context),
    releases: cloudRunReleases(api, settings),
    secrets: cloudRunSecrets(api, secretManagerApi(settings, context), settings, context),
  };
}

export const cloudRun: ProviderDefinition<'traffic' | 'config' | 'releases' | 'secrets', Settings> = {
  id: 'cloud-run',
  description:
    'Google Cloud Run service (Admin API v2): traffic split between revisions, plain env vars of its container (a new revision), rollback to the previous ready revision or one named by revision, traffic tag or image (an image no revision runs deployed as a new one), and the Secret Manager versions its env loads (enabled/disabled, the service pinned to one)',
  capabilities: ['traffic', 'config', 'releases', 'secrets'],
  settingsSchema,
  example: { project: 'medicalcor-prod', location: 'europe-west3', service: 'medicalcor-api', tokenEnv: 'GCP_ACCESS_TOKEN' },
  create,
};
