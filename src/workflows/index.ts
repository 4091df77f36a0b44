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
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any workflow function's own parameters
type WorkflowFunction = (...args: any[]) => Promise<unknown>;

/** The workflow function `name` of the module `load` imports, loaded when a workflow first calls it. */
function loadedOnCall<Module extends Record<Name, WorkflowFunction>, Name extends keyof Module & string>(load: () => Promise<Module>, name: Name): Module[Name] {
  const call = async (...args: Parameters<Module[Name]>) => (await load())[name](...args);
  return Object.defineProperty(call, 'name', { value: name }) as Module[Name];
}

export const fullRollback = loadedOnCall(() => import('./full-rollback.ts'), 'fullRollback');
export const dataRestore = loadedOnCall(() => import('./data-restore.ts'), 'dataRestore');
export const phaseRollback = loadedOnCall(() => import('./phase-rollback.ts'), 'phaseRollback');
export const configRollback = loadedOnCall(() => import('./config-rollback.ts'), 'configRollback');
export const backupCatalog = loadedOnCall(() => import('./database-backup.ts'), 'backupCatalog');
export const databaseBackup = loadedOnCall(() => import('./database-backup.ts'), 'databaseBackup');
export const keyspaceBackup = loadedOnCall(() => import('./database-backup.ts'), 'keyspaceBackup');
export const rollbackWatchdog = loadedOnCall(() => import('./rollback-watchdog.ts'), 'rollbackWatchdog');
export const rollbackDrill = loadedOnCall(() => import('./rollback-drill.ts'), 'rollbackDrill');
export const rollbackLock = loadedOnCall(() => import('./rollback-lock.ts'), 'rollbackLock');

// Any other type typed into the UI fails at once, naming these (the SDK runs the default export for it).
export { unknownWorkflowType as default } from './unknown-workflow-type.ts';
