/**
 * An emulator of the Atlassian Statuspage REST API v1 calls the statuspage provider makes, with the
 * documented request and response shapes: incidents (name, status, impact, impact_override, metadata,
 * components, incident_updates newest first, resolved_at) and the page's components with their
 * statuses, which an incident's `components` map changes.
 *   GET   /v1/pages/{page_id}/incidents/unresolved?page&per_page
 *   POST  /v1/pages/{page_id}/incidents          body {incident: {name, status, body, impact_override, metadata, components, component_ids, ...}}
 *   GET   /v1/pages/{page_id}/incidents/{incident_id}
 *   PATCH /v1/pages/{page_id}/incidents/{incident_id}   body {incident: {status, body, components, component_ids}}
 *   GET   /v1/pages/{page_id}/components
 * Authentication is `Authorization: OAuth <api key>` (401 otherwise); an unknown page or incident is
 * 404; invalid statuses or component ids are 422; the rate limit (1 request per second per key) is
 * answered 420 or 429 with Retry-After via `rateLimit`; 5xx via `failNext`. Errors carry the
 * documented ErrorEntity `{message}`.
 * Reference: https://developer.statuspage.io/ (Incidents, Components, Authentication, Rate limiting).
 */
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export type ComponentStatus = 'operational' | 'degraded_performance' | 'partial_outage' | 'major_outage' | 'under_maintenance';

export interface EmulatedComponent {
  id: string;
  page_id: string;
  name: string;
  status: ComponentStatus;
  updated_at: string;
}

export interface EmulatedIncidentUpdate {
  id: string;
  incident_id: string;
  status: string;
  body: string;
  created_at: string;
  display_at: string;
  deliver_notifications: boolean;
  affected_components: { code: string; name: string; old_status: string; new_status: string }[] | null;
}

export interface EmulatedIncident {
  id: string;
  page_id: string;
  name: string;
  status: string;
  impact: string;
  impact_override: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  resolved_at: string | null;
  shortlink: string;
  components: EmulatedComponent[];
  incident_updates: EmulatedIncidentUpdate[];
}

const INCIDENT_STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'];
const COMPONENT_STATUSES: ComponentStatus[] = ['operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance'];
const IMPACTS = ['none', 'minor', 'major', 'critical'];
const CLOSED = new Set(['resolved', 'postmortem', 'completed']);
const IMPACT_OF: Record<ComponentStatus, string> = { operational: 'none', under_maintenance: 'maintenance', degraded_performance: 'minor', partial_outage: 'major', major_outage: 'critical' };

const error = (status: number, message: string): Reply => ({ status, body: { message } });

export class StatuspageEmulator extends HttpEmulator {
  readonly components = new Map<string, EmulatedComponent>();
  readonly incidents = new Map<string, EmulatedIncident>();
  private seq = 0;
  private clock = Date.parse('2025-01-29T12:00:00Z');

  constructor(
    readonly pageId: string,
    apiKey: string,
    components: Record<string, string>,
  ) {
    super('Statuspage', apiKey, () => error(401, 'Could not authenticate'), 'OAuth');
    for (const [id, name] of Object.entries(components)) this.components.set(id, { id, page_id: pageId, name, status: 'operational', updated_at: this.now() });
    this.route('GET', '/v1/pages/:page/incidents/unresolved', (r, p) => this.page(p.page!, () => this.unresolved(r)))
      .route('POST', '/v1/pages/:page/incidents', (r, p) => this.page(p.page!, () => this.create(r)))
      .route('GET', '/v1/pages/:page/incidents/:id', (_r, p) => this.page(p.page!, () => this.withIncident(p.id!, (i) => ({ status: 200, body: i }))))
      .route('PATCH', '/v1/pages/:page/incidents/:id', (r, p) => this.page(p.page!, () => this.withIncident(p.id!, (i) => this.patch(i, r))))
      .route('GET', '/v1/pages/:page/components', (_r, p) => this.page(p.page!, () => ({ status: 200, body: [...this.components.values()] })));
  }

  /** The next `times` requests are refused as over the rate limit: 420 or 429, with Retry-After in seconds. */
  rateLimit(retryAfterSeconds: number, options: { status?: 420 | 429; times?: number; method?: string } = {}): void {
    this.failNext(
      { status: options.status ?? 429, headers: { 'retry-after': String(retryAfterSeconds) }, body: { message: 'Rate limit exceeded' } },
      { times: options.times, method: options.method },
    );
  }

  /** Write requests (POST, PATCH) answered so far. */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' || r.method === 'PATCH');
  }

  private now(): string {
    // Strictly increasing, so "the latest update" is well defined even within one millisecond.
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  private id(): string {
    return `inc${(++this.seq).toString(36).padStart(9, '0')}`;
  }

  private page(pageId: string, answer: () => Reply): Reply {
    return pageId === this.pageId ? answer() : error(404, 'The requested resource could not be found.');
  }

  private withIncident(id: string, answer: (incident: EmulatedIncident) => Reply): Reply {
    const incident = this.incidents.get(id);
    return incident ? answer(incident) : error(404, 'The requested resource could not be found.');
  }

  private unresolved(request: RecordedRequest): Reply {
    const perPage = Number(request.query.get('per_page') ?? 100);
    const page = Number(request.query.get('page') ?? 1);
    const open = [...this.incidents.values()].filter((i) => !CLOSED.has(i.status)).reverse();
    return { status: 200, body: open.slice((page - 1) * perPage, page * perPage) };
  }

  /** Checks an incident body's statuses and components; the refusal, or null when valid. */
  private invalid(incident: Record<string, unknown>): Reply | null {
    if (incident.status !== undefined && !INCIDENT_STATUSES.includes(incident.status as string)) return error(422, `Status is not included in the list`);
    if (incident.impact_override !== undefined && !IMPACTS.includes(incident.impact_override as string)) return error(422, 'Impact override is not included in the list');
    if (incident.metadata !== undefined) {
      const metadata = incident.metadata as Record<string, unknown>;
      if (typeof metadata !== 'object' || metadata === null || Object.values(metadata).some((v) => typeof v !== 'object' || v === null || Array.isArray(v))) {
        return error(422, 'Metadata top-level values must be objects');
      }
    }
    const components = (incident.components ?? {}) as Record<string, string>;
    for (const [id, status] of Object.entries(components)) {
      if (!this.components.has(id)) return error(422, `Component ${id} not found`);
      if (!COMPONENT_STATUSES.includes(status as ComponentStatus)) return error(422, `Component status ${status} is not included in the list`);
    }
    for (const id of (incident.component_ids ?? []) as string[]) if (!this.components.has(id)) return error(422, `Component ${id} not found`);
    return null;
  }

  /** Applies an incident body's `components` map to the page, returning what changed. */
  private applyComponents(incident: EmulatedIncident, body: Record<string, unknown>): EmulatedIncidentUpdate['affected_components'] {
    const ids = new Set([...incident.components.map((c) => c.id), ...((body.component_ids ?? []) as string[]), ...Object.keys((body.components ?? {}) as object)]);
    const affected: NonNullable<EmulatedIncidentUpdate['affected_components']> = [];
    for (const [id, status] of Object.entries((body.components ?? {}) as Record<string, ComponentStatus>)) {
      const component = this.components.get(id)!;
      affected.push({ code: id, name: component.name, old_status: component.status, new_status: status });
      component.status = status;
      component.updated_at = this.now();
    }
    incident.components = [...ids].map((id) => this.components.get(id)!);
    const worst = incident.components.map((c) => IMPACT_OF[c.status]).sort((a, b) => IMPACTS.indexOf(b) - IMPACTS.indexOf(a))[0];
    incident.impact = incident.impact_override ?? worst ?? 'none';
    return affected.length ? affected : null;
  }

  private addUpdate(incident: EmulatedIncident, body: string, affected: EmulatedIncidentUpdate['affected_components'], deliver: boolean): void {
    const at = this.now();
    incident.incident_updates.unshift({ id: `upd${(++this.seq).toString(36)}`, incident_id: incident.id, status: incident.status, body, created_at: at, display_at: at, deliver_notifications: deliver, affected_components: affected });
    incident.updated_at = at;
  }

  private create(request: RecordedRequest): Reply {
    const body = ((request.body ?? {}) as { incident?: Record<string, unknown> }).incident;
    if (!body || typeof body.name !== 'string' || body.name === '') return error(422, "Name can't be blank");
    const refused = this.invalid(body);
    if (refused) return refused;
    const id = this.id();
    const at = this.now();
    const incident: EmulatedIncident = {
      id,
      page_id: this.pageId,
      name: body.name,
      status: (body.status as string | undefined) ?? 'investigating',
      impact: 'none',
      impact_override: (body.impact_override as string | undefined) ?? null,
      metadata: (body.metadata as Record<string, unknown> | undefined) ?? {},
      created_at: at,
      updated_at: at,
      resolved_at: null,
      shortlink: `https://stspg.io/${id}`,
      components: [],
      incident_updates: [],
    };
    this.incidents.set(id, incident);
    const affected = this.applyComponents(incident, body);
    this.addUpdate(incident, (body.body as string | undefined) ?? '', affected, body.deliver_notifications !== false);
    return { status: 201, body: incident };
  }

  private patch(incident: EmulatedIncident, request: RecordedRequest): Reply {
    const body = ((request.body ?? {}) as { incident?: Record<string, unknown> }).incident;
    if (!body) return error(400, 'incident is missing');
    const refused = this.invalid(body);
    if (refused) return refused;
    if (typeof body.name === 'string') incident.name = body.name;
    if (typeof body.status === 'string') incident.status = body.status;
    if (body.metadata !== undefined) incident.metadata = body.metadata as Record<string, unknown>;
    if (incident.status === 'resolved' && !incident.resolved_at) incident.resolved_at = this.now();
    const affected = this.applyComponents(incident, body);
    // As on the page: a status change or a body makes a new incident update.
    if (typeof body.body === 'string' || typeof body.status === 'string') this.addUpdate(incident, (body.body as string | undefined) ?? '', affected, body.deliver_notifications !== false);
    return { status: 200, body: incident };
  }
}
