// Every workflow type the worker registers; the names are the public contract (DESIGN.md).
export { fullRollback } from './full-rollback.ts';
export { dataRestore } from './data-restore.ts';
export { backupCatalog, databaseBackup } from './database-backup.ts';
