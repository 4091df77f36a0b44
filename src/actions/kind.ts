/**
 * What one kind of runbook action is made of (flag, config, restart, scale, ...), each part where it
 * runs. Every kind is one module beside this file exporting an `ActionKindModule`, registered by one
 * line in index.ts; a module missing a part does not compile.
 *
 *   schema    the runbook's YAML for it (zod, made on first use)          worker: loading a runbook
 *   capture   its target's value now, read through its provider         worker: the snapshot activity
 *   plan      found value -> value set, and the way back                  pure: the workflow and the CLI
 *   carryOut  the activity call that changes (or puts back) the target   workflow
 *
 * A module imports no runtime code of either side: the worker and the workflow hand each part the
 * narrow context it needs (a provider client, the step's key, its activities), so the workflow bundle
 * carries the whole module without a byte of worker code.
 */
import type { z } from 'zod';
import { didYouMean, type CapturedValue, type PlannedChange, type PlannedGate } from '../contract/index.ts';

export type { PlannedChange } from '../contract/index.ts';
import type { Capability, Clients } from '../providers/types.ts';

/** What fills a command's `{{system}}`, `{{workflowId}}` and `{{requestedBy}}` (templates.ts). */
export interface FillContext {
  system: string;
  workflowId: string;
  requestedBy: string;
}

/** An action once its provider is resolved (named in the runbook, or the only one that can). */
export type Resolved<A> = A extends { provider?: string } ? Omit<A, 'provider'> & { provider: string } : A;

/** Whether running a change twice (a retried activity after a worker died mid-call) is safe. */
export interface RepeatSafety {
  /** true; false; or it depends on the runbook (a command's `repeatable`) or on the provider. */
  safe: boolean | 'runbook' | 'provider';
  /** Why, in a sentence (shown in the runbook reference). */
  why: string;
}

/** The worker side of a snapshot: a provider's client, the values found so far, and what blocks the rollback. */
export interface CaptureContext {
  system: string;
  client<C extends Capability>(capability: C, provider: string): Clients[C];
  /** A keyspace of the runbook: its provider, pattern and backup directory, and the client. */
  keyspace(name: string): { provider: string; pattern: string; dir: string; client: Clients['keyspace'] };
  /** A SQLite database of the runbook: its file now, its backups (oldest name first), and its writer's instance count. */
  sqlite(name: string): Promise<{ path: string; bytes: number | null; backupDir: string; backups: { name: string }[]; writer: { target: string; instances: number } | null }>;
  /** A container volume of the runbook: whether it exists, who uses it, its backups (oldest name first). */
  volume(name: string): Promise<{ volume: string; exists: boolean; usedBy: string[]; backupDir: string; backups: { name: string }[] }>;
  /** Runs a command action's capture (read-only) and returns what it printed, as the snapshot keeps it. */
  runCapture(provider: string, action: { capture: string[]; env: Record<string, string>; timeoutSeconds: number }): Promise<CapturedValue>;
  /** Whether the worker's environment has variable `name` set (never its value). */
  hasEnv(name: string): boolean;
  /** Every value captured so far, in order: a kind appends its own, and reads a target once. */
  values: CapturedValue[];
  /** Something a real run would be refused at, with the command that clears it where there is one. */
  block(problem: string, fix?: string | null): void;
}


/** What a kind's plan part is given: where it stands and the values as the steps before it leave them. */
export interface PlanContext {
  phase: number | null;
  /**
   * The captured values as the earlier changes of this plan leave them: a kind reads its target here
   * and writes what it sets, so a later change to the same target finds that (and undoes to it).
   */
  live: CapturedValue[];
  /** A unique step name from a base ("flag grok_integration", then "flag grok_integration #2"). */
  named(base: string): string;
  /** Fills a command's `{{placeholders}}`; absent when only checking (the snapshot's early look). */
  fill?: FillContext;
  /** What cannot be done (a secret with no previous version): the rollback is refused, naming it. */
  problem(message: string): void;
  /** A target the snapshot has no value of (the snapshot refused it already; a dry run lists it). */
  unread(message: string): void;
  /** The first of these gates the runbook configures, as the change's own gate; undefined when none is. */
  gate(...names: string[]): PlannedGate | undefined;
}

/** The workflow side of one step: its identity, and the activities it may call. */
export interface CarryOutContext<Activities> {
  system: string;
  /** The step's idempotency key: the same on every retry of this step. */
  key: string;
  /** The forward step's key, also when undoing (an undo finds what the forward step made by it). */
  forwardKey: string;
  /** Who changes are made by, as targets record it: "<requester> via <workflow id>". */
  actor: string;
  /** The workflow run, for names a change creates (a safety dump's id). */
  runId: string;
  /** The activities, with a start-to-close that allows `waitSeconds` of waiting (default: a quick call). */
  activities(waitSeconds?: number): Activities;
  /** Lines for the report's "Changes applied". */
  note(...lines: string[]): void;
  /** A verified safety dump of a runbook database, before anything touches it. */
  takeSafetyDump(database: string, dumpId: string): Promise<unknown>;
}

/**
 * One kind of action. `A` is its runbook form, `C` what one activity call carries out (forward or
 * undo), `Activities` the activities its carry-out calls (the worker's activities must provide them:
 * src/activities/index.ts checks).
 */
export interface ActionKindModule<K extends string, A, C, Activities> {
  kind: K;
  /** The runbook form, e.g. `{flag: grok_integration, enabled: false, provider: flags}`; made on first use. */
  schema(): z.ZodType<A>;
  /** What its provider must offer; null when the runbook names the resource itself (a database, a keyspace). */
  capability: Capability | null;
  repeat: RepeatSafety;
  /** Undone after the other changes of its set (a restart, so replicas load the values put back). */
  undoLast?: boolean;
  /** The action's target in words: "flag grok_integration", "restart all". */
  describe(action: A): string;
  /** Reads the target's value now into `ctx.values`, or blocks naming what is wrong. */
  capture(action: Resolved<A>, ctx: CaptureContext): Promise<void>;
  /** The changes this action makes, from the values in `ctx.live`. */
  plan(action: Resolved<A>, ctx: PlanContext): PlannedChange<C>[];
  /** Carries out one change (or its undo, which has the same shape) on the workflow side. */
  carryOut(change: C, ctx: CarryOutContext<Activities>): Promise<unknown>;
}

/** A name not found among `known`, with the closest one and what there is. */
export function unknownName(what: string, name: string, where: string, known: readonly string[]): string {
  return `unknown ${what} '${name}' in ${where}${didYouMean(name, known)}; it has: ${[...known].sort().join(', ') || 'none'}`;
}

/** A value in a plan's found/set columns: "unset" for null, strings as they are, JSON otherwise. */
export const show = (value: unknown) => (value === null || value === undefined ? 'unset' : typeof value === 'string' ? value : JSON.stringify(value));

/** The captured value of `kind` that `match` picks, typed. */
export function findValue<K extends CapturedValue['kind']>(values: readonly CapturedValue[], kind: K, match: (v: Extract<CapturedValue, { kind: K }>) => boolean): Extract<CapturedValue, { kind: K }> | undefined {
  return values.find((v): v is Extract<CapturedValue, { kind: K }> => v.kind === kind && match(v as Extract<CapturedValue, { kind: K }>));
}

/** What a change to a provider's target tells its activity: which provider, and the step's key. */
export interface ProviderChange {
  system: string;
  /** The runbook's name for the provider (under providers:). */
  provider: string;
  /** Fixed by the workflow (workflow, run and step), so every retry of this change carries the same key. */
  idempotencyKey: string;
  actor: string;
}

/** The provider-change fields of a step, from its context. */
export const providerChange = (ctx: CarryOutContext<unknown>, provider: string): ProviderChange => ({ system: ctx.system, provider, idempotencyKey: ctx.key, actor: ctx.actor });

/** Zod schemas made once, on first use: a workflow that never parses a runbook never builds them. */
export function lazily<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => (made ??= make());
}
