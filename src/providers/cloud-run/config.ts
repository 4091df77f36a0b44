/**
 * The cloud-run provider's config: the plain environment variables of the service's container
 * (`gcloud run services update --update-env-vars`), never its Secret Manager references. A change is
 * a PATCH of the service template, which makes a new revision, followed until it is ready; a service
 * already holding the values is not patched again, so a retried change only waits.
 *
 * API reference: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 */
import type { ConfigClient, ProviderContext } from '../types.ts';
import { shortName, type CloudRunApi } from './api.ts';
import type { Settings } from './settings.ts';
import { LATEST } from './traffic.ts';

/** The config client of the service; it reads and patches through `api` and does no I/O until called. */
export function cloudRunConfig(api: CloudRunApi, settings: Settings, context: ProviderContext): ConfigClient {
  const { logProgress } = api;

  return {
    async readConfig() {
      const service = await api.getService();
      // Only plain values: entries with a valueSource are Secret Manager references, never read here.
      const env = service.template?.containers?.[0]?.env ?? [];
      return Object.fromEntries(env.filter((e) => e.valueSource === undefined).map((e) => [e.name, e.value ?? '']));
    },

    async setConfig(values) {
      const deadline = Date.now() + settings.timeoutMs;
      const service = await api.getService();
      const [first, ...others] = service.template?.containers ?? [];
      if (!service.template || !first) throw new Error(`Cloud Run service ${settings.service} has no container in its template to set environment variables on`);
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
      const what = `environment ${Object.keys(values).join(', ')}`;
      if (changed) {
        // The template is what revisions are made from, so changing its env makes a NEW revision:
        // that is why this is a config change and not a traffic one. Its name is left for Cloud Run
        // to choose: a template still naming the current revision would be refused (409, "revision
        // named ... with different configuration already exists").
        const template = { ...service.template };
        delete template.revision;
        const operation = await api.patch({ ...service, template: { ...template, containers: [{ ...first, env }, ...others] } });
        logProgress(`Cloud Run service ${settings.service}: ${what} set (operation ${shortName(operation.name)})`);
        await api.followOperation(operation, what, deadline, logProgress);
      } else if (!service.reconciling) {
        return;
      }
      const after = await api.settled(what, deadline, logProgress);
      if (after.latestReadyRevision !== after.latestCreatedRevision) {
        throw new Error(`Cloud Run service ${settings.service}: the revision with the new ${what} (${shortName(after.latestCreatedRevision ?? '?')}) did not become ready; ${shortName(after.latestReadyRevision ?? '?')} still serves. See ${api.describe}`);
      }
      // With traffic pinned to named revisions the new revision serves nothing until traffic moves to it.
      if (!(after.traffic ?? []).some((t) => t.type === LATEST && (t.percent ?? 0) > 0) && (after.traffic?.length ?? 0) > 0) {
        context.logger.warn(
          { service: settings.service, revision: after.latestReadyRevision },
          'the new revision serves no traffic yet: the service routes traffic to named revisions, so the changed configuration takes effect once traffic moves to it',
        );
      }
    },
  };
}
