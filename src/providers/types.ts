/**
 * One interface per capability. A provider is a plain object: an id runbooks name, a zod schema for
 * its runbook `settings`, and `create`, which binds the settings to a live client. Providers read
 * secrets from the environment by the variable names the runbook gives, never from the runbook.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';

export interface ProviderContext {
  /** Where `*Env` settings are looked up; the worker passes process.env. */
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}

export interface Provider<Settings, Client> {
  id: string;
  settingsSchema: z.ZodType<Settings>;
  create(settings: Settings, context: ProviderContext): Client;
}

import type { TrafficState } from '../contract/index.ts';

export type { TrafficState } from '../contract/index.ts';

export interface ChangeOptions {
  /** The same key twice applies the change once: activities derive it from workflow ID and step. */
  idempotencyKey: string;
  /** Who or what asked for the change, recorded by targets that keep a change log. */
  actor: string;
}

export interface TrafficClient {
  readState(): Promise<TrafficState>;
  setWeights(weights: Record<string, number>, options: ChangeOptions): Promise<TrafficState>;
  scale(version: string, count: number, options: ChangeOptions): Promise<TrafficState>;
}

/** Raw counters read from a metrics source at one instant. */
export interface MetricsSample {
  takenAtMs: number;
  /** Requests by HTTP status code. */
  requestsByStatus: Record<string, number>;
  /** Cumulative latency histogram: upper bound in seconds (Infinity for +Inf) to count. */
  latencyBuckets: { le: number; count: number }[];
}

export interface MetricsClient {
  scrape(): Promise<MetricsSample>;
}

export interface Notification {
  system: string;
  title: string;
  text: string;
  severity: 'info' | 'warning' | 'critical';
}

export interface NotifyClient {
  send(notification: Notification): Promise<void>;
}

export interface FlagsClient {
  readFlags(): Promise<Record<string, boolean>>;
  setFlag(name: string, enabled: boolean, options: ChangeOptions): Promise<void>;
  close(): Promise<void>;
}

export type TrafficProvider<S = unknown> = Provider<S, TrafficClient>;
export type MetricsProvider<S = unknown> = Provider<S, MetricsClient>;
export type NotifyProvider<S = unknown> = Provider<S, NotifyClient>;
export type FlagsProvider<S = unknown> = Provider<S, FlagsClient>;

/** Reads a secret named by a runbook; the error names the variable, never a value. */
export function secretFromEnv(context: ProviderContext, name: string): string {
  const value = context.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (the runbook references it)`);
  return value;
}
