/**
 * flyctl (`fly`, `flyctl`): Machine counts, env vars ("secrets"), restarts and images of Fly apps, through
 * the fly-machines provider, one provider per app so each app's config needs no configVersion.
 * https://fly.io/docs/flyctl/
 */
import { absorbed, destructive, fill, opaque, option, positionals, slug, typed, unmapped, valueOr, type Emission, type Recognizer } from '../verdict.ts';

function flyApp(argv: readonly string[], positional?: string): { target: string; provider: string; emit: Emission } {
  const app = option(argv, '-a', '--app') ?? positional;
  const target = app && !app.startsWith('-') ? valueOr(app, 'Fly app') : 'app';
  const name = target === 'app' || target.startsWith('<FILL') ? 'fly' : `fly-${slug(target)}`;
  const apps = target === 'app' ? { app: fill('the Fly app these commands act on (the document gives no -a)') } : { [target]: target };
  return { target, provider: name, emit: { provider: name, ref: { provider: 'fly-machines', settings: { apps, tokenEnv: 'FLY_API_TOKEN' } } } };
}

const READ_ONLY = new Set(['status', 'logs', 'releases', 'list', 'ls', 'metrics', 'info', 'version', 'doctor', 'dashboard', 'checks', 'history', 'regions', 'ips', 'certs', 'image', 'volumes', 'machines', 'machine', 'config', 'secrets', 'apps', 'platform', 'scale', 'postgres', 'ssh', 'deploy', 'auth']);

export const fly: Recognizer = (cmd) => {
  const argv = cmd.argv.slice(1);
  const [sub, verb] = positionals(argv, ['-a', '--app', '-c', '--config', '--image', '-i', '--strategy', '--since', '-r', '--region']);
  if (sub === 'scale' && verb === 'count') {
    const count = positionals(argv, ['-a', '--app', '--region', '--process-group'])[2];
    if (count === undefined || !/^\d+$/.test(count)) return opaque(`fly scale count ${count ?? ''}: not a plain instance count`);
    const app = flyApp(argv);
    return typed('scale', app.target, count, 'fly scale count -> scale of the app\'s Machines', app.emit, { action: { scale: { target: app.target, instances: Number(count) }, provider: app.provider } });
  }
  if (sub === 'scale' && (verb === 'show' || verb === undefined)) return absorbed('fly scale show: read-only (the snapshot reads Machine counts)');
  if (sub === 'secrets' && (verb === 'set' || verb === 'unset')) {
    const app = flyApp(argv);
    const words = positionals(argv, ['-a', '--app']).slice(2);
    const config: Record<string, string | null> = {};
    for (const word of words) {
      if (verb === 'unset') config[word] = null;
      else {
        const eq = word.indexOf('=');
        if (eq <= 0) return opaque(`fly secrets set ${word}: not NAME=VALUE`);
        config[word.slice(0, eq)] = word.slice(eq + 1);
      }
    }
    if (Object.keys(config).length === 0 || Object.keys(config).some((k) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))) return opaque('fly secrets: no NAME=VALUE the draft can read');
    const value = Object.entries(config).map(([k, v]) => (v === null ? `${k} unset` : `${k}=${v}`)).join(',');
    return typed('config', app.target, value, `fly secrets ${verb} -> config of the app's Machines (they restart with it)`, app.emit, { action: { config, provider: app.provider } });
  }
  if ((sub === 'apps' && verb === 'restart') || sub === 'restart') {
    const app = flyApp(argv, sub === 'apps' ? positionals(argv, ['-a', '--app'])[2] : verb);
    return typed('restart', app.target, 'restart', 'fly apps restart -> restart of the app\'s Machines', app.emit, { action: { restart: app.target, provider: app.provider } });
  }
  if (sub === 'apps' && verb === 'destroy') return destructive('fly apps destroy deletes the app, its Machines and volumes for good; a rollback scales it to 0 instead (scale)');
  if (sub === 'releases' && verb === 'rollback') {
    const app = flyApp(argv);
    const to = positionals(argv, ['-a', '--app'])[2];
    return typed('release', app.target, to ? valueOr(to, 'Fly release version') : 'previous', 'fly releases rollback -> release of the app to the image before', app.emit, { action: { release: { target: app.target, to: to ? valueOr(to, 'Fly release version') : 'previous' }, provider: app.provider } });
  }
  if (sub === 'deploy' && option(argv, '--image', '-i')) {
    const app = flyApp(argv);
    const image = valueOr(option(argv, '--image', '-i'), 'image to roll back to');
    return typed('release', app.target, image, 'fly deploy --image -> release of the app to that image', app.emit, { action: { release: { target: app.target, to: image }, provider: app.provider } });
  }
  if (sub === 'deploy') return opaque('fly deploy builds and ships whatever the working copy holds: the draft cannot tell which release that is');
  if (sub === 'postgres' && verb === 'connect') return unmapped('fly postgres connect opens an interactive session');
  if (sub === 'ssh') return unmapped('fly ssh opens an interactive shell');
  if (sub === 'secrets' && (verb === 'list' || verb === undefined)) return absorbed('fly secrets list: read-only (names and digests only)');
  if (sub === 'config' && (verb === 'save' || verb === 'show' || verb === 'env')) return absorbed('fly config: read-only (the snapshot keeps the app\'s config)');
  if (sub === 'machine' || sub === 'machines') return verb === 'list' || verb === 'status' ? absorbed('fly machine list/status: read-only') : opaque(`fly ${sub} ${verb ?? ''}: no typed action for single Machines`);
  if (sub === 'apps' && (verb === 'list' || verb === undefined)) return absorbed('fly apps list: read-only');
  if (sub !== undefined && READ_ONLY.has(sub) && ['status', 'logs', 'releases', 'list', 'ls', 'metrics', 'info', 'version', 'doctor', 'dashboard', 'checks', 'history', 'regions', 'ips', 'certs', 'image', 'volumes'].includes(sub) && (verb === undefined || ['list', 'ls', 'show'].includes(verb))) {
    return absorbed(`fly ${sub}: read-only (the snapshot or the dry run shows it)`);
  }
  return opaque(`fly ${sub ?? ''} ${verb ?? ''}: no typed action for it`.replace(/\s+:/, ':'));
};
