/**
 * The cloud-run provider's config: the plain environment variables of the container that serves
 * (`gcloud run services update --update-env-vars`), never its Secret Manager references. A change
 * makes a new revision from what serves, which takes over its traffic and version tag (serving.ts),
 * so the changed values serve once it is ready and the next read of traffic or config finds them; a
 * service already serving the values is not patched again, so a retried change only waits.
 *
 * API reference: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 */
import type { ConfigClient, ProviderContext } from '../types.ts';
import type { CloudRunApi, Container } from './api.ts';
import { changeServing, servingContainers } from './serving.ts';
import type { Settings } from './settings.ts';

/** The config client of the service; it reads and patches through `api` and does no I/O until called. */
export function cloudRunConfig(api: CloudRunApi, settings: Settings, _context: ProviderContext): ConfigClient {
  /** The containers with `values` set (null: unset), or null when they already hold them. */
  function withValues(containers: Container[], values: Record<string, string | null>): Container[] | null {
    const [first, ...others] = containers;
    if (!first) throw new Error(`Cloud Run service ${settings.service} has no container to set environment variables on`);
    const env = [...(first.env ?? [])];
    let changed = false;
    for (const [name, value] of Object.entries(values)) {
      const index = env.findIndex((e) => e.name === name);
      const existing = env[index];
      if (existing?.valueSource !== undefined) {
        throw new Error(`${name} on Cloud Run service ${settings.service} is a secret reference (valueSource), not a plain value: this provider never changes those; roll the secret's version instead`);
      }
      if (value === null) {
        if (!existing) continue;
        env.splice(index, 1);
      } else if (!existing) env.push({ name, value });
      else if ((existing.value ?? '') !== value) env[index] = { ...existing, value };
      else continue;
      changed = true;
    }
    return changed ? [{ ...first, env }, ...others] : null;
  }

  return {
    async readConfig() {
      const env = servingContainers(await api.snapshot())[0]?.env ?? [];
      // Only plain values: entries with a valueSource are Secret Manager references, never read here.
      return Object.fromEntries(env.filter((e) => e.valueSource === undefined).map((e) => [e.name, e.value ?? '']));
    },

    /** Safe to retry: values already serving are not patched again; a change still rolling out is waited for. */
    async setConfig(values, options) {
      const what = `environment ${Object.keys(values).join(', ')}`;
      await changeServing(api, settings, { what, edit: (containers) => withValues(containers, values) }, { idempotencyKey: options.idempotencyKey, progress: api.logProgress });
    },
  };
}
