/**
 * Where Temporal is and which namespace to use, read the way the `temporal` CLI reads it (envconfig:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TOML profiles, TLS, API keys). Shared by the worker and the
 * CLI; it does not load @temporalio/worker, so the CLI stays a plain client.
 */
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

export interface TemporalConnectConfig {
  /** envconfig's connection options with the address defaulted to localhost:7233. */
  connectionOptions: ClientConnectConfig['connectionOptions'] & { address: string };
  address: string;
  namespace: string;
}

export function temporalConnectConfig(env: Record<string, string | undefined>): TemporalConnectConfig {
  const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const config = loadClientConnectConfig({ overrideEnvVars });
  const address = config.connectionOptions.address ?? 'localhost:7233';
  return { connectionOptions: { ...config.connectionOptions, address }, address, namespace: config.namespace ?? 'default' };
}
