/**
 * All activities, built from injected dependencies. Workflows import only the type of this factory's
 * result (`proxyActivities<RollbackActivities>`), never the code.
 */
import type { ChangeActivities } from '../actions/index.ts';
import { createBackupActivities } from './backup.ts';
import { createCommandActivities } from './commands.ts';
import { createConfigActivities } from './config.ts';
import { createDatabaseActivities } from './database.ts';
import { createDatabaseCloneActivities } from './database-clones.ts';
import type { ActivityDeps } from './deps.ts';
import { createDrillActivities } from './drill.ts';
import { createFlagActivities } from './flags.ts';
import { createHealthActivities } from './health.ts';
import { createInspectActivities } from './inspect.ts';
import { createKeyspaceActivities } from './keyspace.ts';
import { createNotifyActivities } from './notify.ts';
import { createPreflightActivities } from './preflight.ts';
import { createRecordActivities } from './records.ts';
import { createReleaseActivities } from './releases.ts';
import { createRevertActivities } from './reverts.ts';
import { createSchemaActivities } from './schema.ts';
import { createSnapshotActivities } from './snapshot.ts';
import { createSqliteActivities } from './sqlite.ts';
import { createVolumeActivities } from './volumes.ts';
import { createTrafficActivities } from './traffic.ts';
import { createWatchActivities } from './watch.ts';
import { createWriterActivities } from './writers.ts';
import { createSignatureActivities } from './signatures.ts';

export type { ActivityDeps } from './deps.ts';

export const createActivities = (deps: ActivityDeps) => ({
  ...createPreflightActivities(deps),
  ...createSnapshotActivities(deps),
  ...createTrafficActivities(deps),
  ...createHealthActivities(deps),
  ...createNotifyActivities(deps),
  ...createRecordActivities(deps),
  ...createBackupActivities(deps),
  ...createDatabaseActivities(deps),
  ...createWriterActivities(deps),
  ...createSchemaActivities(deps),
  ...createInspectActivities(deps),
  ...createFlagActivities(deps),
  ...createConfigActivities(deps),
  ...createCommandActivities(deps),
  ...createKeyspaceActivities(deps),
  ...createWatchActivities(deps),
  ...createDrillActivities(deps),
  ...createReleaseActivities(deps),
  ...createRevertActivities(deps),
  ...createSqliteActivities(deps),
  ...createVolumeActivities(deps),
  ...createDatabaseCloneActivities(deps),
  ...createSignatureActivities(),
});

/** Holds only if the activities include every one an action kind's carry-out calls (src/actions/), with its signature. */
type ProvidesEveryChange<T extends ChangeActivities> = T;

export type RollbackActivities = ProvidesEveryChange<ReturnType<typeof createActivities>>;
