/**
 * Worker Deployment Versioning (https://docs.temporal.io/worker-deployments): every worker of this
 * tool belongs to the deployment `rollbacks`, and its build id is the hash of the workflow bundle it
 * runs. Rollback workflows are Pinned: one that waits hours at a gate finishes on the build that
 * started it, however often the worker is upgraded meanwhile, so a workflow change shipped
 * mid-incident cannot break a rollback already running with a non-determinism error. New rollbacks
 * start on the deployment's current build.
 *
 * The calls here are the server's Worker Deployment API (the SDK has no wrapper for them yet), shared
 * by the worker (which makes its own build current, see promoteWhenPolling) and `rollback workers`.
 */
import { basename } from 'node:path';
import type { Client } from '@temporalio/client';
import { WORKER_DEPLOYMENT } from '../contract/index.ts';

export interface WorkerVersion {
  deploymentName: string;
  buildId: string;
}

/**
 * The build id of a workflow bundle: the first 16 hex digits of its SHA-256 (the bundle cache names
 * its file `<sha256>.js`). Two workers with the same workflow code share a build; any change to the
 * code, its imports or the SDK that bundles it makes a new one.
 */
export function buildIdOf(bundlePath: string): string {
  const sha = /^([0-9a-f]{64})\.js$/.exec(basename(bundlePath))?.[1];
  if (!sha) throw new Error(`cannot tell the build id of ${bundlePath}: a workflow bundle is named <sha256>.js`);
  return sha.slice(0, 16);
}

export const versionOf = (bundlePath: string, deploymentName = WORKER_DEPLOYMENT): WorkerVersion => ({ deploymentName, buildId: buildIdOf(bundlePath) });

/** What a build is doing for the deployment, in the words `rollback workers` prints. */
export type BuildState = 'current' | 'ramping' | 'draining' | 'drained' | 'inactive';

/**
 * temporal.api.enums.v1.WorkerDeploymentVersionStatus by number (@temporalio/proto is not a direct
 * dependency of this package): 1 inactive, 2 current, 3 ramping, 4 draining, 5 drained, 6 created
 * (polled, never current: inactive to an operator).
 */
const STATES: Partial<Record<number, BuildState>> = { 1: 'inactive', 2: 'current', 3: 'ramping', 4: 'draining', 5: 'drained', 6: 'inactive' };

export interface BuildSummary {
  buildId: string;
  state: BuildState;
  /** When the server first saw a worker of this build poll. */
  createdAt: string | null;
}

const isoOf = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null =>
  t?.seconds == null ? null : new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();

const notFound = (err: unknown) => (err as { code?: number }).code === 5; // gRPC NOT_FOUND

/** The deployment's builds, newest first; empty when no versioned worker has polled yet. */
export async function deploymentBuilds(client: Client, deploymentName = WORKER_DEPLOYMENT): Promise<BuildSummary[]> {
  try {
    const { workerDeploymentInfo } = await client.workflowService.describeWorkerDeployment({ namespace: client.options.namespace, deploymentName });
    const builds = (workerDeploymentInfo?.versionSummaries ?? []).map((summary) => ({
      buildId: summary.deploymentVersion?.buildId ?? '',
      state: STATES[summary.status ?? 0] ?? 'inactive',
      createdAt: isoOf(summary.createTime),
    }));
    return builds.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  } catch (err) {
    if (notFound(err)) return [];
    throw err;
  }
}

/**
 * Makes `buildId` the deployment's current build: new rollbacks start on it; pinned ones stay where they are.
 * The server refuses while the new build has not yet polled every task queue the current one serves
 * (a worker starts its workflow and activity pollers a moment apart): asked again for up to 30 s.
 */
export async function makeCurrent(client: Client, version: WorkerVersion, identity: string): Promise<void> {
  for (const deadline = Date.now() + 30_000; ; ) {
    try {
      await client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: client.options.namespace,
        deploymentName: version.deploymentName,
        buildId: version.buildId,
        identity,
      });
      return;
    } catch (err) {
      const pollersStarting = (err as { code?: number }).code === 9 /* FAILED_PRECONDITION */ && /missing active task queues/.test((err as Error).message);
      if (!pollersStarting || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * Once this worker's build has polled (the server knows a version only after its first poll), makes it
 * current unless it already is. A worker that starts is the build its operator wants new rollbacks
 * on; rollbacks pinned to the build before keep running on it while a worker of that build runs.
 * With WORKER_PROMOTE=manual the operator does this with `rollback workers promote <build>` instead.
 * Gives up quietly after `timeoutMs`: the worker still serves whatever is routed to it.
 */
export async function promoteWhenPolling(client: Client, version: WorkerVersion, options: { identity: string; timeoutMs: number; signal?: AbortSignal }): Promise<'promoted' | 'already current' | 'gave up'> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline && !options.signal?.aborted) {
    const build = (await deploymentBuilds(client, version.deploymentName)).find((b) => b.buildId === version.buildId);
    if (build?.state === 'current') return 'already current';
    if (build) {
      await makeCurrent(client, version, options.identity);
      return 'promoted';
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return 'gave up';
}
