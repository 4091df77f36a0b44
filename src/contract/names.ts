/**
 * The public names UI users, scripts and runbooks type: the task queue, workflow types, gates,
 * signals, the status query and search attributes. The worker, the CLI, the runbook schema and the
 * docs read them from here (test/contract.test.ts checks they agree). Changing one breaks the people
 * who type it: add, don't rename.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TASK_QUEUE = 'rollbacks';

/**
 * The task queue of the watchdogs' watch loops (one long-running activity per watched system), polled
 * by every worker beside TASK_QUEUE: a thousand watch loops must not take the activity slots that
 * rollbacks need (WORKER_MAX_WATCHED_SYSTEMS bounds them apart from WORKER_MAX_CONCURRENT_ACTIVITIES).
 */
export const WATCH_TASK_QUEUE = 'rollbacks-watch';

/** The Worker Deployment every worker belongs to; its builds are named by their workflow bundle's hash (src/worker/deployment.ts). */
export const WORKER_DEPLOYMENT = 'rollbacks';

/**
 * Rollbacks an on-call engineer starts (Temporal UI, `temporal workflow start`, `rollback start`).
 * Each is registered by the worker; the CLI offers exactly these.
 */
/**
 * A commit or a range `A..B` a `git-revert` action names: shas, branch and tag names, `~`/`^` suffixes;
 * a dot never doubled (that is the range's `..`) nor last. Nothing git could read as an option, a
 * pathspec or a reflog entry. Checked when the runbook loads and again by the provider.
 */
const COMMITISH = '[A-Za-z0-9][A-Za-z0-9_/~^-]*(?:\\.[A-Za-z0-9_/~^-]+)*';
export const GIT_RANGE = new RegExp(`^(${COMMITISH})(?:\\.\\.(${COMMITISH}))?$`);

export const ROLLBACK_WORKFLOWS = ['fullRollback', 'dataRestore', 'phaseRollback', 'configRollback'] as const;
export type RollbackWorkflow = (typeof ROLLBACK_WORKFLOWS)[number];

/** Helpers the CLI and Schedules start: they change nothing a rollback would undo. */
export const SUPPORT_WORKFLOWS = ['databaseBackup', 'backupCatalog', 'keyspaceBackup'] as const;

/**
 * Watchers and drills: not rollbacks; the watchdog starts rollbacks (through the same per-system lock),
 * a drill rehearses one. One watchdog per system, under `watchdogWorkflowId(system)`; drills run on
 * Temporal Schedules under `drillScheduleId(system, drill)`.
 */
export const WATCH_WORKFLOWS = ['rollbackWatchdog', 'rollbackDrill'] as const;

/**
 * Workflows the rollbacks start for themselves; nobody starts them by hand. `rollbackLock` is the
 * per-system lock (src/workflows/rollback-lock.ts), running under `lockWorkflowId(system)`.
 */
export const INTERNAL_WORKFLOWS = ['rollbackLock'] as const;

/** Every workflow type the worker registers, no more and no fewer. */
export const WORKFLOW_TYPES = [...ROLLBACK_WORKFLOWS, ...SUPPORT_WORKFLOWS, ...WATCH_WORKFLOWS, ...INTERNAL_WORKFLOWS] as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[number];

/**
 * The gates each workflow stops at, with what passing one lets happen. A runbook may configure
 * (under `gates:`) only these names: a misspelt gate would otherwise silently remove an approval.
 */
export const GATES = {
  fullRollback: {
    'before-cleanup': 'before the canary is scaled to 0',
    'gradual-step': 'between gradual traffic steps (otherwise the runbook pause applies)',
    'before-release': "before each target of the release section is rolled (a before-release-<target> gate takes its place for that target)",
    'before-release-<target>': 'before <target> of the release section is rolled to another release',
  },
  dataRestore: {
    'before-swap': 'before the restored database is swapped in (also guards a schema rollback without its own gate)',
    'before-schema-rollback': 'before a schema rollback runs its down SQL',
  },
  phaseRollback: {
    'before-phase': 'before each phase is undone (a before-phase-<id> gate takes its place for that phase)',
    'before-phase-<id>': 'before phase <id> is undone, e.g. before-phase-2 with the DBA role for a phase with down SQL',
    'before-release': 'before a release action rolls its target (a before-release-<target> gate takes its place for that target)',
    'before-release-<target>': 'before <target> is rolled to another release, e.g. before-release-api with the release manager role',
  },
  configRollback: {
    'before-config-change': 'before flags, config, secret versions and restarts change',
    'before-kill-switch': 'before kill switches flip (without it they flip at once: seed 002, "instant effect")',
  },
} as const satisfies Record<RollbackWorkflow, Record<string, string>>;

/** Gate names that take a phase id, written with `<id>` in GATES. */
const PHASE_GATE = /^before-phase-(\d+)$/;

/** Every gate name (patterns as written, e.g. `before-phase-<id>`) with the workflows that use it. */
export function gateNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const [workflow, gates] of Object.entries(GATES)) {
    for (const gate of Object.keys(gates)) names.set(gate, [...(names.get(gate) ?? []), workflow]);
  }
  return names;
}

/** Gate names that take a release target, written with `<target>` in GATES. */
const RELEASE_GATE = /^before-release-(.+)$/;

/**
 * Whether a runbook may configure gate `name`: a fixed name, before-phase-<id> for one of its phases,
 * or before-release-<target> for a target its release actions or release section roll.
 */
export function isKnownGate(name: string, phaseIds: readonly number[], releaseTargets: readonly string[] = []): boolean {
  const phase = PHASE_GATE.exec(name);
  if (phase) return phaseIds.includes(Number(phase[1]));
  const release = RELEASE_GATE.exec(name);
  if (release) return releaseTargets.includes(release[1]!);
  return gateNames().has(name) && !name.includes('<');
}

/** The gate that guards phase `id` in a runbook with these gates, if any. */
export function phaseGate(gates: Readonly<Record<string, unknown>>, id: number): string | null {
  if (gates[`before-phase-${id}`]) return `before-phase-${id}`;
  return gates['before-phase'] ? 'before-phase' : null;
}

/** The gates that may stop a release of `target`, the first the runbook sets applying: its own, then the one for all. */
export function releaseGates(target: string): [string, string] {
  return [`before-release-${target}`, 'before-release'];
}

/** Signals every rollback workflow answers (the UI's Send a Signal dialog lists them). */
export const SIGNALS = ['approve', 'reject', 'decide', 'abort'] as const;
export type SignalName = (typeof SIGNALS)[number];

export const STATUS_QUERY = 'status';

/**
 * The workflow ID of `system`'s rollback lock. One fixed ID per system is what makes the lock exact:
 * Temporal starts at most one running workflow per ID, so of any number of rollbacks started at the
 * same instant exactly one gets it.
 */
export function lockWorkflowId(system: string): string {
  return `rollback-lock:${system}`;
}

/** The workflow ID of `system`'s watchdog: fixed, so a second watchdog of the same system is refused. */
export function watchdogWorkflowId(system: string): string {
  return `rollback-watchdog:${system}`;
}

/** The Temporal Schedule that runs one drill of a system. */
export function drillScheduleId(system: string, drill: string): string {
  return `rollback-drill:${system}:${drill}`;
}

/** Signals rollbackWatchdog answers: `pause {by, reason, untilMinutes?}` and `resume {by}`. */
export const WATCHDOG_SIGNALS = ['pause', 'resume'] as const;
export type WatchdogSignalName = (typeof WATCHDOG_SIGNALS)[number];

/** The signal a rollback sends its system's lock when it ends, naming itself. */
export const RELEASE_LOCK_SIGNAL = 'release';

/** The rollback that holds a system's lock: the lock's input and memo, and what a refusal names. */
export interface LockHolder {
  system: string;
  workflowId: string;
  workflowType: string;
  /** When the holder started (ISO 8601). */
  startedAt: string;
}

/**
 * Failure types a rollback ends with or an activity refuses with; none is worth retrying as it is
 * (a retry would compute the same refusal), so activity retry policies stop at them.
 */
export const FAILURE_TYPES = {
  InvalidInput: 'the input or the requested change cannot be carried out (unknown phase, flag, secret, version); nothing changed',
  InvalidRunbook: 'the runbook lacks what the rollback needs (no traffic section, no such provider)',
  UnknownSystem: 'no runbook of that name is loaded on the worker',
  RollbackAlreadyRunning: 'another rollback of the same system is running',
  PreflightBlocked: "a runbook preflight check failed (pending migrations, a dependent service down, a release not ready): refused before anything changed",
  WatchdogAlreadyRunning: "a watchdog was started under another ID than its system's (rollback-watchdog:<system>): one watchdog per system",
  UnknownWorkflowType: 'no workflow of that type runs on this task queue (a typo in the Workflow Type field)',
  HealthNotVerified: 'health after a change was bad or could not be measured',
  UnknownDatabase: 'no such database in the runbook, or it does not exist on the server',
  BackupNotFound: 'no backup of that id (or none before the instant asked)',
  BackupCorrupt: "a backup's files do not match its manifest",
  ToolsTooOld: 'pg_dump or pg_restore is older than the server',
  NotEnoughDisk: 'no room for the safety dump',
  NameTaken: 'a database name the restore needs is taken by something else',
  MissingSecret: 'an environment variable the runbook names is not set on the worker',
  RestoreNotVerified: 'a restored database or keyspace did not match its backup',
  SchemaRollbackFailed: 'the down SQL failed and was rolled back whole',
  NotSafeToRepeat: 'a change that must not run twice may have run in an attempt that ended without an answer',
  CommandFailed: "a runbook command exited non-zero, timed out or did not print its success pattern",
  RollbackAborted: 'the rollback was aborted or rejected; what was done is left as it is',
  RollbackFailed: 'a step failed and the rollback compensated (or timed out deciding)',
} as const;
export type FailureType = keyof typeof FAILURE_TYPES;

export const searchAttributes = {
  system: defineSearchAttributeKey('RollbackSystem', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('RollbackKind', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('RollbackState', SearchAttributeType.KEYWORD),
} as const;

export const ALL_SEARCH_ATTRIBUTES = Object.values(searchAttributes);
