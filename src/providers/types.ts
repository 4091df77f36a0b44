/**
 * One interface per capability, and the shape of a provider: a plain object with the id runbooks
 * name, the capabilities it offers, a zod schema for its runbook `settings`, and `create`, which binds
 * the settings to one live client per worker (closed at shutdown). Providers read secrets from the
 * environment by the variable names the runbook gives, never from the runbook.
 *
 * Every change method is safe to repeat with the same idempotency key (the activity calling it may be
 * retried after a worker died mid-call), unless the provider lists it in `notRepeatable`: then a
 * retry is refused and a person decides (see src/activities/repeat-guard.ts).
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ReleaseState, Release, TrafficState } from '../contract/index.ts';
import type * as keyspaceFunctions from './keyspace/redis-keyspace.ts';

export type { Release, ReleaseState, TrafficState } from '../contract/index.ts';

export interface ProviderContext {
  /** Where `*Env` settings are looked up; the worker passes process.env. */
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}

export interface ChangeOptions {
  /** The same key twice applies the change once: activities derive it from workflow ID and step. */
  idempotencyKey: string;
  /** Who or what asked for the change, recorded by targets that keep a change log. */
  actor: string;
}

/** Traffic weights per version (percentages summing to 100). */
export interface TrafficClient {
  readState(): Promise<TrafficState>;
  setWeights(weights: Record<string, number>, options: ChangeOptions): Promise<TrafficState>;
}

/** Instance counts per version. */
export interface ScalingClient {
  readState(): Promise<TrafficState>;
  scale(version: string, count: number, options: ChangeOptions): Promise<TrafficState>;
}

/** Raw counters read from a metrics source at one instant. */
export interface MetricsSample {
  takenAtMs: number;
  /** Requests by HTTP status code. */
  requestsByStatus: Record<string, number>;
  /** Cumulative latency histogram: upper bound in seconds (Infinity for +Inf) to count. */
  latencyBuckets: { le: number; count: number }[];
  /** The gauge selectors asked for (`name{label="value"}`), each the highest matching series; null when none matches. */
  gauges: Record<string, number | null>;
}

export interface MetricsClient {
  /** One scrape; `gauges` are selectors like `circuit_breaker_open{feature="grok"}` to read as well. */
  scrape(gauges?: readonly string[]): Promise<MetricsSample>;
}

export interface Notification {
  system: string;
  title: string;
  text: string;
  severity: 'info' | 'warning' | 'critical';
  /** The rollback it is about, for channels that can show its state, link to it and name who may approve. */
  rollback?: {
    workflowId: string;
    workflowType: string;
    /** Its state now: running, waiting-approval, completed, compensated, failed, aborted... */
    state: string;
    /** The rollback in the Temporal Web UI, when the worker knows the UI's address. */
    uiUrl?: string;
    /** Who may pass the gate it waits at, when it waits at one. */
    approvers?: string[];
    /** The gate it waits at. */
    gate?: string;
  };
}

export interface NotifyClient {
  send(notification: Notification): Promise<void>;
}

/** Feature flags: on or off by name. */
export interface FlagsClient {
  /** Every flag the store knows, by name. */
  readFlags(): Promise<Record<string, boolean>>;
  setFlag(name: string, enabled: boolean, options: ChangeOptions): Promise<void>;
}

/** Configuration values (environment-like, never secrets): null means unset. */
export interface ConfigClient {
  readConfig(): Promise<Record<string, string>>;
  setConfig(values: Record<string, string | null>, options: ChangeOptions): Promise<void>;
}

export type VersionState = 'ENABLED' | 'DISABLED';

/** A secret's versions and which one services load (the latest enabled one), never its value. */
export interface SecretVersions {
  name: string;
  versions: { version: number; state: VersionState }[];
  /** The version a service starting now would load; null when none is enabled. */
  current: number | null;
}

export interface SecretsClient {
  /** Every secret the store holds, with its versions. */
  readSecrets(): Promise<SecretVersions[]>;
  /** Sets the state of the given versions (others untouched) and returns the secret as it then is. */
  setVersionStates(name: string, states: Record<number, VersionState>, options: ChangeOptions): Promise<SecretVersions>;
}

/** Emergency kill switches: a feature switched off at once, without a deploy (seed 002). */
export interface KillSwitchClient {
  /**
   * The features that have a kill switch. A store like Redis reads an absent key as "off", so it
   * cannot tell a misspelt feature from a real one: the runbook lists them, and a rollback may engage
   * only these (a switch for `grk` would change nothing while the rollback reported success).
   */
  listKillSwitches(): Promise<string[]>;
  readKillSwitches(features: string[]): Promise<Record<string, boolean>>;
  setKillSwitch(feature: string, on: boolean, options: ChangeOptions): Promise<void>;
}

/** What one running replica of a service loaded when it started. */
export interface ReplicaInfo {
  version: string;
  replica: number | string;
  pid?: number;
  startedAt: string;
  config: Record<string, string>;
  secretVersions: Record<string, number>;
}

/** Restarts, so services load changed config and secrets (seed 000: `fly apps restart`). */
export interface RestartClient {
  /** Versions (services) that can be restarted. */
  targets(): Promise<string[]>;
  readReplicas(target: string): Promise<ReplicaInfo[]>;
  restart(target: string, options: ChangeOptions): Promise<ReplicaInfo[]>;
}

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** The last lines of output (stdout and stderr interleaved), secrets masked. */
  outputTail: string[];
}

/** Commands from the runbook (argv, never a shell string), e.g. seed 000's clear_rag_cache.py. */
export interface CommandClient {
  run(
    command: { argv: string[]; env: Record<string, string>; timeoutMs: number },
    observe: { onLine(line: string): void; signal?: AbortSignal },
  ): Promise<CommandResult>;
}

type Keyspace = typeof keyspaceFunctions;

/** Backups of a Redis keyspace (keys matching a pattern) and their restore, saving what was there first. */
export interface KeyspaceClient {
  countKeys(pattern: string): Promise<number>;
  backup(options: Parameters<Keyspace['backupKeyspace']>[1]): ReturnType<Keyspace['backupKeyspace']>;
  listBackups(dir: string): ReturnType<Keyspace['listKeyspaceBackups']>;
  verifyBackup(dir: string, id: string): Promise<string[]>;
  restore(options: Parameters<Keyspace['restoreKeyspace']>[1]): ReturnType<Keyspace['restoreKeyspace']>;
  verifyRestore(options: Parameters<Keyspace['verifyKeyspaceRestore']>[1]): Promise<string[]>;
  undoRestore(options: Parameters<Keyspace['undoKeyspaceRestore']>[1]): ReturnType<Keyspace['undoKeyspaceRestore']>;
}

/** What a drill can switch on a target to practise on (src/workflows/rollback-drill.ts), and read to put it back. */
export interface TargetFaults {
  /** Injected errors and latency per version. */
  faults: Record<string, { errorRatePct: number; addedLatencyMs: number }>;
  /** Circuit breakers by feature: open or not. */
  breakers: Record<string, boolean>;
  /** Memory in use as a fraction of each version's limit. */
  memory: Record<string, number>;
}

export interface FaultsClient {
  read(): Promise<TargetFaults>;
  setFault(version: string, fault: { errorRatePct: number; addedLatencyMs: number }, options: ChangeOptions): Promise<void>;
  setBreaker(feature: string, open: boolean, options: ChangeOptions): Promise<void>;
  setMemory(version: string, ratio: number, options: ChangeOptions): Promise<void>;
}

export interface RolloutOptions extends ChangeOptions {
  /** Progress lines (operation polls, rollout status), streamed into heartbeats. */
  onProgress?(line: string): void;
  signal?: AbortSignal;
}

/** Releases of deployable targets: read the current and previous one, name one, and roll a target to one. */
export interface ReleasesClient {
  readRelease(target: string): Promise<ReleaseState>;
  /**
   * The target's releases a rollback can name, newest first, at most `limit`, the one serving now
   * included: what a refusal of an unknown version lists ("it has: ...").
   */
  listReleases(target: string, limit: number): Promise<Release[]>;
  /**
   * The release `name` means for `target`, as the platform names its releases: a deploy id (Render,
   * Railway), an image reference or digest (Fly, Cloud Run, Kubernetes), a revision (Kubernetes'
   * `--to-revision`, a Cloud Run revision or traffic tag), a git tag (Compose). Null when it has none
   * by that name. A platform that deploys any image (Cloud Run, Fly, Kubernetes) returns an image
   * reference no release runs yet as a release to deploy (`Release.fresh`).
   */
  findRelease(target: string, name: string): Promise<Release | null>;
  /**
   * Makes `release` the one serving `target` and waits until the platform reports it up (healthy,
   * ready, rolled out), returning the state afterwards. Rolling to the release already serving
   * changes nothing, so a retried call is safe.
   */
  rollTo(target: string, release: Release, options: RolloutOptions): Promise<ReleaseState>;
  /**
   * Whether `release` could serve now, as the platform says (Cloud Run: the revision's Ready
   * condition, with its message when it is not). Left out where the platform cannot say: a preflight
   * release check then says it checked only that the release exists.
   */
  releaseReadiness?(target: string, release: Release): Promise<{ ready: boolean; detail: string }>;
}

/** An incident on a public status page (Atlassian Statuspage), opened at a rollback's start and resolved at its end. */
export interface StatusIncident {
  system: string;
  /** The rollback's workflow ID: the incident is found again by it, so a retried open opens one. */
  rollbackId: string;
  title: string;
  status: 'investigating' | 'identified' | 'monitoring' | 'resolved';
  text: string;
}

export interface StatusPageClient {
  /** Opens the incident, or returns the open one already made for `rollbackId`. */
  open(incident: StatusIncident): Promise<{ id: string }>;
  /** Posts an update (status and text) to the incident; `resolved` closes it and sets its components operational. */
  update(id: string, update: { status: StatusIncident['status']; text: string }): Promise<void>;
}

/** A git repository whose commits a rollback reverts (seeds 001, 004): new commits, pushed; never a reset or a force-push. */
export interface RevertsClient {
  /** The branch and its head commit on the remote. */
  readHead(): Promise<{ branch: string; head: string }>;
  /**
   * Reverts the commits of `range` (`A..B`, newest first) as new commits on the branch and pushes;
   * a repeat with the same idempotency key finds its commits on the branch and adds none.
   */
  revert(range: string, options: ChangeOptions): Promise<{ head: string; reverted: string[]; created: string[] }>;
}

/**
 * Named volumes of a container engine (seed 003's `ai_workflow_engine_postgres_data`), archived and
 * restored through a short-lived helper container, and the services that write to them stopped and
 * started. Archives are gzipped tar files in a folder of the worker's that the helper mounts.
 */
export interface VolumesClient {
  /** Whether the volume exists, and the containers that use it. */
  readVolume(volume: string): Promise<{ exists: boolean; usedBy: string[] }>;
  /** The volume's contents written to `archive` (`tar -czf`, read-only mount); returns how many entries it holds. */
  archiveVolume(volume: string, archive: string, signal?: AbortSignal): Promise<{ entries: number }>;
  /** The volume's contents replaced by `archive`'s: everything in it removed, the archive extracted; returns the entries now in it. */
  replaceVolume(volume: string, archive: string, signal?: AbortSignal): Promise<{ entries: number }>;
  stopServices(services: readonly string[], signal?: AbortSignal): Promise<void>;
  startServices(services: readonly string[], signal?: AbortSignal): Promise<void>;
}

/** An app's secrets where the platform keeps no versions and never returns values (Fly: `/apps/{app}/secrets`). */
export interface AppSecretsClient {
  /** The app's secrets by name, each with the digest the platform reports (never a value). */
  readAppSecrets(target: string): Promise<{ name: string; digest: string }[]>;
  /** What the platform calls `target` where a person types a command by hand (Fly: the app `-a` takes). No I/O. */
  appName(target: string): string;
  /**
   * Sets (`value` a string) or unsets (null) secret `name` of `target`, then updates the target's
   * Machines so they load it; returns the secrets afterwards. Setting the value it has (same digest)
   * and unsetting an absent secret change nothing, so a retry is safe.
   */
  setAppSecret(target: string, name: string, value: string | null, options: RolloutOptions): Promise<{ name: string; digest: string }[]>;
}

/** A managed database instance (Cloud SQL) as the Admin API describes it: never a password. */
export interface DatabaseInstance {
  name: string;
  state: string;
  databaseVersion: string;
  /** The name services connect with (`project:region:instance`). */
  connectionName: string;
  labels: Record<string, string>;
}

/** Point-in-time clones of managed database instances (seed 002: `gcloud sql instances clone --point-in-time`). */
export interface DatabaseClonesClient {
  /** The instance, or null when it does not exist. */
  readInstance(name: string): Promise<DatabaseInstance | null>;
  /** The earliest and latest points in time `instance` can be cloned to (its backup and log retention). */
  recoveryWindow(name: string): Promise<{ earliest: string; latest: string }>;
  /**
   * Clones `source` to a new instance `clone` as it was at `pointInTime`, and waits for the operation
   * to finish; a repeat finds the clone (or its running operation) and starts none.
   */
  cloneInstance(source: string, clone: string, pointInTime: string, options: RolloutOptions): Promise<DatabaseInstance>;
  /** Merges `labels` into the instance's labels (the original marked as replaced, never deleted). */
  labelInstance(name: string, labels: Record<string, string>, options: ChangeOptions): Promise<DatabaseInstance>;
}

/** What a log check's `logsFrom:` may add to its provider's settings; each logs provider takes some (ProviderDefinition.logQuery). */
export interface LogQuery {
  /** Cloud Logging: a filter in the Logging query language, e.g. `severity>=ERROR`. */
  filter?: string;
  /** Fly: only the lines of this Machine (instance ID). */
  instance?: string;
  /** Fly: only the lines of Machines in this region. */
  region?: string;
}

/** One log entry as a check counts it: when, its severity (Cloud Logging) or level (Fly), and its text. */
export interface LogLine {
  timestamp: string;
  severity: string;
  text: string;
}

/** The entries of a window, and whether all of it was read. */
export interface LogWindow {
  /** Oldest first, every one inside the window. */
  lines: LogLine[];
  /** Requests made to read them. */
  pages: number;
  /** Null when the window was read to its end; else why reading stopped first (a page cap). */
  cutShort: string | null;
}

/** Log lines read from a platform's log API (Cloud Logging's entries.list, Fly's logs endpoint). */
export interface LogsClient {
  /** Every entry `query` selects from `sinceMs` to `untilMs` (both included), read page by page up to the provider's cap. */
  readWindow(query: LogQuery, span: { sinceMs: number; untilMs: number }, signal?: AbortSignal): Promise<LogWindow>;
}

export interface Clients {
  traffic: TrafficClient;
  scaling: ScalingClient;
  metrics: MetricsClient;
  notify: NotifyClient;
  flags: FlagsClient;
  config: ConfigClient;
  secrets: SecretsClient;
  killSwitches: KillSwitchClient;
  restarts: RestartClient;
  commands: CommandClient;
  keyspace: KeyspaceClient;
  faults: FaultsClient;
  releases: ReleasesClient;
  statusPage: StatusPageClient;
  reverts: RevertsClient;
  volumes: VolumesClient;
  appSecrets: AppSecretsClient;
  databaseClones: DatabaseClonesClient;
  logs: LogsClient;
}

export type Capability = keyof Clients;

/** The client `create` returns: one object per capability offered, and how to let go of connections. */
export type ProviderClient<C extends Capability> = { [K in C]: Clients[K] } & { close?(): Promise<void> };

export interface ProviderDefinition<C extends Capability = Capability, Settings = unknown> {
  id: string;
  /** One line for `rollback providers` and the README. */
  description: string;
  capabilities: readonly C[];
  settingsSchema: z.ZodType<Settings>;
  /** Settings that load, for the registry test and the docs. */
  example: Record<string, unknown>;
  /** Change methods that a second call would apply again (no idempotency key honoured). */
  notRepeatable?: readonly string[];
  /**
   * The targets its settings name, where the platform itself cannot list them (a Redis provider's
   * kill switches): runbook actions naming others are refused when the runbook loads.
   */
  declaredTargets?(settings: Settings): Partial<Record<C, readonly string[]>>;
  /** A logs provider: the fields of LogQuery a log check's `logsFrom:` may give it; others are refused when the runbook loads. */
  logQuery?: readonly (keyof LogQuery)[];
  /** Binds settings to live clients. Connects lazily: creating a client does no I/O. */
  create(settings: Settings, context: ProviderContext): ProviderClient<C>;
}

/** Reads a secret named by a runbook; the error names the variable, never a value. */
export function secretFromEnv(context: ProviderContext, name: string): string {
  const value = context.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (the runbook references it)`);
  return value;
}
