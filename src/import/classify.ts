/**
 * Command line -> verdict: the recognizer table by program, the read-only tools, the interactive ones,
 * the team's scripts; then one verdict for the whole line (a pipeline is as destructive as its worst
 * command, and `cat x | redis-cli --pipe` is read by the command that consumes it).
 */
import type { CommandLine, ShellCommand } from './shell.ts';
import { absorbed, destructive, opaque, typed, unmapped, type DocFacts, type LineContext, type Recognizer, type Verdict } from './verdict.ts';
import { fly } from './recognizers/fly.ts';
import { gcloud, helm, kubectl } from './recognizers/cloud.ts';
import { docker, heroku, railway, render } from './recognizers/platforms.ts';
import { cp, pgDump, pgRestore, psql, redisCli, sqlite3 } from './recognizers/data.ts';
import { curl, git } from './recognizers/git-curl.ts';

/** Recognizers by program name: adding a tool is one entry here and its module. */
export const RECOGNIZERS = new Map<string, Recognizer>([
  ['fly', fly], ['flyctl', fly],
  ['gcloud', gcloud], ['kubectl', kubectl], ['helm', helm],
  ['railway', railway], ['render', render], ['heroku', heroku],
  ['docker', (cmd, ctx) => docker(cmd, (inner) => recognize(inner, ctx))],
  ['docker-compose', (cmd, ctx) => docker(cmd, (inner) => recognize(inner, ctx))],
  ['redis-cli', redisCli], ['psql', psql], ['pg_restore', pgRestore], ['pg_dump', pgDump], ['pg_dumpall', pgDump], ['sqlite3', sqlite3], ['cp', cp],
  ['git', git], ['curl', curl],
]);

const READ_ONLY = new Set([
  'ls', 'cat', 'grep', 'egrep', 'fgrep', 'wc', 'head', 'tail', 'jq', 'yq', 'echo', 'printf', 'date', 'env', 'printenv', 'ps', 'top', 'htop', 'df', 'du', 'free',
  'uptime', 'whoami', 'hostname', 'dig', 'nslookup', 'host', 'ping', 'watch', 'which', 'stat', 'less', 'more', 'tree', 'sleep', 'true', 'test', '[', 'journalctl', 'sort',
  'uniq', 'cut', 'awk', 'tee', 'diff', 'md5sum', 'sha256sum', 'file', 'nc', 'netstat', 'ss', 'lsof', 'openssl', 'time', 'column', 'tr', 'find', 'wget-spider',
]);
const INTERACTIVE = new Set(['vim', 'vi', 'nano', 'emacs', 'code', 'ssh', 'mosh', 'open', 'xdg-open', 'clear', 'exit', 'history', 'tmux', 'screen']);
const OPERATOR_SHELL = new Set(['cd', 'pushd', 'popd', 'export', 'unset', 'source', '.', 'alias', 'set']);
const SCRIPT_RUNNERS = new Set(['python', 'python3', 'node', 'bash', 'sh', 'ruby', 'npx', 'npm', 'pnpm', 'yarn', 'make', 'go', 'deno', 'bun', 'php', 'perl', 'java', 'mvn', 'gradle', 'terraform', 'ansible-playbook', 'tar', 'mv', 'wget', 'scp', 'rsync', 'systemctl', 'service', 'xargs', 'sudo', 'nohup', 'aws', 'az', 'vercel', 'netlify', 'supabase', 'alembic', 'flask', 'rails', 'rake', 'mysql', 'mongo', 'mongosh', 'mongorestore', 'mongodump', 'rm', 'chmod', 'chown', 'touch', 'mkdir', 'ln', 'kill', 'pkill', 'killall', 'crontab']);

/** Platform CLIs that run a command on the service's machine. */
const REMOTE_RUN = new Set(['railway', 'heroku', 'fly', 'flyctl', 'kubectl', 'render']);

/** Programs the importer knows, for telling commands from diagrams in a block with no language. */
export function isKnownProgram(name: string): boolean {
  return RECOGNIZERS.has(name) || READ_ONLY.has(name) || INTERACTIVE.has(name) || OPERATOR_SHELL.has(name) || SCRIPT_RUNNERS.has(name) || /^\.{0,2}\/[\w./-]+$|^scripts\/|\.(sh|py|js|ts|rb)$/.test(name);
}

/** One command, by its program. */
export function recognize(cmd: ShellCommand, ctx: LineContext): Verdict | null {
  const [program = '', ...rest] = cmd.argv;
  // A platform's remote run fed a backup on stdin into `cat > file.db` (railway run, heroku run, fly ssh console -C,
  // kubectl exec -i ... --): the SQLite file overwritten by its backup, as `cp backup live` is.
  const overwrite = rest.map((w) => /^cat\s*>\s*(\S+)$/.exec(w.trim())).find((m) => m !== null);
  const input = cmd.redirects.find((r) => r.op === '<')?.target;
  if (overwrite && input && REMOTE_RUN.has(program)) {
    const restored = RECOGNIZERS.get('cp')!({ ...cmd, argv: ['cp', input, overwrite[1]!], redirects: [] }, ctx);
    if (restored?.kind === 'typed') return restored;
  }
  const found = RECOGNIZERS.get(program)?.(cmd, ctx);
  if (found) return found;
  // `--dry-run` changes nothing, whatever the tool: the dry run of the rollback shows the same.
  if (rest.includes('--dry-run') || rest.includes('--dryrun')) return absorbed(`${program} --dry-run: changes nothing`);
  // The team's own notification script (notify.sh --channel incidents): the runbook's notify channels do it.
  const script = [program, ...rest].find((w) => /\.(sh|py|js|ts)$/.test(w) || w.includes('/')) ?? '';
  if (/(^|\/)(notify|slack|page|alert)[\w-]*\.(sh|py|js|ts)$/i.test(script) && !/customer|user/i.test(script)) {
    const channel = rest[rest.indexOf('--channel') + 1] ?? 'incidents';
    return typed('notify', channel, script, "the team's notification script -> a notify channel (a Slack-compatible webhook; every rollback state change is sent there)", { path: ['notify'], value: { provider: 'webhook', settings: { urlEnv: 'SLACK_WEBHOOK_URL' } }, append: true });
  }
  // `wget URL` / `curl -o file URL`: a download to the operator's machine changes nothing the rollback acts on
  // (the restore that follows reads the backup where it is kept). Piped into a shell it is run, not kept.
  if (program === 'wget' && !rest.some((w) => /^--(post|method|body|delete)/.test(w)) && ctx.line.joins[ctx.index] !== '|') return absorbed('wget: a download to the operator\'s machine; the draft reads backups where they are kept');
  if (program === 'sudo' || program === 'nohup' || program === 'time' || (program === 'env' && rest[0]?.includes('='))) {
    const inner = rest.filter((w, i) => !(program === 'env' && w.includes('=') && rest.slice(0, i).every((p) => p.includes('='))));
    return inner.length ? recognize({ ...cmd, argv: inner }, ctx) : absorbed(`${program}: read-only`);
  }
  if (program === 'xargs') {
    const at = rest.findIndex((w) => !w.startsWith('-'));
    return at >= 0 ? recognize({ ...cmd, argv: rest.slice(at) }, ctx) : absorbed('xargs echo');
  }
  if (program === 'systemctl' || program === 'service') {
    const verb = program === 'service' ? rest[1] : rest[0];
    return ['status', 'is-active', 'show', 'list-units', 'is-enabled'].includes(verb ?? '') ? absorbed(`${program} ${verb}: read-only`) : opaque(`${program} ${verb ?? ''}: a service restart or stop; no provider for it`);
  }
  if (program === 'rm' && rest.some((w) => /^-[a-zA-Z]*[rR]/.test(w))) return destructive('rm -r deletes a tree of files for good');
  if (program === 'export' || (program === '' && Object.keys(cmd.assignments).length > 0)) {
    const names = program === 'export' ? rest.map((w) => w.split('=')[0]).join(', ') : Object.keys(cmd.assignments).join(', ');
    return unmapped(`sets ${names} in the operator's shell only; if the service reads it, it is config: set it with the platform's config (e.g. fly secrets set, gcloud run services update --update-env-vars)`);
  }
  if (OPERATOR_SHELL.has(program)) return unmapped(`${program} changes the operator's own shell`);
  if (INTERACTIVE.has(program)) return unmapped(`${program} is interactive${program === 'vim' || program === 'nano' || program === 'vi' ? ' (a hand edit: put the change in a release or config instead)' : ''}`);
  if (program === 'cat' && cmd.redirects.some((r) => r.op === '>' || r.op === '>>')) return opaque('cat writing a file');
  if (program === 'echo' && cmd.redirects.some((r) => r.op === '>' || r.op === '>>')) return opaque('echo writing a file');
  if (READ_ONLY.has(program) && !rest.includes('-delete') && !rest.includes('-i')) return absorbed(`${program}: read-only`);
  if (program === 'tar' && /^-?[a-zA-Z]*c[a-zA-Z]*$/.test(rest[0] ?? '') && !/x/.test(rest[0] ?? '')) return absorbed('a tar archive taken before the change: the snapshot keeps state before anything changes');
  if (isKnownProgram(program)) return opaque(`${program.includes('/') || /\.(sh|py)$/.test(program) || SCRIPT_RUNNERS.has(program) ? "the team's script or tool" : program}: a command action to review (what it changes, its undo, whether it is safe to repeat)`);
  return null;
}

/** Filters that only read what the command before them prints. */
const FILTERS = new Set(['grep', 'egrep', 'wc', 'head', 'tail', 'jq', 'yq', 'sort', 'uniq', 'cut', 'awk', 'tr', 'column', 'tee', 'less', 'more']);

const RANK: Record<Verdict['kind'], number> = { destructive: 5, typed: 4, opaque: 3, unmapped: 2, absorbed: 1 };

/** The verdict of a whole command line. */
export function classifyLine(line: CommandLine, facts: DocFacts): Verdict {
  const verdicts: Verdict[] = [];
  line.commands.forEach((cmd, index) => {
    const program = cmd.argv[0] ?? '';
    // `cat backup.json | redis-cli --pipe`: the cat is the consumer's input, not a step of its own.
    if (program === 'cat' && line.joins[index] === '|' && cmd.redirects.length === 0) return;
    if (index > 0 && line.joins[index - 1] === '|' && FILTERS.has(program)) return;
    const verdict = recognize(cmd, { line, index, facts }) ?? opaque(`${program}: no recognizer for this program; a command action to review`);
    verdicts.push(verdict);
  });
  if (verdicts.length === 0) return absorbed('read-only');
  // Two typed steps joined by && are kept only when they are one and the same kind; otherwise review.
  const worst = verdicts.reduce((a, b) => (RANK[b.kind] > RANK[a.kind] ? b : a));
  if (worst.kind === 'typed' && verdicts.filter((v) => v.kind !== 'absorbed').length > 1) return opaque('several steps on one line: split them, one action each');
  return worst;
}
