/**
 * Every provider, registered by capability and id. Runbooks name providers by id; an unknown id is
 * refused with the list of valid ones, and provider settings are checked by the provider's schema
 * when the runbook is loaded, so a typo stops the worker at start-up rather than mid-rollback.
 */
import { postgresTableFlags } from './flags/postgres-table.ts';
import { prometheus } from './health/prometheus.ts';
import { logNotify } from './notify/log.ts';
import { webhookNotify } from './notify/webhook.ts';
import { httpRouter } from './traffic/http-router.ts';
import type { FlagsClient, MetricsClient, NotifyClient, Provider, ProviderContext, TrafficClient } from './types.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each provider has its own settings type
type AnyProvider = Provider<any, unknown>;

function registry(...providers: AnyProvider[]): Map<string, AnyProvider> {
  return new Map(providers.map((provider) => [provider.id, provider]));
}

export const providers = {
  traffic: registry(httpRouter),
  metrics: registry(prometheus),
  notify: registry(logNotify, webhookNotify),
  flags: registry(postgresTableFlags),
};
export type Capability = keyof typeof providers;

export class UnknownProviderError extends Error {}

interface ClientOf {
  traffic: TrafficClient;
  metrics: MetricsClient;
  notify: NotifyClient;
  flags: FlagsClient;
}

export function findProvider(capability: Capability, id: string): AnyProvider {
  const registered: Map<string, AnyProvider> = providers[capability];
  const provider = registered.get(id);
  if (!provider) {
    throw new UnknownProviderError(`unknown ${capability} provider '${id}'; must be one of: ${[...registered.keys()].join(', ')}`);
  }
  return provider;
}

/** Parses settings with the provider's schema, then binds them to a live client. */
export function createClient<C extends Capability>(
  capability: C,
  ref: { provider: string; settings: Record<string, unknown> },
  context: ProviderContext,
): ClientOf[C] {
  const provider = findProvider(capability, ref.provider);
  return provider.create(provider.settingsSchema.parse(ref.settings), context) as ClientOf[C];
}
