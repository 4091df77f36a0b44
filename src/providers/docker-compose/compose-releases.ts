/**
 * Naming the releases of a Docker Compose service (seed 003: "git checkout HEAD~1 docker-compose.yml";
 * teams tag their releases): a release is a version of the compose file in git, and what it deploys
 * is the service's `image:` there.
 *   - findRelease: a git tag or revision (`git rev-parse --verify --quiet <name>^{commit}`, then the
 *     file at that commit with `git show <commit>:./<file>`), an image some version of the file names
 *     (or its image id), else an image reference the engine already has, as a fresh release;
 *   - listReleases: the service's image across the recent commits touching the file (`git log`),
 *     each image once, newest first, with the tags of the commits that named it as aliases; the image
 *     the service runs now first when no commit names it.
 * Rolling to any of them is the provider's rollTo (the `image:` line rewritten, `up --no-deps`).
 *
 * Names reach git and docker as single arguments, never through a shell, and a name starting with
 * `-` is refused before either sees it, so no name is read as an option. Compose files can hold
 * secrets (environment values): only image references, commits and tags leave this file, never the
 * text of a version, not in errors either.
 *
 * References: https://git-scm.com/docs/git-rev-parse (--verify, --quiet, <rev>^{commit}),
 * https://git-scm.com/docs/git-show, https://git-scm.com/docs/git-log, https://git-scm.com/docs/git-for-each-ref
 * (%(*objectname) peels annotated tags), https://docs.docker.com/reference/cli/docker/image/inspect/.
 */
import type { RunResult } from '../command/runner.ts';
import { namesImage, parseImageReference, SHA256_DIGEST } from '../image-reference.ts';
import type { Release } from '../types.ts';
import { ComposeFileError, imageLine, parseCompose } from './compose-file.ts';

/** How many commits touching the compose file a listing reads (one `git show` each). */
const COMMITS_READ = 50;
/** A full object name from git: SHA-1, or SHA-256 in a repository made with --object-format=sha256. */
const OBJECT_NAME = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** What `release.to` may be here: no option-like start, no spaces or control characters. */
const RELEASE_NAME = /^(?!-)[^\s\p{Cc}]{1,300}$/u;

export interface ComposeReleaseTools {
  /** The compose file, relative to the project folder (and so to git's working directory). */
  file: string;
  /** Runs git or docker in the project folder; throws naming `what` and the service unless `allowFail`. */
  run(command: string[], service: string, what: string, options?: { signal?: AbortSignal; allowFail?: boolean }): Promise<RunResult>;
  /** The image the engine has under a reference, or undefined. */
  localImage(reference: string, service: string, signal?: AbortSignal): Promise<{ id: string; created?: string } | undefined>;
  /** The image reference the service's container runs, if it has one. */
  runningImage(service: string, signal?: AbortSignal): Promise<string | undefined>;
}

/** An image some version of the compose file names for the service. */
interface Named {
  image: string;
  /** Tags on the commits that named it, newest commit first. */
  tags: string[];
  /** When the newest commit naming it was made. */
  committedAt?: string;
}

export function composeReleases(tools: ComposeReleaseTools) {
  const { file, run } = tools;

  const git = (args: string[], service: string, what: string, allowFail = false) => run(['git', ...args], service, what, { allowFail });

  /** The commit `name` names, or null when git knows no such revision. */
  async function commitOf(name: string, service: string): Promise<string | null> {
    const result = await git(['rev-parse', '--verify', '--quiet', `${name}^{commit}`], service, 'resolving a release name', true);
    // --quiet: exit 1 and no output when there is no such revision; anything else (no repository) is an error.
    if (result.exitCode === 1) return null;
    if (result.exitCode !== 0) throw new Error(`resolving release name ${name} for service ${service} failed: \`git rev-parse\` exited with ${result.exitCode}: ${result.outputTail.slice(-2).join(' | ')}`);
    const commit = result.stdout.trim();
    return OBJECT_NAME.test(commit) ? commit : null;
  }

  /**
   * The service's image in the compose file at `commit`; undefined when that version has no such
   * file or service. Only git's exit code is looked at when it fails: its output is not shown.
   */
  async function imageAt(commit: string, service: string, where: string): Promise<string | undefined> {
    const shown = await git(['show', `${commit}:./${file}`], service, 'reading a version of the compose file', true);
    if (shown.exitCode !== 0) return undefined;
    return imageLine(parseCompose(shown.stdout, where), service, where)?.value;
  }

  /** Tag names by the commit they point at (annotated tags peeled to their commit). */
  async function tagsByCommit(service: string): Promise<Map<string, string[]>> {
    const listed = await git(['for-each-ref', '--sort=-creatordate', '--format=%(objectname) %(*objectname) %(refname:strip=2)', 'refs/tags'], service, 'listing git tags');
    const tags = new Map<string, string[]>();
    for (const line of listed.stdout.split('\n')) {
      // Tag names cannot hold spaces (git check-ref-format), so the third field is the whole name.
      const [object = '', peeled = '', tag = ''] = line.split(' ');
      const commit = peeled || object;
      if (tag) tags.set(commit, [...(tags.get(commit) ?? []), tag]);
    }
    return tags;
  }

  /** The images the recent versions of the file name for the service, each once, newest first. */
  async function history(service: string, signal?: AbortSignal): Promise<Named[]> {
    const log = await git(['log', `--max-count=${COMMITS_READ}`, '--format=%H %cI', '--', file], service, 'listing the compose file\'s history');
    const tags = await tagsByCommit(service);
    const named = new Map<string, Named>();
    for (const line of log.stdout.split('\n')) {
      signal?.throwIfAborted();
      const [commit = '', committedAt] = line.split(' ');
      if (!OBJECT_NAME.test(commit)) continue;
      let image: string | undefined;
      try {
        image = await imageAt(commit, service, `${file} at ${commit.slice(0, 12)}`);
      } catch (err) {
        // A version this provider cannot roll to (no image of its own, invalid YAML) is no release.
        if (err instanceof ComposeFileError) continue;
        throw err;
      }
      if (image === undefined) continue;
      const entry = named.get(image) ?? { image, tags: [], committedAt };
      entry.tags.push(...(tags.get(commit) ?? []));
      named.set(image, entry);
    }
    return [...named.values()];
  }

  /** A named image as a release: its image id when the engine has it (as readRelease does), else the reference. */
  async function releaseOf(named: Named, service: string, signal?: AbortSignal): Promise<Release> {
    const local = await tools.localImage(named.image, service, signal);
    return {
      id: local?.id ?? named.image,
      label: named.image,
      image: named.image,
      ...(named.committedAt ? { createdAt: named.committedAt } : {}),
      ...(named.tags.length > 0 ? { aliases: [...new Set(named.tags)] } : {}),
    };
  }

  /** The service's releases, newest first, at most `limit`, the one running now included. */
  async function listReleases(service: string, limit: number, signal?: AbortSignal): Promise<Release[]> {
    const named = await history(service, signal);
    const running = await tools.runningImage(service, signal);
    // Running something no commit names (a fresh image rolled to): it is the newest release.
    if (running && !named.some((n) => n.image === running)) named.unshift({ image: running, tags: [] });
    const releases: Release[] = [];
    for (const n of named.slice(0, Math.max(0, limit))) releases.push(await releaseOf(n, service, signal));
    return releases;
  }

  /** A tag or revision of the compose file, an image a version names (or its id), or an image the engine has. */
  async function findRelease(service: string, name: string, signal?: AbortSignal): Promise<Release | null> {
    if (!RELEASE_NAME.test(name)) return null;
    const commit = await commitOf(name, service);
    if (commit) {
      // A version that exists but cannot be rolled to (variables, no image of its own) is refused, saying why.
      const image = await imageAt(commit, service, `${file} at ${name}`);
      if (image === undefined) return null;
      const committed = await git(['show', '-s', '--format=%cI', commit], service, 'reading a commit date');
      return releaseOf({ image, tags: (await tagsByCommit(service)).get(commit) ?? [], committedAt: committed.stdout.trim() || undefined }, service, signal);
    }
    if (!parseImageReference(name) && !SHA256_DIGEST.test(name)) return null;
    const named = await history(service, signal);
    const known = named.find((n) => namesImage(name, n.image));
    if (known) return releaseOf(known, service, signal);
    if (SHA256_DIGEST.test(name)) {
      // An image id, as releases here are identified: the version whose image it is.
      for (const n of named) {
        const release = await releaseOf(n, service, signal);
        if (release.id === name) return release;
      }
      return null;
    }
    // No version names it: an image the engine already has is deployed fresh (a rollback never pulls).
    const local = await tools.localImage(name, service, signal);
    if (!local) return null;
    return { id: local.id, label: name, image: name, ...(local.created ? { createdAt: local.created } : {}), fresh: true };
  }

  return { listReleases, findRelease };
}
