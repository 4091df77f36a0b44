/**
 * Railway service rollbacks through Railway's public GraphQL API (seed 001's "Railway Rollback"):
 * each runbook target names a service in one environment, and is rolled back to the deployment live
 * before the current one (deploymentRollback, or a redeploy of its image), refused when Railway says
 * it cannot.
 *
 * The provider in files:
 *   settings.ts  the runbook settings
 *   api.ts       the GraphQL API: one client, the operations and deployment fields, the history, errors
 *   releases.ts  the capability: live and previous deployment, the rollback and following it to SUCCESS
 *
 * API reference: https://docs.railway.com/integrations/api/manage-deployments
 */
import type { ProviderClient, ProviderContext, ProviderDefinition } from '../types.ts';
import { railwayApi } from './api.ts';
import { railwayReleases } from './releases.ts';
import { settingsSchema, type Settings } from './settings.ts';

function create(settings: Settings, context: ProviderContext): ProviderClient<'releases'> {
  return { releases: railwayReleases(railwayApi(settings, context), settings, context) };
}

export const railway: ProviderDefinition<'releases', Settings> = {
  id: 'railway',
  description: 'Railway services (public GraphQL API): the live and previous deployment of each, and rollback to one (deploymentRollback, or a redeploy of its image), refused when Railway says it cannot',
  capabilities: ['releases'],
  settingsSchema,
  example: {
    services: { api: { serviceId: '52e26c3c-aac6-49c6-9b89-97f68554385d', environmentId: '95ac4393-db7a-4bcf-800f-89de14d70e6e' } },
    tokenEnv: 'RAILWAY_API_TOKEN',
  },
  create,
};
