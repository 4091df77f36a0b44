/**
 * Container image references as the platforms that deploy any image (Fly, Kubernetes, Compose) take
 * them, read by the grammar of the distribution project's `reference` package: an optional registry
 * (a host with a dot or a port, or `localhost`), lowercase path components, then a `:tag`, an
 * `@algorithm:hex` digest, or both. A name a person types when naming a release ("v41", "3",
 * "revision 3") is not a pinned reference, so it is never taken for an image to deploy.
 *
 * References:
 *   https://github.com/distribution/reference/blob/main/reference.go (the grammar)
 *   https://docs.docker.com/reference/cli/docker/image/tag/ (tag and name rules)
 */

export interface ImageReference {
  /** The repository with its registry, as written: `registry.fly.io/app`, `nginx`. */
  name: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** What a sha256 digest must be (the grammar's algorithm-specific rule). */
export const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
/** The reference package's limit on the name part. */
const NAME_MAX = 255;

/** The reference `text` names, or null when it is not one (spaces, uppercase paths, a bad digest...). */
export function parseImageReference(text: string): ImageReference | null {
  // `sha256:<hex>` alone reads as repository "sha256" with a tag, but it is a digest: no repository to pull from.
  if (DIGEST.test(text)) return null;
  const at = text.indexOf('@');
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  const rest = at >= 0 ? text.slice(0, at) : text;
  if (digest !== undefined && (!DIGEST.test(digest) || (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest)))) return null;
  // A colon after the last slash starts the tag; one before it is a registry's port.
  const colon = rest.lastIndexOf(':');
  const tagged = colon > rest.lastIndexOf('/');
  const name = tagged ? rest.slice(0, colon) : rest;
  const tag = tagged ? rest.slice(colon + 1) : undefined;
  if (tag !== undefined && !TAG.test(tag)) return null;
  if (name === '' || name.length > NAME_MAX) return null;
  const parts = name.split('/');
  // The first part is a registry when it looks like a host, as the reference package decides.
  const first = parts[0]!;
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (hasDomain && !DOMAIN.test(first)) return null;
  if (!(hasDomain ? parts.slice(1) : parts).every((p) => PATH_COMPONENT.test(p))) return null;
  return { name, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * Whether `text` names one image to deploy: a reference with a tag or a digest. A bare word is not
 * one, even where the grammar would read it as `<word>:latest`, since "v41" or "stable" typed as a
 * release name is far more often a typo than a request to deploy `docker.io/library/v41:latest`.
 */
export function isPinnedImage(text: string): boolean {
  const ref = parseImageReference(text);
  return ref !== null && (ref.tag !== undefined || ref.digest !== undefined);
}

/** The digest an image reference is pinned to (`...@sha256:<hex>`), if any. */
export function digestOf(image: string): string | undefined {
  return parseImageReference(image)?.digest;
}

/**
 * Whether `name` names `image`: the same reference, or a sha256 digest the reference is pinned to
 * (`sha256:<hex>` for `ghcr.io/x/y@sha256:<hex>`).
 */
export function namesImage(name: string, image: string): boolean {
  return name === image || (SHA256_DIGEST.test(name) && image.endsWith(`@${name}`));
}
