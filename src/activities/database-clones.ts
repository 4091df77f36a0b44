/**
 * Point-in-time clones of managed database instances (seed 002's `gcloud sql instances clone
 * --point-in-time`), for the cloudsql-clone action: the clone made and waited for, and instances
 * labelled (the original with what replaced it, a clone whose rollback was undone). Nothing here
 * deletes an instance.
 */
import { Context } from '@temporalio/activity';
import type { ProviderChange } from '../actions/kind.ts';
import type { DatabaseInstance } from '../providers/types.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';

export const createDatabaseCloneActivities = (deps: ActivityDeps) => {
  const clones = (input: ProviderChange) => deps.clients.get('databaseClones', providerRef(runbookFor(deps, input.system), input.provider));
  return {
    /**
     * Clones `instance` to `clone` as it was at `pointInTime` and waits until the clone is up; the
     * operation's progress goes into heartbeats. Safe to retry: a clone that exists, or whose
     * operation runs, is waited for instead of being made again (the provider looks first).
     */
    async cloneDatabaseInstance(input: ProviderChange & { instance: string; clone: string; pointInTime: string }): Promise<DatabaseInstance> {
      let progress: string[] = [];
      return withHeartbeats(
        clones(input).cloneInstance(input.instance, input.clone, input.pointInTime, {
          ...input,
          signal: Context.current().cancellationSignal,
          onProgress: (line) => (progress = [...progress, line].slice(-5)),
        }),
        () => ({ clone: input.clone, progress }),
      );
    },

    /** Merges labels into an instance's. Safe to retry: labels set as they are change nothing. */
    async labelDatabaseInstance(input: ProviderChange & { instance: string; labels: Record<string, string> }): Promise<DatabaseInstance> {
      return withHeartbeats(clones(input).labelInstance(input.instance, input.labels, input));
    },
  };
};
