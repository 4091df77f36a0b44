/**
 * The Cloud SQL Admin API v1 as the cloud-sql provider uses it: one client (the token read at each
 * request), the DatabaseInstance and Operation resources as it reads them, the calls it makes
 * (instances.get, getLatestRecoveryTime, clone, patch; operations.get and list) and the wait for an
 * operation to reach DONE. Every change is a long-running operation: the call answers at once with
 * an Operation (PENDING, then RUNNING, then DONE, with `error` when it failed) that is polled here.
 *
 * API reference (Cloud SQL Admin API v1):
 *   instances        https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances
 *   get              https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/get
 *   clone            https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/clone (CloneContext)
 *   patch            https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/patch
 *   recovery time    https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/projects.instances/getLatestRecoveryTime
 *   operations       https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/operations (get, list)
 *   clone's operation https://cloud.google.com/sql/docs/postgres/clone-instance (operationType CLONE, targetId = the new instance)
 *   errors           https://cloud.google.com/sql/docs/postgres/admin-api-error-messages
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { bearerToken, clause, jsonApi, type ApiRequest } from '../http-api.ts';
import type { ProviderContext } from '../types.ts';
import type { Settings } from './settings.ts';

export const API = 'Cloud SQL Admin API';

const backupConfiguration = z.looseObject({
  enabled: z.boolean().nullish(),
  /** PostgreSQL (and SQL Server): point-in-time recovery from the write-ahead log. */
  pointInTimeRecoveryEnabled: z.boolean().nullish(),
  /** MySQL: point-in-time recovery from the binary log. */
  binaryLogEnabled: z.boolean().nullish(),
  transactionLogRetentionDays: z.number().nullish(),
});
const instanceSchema = z.looseObject({
  name: z.string(),
  state: z.string().optional(),
  databaseVersion: z.string().optional(),
  connectionName: z.string().optional(),
  settings: z.looseObject({ userLabels: z.record(z.string(), z.string()).nullish(), backupConfiguration: backupConfiguration.nullish() }).optional(),
});
const operationSchema = z.looseObject({
  name: z.string(),
  status: z.string().optional(),
  operationType: z.string().optional(),
  targetId: z.string().optional(),
  insertTime: z.string().optional(),
  error: z.looseObject({ errors: z.array(z.looseObject({ code: z.string().optional(), message: z.string().optional() })).nullish() }).nullish(),
});
const operationsPage = z.looseObject({ items: z.array(operationSchema).nullish() });
const recoveryTimeSchema = z.looseObject({ latestRecoveryTime: z.string().optional(), earliestRecoveryTime: z.string().optional() });

export type Instance = z.infer<typeof instanceSchema>;
export type Operation = z.infer<typeof operationSchema>;

/** What an operation's `error` says, as one sentence. */
export const operationErrors = (operation: Operation): string =>
  (operation.error?.errors ?? []).map((e) => `${clause(e.message ?? 'no message')}${e.code ? ` (${e.code})` : ''}`).join('; ') || 'no message';

/** The instance a request is about, read from its path (/v1/projects/{p}/instances/{i}/...). */
const instanceOf = (path: string): string | undefined => /\/instances\/([^/?]+)/.exec(path)?.[1];

export type CloudSqlApi = ReturnType<typeof cloudSqlApi>;

/** The API for the settings' project. Creating it does no I/O. */
export function cloudSqlApi(settings: Settings, context: ProviderContext) {
  const project = `/v1/projects/${encodeURIComponent(settings.project)}`;
  const instancePath = (name: string) => `${project}/instances/${encodeURIComponent(name)}`;
  /** How the engineer looks at an instance, named in errors. */
  const describe = (name: string) => `gcloud sql instances describe ${name} --project=${settings.project}`;

  const advise = (status: number, request: ApiRequest): string | undefined => {
    const instance = instanceOf(request.path);
    if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
    if (status === 401) return `The access token in ${settings.tokenEnv} was refused (expired? access tokens last about an hour): put a fresh one there (gcloud auth print-access-token) and run the step again.`;
    if (status === 403) return `The token's account may not do this in project ${settings.project}: it needs cloudsql.instances.get, cloudsql.instances.clone and cloudsql.instances.update (roles/cloudsql.editor). Cloud SQL also answers 403 for an instance the project does not have: check the name${instance ? ` '${instance}'` : ''}.`;
    if (status === 404) return instance ? `Project ${settings.project} has no Cloud SQL instance '${instance}' (gcloud sql instances list --project=${settings.project}).` : undefined;
    if (status === 429) return 'Cloud SQL kept rate limiting past the retries: wait a minute and run the step again.';
    if (status >= 500) return 'Cloud SQL had a server error: run the step again (it reads the instances and their operations first, so a clone already started is not started twice).';
    return undefined;
  };

  // The token is read at each request, so a refreshed environment variable is picked up and create() stays free of I/O.
  const api = jsonApi({ baseUrl: settings.baseUrl, what: API, headers: bearerToken(context, settings.tokenEnv), timeoutMs: settings.requestTimeoutMs, advise });

  /** The instance, or null when the project has none by that name. */
  const getInstance = async (name: string, signal?: AbortSignal): Promise<Instance | null> => {
    const answer = await api('GET', instancePath(name), { schema: instanceSchema, accept: [404], signal });
    return answer.status === 404 ? null : answer.body;
  };

  const latestRecoveryTime = async (name: string) => (await api('GET', `${instancePath(name)}/getLatestRecoveryTime`, { schema: recoveryTimeSchema })).body;

  /** Starts the clone. Not repeatable: a lost answer may mean it started, and the caller's retry finds the new instance instead. */
  const clone = async (source: string, destination: string, pointInTime: string, signal?: AbortSignal): Promise<Operation> =>
    (await api('POST', `${instancePath(source)}/clone`, { body: { cloneContext: { kind: 'sql#cloneContext', destinationInstanceName: destination, pointInTime } }, schema: operationSchema, signal })).body;

  /** Sets the whole map of labels (safe to send again: it sets values). */
  const setLabels = async (name: string, labels: Record<string, string>): Promise<Operation> =>
    (await api('PATCH', instancePath(name), { body: { settings: { userLabels: labels } }, schema: operationSchema, repeatable: true })).body;

  /** The instance's operations, newest first (the first page is the recent ones). */
  const operationsOf = async (name: string, signal?: AbortSignal): Promise<Operation[]> =>
    (await api('GET', `${project}/operations?${new URLSearchParams({ instance: name, maxResults: '50' })}`, { schema: operationsPage, signal })).body.items ?? [];

  /** Polls the operation until DONE; its error, or the deadline, is an error naming it and the instance. */
  async function waitForOperation(operation: Operation, what: string, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<void> {
    let current = operation;
    while (current.status !== 'DONE') {
      if (Date.now() >= deadline) {
        throw new Error(`${API} operation ${operation.name} (${what}) did not finish within ${settings.timeoutMs} ms; it may still finish: gcloud sql operations describe ${operation.name} --project=${settings.project}`);
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
      current = (await api('GET', `${project}/operations/${encodeURIComponent(operation.name)}`, { schema: operationSchema, signal })).body;
      progress(`Cloud SQL operation ${operation.name} (${what}): ${current.status ?? 'unknown status'}`);
    }
    if (current.error) {
      const target = current.targetId ?? operation.targetId;
      throw new Error(`${API} operation ${operation.name} (${what}) failed: ${operationErrors(current)}.${target ? ` See ${describe(target)}` : ''}`);
    }
  }

  return { describe, getInstance, latestRecoveryTime, clone, setLabels, operationsOf, waitForOperation };
}
