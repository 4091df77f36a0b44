/**
 * Every provider, registered by id with the capabilities it offers. Runbooks name providers by id; an
 * unknown id is refused with the list of valid ones, a provider asked for a capability it does not
 * offer names the ones that do, and settings are checked by the provider's schema when the runbook is
 * loaded, so a typo stops the worker at start-up rather than mid-rollback. test/providers.test.ts
 * checks that every provider file under src/providers is registered here.
 */
import { cloudLogging } from './cloud-logging/cloud-logging.ts';
import { cloudRun } from './cloud-run/cloud-run.ts';
import { cloudSql } from './cloud-sql/cloud-sql.ts';
import { commandProvider } from './command/command.ts';
import { flagdFile } from './flags/flagd-file.ts';
import { postgresTableFlags } from './flags/postgres-table.ts';
import { prometheus } from './health/prometheus.ts';
import { dockerCompose } from './docker-compose/docker-compose.ts';
import { flyLogsProvider } from './fly/logs.ts';
import { flyMachines } from './fly/fly-machines.ts';
import { gitRevert } from './git/git-revert.ts';
import { kubernetes } from './kubernetes/kubernetes.ts';
import { logNotify } from './notify/log.ts';
import { slack } from './notify/slack.ts';
import { statuspage } from './notify/statuspage.ts';
import { webhookNotify } from './notify/webhook.ts';
import { httpAdmin } from './platform/http-admin.ts';
import { railway } from './railway/railway.ts';
import { redisProvider } from './redis/redis.ts';
import { render } from './render/render.ts';
import { httpRouter } from './traffic/http-router.ts';
import type { Capability, Clients, ProviderClient, ProviderContext, ProviderDefinition } from './types.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each provider has its own settings type
export type AnyProvider = ProviderDefinition<Capability, any>;

export const PROVIDERS: ReadonlyMap<string, AnyProvider> = new Map(
  ([httpRouter, prometheus, logNotify, webhookNotify, postgresTableFlags, flagdFile, httpAdmin, redisProvider, commandProvider, slack, statuspage, flyMachines, railway, render, gitRevert, cloudRun, kubernetes, dockerCompose, cloudSql, cloudLogging, flyLogsProvider] as AnyProvider[]).map((p) => [p.id, p]),
);

/** In words, for messages: `killSwitches` -> "kill switches". */
export const CAPABILITY_NAMES: Record<Capability, string> = {
  traffic: 'traffic',
  scaling: 'instance scaling',
  metrics: 'metrics',
  notify: 'notify',
  flags: 'feature flags',
  config: 'config',
  secrets: 'secrets',
  killSwitches: 'kill switches',
  restarts: 'restarts',
  commands: 'commands',
  keyspace: 'Redis keyspace backups',
  faults: 'drill faults',
  releases: 'release rollbacks',
  statusPage: 'status page incidents',
  reverts: 'git reverts',
  volumes: 'container volumes',
  appSecrets: 'app secrets',
  databaseClones: 'database point-in-time clones',
  logs: 'log lines',
};

export class UnknownProviderError extends Error {}

/** Providers that offer `capability`, by id. */
export function providersOf(capability: Capability): string[] {
  return [...PROVIDERS.values()].filter((p) => p.capabilities.includes(capability)).map((p) => p.id);
}

/** The provider `id`, which must offer `capability`; the error names the ones that do. */
export function findProvider(capability: Capability, id: string): AnyProvider {
  const provider = PROVIDERS.get(id);
  const offering = providersOf(capability).join(', ');
  if (!provider) throw new UnknownProviderError(`unknown ${CAPABILITY_NAMES[capability]} provider '${id}'; must be one of: ${offering}`);
  if (!provider.capabilities.includes(capability)) {
    throw new UnknownProviderError(`provider '${id}' offers no ${CAPABILITY_NAMES[capability]} (it offers ${provider.capabilities.map((c) => CAPABILITY_NAMES[c]).join(', ')}); providers of ${CAPABILITY_NAMES[capability]}: ${offering}`);
  }
  return provider;
}

export interface ProviderRef {
  provider: string;
  settings: Record<string, unknown>;
}

/** Whether the provider of `ref` must not repeat `action` (see ProviderDefinition.notRepeatable). */
export function notRepeatable(ref: ProviderRef, action: string): boolean {
  return PROVIDERS.get(ref.provider)?.notRepeatable?.includes(action) ?? false;
}

/**
 * Live clients, one per provider reference (provider id and settings), made on first use and kept for
 * the worker's life: pools and connections are opened once, not per activity. `close()` at shutdown.
 */
export class ProviderClients {
  private readonly made = new Map<string, ProviderClient<Capability>>();

  constructor(private readonly context: ProviderContext) {}

  get<C extends Capability>(capability: C, ref: ProviderRef): Clients[C] {
    const key = JSON.stringify([ref.provider, ref.settings]);
    let client = this.made.get(key);
    if (!client) {
      const provider = findProvider(capability, ref.provider);
      client = provider.create(provider.settingsSchema.parse(ref.settings), this.context);
      this.made.set(key, client);
    }
    const offered = (client as Partial<Clients>)[capability];
    if (!offered) throw new UnknownProviderError(`provider '${ref.provider}' offers no ${CAPABILITY_NAMES[capability]}`);
    return offered;
  }

  /** Closes every client made; one that fails to close is logged and the rest still close. */
  async close(): Promise<void> {
    const clients = [...this.made.values()];
    this.made.clear();
    await Promise.all(
      clients.map((c) => c.close?.().catch((err: unknown) => this.context.logger.warn({ error: err }, 'a provider client did not close cleanly'))),
    );
  }
}
