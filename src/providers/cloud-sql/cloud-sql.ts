/**
 * Google Cloud SQL instances through the Cloud SQL Admin API v1: seed 002's point-in-time recovery,
 * "create a new instance from backup (safer than restoring to production)": `gcloud sql instances
 * clone medicalcor-db-prod medicalcor-db-recovery --point-in-time=...`. It reads instances and the
 * window they can be cloned from, clones one to a new instance as it was at a point in time (waiting
 * until the clone is RUNNABLE), and labels instances; it never deletes or overwrites one.
 *
 * The provider in files:
 *   settings.ts  the runbook settings
 *   api.ts       the Admin API: one client, the resources, operations and the wait for them
 *   clones.ts    the capability: read, recovery window, clone, labels
 *
 * API reference: https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances
 */
import type { ProviderClient, ProviderContext, ProviderDefinition } from '../types.ts';
import { cloudSqlApi } from './api.ts';
import { cloudSqlClones } from './clones.ts';
import { settingsSchema, type Settings } from './settings.ts';

function create(settings: Settings, context: ProviderContext): ProviderClient<'databaseClones'> {
  return { databaseClones: cloudSqlClones(cloudSqlApi(settings, context), settings, context) };
}

export const cloudSql: ProviderDefinition<'databaseClones', Settings> = {
  id: 'cloud-sql',
  description: 'Google Cloud SQL (Admin API v1): point-in-time clones of an instance to a new one within its recovery window, waited for until RUNNABLE and never started twice, and labels merged onto instances',
  capabilities: ['databaseClones'],
  settingsSchema,
  example: { project: 'medicalcor-prod', tokenEnv: 'GCP_ACCESS_TOKEN' },
  create,
};
