/**
 * Railway, Render, Heroku and Docker / Docker Compose.
 * https://docs.railway.com/reference/cli-api  https://docs.docker.com/reference/cli/docker/compose/
 */
import { absorbed, destructive, fill, hasFlag, opaque, option, positionals, slug, typed, unmapped, valueOr, type Recognizer, type Verdict } from '../verdict.ts';
import type { ShellCommand } from '../shell.ts';

export const railway: Recognizer = (cmd) => {
  const argv = cmd.argv.slice(1);
  const words = positionals(argv, ['-s', '--service', '-e', '--environment', '--tail', '-n']);
  const [verb, arg] = words;
  if (['logs', 'status', 'deployments', 'list', 'whoami', 'domain', 'environment'].includes(verb ?? '') || (verb === 'variables' && !hasFlag(argv, '--set', '-s'))) return absorbed(`railway ${verb}: read-only`);
  if (verb === 'rollback') {
    const target = valueOr(option(argv, '-s', '--service'), 'Railway service (as this runbook names it)');
    const to = arg ? valueOr(arg, 'Railway deployment id') : 'previous';
    const settings = { services: { [target]: { serviceId: fill('Railway service id'), environmentId: fill('Railway environment id') } }, tokenEnv: 'RAILWAY_API_TOKEN' };
    return typed('release', target, to, 'railway rollback -> release of the service to the deployment before (or the one named)', { provider: 'railway', ref: { provider: 'railway', settings } }, { action: { release: { target, to }, provider: 'railway' } });
  }
  if (verb === 'run' && ['bash', 'sh', 'zsh'].includes(arg ?? '')) return unmapped('railway run bash opens an interactive shell');
  if (verb === 'shell' || verb === 'ssh' || verb === 'connect' || verb === 'login' || verb === 'link') return unmapped(`railway ${verb} is interactive or sets up the operator's CLI`);
  if (verb === 'delete' || verb === 'down' && hasFlag(argv, '--delete')) return destructive('railway delete removes the project or service');
  return opaque(`railway ${verb ?? ''}: no typed action for it (a command action to review)`);
};

export const render: Recognizer = (cmd) => {
  const [noun, verb] = positionals(cmd.argv.slice(1), ['-o', '--output']);
  if (verb === 'list' || noun === 'logs' || noun === 'services' && verb === undefined) return absorbed(`render ${noun} ${verb ?? ''}: read-only`.trim());
  return opaque(`render ${noun ?? ''} ${verb ?? ''}: no typed action for it (a command action to review)`);
};

export const heroku: Recognizer = (cmd) => {
  const [verb] = positionals(cmd.argv.slice(1), ['-a', '--app', '-r', '--remote', '-n', '--num']);
  if (/^(releases|logs|ps|apps:info|config|addons|pg:info|pg:backups|status|domains)$/.test(verb ?? '') && !/:(set|unset|restore)/.test(verb ?? '')) return absorbed(`heroku ${verb}: read-only`);
  if (verb === 'apps:destroy' || verb === 'pg:reset') return destructive(`heroku ${verb} deletes the app or its data for good`);
  if (verb === 'pg:backups:restore') return destructive('heroku pg:backups:restore overwrites the live database; restore to a side database and swap after verifying (dataRestore)');
  return opaque(`heroku ${verb ?? ''}: no Heroku provider; a command action to review`);
};

const COMPOSE_VALUED = ['-f', '--file', '-p', '--project-name', '--profile', '--env-file', '--tail', '-u', '--user', '-w', '--workdir', '-e', '--env', '--index', '--since'];

/** `docker compose exec postgres pg_restore ...`: the command run inside, after the service and exec's options. */
function execInner(argv: readonly string[]): string[] {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) i += COMPOSE_VALUED.includes(argv[i]!) ? 2 : 1;
  return argv.slice(i + 1);
}

export function compose(args: readonly string[], cmd: ShellCommand, inner: (c: ShellCommand) => Verdict | null): Verdict {
  const words = positionals(args, COMPOSE_VALUED);
  const verb = words[0];
  if (['ps', 'logs', 'config', 'images', 'top', 'port', 'ls', 'events', 'version'].includes(verb ?? '')) return absorbed(`compose ${verb}: read-only`);
  if (verb === 'exec' || verb === 'run') {
    const at = args.indexOf(verb);
    const argv = execInner(args.slice(at + 1));
    if (argv.length === 0) return opaque(`compose ${verb} with no command`);
    const found = inner({ ...cmd, argv });
    if (found) return found;
    return opaque(`compose ${verb} ${argv[0]}: a command in a container, to review`);
  }
  if (verb === 'down' && hasFlag(args, '-v', '--volumes')) return destructive('compose down -v deletes the named volumes, i.e. the data');
  if (verb === 'rm' && hasFlag(args, '-v', '--volumes')) return destructive('compose rm -v deletes the anonymous volumes with the containers');
  const scale = option(args, '--scale');
  if (verb === 'up' && scale && /^[\w.-]+=\d+$/.test(scale)) {
    const [service, count] = scale.split('=') as [string, string];
    const settings = { projectDir: fill('folder holding the compose file'), ...(option(args, '-f', '--file') ? { file: option(args, '-f', '--file') } : {}) };
    return typed('scale', service, count, 'compose up --scale -> scale of the service', { provider: 'compose', ref: { provider: 'docker-compose', settings } }, { action: { scale: { target: service, instances: Number(count) }, provider: 'compose' } });
  }
  return opaque(`compose ${verb ?? ''}: restarts, rebuilds and stops are commands here (no typed action tells which release they bring back); review`);
}

/** `-v ai_workflow_engine_postgres_data:/data -v $(pwd)/backups:/backup`: named volume -> mount point, and host dir -> mount point. */
function mounts(argv: readonly string[]): { source: string; target: string }[] {
  const out: { source: string; target: string }[] = [];
  argv.forEach((arg, i) => {
    if ((arg === '-v' || arg === '--volume') && argv[i + 1]) {
      const [source, target] = argv[i + 1]!.split(':');
      if (source && target) out.push({ source, target });
    }
  });
  return out;
}

/** A dated backup name as a pattern: postgres_data_20240815_120000.tar.gz -> postgres_data_*.tar.gz. */
export function backupPattern(name: string): string {
  return name.replace(/\d{8}(?:[_-]?\d{4,6})?|\d{4}-\d{2}-\d{2}(?:[T_-]\d{2}[:-]?\d{2}[:-]?\d{2})?|\$\([^)]*\)/g, '*');
}

export const docker = (cmd: ShellCommand, inner: (c: ShellCommand) => Verdict | null): Verdict => {
  const argv = cmd.argv.slice(1);
  if (cmd.argv[0] === 'docker-compose') return compose(argv, cmd, inner);
  const [verb, sub] = positionals(argv, ['-v', '--volume', '-e', '--env', '-w', '--name', '-p', '--format', '-f', '--filter', '--tail', '--since', ...COMPOSE_VALUED]);
  if (verb === 'compose') return compose(argv.slice(argv.indexOf('compose') + 1), cmd, inner);
  if ((verb === 'volume' && (sub === 'rm' || sub === 'prune')) || (verb === 'system' && sub === 'prune') || ((verb === 'image' || verb === 'container' || verb === 'network' || verb === 'builder') && sub === 'prune')) {
    return destructive(`docker ${verb} ${sub} deletes ${verb === 'volume' || verb === 'system' ? 'volumes (the data they hold) and more' : 'what the rollback may need to come back to'} for good`);
  }
  if (['ps', 'logs', 'inspect', 'images', 'stats', 'top', 'port', 'version', 'info', 'events', 'history'].includes(verb ?? '') || (verb === 'volume' && (sub === 'ls' || sub === 'inspect'))) return absorbed(`docker ${verb}: read-only`);
  if (verb === 'run') {
    const volumes = mounts(argv);
    const inside = cmd.argv.slice(cmd.argv.lastIndexOf('alpine') > 0 ? cmd.argv.lastIndexOf('alpine') + 1 : cmd.argv.length);
    const text = inside.join(' ');
    const named = volumes.find((v) => !v.source.includes('/') && !v.source.includes('$'));
    const backup = volumes.find((v) => v !== named);
    if (named && backup && /\btar\b/.test(text) && /\bx[a-z]*f\b|--extract/.test(text)) {
      const file = inside.find((w) => /\.tar(\.gz)?$|\.tgz$/.test(w)) ?? '';
      const base = file.split('/').at(-1) ?? '';
      const name = slug(named.source);
      const backupDir = backup.source.replace(/^\$\(pwd\)|^\$PWD|^\$\{PWD\}/, '.');
      const volume = { provider: 'compose', volume: named.source, backupDir, backupPattern: backupPattern(base) || '*.tar.gz', services: [] };
      return typed('volume-restore', named.source, base, 'tar extracted into a named volume -> volume-restore from its tar.gz backups', { provider: 'compose', ref: { provider: 'docker-compose', settings: { projectDir: fill('folder holding the compose file') } } }, { path: ['volumes', name], value: volume }, { action: { 'volume-restore': name } });
    }
    if (named && /\btar\b/.test(text) && /\bc[a-z]*f\b|--create/.test(text)) return absorbed('a tar of a volume taken before the change: the volume-restore snapshot archives the volume itself');
  }
  if (verb === 'exec') {
    const found = inner({ ...cmd, argv: execInner(argv.slice(argv.indexOf('exec') + 1)) });
    if (found) return found;
  }
  return opaque(`docker ${verb ?? ''}: a command to review`);
};
