/**
 * The cloud-sql provider's point-in-time clones (seed 002's `gcloud sql instances clone
 * medicalcor-db-prod medicalcor-db-recovery --point-in-time=...`): a new instance holding the source
 * as it was at that instant, made beside the production one, which is never changed but for labels.
 *
 * The API takes no idempotency key, and a clone takes minutes to hours, so a worker may die while one
 * runs. A clone is therefore looked for before it is started: an instance already named as the clone,
 * made by a CLONE operation, is waited for (its operation while it runs, then until RUNNABLE) rather
 * than cloned again; an instance by that name that no clone made is refused, never taken for one.
 *
 * API reference:
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/clone (CloneContext: destinationInstanceName, pointInTime)
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/projects.instances/getLatestRecoveryTime (earliest and latest recovery time)
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances (Settings.userLabels, BackupConfiguration)
 *   https://cloud.google.com/sql/docs/postgres/backup-recovery/pitr (log retention: 1 to 35 days, 7 by default)
 *   https://cloud.google.com/sql/docs/postgres/clone-instance (the clone's operation names the new instance as targetId)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, withAdvice } from '../http-api.ts';
import type { ChangeOptions, DatabaseClonesClient, DatabaseInstance, ProviderContext, RolloutOptions } from '../types.ts';
import { API, operationErrors, type CloudSqlApi, type Instance } from './api.ts';
import type { Settings } from './settings.ts';

/** The documented default of transactionLogRetentionDays. */
const DEFAULT_LOG_RETENTION_DAYS = 7;
const DAY_MS = 86_400_000;
/** Cloud SQL instance IDs: lowercase letters, digits and hyphens, starting with a letter. */
const INSTANCE_NAME = /^[a-z][-a-z0-9]{0,96}$/;
/** Label keys and values as Google Cloud takes them. */
const LABEL_KEY = /^[a-z][-_a-z0-9]{0,62}$/;
const LABEL_VALUE = /^[-_a-z0-9]{0,63}$/;

const asDatabaseInstance = (instance: Instance): DatabaseInstance => ({
  name: instance.name,
  state: instance.state ?? 'UNKNOWN_STATE',
  databaseVersion: instance.databaseVersion ?? '',
  connectionName: instance.connectionName ?? '',
  labels: { ...(instance.settings?.userLabels ?? {}) },
});

/** The database clones client of the settings' project; it does no I/O until called. */
export function cloudSqlClones(api: CloudSqlApi, settings: Settings, context: ProviderContext): DatabaseClonesClient {
  const log = (instance: string) => (line: string) => context.logger.info({ project: settings.project, instance }, line);

  const existing = async (name: string, signal?: AbortSignal): Promise<Instance> => {
    const instance = await api.getInstance(name, signal);
    if (!instance) throw new Error(`${API}: project ${settings.project} has no Cloud SQL instance '${name}' (gcloud sql instances list --project=${settings.project})`);
    return instance;
  };

  const readInstance = async (name: string) => {
    const instance = await api.getInstance(name);
    return instance ? asDatabaseInstance(instance) : null;
  };

  /**
   * The window getLatestRecoveryTime reports. An answer without `earliestRecoveryTime` (the field came
   * later than the method) is completed from the backup configuration: the latest time less the
   * transaction log retention, which is the most the logs can reach back (the oldest backup may reach less).
   */
  const recoveryWindow = async (name: string) => {
    const instance = await existing(name);
    const backups = instance.settings?.backupConfiguration;
    if (!backups?.enabled || !(backups.pointInTimeRecoveryEnabled || backups.binaryLogEnabled)) {
      const advice = `Enable it (gcloud sql instances patch ${name} --enable-point-in-time-recovery --project=${settings.project}); it reaches back only from then on.`;
      throw new Error(withAdvice(`${API}: Cloud SQL instance ${name} has ${backups?.enabled ? 'no point-in-time recovery' : 'no automated backups'}, so it cannot be cloned to a point in time`, advice));
    }
    const times = await api.latestRecoveryTime(name);
    if (!times.latestRecoveryTime) throw new Error(`${API}: getLatestRecoveryTime of instance ${name} named no latest recovery time; see ${api.describe(name)}`);
    const retentionDays = backups.transactionLogRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
    const earliest = times.earliestRecoveryTime ?? new Date(Date.parse(times.latestRecoveryTime) - retentionDays * DAY_MS).toISOString();
    return { earliest, latest: times.latestRecoveryTime };
  };

  /** The clone once it is RUNNABLE; FAILED (or the deadline) is an error naming it. */
  const runnable = async (name: string, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<DatabaseInstance> => {
    for (;;) {
      const instance = await existing(name, signal);
      if (instance.state === 'RUNNABLE') return asDatabaseInstance(instance);
      if (instance.state === 'FAILED') throw new Error(`${API}: the clone ${name} is FAILED; see ${api.describe(name)} and delete it before cloning again`);
      if (Date.now() >= deadline) throw new Error(`${API}: the clone ${name} is still ${instance.state ?? 'in an unknown state'} after ${settings.timeoutMs} ms; it may still finish: ${api.describe(name)}`);
      progress(`Cloud SQL instance ${name} is ${instance.state ?? 'in an unknown state'}`);
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  };

  /** An instance named as the clone already exists: the clone an earlier attempt started, waited for; anything else refused. */
  const adopt = async (source: string, clone: string, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<DatabaseInstance> => {
    const made = (await api.operationsOf(clone, signal)).find((o) => o.operationType === 'CLONE' && (o.targetId ?? clone) === clone);
    if (!made) {
      throw new Error(
        `${API}: Cloud SQL instance ${clone} already exists and no clone operation made it, so it is not a clone of ${source} this step started; ` +
          `name another clone, or delete ${clone} if nobody needs it (${api.describe(clone)})`,
      );
    }
    progress(`Cloud SQL instance ${clone} exists: the clone started earlier (operation ${made.name}, ${made.status ?? 'status unknown'}), waited for instead of cloning again`);
    if (made.status !== 'DONE') await api.waitForOperation(made, `clone of ${source} to ${clone}`, deadline, progress, signal);
    else if (made.error) throw new Error(`${API} operation ${made.name} (clone of ${source} to ${clone}) failed: ${operationErrors(made)}. See ${api.describe(clone)}`);
    return runnable(clone, deadline, progress, signal);
  };

  /** A 400 from clone, with the source's recovery window added when it can be read. */
  const refusal = async (err: ApiError, source: string, pointInTime: string): Promise<Error> => {
    const window = await recoveryWindow(source).catch(() => null);
    if (!window) return err;
    return new ApiError(withAdvice(err.message, `${pointInTime} must lie in ${source}'s recovery window, now ${window.earliest} to ${window.latest}.`), err.status, err.body);
  };

  /** Safe to retry: an existing clone (or its running operation) is waited for, never cloned again. */
  const cloneInstance = async (source: string, clone: string, pointInTime: string, options: RolloutOptions): Promise<DatabaseInstance> => {
    if (!INSTANCE_NAME.test(clone)) throw new Error(`${API}: '${clone}' cannot name a Cloud SQL instance: lowercase letters, digits and hyphens, starting with a letter`);
    if (clone === source) throw new Error(`${API}: a clone of ${source} needs a name of its own; ${source} itself is never overwritten`);
    if (Number.isNaN(Date.parse(pointInTime)) || !/^\d{4}-\d\d-\d\dT/.test(pointInTime)) throw new Error(`${API}: '${pointInTime}' is no RFC 3339 time like 2024-12-07T09:00:00Z`);
    const deadline = Date.now() + settings.timeoutMs;
    const progress = options.onProgress ?? log(clone);
    if (await api.getInstance(clone, options.signal)) return adopt(source, clone, deadline, progress, options.signal);
    let operation;
    try {
      operation = await api.clone(source, clone, pointInTime, options.signal);
    } catch (err) {
      // 409: the instance appeared between our read and the clone (a clone started by an attempt whose answer was lost).
      if (err instanceof ApiError && err.status === 409) return adopt(source, clone, deadline, progress, options.signal);
      if (err instanceof ApiError && err.status === 400) throw await refusal(err, source, pointInTime);
      throw err;
    }
    context.logger.info({ project: settings.project, source, clone, pointInTime, operation: operation.name, actor: options.actor }, `cloning Cloud SQL instance ${source} to ${clone} as of ${pointInTime}`);
    await api.waitForOperation(operation, `clone of ${source} to ${clone}`, deadline, progress, options.signal);
    return runnable(clone, deadline, progress, options.signal);
  };

  /** Safe to retry: labels already as asked are not patched again; the others the instance has are kept. */
  const labelInstance = async (name: string, labels: Record<string, string>, options: ChangeOptions): Promise<DatabaseInstance> => {
    for (const [key, value] of Object.entries(labels)) {
      if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
        throw new Error(`${API}: label ${key}=${value} is not one Cloud SQL takes: keys start with a lowercase letter, keys and values hold lowercase letters, digits, - and _, at most 63 characters`);
      }
    }
    const instance = await existing(name);
    const current = instance.settings?.userLabels ?? {};
    if (Object.entries(labels).every(([key, value]) => current[key] === value)) return asDatabaseInstance(instance);
    // The whole map is sent: a patch replaces a map field, so the labels the instance has are sent back with ours.
    const operation = await api.setLabels(name, { ...current, ...labels });
    context.logger.info({ project: settings.project, instance: name, labels, actor: options.actor }, `labelling Cloud SQL instance ${name}`);
    await api.waitForOperation(operation, `labels of ${name}`, Date.now() + settings.timeoutMs, log(name));
    return asDatabaseInstance(await existing(name));
  };

  return { readInstance, recoveryWindow, cloneInstance, labelInstance };
}
