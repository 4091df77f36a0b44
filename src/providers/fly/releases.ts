/**
 * The fly-machines provider's releases (seed 001's `fly deploy --image`): the image an app's Machines
 * run (`config.image`, the one most of them run) and the one before it, from the Machine's config
 * versions; a rollback updates each Machine not yet on the image, under its lease, and waits for it
 * to start again. Machines already on the image are left alone, so a retry repeats nothing.
 *
 * API reference:
 *   https://fly.io/docs/machines/api/machines-resource/ (update, wait, leases)
 *   https://docs.machines.dev/ (OpenAPI: /versions `[{version, user_config}]`)
 */
import type { ProviderContext, Release, ReleaseState, ReleasesClient, RolloutOptions } from '../types.ts';
import { GONE, lastUpdated, mostCommon, versionsSchema, type FlyApi } from './api.ts';

/** The releases client: the image each version's app runs, and rolling its Machines to another. */
export function flyReleases(api: FlyApi, context: ProviderContext): ReleasesClient {
  const readRelease = async (target: string): Promise<ReleaseState> => {
    const app = api.appOf(target);
    const live = await api.list(app);
    const machines = live.map((m) => ({ id: m.id, state: m.state, region: m.region, image: m.config.image }));
    if (live.length === 0) return { target, current: null, previous: null, detail: { app, machines } };
    const started = live.filter((m) => m.state === 'started');
    const serving = started.length > 0 ? started : live;
    const { value: image, counts } = mostCommon(serving.map((m) => m.config.image));
    const reference = serving.filter((m) => m.config.image === image).sort(lastUpdated)[0]!;
    const versionsPath = `${api.one(app, reference.id)}/versions`;
    const { body: versions } = await api.call('versions', app, reference.id, 'GET', versionsPath, { schema: versionsSchema });
    // The reference does not state the list's order; the Machine's own instance is its newest version,
    // so where it stands says which way is older (newest first when it is not listed).
    const at = versions.findIndex((v) => v.version === reference.instance_id);
    const older = at === versions.length - 1 && at > 0 ? versions.slice(0, at).reverse() : versions.slice(at + 1);
    const previousImage = older.map((v) => v.user_config?.image).find((i): i is string => !!i && i !== image);
    const release = (ref: string, createdAt?: string): Release => ({ id: ref, label: ref, image: ref, ...(createdAt ? { createdAt } : {}) });
    return {
      target,
      current: release(image, reference.updated_at),
      previous: previousImage ? release(previousImage) : null,
      detail: {
        app,
        machines,
        ...(counts.size > 1 ? { mixedImages: Object.fromEntries(counts), note: `the Machines of ${app} run different images; current is the one most run` } : {}),
      },
    };
  };

  /** Safe to retry: Machines already running the image are not touched again. */
  const rollTo = async (target: string, release: Release, options: RolloutOptions): Promise<ReleaseState> => {
    const app = api.appOf(target);
    const image = release.image ?? release.id;
    for (const machine of (await api.list(app)).filter((m) => m.config.image !== image)) {
      options.onProgress?.(`${app}: Machine ${machine.id} (${machine.region ?? '?'}, ${machine.state}) ${machine.config.image} -> ${image}`);
      await api.withLease(app, machine.id, options, async (nonce) => {
        const fresh = await api.get(app, machine.id);
        if (fresh.config.image === image || GONE.has(fresh.state)) return;
        await api.update(app, fresh, { ...fresh.config, image }, nonce, options.signal);
        context.logger.info({ app, machine: machine.id, image, actor: options.actor }, `Fly Machine ${machine.id} of ${app} now runs ${image}`);
      });
    }
    return readRelease(target);
  };

  return { readRelease, rollTo };
}
