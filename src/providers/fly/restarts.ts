/**
 * The fly-machines provider's restarts (seed 000's `fly apps restart`): each started Machine of the
 * version's app restarted under its lease, waiting until it is started again. Before restarting a
 * Machine a mark goes into its metadata (the change's key and the time of its last start), so a retry
 * skips the Machines that have started again since.
 *
 * API reference:
 *   https://fly.io/docs/machines/api/machines-resource/ (metadata, wait, leases)
 *   https://docs.machines.dev/ (OpenAPI: /restart, /events)
 */
import type { ChangeOptions, ProviderContext, ReplicaInfo, RestartClient } from '../types.ts';
import { RESTART_MARK, type FlyApi, type Machine } from './api.ts';
import type { Settings } from './settings.ts';

/** When the Machine last reached started, from its events (Fly's clock, ms); 0 when none says. */
export function lastStart(machine: Machine): number {
  return Math.max(0, ...(machine.events ?? []).filter((e) => e.type === 'start' && e.status === 'started').map((e) => e.timestamp ?? 0));
}

/** The restarts client: each version's app's started Machines, restarted once per idempotency key. */
export function flyRestarts(api: FlyApi, settings: Settings, context: ProviderContext): RestartClient {
  const replicaOf = (version: string, machine: Machine): ReplicaInfo => {
    const started = lastStart(machine);
    return {
      version,
      replica: machine.id,
      startedAt: started > 0 ? new Date(started).toISOString() : (machine.updated_at ?? machine.created_at ?? ''),
      config: { ...(machine.config.env ?? {}) },
      secretVersions: {},
    };
  };

  const readReplicas = async (target: string): Promise<ReplicaInfo[]> =>
    (await api.list(api.appOf(target))).filter((m) => m.state === 'started').map((m) => replicaOf(target, m));

  /** Whether this change already restarted the Machine: its mark names the key and a start came after. */
  const restartedUnder = (machine: Machine, key: string): boolean => {
    const mark = machine.config.metadata?.[RESTART_MARK];
    const at = mark?.lastIndexOf('@') ?? -1;
    return !!mark && at > 0 && mark.slice(0, at) === key && lastStart(machine) > Number(mark.slice(at + 1));
  };

  /** Safe to retry: a Machine carrying this change's mark and started since is not restarted again. */
  const restart = async (target: string, options: ChangeOptions): Promise<ReplicaInfo[]> => {
    const app = api.appOf(target);
    for (const machine of (await api.list(app)).filter((m) => m.state === 'started')) {
      if (restartedUnder(machine, options.idempotencyKey)) continue;
      await api.withLease(app, machine.id, options, async (nonce) => {
        const fresh = await api.get(app, machine.id);
        if (fresh.state !== 'started' || restartedUnder(fresh, options.idempotencyKey)) return;
        // Marked first: a retry after the restart sees a start newer than the mark and skips it.
        await api.call('metadata', app, machine.id, 'POST', `${api.one(app, machine.id)}/metadata/${RESTART_MARK}`, {
          body: { value: `${options.idempotencyKey}@${lastStart(fresh)}` },
          headers: api.nonceHeader(nonce),
          repeatable: true,
        });
        await api.call('restart', app, machine.id, 'POST', `${api.one(app, machine.id)}/restart`, { headers: api.nonceHeader(nonce) });
        await api.waitFor(app, machine.id, fresh.instance_id, 'started');
        context.logger.info({ app, machine: machine.id, actor: options.actor }, `restarted Fly Machine ${machine.id} of ${app}`);
      });
    }
    return readReplicas(target);
  };

  return { targets: async () => Object.keys(settings.apps), readReplicas, restart };
}
