/**
 * The Secret Manager API v1 as the cloud-run provider uses it: secrets and their versions read, and
 * versions enabled and disabled (seed 002's `gcloud secrets versions enable/disable`). It has no
 * `versions.access`: a rollback moves between versions by number and state, and a value read here
 * could end up in an error, a log or the workflow history.
 *
 * API reference (Secret Manager API v1):
 *   Secret            https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets
 *   secrets.list      https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/list
 *   secrets.get       https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/get
 *   SecretVersion     https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions
 *   versions.list     https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/list
 *   versions.get      https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/get
 *   versions.enable   https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/enable
 *   versions.disable  https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/disable
 */
import { z } from 'zod';
import { bearerToken, jsonApi } from '../http-api.ts';
import type { ProviderContext } from '../types.ts';
import type { Settings } from './settings.ts';

/** A secret as Cloud Run names it: in the service's project, or in another one (`projects/{p}/secrets/{s}`). */
export interface SecretRef {
  project: string;
  secret: string;
}

// int64 fields (the numbers of versionAliases) are strings in JSON.
const secretSchema = z.looseObject({ name: z.string(), versionAliases: z.record(z.string(), z.union([z.string(), z.number()])).optional() });
const secretPage = z.looseObject({ secrets: z.array(secretSchema).optional(), nextPageToken: z.string().optional() });
// The state as a string: one the API adds later is a version no service can load, not a body we refuse.
const versionSchema = z.looseObject({ name: z.string(), state: z.string(), createTime: z.string().optional() });
const versionPage = z.looseObject({ versions: z.array(versionSchema).optional(), nextPageToken: z.string().optional() });

export type Secret = z.infer<typeof secretSchema>;

/** One version of a secret: its number and state (ENABLED, DISABLED, DESTROYED), never its data. */
export interface SecretVersion {
  version: number;
  state: string;
}

/** The last segment of a resource name: versions are named `projects/{number}/secrets/{id}/versions/{n}`. */
const lastSegment = (name: string): string => name.slice(name.lastIndexOf('/') + 1);

/** `name` as a Cloud Run secretKeyRef writes it: the bare secret ID means the service's own project. */
export function secretRef(name: string, serviceProject: string): SecretRef {
  const full = /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(name);
  return full ? { project: full[1]!, secret: full[2]! } : { project: serviceProject, secret: name };
}

export type SecretManagerApi = ReturnType<typeof secretManagerApi>;

/** The API at settings.secretManagerUrl with the same token as Cloud Run. Creating it does no I/O. */
export function secretManagerApi(settings: Settings, context: ProviderContext) {
  const path = (ref: SecretRef) => `/v1/projects/${encodeURIComponent(ref.project)}/secrets/${encodeURIComponent(ref.secret)}`;

  const advise = (status: number): string => {
    if (status === 0) return `Check the network path to ${settings.secretManagerUrl}.`;
    if (status === 401) return `The access token in ${settings.tokenEnv} was refused (expired? access tokens last about an hour): put a fresh one there (gcloud auth print-access-token) and run the step again.`;
    if (status === 403) return 'The token\'s account may not do this: it needs secretmanager.secrets.get and secretmanager.versions.list, get, enable and disable (roles/secretmanager.secretVersionManager) on the secret.';
    if (status === 404) return `The service references a secret or version Secret Manager does not have: compare its env (gcloud run services describe ${settings.service} --region=${settings.location}) with gcloud secrets versions list <secret>.`;
    if (status === 400) return 'Secret Manager refused the change as the version is: a DESTROYED version can never be enabled or disabled again.';
    if (status === 429) return 'Secret Manager kept rate limiting past the retries: wait a minute and run the step again.';
    if (status >= 500) return 'Secret Manager had a server error: run the step again (it reads the states first, so a version already set is not set twice).';
    return 'Secret Manager refused the request as sent.';
  };

  // The token is read at each request, as the Cloud Run client does: a refreshed variable is picked up.
  const api = jsonApi({ baseUrl: settings.secretManagerUrl, what: 'Secret Manager', headers: bearerToken(context, settings.tokenEnv), timeoutMs: settings.requestTimeoutMs, advise });

  /** Every page of a list call, following nextPageToken. */
  async function all<P extends { nextPageToken?: string | undefined }, T>(listPath: string, schema: z.ZodType<P>, items: (page: P) => T[] | undefined): Promise<T[]> {
    const found: T[] = [];
    let pageToken: string | undefined;
    do {
      const query = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : '';
      const { body } = await api('GET', `${listPath}${query}`, { schema });
      found.push(...(items(body) ?? []));
      pageToken = body.nextPageToken || undefined;
    } while (pageToken);
    return found;
  }

  const toVersion = (v: z.infer<typeof versionSchema>): SecretVersion => ({ version: Number(lastSegment(v.name)), state: v.state });

  /** Sets one version's state. Repeatable: a version already in the state asked stays so, so a resend after a lost answer is safe. */
  async function setState(ref: SecretRef, version: number, action: 'enable' | 'disable'): Promise<SecretVersion> {
    // No etag in the body: the state asked is the state wanted whatever happened since the read, and an
    // etag would make the resend of a request whose answer was lost fail on its own change.
    const { body } = await api('POST', `${path(ref)}/versions/${version}:${action}`, { body: {}, schema: versionSchema, repeatable: true });
    return toVersion(body);
  }

  return {
    /** The secrets of `project`, by bare ID. */
    listSecrets: async (project: string): Promise<string[]> =>
      (await all(`/v1/projects/${encodeURIComponent(project)}/secrets`, secretPage, (p) => p.secrets)).map((s) => lastSegment(s.name)),
    /** The secret's metadata (its version aliases among it), or null when it does not exist. */
    async getSecret(ref: SecretRef): Promise<Secret | null> {
      const { status, body } = await api('GET', path(ref), { schema: secretSchema, accept: [404] });
      return status === 404 ? null : body;
    },
    /** Every version of the secret, DESTROYED ones too, oldest first. */
    listVersions: async (ref: SecretRef): Promise<SecretVersion[]> =>
      (await all(`${path(ref)}/versions`, versionPage, (p) => p.versions)).map(toVersion).sort((a, b) => a.version - b.version),
    getVersion: async (ref: SecretRef, version: number): Promise<SecretVersion> => toVersion((await api('GET', `${path(ref)}/versions/${version}`, { schema: versionSchema })).body),
    enableVersion: (ref: SecretRef, version: number) => setState(ref, version, 'enable'),
    disableVersion: (ref: SecretRef, version: number) => setState(ref, version, 'disable'),
  };
}
