/**
 * The worker's read-only activities, run in this process instead of by a worker: `rollback plan`
 * reads live state exactly as a dry run's snapshot does, through the same activity code and provider
 * clients (settings from this process's environment, as the worker takes them from its own), with no
 * Temporal server. Only reading activities are offered here; nothing that changes a target is.
 */
import { asyncLocalStorage, Context, type Info } from '@temporalio/activity';
import type { Logger as TemporalLogger } from '@temporalio/common';
import { noopMetricMeter } from '@temporalio/common';
import type { Logger } from 'pino';
import type { ActivityDeps } from '../activities/deps.ts';
import { createDatabaseActivities } from '../activities/database.ts';
import { createInspectActivities } from '../activities/inspect.ts';
import { createReleaseActivities } from '../activities/releases.ts';
import { createSnapshotActivities } from '../activities/snapshot.ts';
import { ProviderClients } from '../providers/index.ts';
import type { Runbook } from '../runbook/schema.ts';

/** What an activity's context says about itself: a plan's, attempt 1, never a workflow's. */
const planInfo = {
  attempt: 1,
  isLocal: true,
  taskQueue: 'rollback-plan',
  activityId: 'plan',
  activityType: 'plan',
  workflowType: 'rollbackPlan',
  taskToken: new Uint8Array(),
  base64TaskToken: '',
  heartbeatDetails: undefined,
  activityNamespace: 'default',
  workflowNamespace: 'default',
  namespace: 'default',
  workflowExecution: undefined,
  scheduledTimestampMs: Date.now(),
  currentAttemptScheduledTimestampMs: Date.now(),
  startToCloseTimeoutMs: 0,
  scheduleToCloseTimeoutMs: 0,
  heartbeatTimeoutMs: undefined,
  priority: undefined,
  retryPolicy: undefined,
  inWorkflow: false,
} as unknown as Info;

/** The SDK's logger interface over pino: activities here log through the CLI's logger. */
function temporalLogger(logger: Logger): TemporalLogger {
  const at = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error') => (message: string, meta?: Record<string, unknown>) => logger[level](meta ?? {}, message);
  return {
    log: (level, message, meta) => logger[level.toLowerCase() as 'info'](meta ?? {}, message),
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

/**
 * Runs `work` inside an activity context of its own (heartbeats go nowhere: no server waits for them),
 * as the SDK's worker does for a real activity, so the activity code runs unchanged.
 */
function asActivity<T>(logger: Logger, work: () => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const cancelled = new Promise<never>(() => undefined);
  const context = new Context(planInfo, cancelled, abort.signal, () => undefined, undefined, temporalLogger(logger), noopMetricMeter, {});
  return asyncLocalStorage.run(context, work);
}

/** A stand-in for the worker's Temporal client: nothing offered here reaches for it. */
const noTemporal = new Proxy({} as ActivityDeps['temporal'], {
  get() {
    throw new Error('rollback plan starts no workflow and reaches no Temporal server');
  },
});

/** The read-only activities a dry run's snapshot and checks use, for one runbook, and a close() for their clients. */
export function localReadActivities(runbook: Runbook, options: { env: Readonly<Record<string, string | undefined>>; logger: Logger }) {
  const clients = new ProviderClients({ env: options.env, logger: options.logger });
  const deps: ActivityDeps = {
    runbooks: new Map([[runbook.system, runbook]]),
    env: options.env,
    logger: options.logger,
    clients,
    temporal: noTemporal,
    reportsDir: '',
  };
  const snapshot = createSnapshotActivities(deps);
  const releases = createReleaseActivities(deps);
  const inspect = createInspectActivities(deps);
  const database = createDatabaseActivities(deps);
  const run = <A, T>(activity: (input: A) => Promise<T>) => (input: A) => asActivity(options.logger, () => activity(input));
  return {
    captureSnapshot: run(snapshot.captureSnapshot),
    measureBaseline: run(snapshot.measureBaseline),
    captureReleases: run(releases.captureReleases),
    // Always as a dry run: every problem comes back as a blocker instead of refusing.
    inspectChanges: run((input: Omit<Parameters<typeof inspect.inspectChanges>[0], 'dryRun'>) => inspect.inspectChanges({ ...input, dryRun: true })),
    restorePreflight: run(database.restorePreflight),
    close: () => clients.close(),
  };
}

export type LocalReadActivities = ReturnType<typeof localReadActivities>;
