/**
 * The fly-machines provider's instance counts (seed 000's `fly scale count`): a version's instances
 * are its app's Machines in state `started`; Fly has no weights between apps. There is no scale
 * endpoint: a scale-up creates Machines from the config of one the app has, a scale-down stops then
 * destroys the newest ones (keeping the last, stopped, as the config a later scale-up copies).
 *
 * The API takes no idempotency key: Machines a scale-up creates carry the change's key in
 * `config.metadata`, so a retry counts them even before they start, and creates none again.
 *
 * API reference: https://fly.io/docs/machines/api/machines-resource/ (create, stop, delete, wait)
 */
import type { ChangeOptions, ProviderContext, ScalingClient, TrafficState } from '../types.ts';
import { API, COMING_UP, machineSchema, newest, SCALE_KEY, withoutOurMetadata, type FlyApi, type Machine } from './api.ts';
import type { Settings } from './settings.ts';

/** The scaling client: started Machines per version's app, created or stopped and destroyed to a count. */
export function flyScaling(api: FlyApi, settings: Settings, context: ProviderContext): ScalingClient {
  const readState = async (): Promise<TrafficState> => {
    const instances: Record<string, number> = {};
    for (const [version, app] of Object.entries(settings.apps)) instances[version] = (await api.list(app)).filter((m) => m.state === 'started').length;
    return { weights: {}, instances };
  };

  /** Creates `missing` Machines from the config of one the app has; their ids and instances, to wait for. */
  const scaleUp = async (version: string, app: string, live: Machine[], missing: number, count: number, options: ChangeOptions): Promise<{ id: string; instanceId?: string }[]> => {
    const template = live.filter((m) => m.state === 'started').sort(newest)[0] ?? [...live].sort(newest)[0];
    if (!template) {
      throw new Error(
        `${API}: app ${app} (version ${version}) has no Machines to copy a config from, so it cannot be scaled to ${count}; deploy it once (\`fly deploy -a ${app}\`) or scale it with \`fly scale count ${count} -a ${app}\`, then run this step again`,
      );
    }
    if (template.config.mounts?.length) {
      throw new Error(
        `${API}: the Machines of app ${app} (version ${version}) mount volumes, and a copy of Machine ${template.id} would need volumes of its own; scale it with \`fly scale count ${count} -a ${app}\` (it creates them)`,
      );
    }
    const created: { id: string; instanceId?: string }[] = [];
    for (let i = 0; i < missing; i++) {
      const { body: machine } = await api.call('create', app, undefined, 'POST', api.base(app), {
        schema: machineSchema,
        body: {
          config: { ...template.config, metadata: { ...withoutOurMetadata(template.config.metadata), [SCALE_KEY]: options.idempotencyKey } },
          region: settings.region ?? template.region,
        },
      });
      context.logger.info({ app, machine: machine.id, template: template.id, actor: options.actor }, `created Fly Machine ${machine.id} in ${app} from ${template.id}'s config`);
      created.push({ id: machine.id, instanceId: machine.instance_id });
    }
    return created;
  };

  /** Safe to retry: Machines already started, or created by this change and on their way up, count; none is created twice. */
  const scale = async (version: string, count: number, options: ChangeOptions): Promise<TrafficState> => {
    if (!Number.isInteger(count) || count < 0) throw new Error(`${API}: cannot scale version '${version}' to ${count} Machines; the count must be a whole number, 0 or more`);
    const app = api.appOf(version);
    const live = await api.list(app);
    const started = live.filter((m) => m.state === 'started');
    // A retry of this same change counts the Machines it created that are still on their way up.
    const comingUp = live.filter((m) => COMING_UP.has(m.state) && m.config.metadata?.[SCALE_KEY] === options.idempotencyKey);
    const have = started.length + comingUp.length;
    const created = count > have ? await scaleUp(version, app, live, count - have, count, options) : [];
    for (const m of [...comingUp.map((c) => ({ id: c.id, instanceId: c.instance_id })), ...created]) await api.waitFor(app, m.id, m.instanceId, 'started');
    if (count < started.length) {
      let remaining = live.length;
      for (const machine of [...started].sort(newest).slice(0, started.length - count)) {
        // The last Machine is kept, stopped: it is the config a later scale-up copies.
        const keep = remaining === 1;
        await api.withLease(app, machine.id, options, async (nonce) => {
          const stopPath = `${api.one(app, machine.id)}/stop`;
          await api.call('stop', app, machine.id, 'POST', stopPath, { headers: api.nonceHeader(nonce), repeatable: true });
          await api.waitFor(app, machine.id, machine.instance_id, 'stopped');
          if (keep) return;
          // Sent again after a lost answer, a destroy that was made finds the Machine gone (404): done.
          await api.call('destroy', app, machine.id, 'DELETE', api.one(app, machine.id), { headers: api.nonceHeader(nonce), repeatable: true, accept: [404] });
          return 'destroyed';
        });
        if (!keep) remaining -= 1;
        context.logger.info({ app, machine: machine.id, actor: options.actor }, keep ? `stopped Fly Machine ${machine.id}, kept as ${app}'s last Machine` : `stopped and destroyed Fly Machine ${machine.id} of ${app}`);
      }
    }
    return readState();
  };

  return { readState, scale };
}
