/**
 * A change of the service's template (the containers' env) deployed as `gcloud run services update`
 * does it: the template PATCHed back, which makes a new revision, the operation followed, and the
 * service waited for until the new revision is ready. Used by the secrets capability; the same path
 * the config capability (config.ts) takes for plain env vars, and traffic is left as it was.
 *
 * API reference: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
 */
import type { ProviderContext } from '../types.ts';
import { shortName, type CloudRunApi, type Service } from './api.ts';
import type { Settings } from './settings.ts';
import { LATEST } from './traffic.ts';

export type Container = NonNullable<NonNullable<Service['template']>['containers']>[number];

/**
 * Deploys `containers` as the service's template (null: the template is already as wanted) and waits
 * until the service serves its latest revision ready. Safe to retry: with nothing to change, a service
 * still reconciling after an earlier attempt is only waited for, and a settled one is left alone.
 */
export async function deployTemplate(api: CloudRunApi, settings: Settings, context: ProviderContext, service: Service, containers: Container[] | null, what: string): Promise<void> {
  const deadline = Date.now() + settings.timeoutMs;
  const { logProgress } = api;
  if (containers) {
    if (!service.template) throw new Error(`Cloud Run service ${settings.service} has no template to deploy ${what} with`);
    // The revision's name is left for Cloud Run to choose: a template still naming the current revision
    // would be refused (409, "revision named ... with different configuration already exists").
    const template = { ...service.template, containers };
    delete template.revision;
    const operation = await api.patch({ ...service, template });
    logProgress(`Cloud Run service ${settings.service}: ${what} (operation ${shortName(operation.name)})`);
    await api.followOperation(operation, what, deadline, logProgress);
  } else if (!service.reconciling) {
    return;
  }
  const after = await api.settled(what, deadline, logProgress);
  if (after.latestReadyRevision !== after.latestCreatedRevision) {
    throw new Error(`Cloud Run service ${settings.service}: the revision with ${what} (${shortName(after.latestCreatedRevision ?? '?')}) did not become ready; ${shortName(after.latestReadyRevision ?? '?')} still serves. See ${api.describe}`);
  }
  // With traffic pinned to named revisions the new revision serves nothing until traffic moves to it.
  if (!(after.traffic ?? []).some((t) => t.type === LATEST && (t.percent ?? 0) > 0) && (after.traffic?.length ?? 0) > 0) {
    context.logger.warn(
      { service: settings.service, revision: after.latestReadyRevision },
      'the new revision serves no traffic yet: the service routes traffic to named revisions, so the changed configuration takes effect once traffic moves to it',
    );
  }
}
