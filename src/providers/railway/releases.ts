/**
 * The railway provider's releases (seed 001's "Railway Rollback": Deployments tab, pick the last known
 * good deployment, roll back to it, wait for "Deployment successful"). Each runbook target names a
 * service in one environment; its releases are the service's deployments there: the one live now
 * (the newest SUCCESS) and the one before it.
 *
 * Rolling back is `deploymentRollback(id)` (the default) or, for services deployed from an image tag,
 * `deploymentRedeploy(id, usePreviousImageTag: true)`. Either makes a NEW deployment carrying the old
 * one's image (and, for a rollback, its variables), which this provider finds in the deployment list
 * and follows until it is SUCCESS (FAILED, CRASHED or REMOVED end it with an error). Railway refuses to
 * roll back to a deployment whose `canRollback` is false (older than the plan's image retention):
 * `readRelease` says so in `blocked`, and `rollTo` refuses before sending anything.
 *
 * A rollback may also name a deployment (`railway rollback <id>`, seed 001's "pick the last known
 * good deployment"): `findRelease` looks its id up, `listReleases` names the recent deployments that
 * served, and `rollTo` rolls to any of them the same way.
 *
 * API reference:
 *   Rollback makes a new deployment with the old image and variables
 *                                  https://docs.railway.com/pricing/plans#image-retention-policy
 *   Deployment statuses            https://docs.railway.com/deployments/reference
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProviderContext, Release, ReleaseState, ReleasesClient, RolloutOptions } from '../types.ts';
import type { Deployment, RailwayApi } from './api.ts';
import type { ServiceRef, Settings } from './settings.ts';

/** What serves: SUCCESS, or SLEEPING (a serverless service's live deployment, asleep until a request comes). */
const LIVE = new Set(['SUCCESS', 'SLEEPING']);
/** On its way to SUCCESS or failure. */
const UNDER_WAY = new Set(['INITIALIZING', 'QUEUED', 'WAITING', 'NEEDS_APPROVAL', 'BUILDING', 'DEPLOYING']);
/** A deployment that once served and may be rolled back to (REMOVED ones too, within the image retention). */
const WAS_LIVE = new Set(['SUCCESS', 'SLEEPING', 'REMOVED']);

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

const newer = (a: Deployment, b: Deployment) => Date.parse(a.createdAt) > Date.parse(b.createdAt);

/**
 * Whether deployment `d` runs the build of `target`: it is `target`, or a later deployment made from
 * it. Railway records no documented link from a rollback's deployment to the one it restored, and
 * takes no idempotency key, so this is the rule a retried rollTo uses to find its own rollback:
 * the later deployment carries `target`'s image digest (a rollback or a redeploy with the previous
 * image reuses that image; a new build makes a new one), and, when its meta says why it was made
 * (`reason`), that reason is a rollback or a redeploy, so a fresh deploy that happened to rebuild an
 * identical image (same commit, only variables changed) is not mistaken for one. Without a digest
 * an image reference pinned by digest (`...@sha256:...`) counts; a tag does not, as a tag moves.
 * When neither is recorded nothing matches and a retry sends the rollback again: a second deployment
 * of the same image, the same end state.
 */
function runsBuildOf(d: Deployment, target: Deployment): boolean {
  if (d.id === target.id) return true;
  if (!newer(d, target)) return false;
  const reason = text(d.meta?.reason);
  if (reason !== undefined && reason !== 'rollback' && reason !== 'redeploy') return false;
  const digest = text(d.meta?.imageDigest);
  const targetDigest = text(target.meta?.imageDigest);
  if (digest && targetDigest) return digest === targetDigest;
  const image = text(d.meta?.image);
  return image !== undefined && image.includes('@sha256:') && image === text(target.meta?.image);
}

function releaseOf(d: Deployment): Release {
  const commit = text(d.meta?.commitHash);
  const message = text(d.meta?.commitMessage)?.split('\n')[0];
  const image = text(d.meta?.image) ?? text(d.meta?.imageDigest);
  const label = commit ? `${commit.slice(0, 7)}${message ? ` ${message}` : ''}` : (image ?? `deployment ${d.id}`);
  return { id: d.id, label, createdAt: d.createdAt, ...(image ? { image } : {}) };
}

/** Railway deployment ids are UUIDs: any other name is none of them, and is not sent to ask. */
const DEPLOYMENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The releases client of the services the settings name; an unknown target is refused naming the known ones. */
export function railwayReleases(api: RailwayApi, settings: Settings, context: ProviderContext): ReleasesClient {
  const log = (line: string) => context.logger.info(line);

  function serviceOf(target: string): ServiceRef {
    const service = settings.services[target];
    if (!service) throw new Error(`Railway: no service named '${target}' in the runbook's services setting (known: ${Object.keys(settings.services).join(', ')})`);
    return service;
  }

  const liveOf = (deployments: Deployment[]) => deployments.find((d) => LIVE.has(d.status));

  function previousOf(deployments: Deployment[], live: Deployment | undefined): Deployment | undefined {
    return deployments.find((d) => d !== live && WAS_LIVE.has(d.status) && (!live || newer(live, d)));
  }

  /** Why Railway would refuse to restore `d` with the configured method, or null. */
  function refusal(d: Deployment): string | null {
    if (settings.method === 'rollback' && !d.canRollback) {
      return `deployment ${d.id} has canRollback false (older than the plan's image retention, or not restorable)`;
    }
    if (settings.method === 'redeploy-previous-image' && !d.canRedeploy) return `deployment ${d.id} has canRedeploy false`;
    return null;
  }

  function stateOf(target: string, service: ServiceRef, deployments: Deployment[]): ReleaseState {
    const live = liveOf(deployments);
    const previous = previousOf(deployments, live);
    const blocked = previous ? refusal(previous) : null;
    const underWay = deployments.filter((d) => UNDER_WAY.has(d.status) && (!live || newer(d, live)));
    return {
      target,
      current: live ? releaseOf(live) : null,
      previous: previous ? releaseOf(previous) : null,
      ...(blocked ? { blocked: `Railway will not ${settings.method === 'rollback' ? 'roll back' : 'redeploy'} to it: ${blocked}` } : {}),
      detail: {
        serviceId: service.serviceId,
        environmentId: service.environmentId,
        method: settings.method,
        ...(live ? { status: live.status, url: live.staticUrl ?? null } : {}),
        ...(underWay.length > 0 ? { underWay: underWay.map((d) => ({ id: d.id, status: d.status })) } : {}),
      },
    };
  }

  async function readState(target: string, service: ServiceRef, signal?: AbortSignal): Promise<ReleaseState> {
    const deployments = await api.history(service, (ds) => previousOf(ds, liveOf(ds)) !== undefined, signal);
    return stateOf(target, service, deployments);
  }

  /** After a deploymentRollback (which answers only true): the deployment it made, found in the list. */
  async function newDeployment(target: string, service: ServiceRef, known: Set<string>, wanted: Deployment, deadline: number, signal?: AbortSignal): Promise<Deployment> {
    for (;;) {
      const fresh = (await api.history(service, () => true, signal)).filter((d) => !known.has(d.id));
      // Someone may push meanwhile: the deployment carrying the wanted build is ours; else the first made since.
      const ours = fresh.find((d) => runsBuildOf(d, wanted)) ?? fresh.at(-1);
      if (ours) return ours;
      if (Date.now() >= deadline) {
        throw new Error(`Railway service ${target}: no new deployment appeared within ${settings.timeoutSeconds}s of the rollback to deployment ${wanted.id}; check the service's deployments in the Railway dashboard`);
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  }

  /** Follows deployment `id` until it serves; any other end is an error naming its status. */
  async function untilLive(target: string, id: string, wanted: Deployment, deadline: number, progress: (line: string) => void, signal?: AbortSignal): Promise<Deployment> {
    let last = '';
    for (;;) {
      const d = await api.deployment(id, signal);
      if (d.status !== last) progress(`Railway service ${target}: deployment ${id} (from ${wanted.id}) is ${d.status}`);
      last = d.status;
      if (LIVE.has(d.status)) return d;
      if (!UNDER_WAY.has(d.status)) {
        throw new Error(
          `Railway service ${target}: deployment ${id} (rolling back to ${wanted.id}) ended ${d.status}, so the rollback did not take; see its build and deploy logs in the Railway dashboard`,
        );
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `Railway service ${target}: deployment ${id} (rolling back to ${wanted.id}) is still ${d.status} after ${settings.timeoutSeconds}s; it may yet finish: check it in the Railway dashboard before retrying`,
        );
      }
      await sleep(settings.pollIntervalMs, undefined, { signal });
    }
  }

  /**
   * Safe to retry: a live deployment of the wanted build is left as it is, and a rollback an earlier
   * attempt started is followed, not sent again.
   */
  async function rollTo(target: string, release: Release, options: RolloutOptions): Promise<ReleaseState> {
    const service = serviceOf(target);
    const progress = options.onProgress ?? log;
    const { signal } = options;
    const deadline = Date.now() + settings.timeoutSeconds * 1000;
    const deployments = await api.history(service, (ds) => liveOf(ds) !== undefined, signal);
    const wanted = await api.deployment(release.id, signal);
    if (wanted.serviceId !== service.serviceId || wanted.environmentId !== service.environmentId) {
      throw new Error(
        `Railway deployment ${wanted.id} belongs to service ${wanted.serviceId} in environment ${wanted.environmentId}, not to ${target} (service ${service.serviceId} in environment ${service.environmentId}): refusing to roll ${target} to it`,
      );
    }

    const live = liveOf(deployments);
    // A build that failed or crashed has nothing to go back to (Railway keeps no serving image of it).
    if (!WAS_LIVE.has(wanted.status) && !(live && runsBuildOf(live, wanted))) {
      const served = deployments.filter((d) => WAS_LIVE.has(d.status)).slice(0, 5).map((d) => d.id);
      throw new Error(
        `Railway service ${target}: deployment ${wanted.id} is ${wanted.status}: it never served, so there is nothing of it to roll back to; nothing was sent. Deployments that served: ${served.join(', ') || 'none'}`,
      );
    }
    if (live && runsBuildOf(live, wanted)) {
      progress(`Railway service ${target}: ${live.id === wanted.id ? `deployment ${wanted.id}` : `deployment ${live.id}, made from ${wanted.id},`} is already live; nothing sent`);
      return stateOf(target, service, await api.history(service, (ds) => previousOf(ds, liveOf(ds)) !== undefined, signal));
    }

    // An earlier attempt (a worker that died mid-call) may have started it: follow that one, send nothing.
    let rolling = deployments.find((d) => UNDER_WAY.has(d.status) && (!live || newer(d, live)) && runsBuildOf(d, wanted));
    if (rolling) {
      progress(`Railway service ${target}: deployment ${rolling.id}, made from ${wanted.id}, is already under way; waiting for it`);
    } else {
      const refused = refusal(wanted);
      if (refused) {
        throw new Error(
          `Railway will not ${settings.method === 'rollback' ? 'roll back' : 'redeploy'} service ${target} to ${refused}; nothing was sent. Deploy a known good commit instead (redeploy it from the dashboard, or push a revert)`,
        );
      }
      if (settings.method === 'rollback') {
        const started = await api.rollback(wanted.id, signal);
        if (started !== true) throw new Error(`Railway deploymentRollback(${wanted.id}) answered ${JSON.stringify(started)}: the rollback of ${target} did not start; check the deployment in the Railway dashboard`);
        progress(`Railway service ${target}: rollback to deployment ${wanted.id} sent`);
        rolling = await newDeployment(target, service, new Set(deployments.map((d) => d.id)), wanted, deadline, signal);
      } else {
        rolling = await api.redeployImage(wanted.id, signal);
        progress(`Railway service ${target}: redeploy of deployment ${wanted.id} with its image sent`);
      }
    }

    const done = await untilLive(target, rolling.id, wanted, deadline, progress, signal);
    const after = await readState(target, service, signal);
    return { ...after, detail: { ...after.detail, rolledBackWith: done.id } };
  }

  return {
    readRelease: async (target) => readState(target, serviceOf(target)),

    /** The deployments that served (what a rollback can go back to), newest first, the live one included. */
    async listReleases(target, limit) {
      const served = (ds: Deployment[]) => ds.filter((d) => WAS_LIVE.has(d.status));
      const deployments = await api.history(serviceOf(target), (ds) => served(ds).length >= limit);
      return served(deployments).slice(0, limit).map(releaseOf);
    },

    /** Deployment `name` of the target's service and environment; null for any other id (another service's deployment is none of this target's). */
    async findRelease(target, name) {
      const service = serviceOf(target);
      if (!DEPLOYMENT_ID.test(name)) return null;
      const found = await api.findDeployment(name);
      return found && found.serviceId === service.serviceId && found.environmentId === service.environmentId ? releaseOf(found) : null;
    },

    rollTo,
  };
}
