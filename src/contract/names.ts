/**
 * The public names UI users, scripts and runbooks type: the task queue, workflow types, gates,
 * signals, the status query and search attributes. The worker, the CLI, the runbook schema and the
 * docs read them from here (test/contract.test.ts checks they agree). Changing one breaks the people
 * who type it: add, don't rename.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TASK_QUEUE = 'rollbacks';

/**
 * Rollbacks an on-call engineer starts (Temporal UI, `temporal workflow start`, `rollback start`).
 * Each is registered by the worker; the CLI offers exactly these.
 */
export const ROLLBACK_WORKFLOWS = ['fullRollback', 'dataRestore'] as const;
export type RollbackWorkflow = (typeof ROLLBACK_WORKFLOWS)[number];

/** Helpers the CLI and Schedules start: they change nothing a rollback would undo. */
export const SUPPORT_WORKFLOWS = ['databaseBackup', 'backupCatalog'] as const;

/** Every workflow type the worker registers, no more and no fewer. */
export const WORKFLOW_TYPES = [...ROLLBACK_WORKFLOWS, ...SUPPORT_WORKFLOWS] as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[number];

/**
 * The gates each workflow stops at, with what passing one lets happen. A runbook may configure
 * (under `gates:`) only these names: a misspelt gate would otherwise silently remove an approval.
 */
export const GATES = {
  fullRollback: {
    'before-cleanup': 'before the canary is scaled to 0',
    'gradual-step': 'between gradual traffic steps (otherwise the runbook pause applies)',
  },
  dataRestore: {
    'before-swap': 'before the restored database is swapped in (also guards a schema rollback without its own gate)',
    'before-schema-rollback': 'before a schema rollback runs its down SQL',
  },
} as const satisfies Record<RollbackWorkflow, Record<string, string>>;

export type GateName = { [W in keyof typeof GATES]: keyof (typeof GATES)[W] }[keyof typeof GATES];

/** Every gate name with the workflows that use it, e.g. `before-swap` -> ['dataRestore']. */
export function gateNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const [workflow, gates] of Object.entries(GATES)) {
    for (const gate of Object.keys(gates)) names.set(gate, [...(names.get(gate) ?? []), workflow]);
  }
  return names;
}

/** Signals every rollback workflow answers (the UI's Send a Signal dialog lists them). */
export const SIGNALS = ['approve', 'reject', 'decide', 'abort'] as const;
export type SignalName = (typeof SIGNALS)[number];

export const STATUS_QUERY = 'status';

export const searchAttributes = {
  system: defineSearchAttributeKey('RollbackSystem', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('RollbackKind', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('RollbackState', SearchAttributeType.KEYWORD),
} as const;

export const ALL_SEARCH_ATTRIBUTES = Object.values(searchAttributes);
