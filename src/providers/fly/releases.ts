/**
 * The fly-machines provider's releases (seed 001's `fly deploy --image`): the images an app's Machines
 * ran, from the Machine's config versions, newest first: the one most of them run now (`config.image`)
 * and the ones before it. A release is named by its image reference or by a digest it is pinned to
 * (or, for the one running, the digest Fly resolved it to, `image_ref.digest`); since Fly deploys any
 * image, a reference with a tag or digest that no version ran yet is a fresh release to deploy.
 * Rolling updates each Machine not yet on the image, under its lease, and waits for it to start
 * again. Machines already on the image are left alone, so a retry repeats nothing.
 *
 * API reference:
 *   https://fly.io/docs/machines/api/machines-resource/ (update, wait, leases, image_ref)
 *   https://docs.machines.dev/ (OpenAPI: /versions `[{version, user_config}]`)
 *   https://fly.io/docs/flyctl/deploy/ (`--image`: any image reference)
 */
import { digestOf, isPinnedImage, namesImage, SHA256_DIGEST } from '../image-reference.ts';
import type { ProviderContext, Release, ReleaseState, ReleasesClient, RolloutOptions } from '../types.ts';
import { GONE, lastUpdated, mostCommon, versionsSchema, type FlyApi, type Machine } from './api.ts';

/** An image as a release; its aliases are the digests it is known by. */
function releaseOf(image: string, createdAt?: string, resolved: (string | null | undefined)[] = []): Release {
  const aliases = [...new Set([digestOf(image), ...resolved])].filter((d): d is string => !!d && SHA256_DIGEST.test(d));
  return { id: image, label: image, image, ...(createdAt ? { createdAt } : {}), ...(aliases.length > 0 ? { aliases } : {}) };
}

/** The releases client: the image each version's app runs, and rolling its Machines to another. */
export function flyReleases(api: FlyApi, context: ProviderContext): ReleasesClient {
  /** The app's Machines and its releases, newest first (the one most Machines serve first), from one Machine's versions. */
  const history = async (app: string): Promise<{ live: Machine[]; counts: Map<string, number>; releases: Release[] }> => {
    const live = await api.list(app);
    if (live.length === 0) return { live, counts: new Map(), releases: [] };
    const started = live.filter((m) => m.state === 'started');
    const serving = started.length > 0 ? started : live;
    const { value: image, counts } = mostCommon(serving.map((m) => m.config.image));
    const onImage = serving.filter((m) => m.config.image === image);
    const reference = [...onImage].sort(lastUpdated)[0]!;
    const versionsPath = `${api.one(app, reference.id)}/versions`;
    const { body: versions } = await api.call('versions', app, reference.id, 'GET', versionsPath, { schema: versionsSchema });
    // The reference does not state the list's order; the Machine's own instance is its newest version,
    // so where it stands says which way is older (newest first when it is not listed).
    const at = versions.findIndex((v) => v.version === reference.instance_id);
    const older = at === versions.length - 1 && at > 0 ? versions.slice(0, at).reverse() : versions.slice(at + 1);
    const images = [...new Set(older.map((v) => v.user_config?.image).filter((i): i is string => !!i && i !== image))];
    const current = releaseOf(image, reference.updated_at, onImage.map((m) => m.image_ref?.digest));
    return { live, counts, releases: [current, ...images.map((i) => releaseOf(i))] };
  };

  const readRelease = async (target: string): Promise<ReleaseState> => {
    const app = api.appOf(target);
    const { live, counts, releases } = await history(app);
    const machines = live.map((m) => ({ id: m.id, state: m.state, region: m.region, image: m.config.image }));
    return {
      target,
      current: releases[0] ?? null,
      previous: releases[1] ?? null,
      detail: {
        app,
        machines,
        ...(counts.size > 1 ? { mixedImages: Object.fromEntries(counts), note: `the Machines of ${app} run different images; current is the one most run` } : {}),
      },
    };
  };

  const listReleases = async (target: string, limit: number): Promise<Release[]> => (await history(api.appOf(target))).releases.slice(0, Math.max(0, limit));

  /** An image or digest the app ran; else a pinned image reference as a fresh release (`fly deploy --image` takes any). */
  const findRelease = async (target: string, name: string): Promise<Release | null> => {
    const { releases } = await history(api.appOf(target));
    const known = releases.find((r) => namesImage(name, r.id) || r.aliases?.includes(name));
    if (known) return known;
    // A bare word ("v41") is a release name that matched nothing, not an image to deploy.
    return isPinnedImage(name) ? { id: name, label: name, image: name, fresh: true } : null;
  };

  /** Safe to retry: Machines already running the image are not touched again. */
  const rollTo = async (target: string, release: Release, options: RolloutOptions): Promise<ReleaseState> => {
    const app = api.appOf(target);
    const image = release.image ?? release.id;
    for (const machine of (await api.list(app)).filter((m) => m.config.image !== image)) {
      options.onProgress?.(`${app}: Machine ${machine.id} (${machine.region ?? '?'}, ${machine.state}) ${machine.config.image} -> ${image}`);
      await api.withLease(app, machine.id, options, async (nonce) => {
        const latest = await api.get(app, machine.id);
        if (latest.config.image === image || GONE.has(latest.state)) return;
        await api.update(app, latest, { ...latest.config, image }, nonce, options.signal);
        context.logger.info({ app, machine: machine.id, image, actor: options.actor }, `Fly Machine ${machine.id} of ${app} now runs ${image}`);
      });
    }
    return readRelease(target);
  };

  return { readRelease, listReleases, findRelease, rollTo };
}
