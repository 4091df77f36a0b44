/**
 * Credentials inside URLs: the password of `postgres://user:password@host/db`, and query parameters
 * like `?token=...` or `?api_key=...`. Runbooks may not carry them (the loader refuses them, naming
 * the environment variable to use instead), and anything we print or log shows them as `***`.
 */
import { z } from 'zod';

/** Secrets are referenced by environment variable name; the value itself never enters a runbook. */
export const envVarName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable (like SLACK_WEBHOOK_URL), not hold its value');

/** Query parameters whose value is a credential (signed URLs included). */
const SECRET_PARAMS = /^(token|access_token|auth|auth_token|api[_-]?key|apikey|key|password|passwd|pass|secret|client_secret|sig|signature|x-amz-signature|x-goog-signature)$/i;

// scheme://user:password@ -> scheme://user:***@ (the user name is kept: it says which account).
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):([^\s/@]*)@/gi;
// ?name=value or &name=value, for the names above.
const QUERY_PARAM = /([?&])([^=&#\s]+)=([^&#\s]*)/g;

/** `text` with every URL password and secret query value replaced by `***`. */
export function redactCredentials(text: string): string {
  return text
    .replace(USERINFO, (_match, prefix: string) => `${prefix}:***@`)
    .replace(QUERY_PARAM, (match, sep: string, name: string, value: string) => (value && SECRET_PARAMS.test(decodeName(name)) ? `${sep}${name}=***` : match));
}

/** The names of the secret query parameters `url` carries with a value, e.g. ['token']. */
export function secretQueryParams(url: string): string[] {
  const names: string[] = [];
  for (const [, , name, value] of url.matchAll(QUERY_PARAM)) {
    if (name && value && SECRET_PARAMS.test(decodeName(name))) names.push(decodeName(name));
  }
  return names;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
