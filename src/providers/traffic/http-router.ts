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

const changedSchema = z.object({ state: stateSchema });

const faultsSchema = z.object({
  faults: z.record(z.string(), z.object({ errorRatePct: z.number(), addedLatencyMs: z.number() })),
  breakers: z.record(z.string(), z.boolean()),
  memory: z.record(z.string(), z.number()),
});

function create(settings: Settings, context: ProviderContext): ProviderClient<'traffic' | 'scaling' | 'faults'> {
  const api = adminApi(settings, context, 'router');
  const readState = () => api.read(stateSchema, '/admin/state');
  // A change answers with the router's state after it, next to the change it logged.
  const change = async (path: string, body: unknown, options: ChangeOptions): Promise<TrafficState> => (await api.change(changedSchema, 'PUT', path, body, options)).state;
  const set = async (path: string, body: unknown, options: ChangeOptions): Promise<void> => void (await api.change(z.unknown(), 'PUT', path, body, options));
  return {
    traffic: { readState, setWeights: (weights, options) => change('/admin/weights', { weights }, options) },
    scaling: { readState, scale: (version, count, options) => change('/admin/instances', { version, count }, options) },
    // Drills switch faults on the target and put them back (GET/PUT /admin/faults, /admin/fault, ...).
    faults: {
      read: () => api.read(faultsSchema, '/admin/faults'),
      setFault: (version, fault, options) => set('/admin/fault', { version, ...fault }, options),
      setBreaker: (feature, open, options) => set('/admin/circuit-breaker', { feature, open }, options),
      setMemory: (version, ratio, options) => set('/admin/memory', { version, ratio }, options),
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
