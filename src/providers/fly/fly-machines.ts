/**
 * Fly.io apps through the Fly Machines REST API: what seeds 000 and 001 do by hand with `fly scale
 * count`, `fly deploy --image`, `fly secrets set/unset` and `fly apps restart`. Runbook versions (stable,
 * canary) map to Fly apps (seed 000 runs the canary as an app of its own).
 *
 * Every change to an existing Machine is made under its lease, and the API takes no idempotency key,
 * so every change reads the Machines first and only touches those not yet as asked: a retry with the
 * same key finds the work done and sends nothing.
 *
 * The provider in files:
 *   settings.ts     the runbook settings
 *   api.ts          the Machines API: one client, Machines, leases, the wait, the whole-config update
 *   rate-limits.ts  the documented rate limits, kept on our side
 *   scaling.ts, releases.ts, config.ts, restarts.ts, secrets.ts   the capabilities
 *
 * API reference: https://fly.io/docs/machines/api/
 */
import type { ProviderClient, ProviderContext, ProviderDefinition } from '../types.ts';
import { flyApi } from './api.ts';
import { flyConfig } from './config.ts';
import { flyReleases } from './releases.ts';
import { flyRestarts } from './restarts.ts';
import { flyScaling } from './scaling.ts';
import { flyAppSecrets } from './secrets.ts';
import { settingsSchema, type Settings } from './settings.ts';

type Offered = 'scaling' | 'releases' | 'config' | 'restarts' | 'appSecrets';

function create(settings: Settings, context: ProviderContext): ProviderClient<Offered> {
  const api = flyApi(settings, context);
  return {
    scaling: flyScaling(api, settings, context),
    releases: flyReleases(api, context),
    config: flyConfig(api, settings, context),
    restarts: flyRestarts(api, settings, context),
    appSecrets: flyAppSecrets(api, context),
  };
}

export const flyMachines: ProviderDefinition<Offered, Settings> = {
  id: 'fly-machines',
  description: 'Fly.io apps through the Machines API: Machine counts per app, the image they run (roll back to the one before), their env vars, app secrets (set or unset, Machines updated to load them) and restarts; changes under Machine leases, read first so a retry repeats nothing',
  capabilities: ['scaling', 'releases', 'config', 'restarts', 'appSecrets'],
  settingsSchema,
  example: { apps: { stable: 'clinic-app', canary: 'clinic-app-canary' }, tokenEnv: 'FLY_API_TOKEN', configVersion: 'stable' },
  create,
};
