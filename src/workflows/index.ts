// Every workflow type the worker registers: exactly the contract's WORKFLOW_TYPES (test/contract.test.ts).
export { fullRollback } from './full-rollback.ts';
export { dataRestore } from './data-restore.ts';
export { phaseRollback } from './phase-rollback.ts';
export { configRollback } from './config-rollback.ts';
export { backupCatalog, databaseBackup, keyspaceBackup } from './database-backup.ts';
export { rollbackWatchdog } from './rollback-watchdog.ts';
export { rollbackDrill } from './rollback-drill.ts';
export { rollbackLock } from './rollback-lock.ts';
