/**
 * Every workflow type the worker registers: exactly the contract's WORKFLOW_TYPES (test/contract.test.ts).
 *
 * Each type's modules are loaded by the first workflow of that type that runs, not by every workflow:
 * in the SDK's reusable V8 context each open workflow evaluates the modules it loads for itself, and a
 * watchdog has no use for the restore, drill and action modules a rollback loads (nor a rollback for
 * the drill's). The imports are part of the bundle (webpack's eager mode, set in
 * src/build/workflow-bundle-builder.ts), so loading one is a module evaluation within the workflow's
 * first activation: no I/O, nothing in the history, the same on every replay.
 */
import type * as Backups from './database-backup.ts';
import type * as Config from './config-rollback.ts';
import type * as Data from './data-restore.ts';
import type * as Drill from './rollback-drill.ts';
import type * as Full from './full-rollback.ts';
import type * as Lock from './rollback-lock.ts';
import type * as Phase from './phase-rollback.ts';
import type * as Watchdog from './rollback-watchdog.ts';

export async function fullRollback(...args: Parameters<typeof Full.fullRollback>): ReturnType<typeof Full.fullRollback> {
  return (await import('./full-rollback.ts')).fullRollback(...args);
}

export async function dataRestore(...args: Parameters<typeof Data.dataRestore>): ReturnType<typeof Data.dataRestore> {
  return (await import('./data-restore.ts')).dataRestore(...args);
}

export async function phaseRollback(...args: Parameters<typeof Phase.phaseRollback>): ReturnType<typeof Phase.phaseRollback> {
  return (await import('./phase-rollback.ts')).phaseRollback(...args);
}

export async function configRollback(...args: Parameters<typeof Config.configRollback>): ReturnType<typeof Config.configRollback> {
  return (await import('./config-rollback.ts')).configRollback(...args);
}

export async function backupCatalog(...args: Parameters<typeof Backups.backupCatalog>): ReturnType<typeof Backups.backupCatalog> {
  return (await import('./database-backup.ts')).backupCatalog(...args);
}

export async function databaseBackup(...args: Parameters<typeof Backups.databaseBackup>): ReturnType<typeof Backups.databaseBackup> {
  return (await import('./database-backup.ts')).databaseBackup(...args);
}

export async function keyspaceBackup(...args: Parameters<typeof Backups.keyspaceBackup>): ReturnType<typeof Backups.keyspaceBackup> {
  return (await import('./database-backup.ts')).keyspaceBackup(...args);
}

export async function rollbackWatchdog(...args: Parameters<typeof Watchdog.rollbackWatchdog>): ReturnType<typeof Watchdog.rollbackWatchdog> {
  return (await import('./rollback-watchdog.ts')).rollbackWatchdog(...args);
}

export async function rollbackDrill(...args: Parameters<typeof Drill.rollbackDrill>): ReturnType<typeof Drill.rollbackDrill> {
  return (await import('./rollback-drill.ts')).rollbackDrill(...args);
}

export async function rollbackLock(...args: Parameters<typeof Lock.rollbackLock>): ReturnType<typeof Lock.rollbackLock> {
  return (await import('./rollback-lock.ts')).rollbackLock(...args);
}

// Any other type typed into the UI fails at once, naming these (the SDK runs the default export for it).
export { unknownWorkflowType as default } from './unknown-workflow-type.ts';
