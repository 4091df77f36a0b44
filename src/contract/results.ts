/**
 * What the rollback workflows return and show in `status` as their plan: the shapes a dry run's
 * reader, the CLI and the UI see. Plain data; the plans are built in src/plan/, the changes each
 * kind carries in src/actions/.
 */
import type { HealthVerdict, Release, ReleaseState, Snapshot, TrafficState, Blocker, PreflightResult } from './status.ts';

/** One step of a plan: the change and how compensation takes it back. */
export interface PlannedChange<C = unknown> {
  /** Unique in the plan; the step's name and its idempotency key, e.g. "phase-5/flag grok_integration". */
  name: string;
  phase: number | null;
  kind: string;
  /** The target in words, e.g. "flag grok_integration (flags)". */
  target: string;
  /** The value found before the change (from live state) and the one set, in words for status and dry runs. */
  from: string;
  to: string;
  /** False when the target already has the value: the step is kept, and changes nothing. */
  changes: boolean;
  change: C;
  /** What compensation runs; null when there is no way back here (the report says what to do). */
  undo: C | null;
  /** Why there is no undo, when undo is null. */
  noUndo?: string;
  /** An approval this one change waits for (a release's before-release-<target>), besides its set's gate. */
  gate?: PlannedGate;
}

export interface PlannedGate {
  gate: string;
  role: string;
  approvers: string[];
  required: number;
  forbidRequester: boolean;
}

export interface TrafficPlanStep {
  /** Unique within the plan; also the step's name in status and its idempotency key. */
  name: string;
  /** capacity: stable up before traffic moves; shift: traffic weights; cleanup: canary down after the gate. */
  phase: 'capacity' | 'shift' | 'cleanup';
  action: 'set-weights' | 'scale';
  description: string;
  from: Record<string, number> | number;
  to: Record<string, number> | number;
  version?: string;
  /** A gate before this step besides cleanup's (a canary scaled to 0 as the last shift, where traffic follows instances). */
  gate?: string;
}

export interface FullRollbackPlan {
  system: string;
  mode: 'immediate' | 'gradual';
  steps: TrafficPlanStep[];
  gates: PlannedGate[];
}

export interface ReleasePlanStep {
  /** Unique within the plan; the step's name in status and its idempotency key. */
  name: string;
  target: string;
  description: string;
  /** What serves now: compensation rolls back to it. */
  from: Release;
  to: Release;
  /** The approval this step waits for: before-release-<target>, else before-release. */
  gate?: PlannedGate;
}

export interface ReleaseRollbackPlan {
  system: string;
  mode: 'immediate';
  steps: ReleasePlanStep[];
  gates: PlannedGate[];
  /** Targets that cannot be rolled back, with why: the rollback is refused before anything changes. */
  problems: string[];
}

/** One group of changes undone together: a phase, or a config rollback's kill switches or other changes. */
export interface ChangeSet<P extends PlannedChange = PlannedChange> {
  /** "phase 5" or "kill switches" or "config". */
  name: string;
  title: string;
  phase: number | null;
  /** The gate before it, if the runbook has one there. */
  gate: PlannedGate | null;
  changes: P[];
  /** Health verified after it for this long; null when the runbook says not to verify. */
  verifySeconds: number | null;
}

export interface ChangePlan<P extends PlannedChange = PlannedChange> {
  system: string;
  sets: ChangeSet<P>[];
  /** What cannot be planned (a command placeholder with no value); present only when there is something. */
  problems?: string[];
}

export interface FullRollbackResult {
  dryRun: boolean;
  plan: FullRollbackPlan | ReleaseRollbackPlan;
  snapshot: Snapshot & ({ traffic: TrafficState } | { releases: ReleaseState[] });
  healthAfter: HealthVerdict | null;
  /** Each preflight check with its live result (a dry run shows them all, failed ones among its blockers). */
  preflight?: PreflightResult[];
  report: string | null;
}

/** A phase or config rollback's result. */
export interface ChangeRollbackResult {
  dryRun: boolean;
  plan: ChangePlan;
  snapshot: Snapshot;
  /** A dry run's findings that would refuse a real run, each with what clears it. */
  blockers: Blocker[];
  healthAfter: HealthVerdict | null;
  /** Each preflight check with its live result (a dry run shows them all, failed ones among its blockers). */
  preflight?: PreflightResult[];
  report: string | null;
}

/** dataRestore's plan: the backup it restores, the side database, the names in the swap, what is checked. */
export interface DataRestorePlan {
  backup: { id: string; takenAt: string; rowCounts: Record<string, number> };
  live: string;
  side: string;
  keptAs: string;
  checks: string[];
  steps: string[];
}

/** dataRestore's schema-rollback plan: the down SQL it runs, after the safety dump it names. */
export interface SchemaRollbackPlan {
  phases: { phase: number; sql: string }[];
  safetyDump: string;
}

export interface DataRestoreResult {
  dryRun: boolean;
  plan: DataRestorePlan | SchemaRollbackPlan;
  swapWindowMs: number | null;
  safetyDump: string | null;
  /** Each preflight check with its live result (a dry run shows them all, failed ones among its blockers). */
  preflight?: PreflightResult[];
  report: string | null;
}

/** databaseBackup's result: one backup taken, as `rollback backup` prints it. */
export interface DatabaseBackupResult {
  id: string;
  takenAt: string;
  files: number;
  bytes: number;
  rowCounts: Record<string, number>;
}

/** backupCatalog's result: each complete backup of a runbook database, oldest first. */
export interface BackupListing {
  id: string;
  kind: 'backup' | 'safety-dump';
  takenAt: string;
  serverVersion: string;
  rowCounts: Record<string, number>;
}

/** keyspaceBackup's result. */
export interface KeyspaceBackupResult {
  id: string;
  takenAt: string;
  pattern: string;
  keyCount: number;
  bytes: number;
}
