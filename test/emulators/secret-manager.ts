/**
 * An emulator of the Secret Manager API v1 calls the cloud-run provider makes: secrets.list and
 * secrets.get (with `versionAliases`), versions.list (paged, newest first) and versions.get, and
 * versions.enable and versions.disable. It keeps each version's state as the API does: ENABLED,
 * DISABLED (data kept, can be enabled again) or DESTROYED (data gone: enabling or disabling it is
 * refused with FAILED_PRECONDITION), and changes a version's `etag` with its state. Resource names
 * carry the project NUMBER, as the API's answers do, whichever of ID or number the request named.
 *
 * It also holds each version's VALUE and answers versions.access, so a test can show the provider
 * never asks for one (`accessed`) and that no value appears in any answer, error or log.
 *
 * Failure modes: a wrong bearer token (401 UNAUTHENTICATED), an unknown secret or version (404
 * NOT_FOUND), a DESTROYED version enabled or disabled (400 FAILED_PRECONDITION), and any reply queued
 * with `failNext` (429, 503).
 *
 * Reference (Secret Manager API v1):
 *   Secret            https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets
 *   secrets.list      https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/list
 *   secrets.get       https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/get
 *   SecretVersion     https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions
 *   versions.list     https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/list
 *   versions.get      https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/get
 *   versions.enable   https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/enable
 *   versions.disable  https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/disable
 *   versions.access   https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
 *                     (`versions/latest` is an alias to the most recently created version)
 */
import { randomUUID } from 'node:crypto';
import { googleError } from './cloud-run.ts';
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

interface VersionRecord {
  number: number;
  state: VersionState;
  createTime: string;
  destroyTime?: string;
  etag: string;
  value: string;
}

interface SecretRecord {
  id: string;
  createTime: string;
  etag: string;
  versions: VersionRecord[];
  aliases: Record<string, number>;
}

const newEtag = () => `"${Buffer.from(randomUUID()).toString('base64url').slice(0, 14)}"`;

export class SecretManagerEmulator extends HttpEmulator {
  readonly secrets = new Map<string, SecretRecord>();
  /** Page size of the list calls when the request names none; small, so paging is exercised. */
  pageSize = 2;
  /** Versions whose value was asked for (versions.access): the provider must leave this empty. */
  readonly accessed: string[] = [];
  /** Version creation times go forward from here, an hour apart. */
  private clock = Date.parse('2024-12-01T09:00:00Z');

  constructor(
    token: string,
    readonly project = 'medicalcor-prod',
    readonly projectNumber = '412093485721',
  ) {
    super('Secret Manager', token, () => googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'));
    const base = '/v1/projects/:project/secrets';
    this.route('GET', base, (req, p) => this.inProject(p, () => this.listSecrets(req)));
    this.route('GET', `${base}/:secret`, (_req, p) => this.withSecret(p, (secret) => ({ status: 200, body: this.secretJson(secret) })));
    this.route('GET', `${base}/:secret/versions`, (req, p) => this.withSecret(p, (secret) => this.listVersions(secret, req)));
    // `:enable`, `:disable` and `:access` are custom methods on the version's name (AIP-136): the last segment is `3:enable`.
    this.route('GET', `${base}/:secret/versions/:version`, (_req, p) => this.withSecret(p, (secret) => this.getVersion(secret, p.version!)));
    this.route('POST', `${base}/:secret/versions/:version`, (_req, p) => this.withSecret(p, (secret) => this.changeVersion(secret, p.version!)));
  }

  /** A secret whose versions hold `values` (version 1 first), each ENABLED unless `states` says otherwise. */
  addSecret(id: string, values: string[], options: { states?: VersionState[]; aliases?: Record<string, number> } = {}): void {
    const secret: SecretRecord = { id, createTime: new Date(this.clock).toISOString(), etag: newEtag(), versions: [], aliases: options.aliases ?? {} };
    this.secrets.set(id, secret);
    values.forEach((value, i) => this.addVersion(id, value, options.states?.[i]));
  }

  /** Someone adds a version (`gcloud secrets versions add`); returns its number. */
  addVersion(id: string, value: string, state: VersionState = 'ENABLED'): number {
    const secret = this.secrets.get(id)!;
    this.clock += 3_600_000;
    const createTime = new Date(this.clock).toISOString();
    const number = secret.versions.length + 1;
    secret.versions.push({ number, state, createTime, etag: newEtag(), value, ...(state === 'DESTROYED' ? { destroyTime: createTime } : {}) });
    return number;
  }

  /** Each version's state, by number. */
  states(id: string): Record<number, VersionState> {
    return Object.fromEntries(this.secrets.get(id)!.versions.map((v) => [v.number, v.state]));
  }

  /** Every value held, for tests asserting none leaks. */
  values(): string[] {
    return [...this.secrets.values()].flatMap((s) => s.versions.map((v) => v.value));
  }

  /**
   * Why a running instance could not load `version` (a number, `latest` or an alias) of secret `id`,
   * or null when it could: what Cloud Run meets when it starts an instance with the secret in its env.
   */
  problem(id: string, version = 'latest'): string | null {
    const secret = this.secrets.get(id);
    if (!secret) return `Secret projects/${this.projectNumber}/secrets/${id} was not found`;
    const found = this.resolve(secret, version);
    const name = `projects/${this.projectNumber}/secrets/${id}/versions/${version}`;
    if (!found) return `Secret version ${name} was not found`;
    return found.state === 'ENABLED' ? null : `Secret version ${name} is in ${found.state} state`;
  }

  private resolve(secret: SecretRecord, version: string): VersionRecord | undefined {
    // `latest` is the most recently created version, whatever its state (versions.access reference).
    if (version === 'latest') return secret.versions.at(-1);
    const number = /^\d+$/.test(version) ? Number(version) : secret.aliases[version];
    return secret.versions.find((v) => v.number === number);
  }

  private inProject(p: Record<string, string>, handle: () => Reply): Reply {
    if (p.project !== this.project && p.project !== this.projectNumber) return googleError(403, 'PERMISSION_DENIED', `Permission denied on resource project ${p.project}.`);
    return handle();
  }

  private withSecret(p: Record<string, string>, handle: (secret: SecretRecord) => Reply): Reply {
    return this.inProject(p, () => {
      const secret = this.secrets.get(p.secret!);
      if (!secret) return googleError(404, 'NOT_FOUND', `Secret [projects/${this.projectNumber}/secrets/${p.secret}] not found or has no versions.`);
      return handle(secret);
    });
  }

  private page<T>(all: T[], request: RecordedRequest): { items: T[]; next?: string } | Reply {
    const size = Number(request.query.get('pageSize')) || this.pageSize;
    const token = request.query.get('pageToken');
    const from = token ? Number(Buffer.from(token, 'base64url').toString()) : 0;
    if (token && !Number.isInteger(from)) return googleError(400, 'INVALID_ARGUMENT', `Invalid page token: ${token}`);
    const next = from + size < all.length ? Buffer.from(String(from + size)).toString('base64url') : undefined;
    return { items: all.slice(from, from + size), ...(next ? { next } : {}) };
  }

  private listSecrets(request: RecordedRequest): Reply {
    const page = this.page([...this.secrets.values()], request);
    if ('status' in page) return page;
    return { status: 200, body: { secrets: page.items.map((s) => this.secretJson(s)), totalSize: this.secrets.size, ...(page.next ? { nextPageToken: page.next } : {}) } };
  }

  private listVersions(secret: SecretRecord, request: RecordedRequest): Reply {
    // Newest first, as `gcloud secrets versions list` shows them; clients must not rely on the order.
    const page = this.page([...secret.versions].reverse(), request);
    if ('status' in page) return page;
    return { status: 200, body: { versions: page.items.map((v) => this.versionJson(secret, v)), totalSize: secret.versions.length, ...(page.next ? { nextPageToken: page.next } : {}) } };
  }

  private getVersion(secret: SecretRecord, segment: string): Reply {
    const [version, method] = segment.split(':') as [string, string | undefined];
    const found = this.resolve(secret, version);
    if (!found) return googleError(404, 'NOT_FOUND', `Secret Version [${this.versionName(secret, version)}] not found.`);
    if (method === undefined) return { status: 200, body: this.versionJson(secret, found) };
    if (method !== 'access') return googleError(404, 'NOT_FOUND', `Method GET ${method} not found.`);
    this.accessed.push(`${secret.id}/${found.number}`);
    if (found.state !== 'ENABLED') return googleError(400, 'FAILED_PRECONDITION', `Secret Version [${this.versionName(secret, found.number)}] is in ${found.state} state.`);
    return { status: 200, body: { name: this.versionName(secret, found.number), payload: { data: Buffer.from(found.value).toString('base64') } } };
  }

  private changeVersion(secret: SecretRecord, segment: string): Reply {
    const [version, method] = segment.split(':') as [string, string | undefined];
    if (method !== 'enable' && method !== 'disable') return googleError(404, 'NOT_FOUND', `Method POST ${method ?? '(none)'} not found.`);
    const found = /^\d+$/.test(version) ? secret.versions.find((v) => v.number === Number(version)) : undefined;
    if (!found) return googleError(404, 'NOT_FOUND', `Secret Version [${this.versionName(secret, version)}] not found.`);
    if (found.state === 'DESTROYED') return googleError(400, 'FAILED_PRECONDITION', `Secret Version [${this.versionName(secret, found.number)}] is in DESTROYED state.`);
    const state = method === 'enable' ? 'ENABLED' : 'DISABLED';
    // Setting the state it has is answered with the version as it is, not refused.
    if (found.state !== state) {
      found.state = state;
      found.etag = newEtag();
    }
    return { status: 200, body: this.versionJson(secret, found) };
  }

  private versionName(secret: SecretRecord, version: number | string): string {
    return `projects/${this.projectNumber}/secrets/${secret.id}/versions/${version}`;
  }

  private secretJson(secret: SecretRecord): Record<string, unknown> {
    return {
      name: `projects/${this.projectNumber}/secrets/${secret.id}`,
      replication: { automatic: {} },
      createTime: secret.createTime,
      etag: secret.etag,
      // int64 values are strings in JSON.
      ...(Object.keys(secret.aliases).length > 0 ? { versionAliases: Object.fromEntries(Object.entries(secret.aliases).map(([alias, n]) => [alias, String(n)])) } : {}),
    };
  }

  private versionJson(secret: SecretRecord, version: VersionRecord): Record<string, unknown> {
    return {
      name: this.versionName(secret, version.number),
      createTime: version.createTime,
      ...(version.destroyTime ? { destroyTime: version.destroyTime } : {}),
      state: version.state,
      replicationStatus: { automatic: {} },
      etag: version.etag,
      clientSpecifiedPayloadChecksum: false,
    };
  }
}
