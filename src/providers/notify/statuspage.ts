/**
 * Incidents on an Atlassian Statuspage page, opened when a rollback starts and resolved when it ends
 * (seed 000 posts the status page during a rollback), through the Statuspage REST API v1:
 * GET /pages/{page_id}/incidents/unresolved, POST /pages/{page_id}/incidents, GET and PATCH
 * /pages/{page_id}/incidents/{incident_id}, authenticated with `Authorization: OAuth <api key>`.
 * Reference: https://developer.statuspage.io/ (Incidents: create, update, get, list unresolved;
 * Authentication; Rate limiting: 1 request per second per key, answered 420 or 429 when exceeded).
 *
 * A retried open must not open a second incident, and the API takes no idempotency key, so each
 * incident carries its rollback's workflow ID in `metadata`: the API documents `metadata` on create
 * ("attach a json object to the incident; top-level values must be objects") and returns it on every
 * incident, and it never shows on the public page, where a marker line in the body would be read by
 * every subscriber. `open` first looks for an unresolved incident holding that ID and returns it.
 * `update` reads the incident first and sends nothing when its status and last update's text are
 * already the ones asked, so a retried update posts one incident update.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { jsonApi } from '../http-api.ts';
import { secretFromEnv, type ProviderContext, type ProviderDefinition, type StatusIncident, type StatusPageClient } from '../types.ts';

/** Where this project keeps its marker inside an incident's `metadata` (top-level values must be objects). */
export const METADATA_KEY = 'rollback_runbooks';

const openComponentStatus = z.enum(['degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance']);

const settingsSchema = z.strictObject({
  pageId: z.string().regex(/^[a-z0-9]+$/, 'must be a Statuspage page id (like kctbh9vrtdwd), as in the page\'s manage URL').describe('the Statuspage page id (manage.statuspage.io/pages/<id>)'),
  baseUrl: z.url().default('https://api.statuspage.io/v1').describe('the Statuspage API base URL'),
  apiKeyEnv: envVarName.describe('environment variable holding the Statuspage API key (sent as `Authorization: OAuth <key>`)'),
  components: z
    .record(z.string().regex(/^[a-z0-9]+$/, 'must be a Statuspage component id'), openComponentStatus)
    .default({})
    .describe('component id -> its status while the incident is open; all are set back to operational when it is resolved'),
  impact: z.enum(['none', 'minor', 'major', 'critical']).default('major').describe('the impact shown on the page (impact_override)'),
  requestTimeoutMs: z.int().positive().default(10_000).describe('how long one API request may take'),
});
type Settings = z.infer<typeof settingsSchema>;

// What this provider reads of an incident; the rest is as Statuspage sent it.
const incidentSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  components: z.array(z.looseObject({ id: z.string() })).nullish(),
  incident_updates: z.array(z.looseObject({ status: z.string(), body: z.string().nullable(), created_at: z.string().optional() })).nullish(),
  metadata: z.record(z.string(), z.record(z.string(), z.unknown())).nullish(),
});
type Incident = z.infer<typeof incidentSchema>;

const PER_PAGE = 100;
/** Enough pages of unresolved incidents for any real page; stops a runaway loop on a misbehaving API. */
const MAX_PAGES = 20;

/** What to do about a failed request, for the engineer reading the error. */
function advice(status: number, settings: Settings): string | undefined {
  if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
  if (status === 401 || status === 403) return `The API key in ${settings.apiKeyEnv} was refused: check it is a current Statuspage API key of a user with access to page ${settings.pageId}.`;
  if (status === 404) return `Page ${settings.pageId} or the incident does not exist for this API key: check pageId in the runbook.`;
  if (status === 420 || status === 429) return 'Rate limited (Statuspage allows 1 request per second per API key): wait and retry, or use a key no other tool shares.';
  if (status === 422) return 'Statuspage refused the incident: check the component ids and statuses in the runbook.';
  if (status >= 500) return 'Statuspage is failing; its own status is at https://metastatuspage.com.';
  return undefined;
}

function create(settings: Settings, context: ProviderContext): { statusPage: StatusPageClient } {
  const page = `/pages/${encodeURIComponent(settings.pageId)}`;

  // The key is read at each request, so a rotated key is picked up and `create` does no I/O.
  const api = jsonApi({
    baseUrl: settings.baseUrl,
    what: 'Statuspage',
    headers: () => ({ authorization: `OAuth ${secretFromEnv(context, settings.apiKeyEnv)}` }),
    timeoutMs: settings.requestTimeoutMs,
    advise: (status) => advice(status, settings),
  });

  const ours = (incident: Incident, rollbackId: string) => incident.metadata?.[METADATA_KEY]?.rollback_id === rollbackId;

  async function findOpen(rollbackId: string): Promise<Incident | undefined> {
    for (let n = 1; n <= MAX_PAGES; n++) {
      const { body: incidents } = await api('GET', `${page}/incidents/unresolved?page=${n}&per_page=${PER_PAGE}`, { schema: z.array(incidentSchema) });
      const found = incidents.find((i) => ours(i, rollbackId));
      if (found || incidents.length < PER_PAGE) return found;
    }
    return undefined;
  }

  return {
    statusPage: {
      async open(incident: StatusIncident) {
        const existing = await findOpen(incident.rollbackId);
        if (existing) {
          context.logger.info({ incident: existing.id, rollbackId: incident.rollbackId }, 'Statuspage incident already open for this rollback');
          return { id: existing.id };
        }
        const componentIds = Object.keys(settings.components);
        // Not repeatable: a POST whose answer was lost is found again by the unresolved lookup on retry.
        const { body: created } = await api('POST', `${page}/incidents`, {
          schema: incidentSchema,
          body: {
            incident: {
              name: incident.title.slice(0, 255),
              status: incident.status,
              body: incident.text.slice(0, 25_000),
              impact_override: settings.impact,
              component_ids: componentIds,
              components: settings.components,
              metadata: { [METADATA_KEY]: { rollback_id: incident.rollbackId, system: incident.system } },
              deliver_notifications: true,
            },
          },
        });
        context.logger.info({ incident: created.id, rollbackId: incident.rollbackId }, 'Statuspage incident opened');
        return { id: created.id };
      },

      async update(id, update) {
        const path = `${page}/incidents/${encodeURIComponent(id)}`;
        const { body: current } = await api('GET', path, { schema: incidentSchema });
        const last = [...(current.incident_updates ?? [])].sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? ''))[0];
        if (current.status === update.status && last?.body === update.text) return;
        const incident: Record<string, unknown> = { status: update.status, body: update.text.slice(0, 25_000) };
        if (update.status === 'resolved') {
          const ids = new Set([...Object.keys(settings.components), ...(current.components ?? []).map((c) => c.id)]);
          incident.components = Object.fromEntries([...ids].map((c) => [c, 'operational']));
          incident.component_ids = [...ids];
        }
        await api('PATCH', path, { body: { incident } });
      },
    },
  };
}

export const statuspage: ProviderDefinition<'statusPage', Settings> = {
  id: 'statuspage',
  description: 'incidents on an Atlassian Statuspage page (REST API v1): opened once per rollback, updated, resolved with its components set back to operational',
  capabilities: ['statusPage'],
  settingsSchema,
  example: { pageId: 'kctbh9vrtdwd', apiKeyEnv: 'STATUSPAGE_API_KEY', components: { ftgks51sfs2d: 'partial_outage' } },
  create,
};
