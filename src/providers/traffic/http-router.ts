/**
 * Traffic through an HTTP router with an admin API (the sandbox router, or any router that speaks
 * the same small API): GET /admin/state, PUT /admin/weights, PUT /admin/instances, and for drills
 * GET /admin/faults, PUT /admin/fault, /admin/circuit-breaker, /admin/memory. Every change
 * carries an Idempotency-Key so a retried activity cannot apply the same change twice.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { adminApi } from '../admin-api.ts';
import type { ChangeOptions, ProviderClient, ProviderContext, ProviderDefinition, TrafficState } from '../types.ts';

const settingsSchema = z.strictObject({
  url: z.url(),
  adminTokenEnv: envVarName.optional(),
  timeoutMs: z.int().positive().default(5000),
});
type Settings = z.infer<typeof settingsSchema>;

const stateSchema = z.object({
  weights: z.record(z.string(), z.number()),
  instances: z.record(z.string(), z.int()),
});

const faultsSchema = z.object({
  faults: z.record(z.string(), z.object({ errorRatePct: z.number(), addedLatencyMs: z.number() })),
  breakers: z.record(z.string(), z.boolean()),
  memory: z.record(z.string(), z.number()),
});

function create(settings: Settings, context: ProviderContext): ProviderClient<'traffic' | 'scaling' | 'faults'> {
  const api = adminApi(settings, context, 'router');
  const call = async (method: string, path: string, body?: unknown, options?: ChangeOptions): Promise<TrafficState> => {
    const parsed = (await api(method, path, body, options)) as { state?: unknown };
    return stateSchema.parse(parsed.state ?? parsed);
  };

  const readState = () => call('GET', '/admin/state');
  return {
    traffic: { readState, setWeights: (weights, options) => call('PUT', '/admin/weights', { weights }, options) },
    scaling: { readState, scale: (version, count, options) => call('PUT', '/admin/instances', { version, count }, options) },
    // Drills switch faults on the target and put them back (GET/PUT /admin/faults, /admin/fault, ...).
    faults: {
      read: async () => faultsSchema.parse(await api('GET', '/admin/faults')),
      setFault: async (version, fault, options) => void (await api('PUT', '/admin/fault', { version, ...fault }, options)),
      setBreaker: async (feature, open, options) => void (await api('PUT', '/admin/circuit-breaker', { feature, open }, options)),
      setMemory: async (version, ratio, options) => void (await api('PUT', '/admin/memory', { version, ratio }, options)),
    },
  };
}

export const httpRouter: ProviderDefinition<'traffic' | 'scaling' | 'faults', Settings> = {
  id: 'http-router',
  description: 'traffic weights and instance counts through a router admin API (the sandbox router\'s), and the faults drills switch; every change carries an idempotency key',
  capabilities: ['traffic', 'scaling', 'faults'],
  settingsSchema,
  example: { url: 'http://127.0.0.1:18080' },
  create,
};
