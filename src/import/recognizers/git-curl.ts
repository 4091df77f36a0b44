/**
 * git (revert typed; reset --hard and force pushes destructive, with the revert range as the safe way) and
 * curl (Slack webhooks, status pages, health and metrics endpoints).
 * https://git-scm.com/docs/git-revert  https://developer.statuspage.io/
 */
import { absorbed, destructive, fill, option, opaque, positionals, slug, typed, unmapped, valueOr, type Emission, type Recognizer, type Typed } from '../verdict.ts';

const GIT_PROVIDER: Emission = {
  provider: 'git',
  ref: { provider: 'git-revert', settings: { repoDir: fill('working clone the worker owns'), branch: fill('shared branch the revert commits are pushed to'), authorName: 'rollback-bot', authorEmail: fill('author email of the revert commits'), tokenEnv: 'GIT_PUSH_TOKEN' } },
};

function revertOf(range: string): Typed {
  return { as: 'git-revert', target: 'git', value: range, emit: [GIT_PROVIDER, { action: { 'git-revert': range, provider: 'git' } }] };
}

export const git: Recognizer = (cmd) => {
  const argv = cmd.argv.slice(1);
  const words = positionals(argv, ['-m', '--mainline', '-C', '-b', '-B', '-n']);
  const [verb] = words;
  if (verb === 'revert') {
    const commits = words.slice(1);
    if (commits.length !== 1) return opaque('git revert of several commits: write them as one range A..B');
    const range = commits[0]!.includes('..') ? commits[0]!.split('..').map((c) => valueOr(c, 'commit')).join('..') : valueOr(commits[0], 'commit to revert');
    return { kind: 'typed', reason: 'git revert -> git-revert (revert commits pushed on the shared branch)', ...revertOf(range) };
  }
  if (verb === 'reset' && argv.includes('--hard')) {
    const to = valueOr(words[1] ?? 'HEAD', 'last good commit');
    return destructive(`git reset --hard discards commits (and a push of it rewrites the shared branch); the safe equivalent reverts what came after ${to}`, revertOf(`${to}..HEAD`));
  }
  if (verb === 'push' && (argv.some((a) => a === '--force' || a === '-f' || a.startsWith('--force-with-lease')) || words.slice(1).some((w) => w.startsWith('+')))) {
    return destructive('a force push rewrites the shared branch others build on; git-revert pushes revert commits on top instead');
  }
  if (verb === 'clean' && argv.some((a) => /^-[a-z]*f/.test(a))) return destructive('git clean -f deletes untracked files for good');
  if (['log', 'status', 'diff', 'show', 'fetch', 'rev-parse', 'describe', 'blame', 'shortlog', 'ls-files', 'reflog'].includes(verb ?? '') || ((verb === 'branch' || verb === 'tag') && words.length === 1)) return absorbed(`git ${verb}: read-only`);
  if (verb === 'checkout' && (argv.includes('-b') || argv.includes('-B'))) return unmapped('git checkout -b starts a branch for the fix: developer work after the rollback');
  if (verb === 'commit' || verb === 'add' || verb === 'stash' || verb === 'clone' || verb === 'config') return unmapped(`git ${verb}: developer work on a working copy, not a rollback step`);
  return opaque(`git ${verb ?? ''} changes a working copy: the draft cannot tell which deploy it feeds; review`);
};

const HEALTH_PATH = /\/(health|healthz|ready|readyz|livez|ping|status|api\/health|api\/v\d+\/health)\/?$/i;

export const curl: Recognizer = (cmd) => {
  const argv = cmd.argv.slice(1);
  const url = positionals(argv, ['-X', '--request', '-H', '--header', '-d', '--data', '--data-raw', '--data-binary', '-o', '--output', '-u', '--user', '-m', '--max-time', '-w', '--write-out', '--connect-timeout']).find((w) => /^https?:\/\//.test(w) || w.includes('://'));
  if (!url) {
    // `curl -X POST --data ... "$SLACK_WEBHOOK_URL"`: the webhook kept in a variable, as it should be; the variable names it.
    const variable = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(positionals(argv, ['-X', '--request', '-H', '--header', '-d', '--data', '--data-raw', '--data-binary']).at(-1) ?? '')?.[1];
    const posts = (option(argv, '-X', '--request') ?? (option(argv, '-d', '--data', '--data-raw', '--data-binary') ? 'POST' : 'GET')).toUpperCase() === 'POST';
    if (variable && posts && /SLACK|WEBHOOK/i.test(variable)) {
      return typed('notify', 'slack', 'webhook', `a POST to the webhook in $${variable} -> a notify channel (its URL from that environment variable)`, { path: ['notify'], value: { provider: 'webhook', settings: { urlEnv: variable } }, append: true });
    }
    return opaque('curl of no URL the draft can read');
  }
  const method = (option(argv, '-X', '--request') ?? (option(argv, '-d', '--data', '--data-raw', '--data-binary') ? 'POST' : 'GET')).toUpperCase();
  const headerEnv = (argv.filter((_, i) => argv[i - 1] === '-H' || argv[i - 1] === '--header').join(' ').match(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/) ?? [])[1];
  let host = '';
  let path = '';
  try {
    const parsed = new URL(url.replace(/\$\([^)]*\)|\$\{?\w+\}?/g, 'x'));
    host = parsed.hostname;
    path = parsed.pathname;
  } catch {
    return method === 'GET' ? absorbed('an HTTP GET of a URL written with placeholders: read-only') : opaque('curl of a URL the draft cannot read');
  }
  if (/hooks\.slack\.com$/.test(host)) {
    return typed('notify', 'slack', 'webhook', 'a Slack incoming webhook -> a notify channel (its URL from an environment variable)', { path: ['notify'], value: { provider: 'webhook', settings: { urlEnv: 'SLACK_WEBHOOK_URL' } }, append: true });
  }
  if (/statuspage\.io$/.test(host) || (/^status\./.test(host) && /incident/.test(path)) || /\/incidents\/?$/.test(path)) {
    const page = /\/pages\/([^/]+)/.exec(path)?.[1];
    const settings = { pageId: page ? valueOr(page, 'Statuspage page id') : fill('Statuspage page id (the document posts to its own status API)'), apiKeyEnv: headerEnv ?? 'STATUSPAGE_API_KEY' };
    return typed('statusPage', host, method, 'a status page incident -> statusPage (opened when a rollback starts, resolved when it ends)', { path: ['statusPage'], value: { provider: 'statuspage', settings } });
  }
  if (method === 'GET' || method === 'HEAD') {
    const checkUrl = valueOr(url, 'health URL');
    if (/\/metrics\/?$/.test(path)) return absorbed('a metrics endpoint read: health.metrics measures it', { path: ['health', 'metrics', 'url'], value: checkUrl });
    if (HEALTH_PATH.test(path) && !url.includes('$(')) {
      return absorbed('a health endpoint read: a health check of the verification', { path: ['health', 'checks'], value: { name: slug(`${host.split('.')[0]}-${path}`), url: checkUrl }, append: true });
    }
    return absorbed('an HTTP GET: read-only');
  }
  return opaque(`curl -X ${method} ${host}: an API call with no provider; a command action to review`);
};
