/**
 * The CLI's connection to Temporal and the calls every command makes, with the SDK's errors turned
 * into sentences an on-call engineer can act on (which workflow, which namespace, what to start).
 */
import { Client, Connection, ServiceError, type QueryDefinition, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { temporalConnectConfig } from '../worker/connect-config.ts';
import { searchAttributes, TASK_QUEUE } from '../contract/index.ts';
import type { RollbackStatus } from '../contract/index.ts';
import { statusQuery } from '../contract/messages.ts';


/**
 * A query waits for a worker; past this the CLI says no worker answered instead of hanging. Longer
 * than the SDK's 10 s sticky-queue timeout, so a worker that restarted still gets to answer.
 */
const QUERY_DEADLINE_MS = 15_000;

export interface Temporal {
  client: Client;
  connection: Connection;
  namespace: string;
  address: string;
}

/** The worker's envconfig approach (env vars, TOML profiles, API keys, TLS), with a client-only connection. */
export async function connect(env: Record<string, string | undefined> = process.env): Promise<Temporal> {
  const { connectionOptions, address, namespace } = temporalConnectConfig(env);
  try {
    const connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5 seconds' });
    return { connection, client: new Client({ connection, namespace }), namespace, address };
  } catch (err) {
    throw new Error(`cannot reach Temporal at ${address} (set TEMPORAL_ADDRESS, or start it with npm start): ${(err as Error).message}`);
  }
}

/** Runs `fn` with a connection that is closed afterwards, so the process exits when the command is done. */
export async function withTemporal<T>(fn: (temporal: Temporal) => Promise<T>): Promise<T> {
  const temporal = await connect();
  try {
    return await fn(temporal);
  } finally {
    await temporal.connection.close();
  }
}

export function uiLink(namespace: string, workflowId: string): string {
  const base = (process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233').replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export function notFound(temporal: Temporal, workflowId: string): Error {
  return new Error(`no workflow ${workflowId} in namespace ${temporal.namespace}`);
}

/** gRPC status code of an SDK error, looking through the ServiceError wrapper. */
function grpcCode(err: unknown): number | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

/** The innermost message: the server's words rather than the SDK's wrapper. */
function causeMessage(err: unknown): string {
  let e = err as { message?: string; details?: string; cause?: unknown };
  while (e.cause) e = e.cause as typeof e;
  return e.details || e.message || String(err);
}

export async function describe(temporal: Temporal, workflowId: string): Promise<WorkflowExecutionDescription> {
  try {
    return await temporal.client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound(temporal, workflowId);
    throw err;
  }
}

/**
 * How a closed workflow ended, in the rollback's own states where it recorded one (`aborted`,
 * `completed`, `failed`: an abort ends the Temporal run as failed), else as Temporal says
 * (`terminated`, `timed out`, `canceled`: the workflow could not record anything then).
 */
export function endedAs(description: WorkflowExecutionDescription): string {
  const recorded = description.typedSearchAttributes.get(searchAttributes.state);
  const byItself = description.status.name === 'COMPLETED' || description.status.name === 'FAILED';
  return byItself && recorded ? recorded : description.status.name.toLowerCase().replace('_', ' ');
}

/** The status query could not be answered because no worker is polling the task queue. */
export class NoWorkerError extends Error {
  constructor(temporal: Temporal, workflowId: string, seen: string) {
    super(
      `no worker answered the status query of ${workflowId}: ${seen} (task queue '${TASK_QUEUE}', namespace ${temporal.namespace}, ${temporal.address}). ` +
        'Start one (npm run worker, or npm start) and try again.',
    );
  }
}

/** temporal.api.enums.v1.TaskQueueType; @temporalio/proto is not a direct dependency of this package. */
const TASK_QUEUE_TYPE_WORKFLOW = 1;

/** Whether any worker polled the task queue lately (the server keeps pollers for a few minutes); null if unknown. */
async function workerSeen(temporal: Temporal): Promise<boolean | null> {
  try {
    const { pollers } = await temporal.connection.workflowService.describeTaskQueue({
      namespace: temporal.namespace,
      taskQueue: { name: TASK_QUEUE },
      taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (pollers?.length ?? 0) > 0;
  } catch {
    return null; // not allowed or not supported: the query's own deadline still answers the question
  }
}

// What a query ends in when no worker answers it: our deadline, reported by grpc-js as CANCELLED or
// DEADLINE_EXCEEDED, or the server's FAILED_PRECONDITION "no poller seen for task queue recently".
const CANCELLED = 1;
const DEADLINE_EXCEEDED = 4;
const FAILED_PRECONDITION = 9;

/** `checkWorker` first asks whether any worker polls, so "no worker" is said at once instead of after the deadline. */
export async function queryStatus(temporal: Temporal, handle: WorkflowHandle, checkWorker = true): Promise<RollbackStatus> {
  return queryWorkflow(temporal, handle, statusQuery, checkWorker);
}

/** Any `status`-like query, with queryStatus's answers for a missing workflow or worker. */
export async function queryWorkflow<T>(temporal: Temporal, handle: WorkflowHandle, query: QueryDefinition<T>, checkWorker = true): Promise<T> {
  if (checkWorker && (await workerSeen(temporal)) === false) throw new NoWorkerError(temporal, handle.workflowId, 'no worker is running');
  // Silence would look like a hung CLI; say what it waits for.
  const slow = setTimeout(() => console.error(`waiting for a worker to answer the status query (up to ${QUERY_DEADLINE_MS / 1000} s)...`), 3000);
  try {
    return await temporal.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(query));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound(temporal, handle.workflowId);
    if (!(err instanceof ServiceError)) throw err; // e.g. QueryNotRegisteredError: the caller explains it
    const code = grpcCode(err);
    const detail = causeMessage(err);
    if (code === CANCELLED || code === DEADLINE_EXCEEDED || (code === FAILED_PRECONDITION && /poller/i.test(detail))) {
      throw new NoWorkerError(temporal, handle.workflowId, code === FAILED_PRECONDITION ? 'no worker is running' : `none answered within ${QUERY_DEADLINE_MS / 1000} s`);
    }
    // The SDK's ServiceError says only "Failed to query Workflow"; the server's reason is in its cause.
    throw new Error(`status query of ${handle.workflowId} failed: ${detail}`);
  } finally {
    clearTimeout(slow);
  }
}
