// Every workflow type the worker registers: exactly the contract's WORKFLOW_TYPES (test/contract.test.ts).
export { fullRollback } from './full-rollback.ts';
export { dataRestore } from './data-restore.ts';
export { phaseRollback } from './phase-rollback.ts';
export { configRollback } from './config-rollback.ts';
export { backupCatalog, databaseBackup, keyspaceBackup } from './database-backup.ts';
export { rollbackWatchdog } from './rollback-watchdog.ts';
export { rollbackDrill } from './rollback-drill.ts';
export { rollbackLock } from './rollback-lock.ts';
// Any other type typed into the UI fails at once, naming these (the SDK runs the default export for it).
export { unknownWorkflowType as default } from './unknown-workflow-type.ts';
