/**
 * All activities, built from injected dependencies. Workflows import only the type of this factory's
 * result (`proxyActivities<RollbackActivities>`), never the code.
 */
import type { ActivityDeps } from './deps.ts';
import { createNotifyActivities } from './notify.ts';
import { createRunbookActivities } from './runbook.ts';
import { createTrafficActivities } from './traffic.ts';

export type { ActivityDeps } from './deps.ts';

export const createActivities = (deps: ActivityDeps) => ({
  ...createRunbookActivities(deps),
  ...createTrafficActivities(deps),
  ...createNotifyActivities(deps),
});

export type RollbackActivities = ReturnType<typeof createActivities>;
