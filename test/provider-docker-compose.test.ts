/**
 * The docker-compose provider against a real Docker engine: a private dockerd (test/docker-engine.ts),
 * the Compose v2 CLI plugin, two imported images of a tiny HTTP service (app:1 and app:2 answer their
 * version on /health, host networking on a loopback port) and a compose project in a temporary git
 * repository whose last commit moved web from app:1 to app:2, as in seed 003. A second project, whose
 * compose file versions are tagged v0 (an image from a variable), v1 and v2, has its releases named by
 * tag, revision, image, image id, or an image only the engine has. A third project is scaled (`up
 * --scale`): its containers counted by the engine, a repeat running no `up`, services Compose cannot run
 * twice (a fixed host port, a container_name) refused before any command.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { parseDocument, stringify } from 'yaml';
import { scaleProblem } from '../src/providers/docker-compose/compose-scaling.ts';
import { dockerCompose } from '../src/providers/docker-compose/docker-compose.ts';
import type { ReleaseState, RolloutOptions } from '../src/providers/types.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { freePort, quietLogger } from './harness.ts';

const PROJECT = 'rrcompose';
/** A value the compose file holds that must never come back from the provider. */
const SECRET = 'compose-file-secret-4f1c9a';
const shortHash = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 12);

function composeFile(webImage: string, webPort: number, adminPort: number): string {
  const serve = (port: number) => `["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]`;
  return `# Test project: web serves its release on /health; admin is left alone by web's rollbacks.
services:
  web:
    image: ${webImage}   # the release under test
    network_mode: host
    command: ${serve(webPort)}
    stop_grace_period: 1s   # httpd as PID 1 ignores SIGTERM: do not wait the default 10 s
    environment:
      API_TOKEN: "${SECRET}"
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:${webPort}/health"]
      interval: 1s
      timeout: 2s
      retries: 20

  admin:
    image: 'app:1'
    network_mode: host
    command: ${serve(adminPort)}
    stop_grace_period: 1s
`;
}

describe('docker-compose provider against a real Docker engine (private dockerd, Compose v2 CLI)', () => {
  let engine: DockerEngine;
  let repo: string;
  let file: string;
  let webPort: number;
  let adminPort: number;
  const ids: Record<string, string> = {};
  let atCommit2: string;
  let snapshot: ReleaseState;

  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
  const commit = (text: string, message: string) => {
    writeFileSync(file, text);
    git('add', 'docker-compose.yml');
    git('-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '-m', message);
  };
  const env = () => ({ PATH: engine.env.PATH!, HOME: engine.env.HOME!, DOCKER_CONFIG: engine.env.DOCKER_CONFIG!, TEST_DOCKER_HOST: engine.host });
  const settings = (extra: Record<string, unknown> = {}) =>
    dockerCompose.settingsSchema.parse({
      projectDir: repo,
      project: PROJECT,
      dockerHostEnv: 'TEST_DOCKER_HOST',
      healthUrls: { web: `http://127.0.0.1:${webPort}/health` },
      timeoutSeconds: 60,
      ...extra,
    });
  const client = (extra: Record<string, unknown> = {}) => dockerCompose.create(settings(extra), { env: env(), logger: quietLogger }).releases;
  const options = (key: string, lines: string[] = []): RolloutOptions => ({ idempotencyKey: key, actor: 'test', onProgress: (line) => lines.push(line) });

  /** The service's container: id, image id, reference and start time. */
  const container = async (service: string) => {
    const id = (await engine.docker(['compose', '-p', PROJECT, '-f', file, 'ps', '-q', service], { cwd: repo })).trim();
    const [info] = JSON.parse(await engine.docker(['inspect', '--type', 'container', id])) as { Id: string; Image: string; Config: { Image: string }; State: { StartedAt: string } }[];
    return { id: info!.Id, imageId: info!.Image, reference: info!.Config.Image, startedAt: info!.State.StartedAt };
  };
  const health = async () => (await (await fetch(`http://127.0.0.1:${webPort}/health`)).text()).trim();
  const backups = () => readdirSync(repo).filter((name) => name.startsWith('docker-compose.yml.rollback-')).sort();

  before(async () => {
    engine = await startDockerEngine();
    ids['app:1'] = await engine.importImage('app:1', { 'www/health': '1\n' });
    ids['app:2'] = await engine.importImage('app:2', { 'www/health': '2\n' });
    // No httpd in it: its container cannot start, so a rollout to it fails.
    ids['app:broken'] = await engine.importImage('app:broken', { 'www/health': 'broken\n' }, { applets: ['sh', 'wget'] });
    webPort = await freePort();
    adminPort = await freePort();
    repo = mkdtempSync(join(tmpdir(), 'rr-compose-project-'));
    file = join(repo, 'docker-compose.yml');
    git('init', '-q');
    commit(composeFile('app:1', webPort, adminPort), 'web on app:1');
    commit(composeFile('app:2', webPort, adminPort), 'web on app:2');
    atCommit2 = readFileSync(file, 'utf8');
    await engine.docker(['compose', '-p', PROJECT, '-f', file, 'up', '-d', '--wait'], { cwd: repo });
  });

  after(async () => {
    await engine?.stop();
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  test('readRelease: current is the image web runs (app:2), previous the one HEAD~1 names (app:1), with state and health', async () => {
    snapshot = await client().readRelease('web');
    assert.deepEqual(snapshot.current, { id: ids['app:2'], label: 'app:2', image: 'app:2' });
    assert.equal(snapshot.previous?.id, ids['app:1']);
    assert.equal(snapshot.previous?.label, 'app:1');
    assert.equal(snapshot.previous?.image, 'app:1');
    assert.equal(snapshot.blocked, undefined);
    assert.equal(snapshot.detail?.state, 'running');
    assert.equal(snapshot.detail?.health, 'healthy');
    assert.equal(snapshot.detail?.fileImage, 'app:2');
    assert.equal(await health(), '2');
    assert.ok(!JSON.stringify(snapshot).includes(SECRET), 'nothing of the file but image references comes back');
  });

  test('rollTo the previous release: web runs app:1 and answers 1, only its image value changed in the file, the file backed up, admin untouched', async (t) => {
    const adminBefore = await container('admin');
    const lines: string[] = [];
    const state = await client().rollTo('web', snapshot.previous!, options('rollback-1/step-web', lines));
    t.diagnostic(`progress: ${lines.join(' | ')}`);

    assert.deepEqual(state.current, { id: ids['app:1'], label: 'app:1', image: 'app:1' });
    assert.equal(state.detail?.health, 'healthy');
    // Now HEAD~1 names what runs: there is nothing older to go to.
    assert.equal(state.blocked, 'docker-compose.yml at HEAD~1 names app:1, which service web already runs: there is nothing older to roll back to');
    const web = await container('web');
    assert.equal(web.imageId, ids['app:1']);
    assert.equal(web.reference, 'app:1');
    assert.equal(await health(), '1');

    assert.equal(readFileSync(file, 'utf8'), atCommit2.replace('    image: app:2   # the release under test', '    image: app:1   # the release under test'));
    assert.deepEqual(backups(), [`docker-compose.yml.rollback-${shortHash('rollback-1/step-web')}`]);
    assert.equal(readFileSync(join(repo, backups()[0]!), 'utf8'), atCommit2, 'the backup is the file as it was');
    assert.equal((await container('admin')).id, adminBefore.id, '--no-deps: admin was not recreated');
    assert.ok(lines.some((line) => /web/i.test(line)), `compose's progress lines were streamed: ${lines.join(' | ')}`);
    assert.ok(lines.includes(`health http://127.0.0.1:${webPort}/health: 200`));
    assert.ok(!JSON.stringify(state).includes(SECRET));
    assert.ok(!lines.join('\n').includes(SECRET));
  });

  test('the same idempotency key again changes nothing: no command, same container, same file and backups', async () => {
    const before = await container('web');
    const fileBefore = readFileSync(file, 'utf8');
    const backupsBefore = backups();
    const lines: string[] = [];
    const state = await client().rollTo('web', snapshot.previous!, options('rollback-1/step-web', lines));
    assert.deepEqual(state.current, { id: ids['app:1'], label: 'app:1', image: 'app:1' });
    assert.deepEqual(lines, [], 'no compose up ran');
    assert.deepEqual(await container('web'), before);
    assert.equal(readFileSync(file, 'utf8'), fileBefore);
    assert.deepEqual(backups(), backupsBefore);
  });

  test('undo: rolling to the snapshot\'s current puts app:2 back, healthy, and the file byte for byte as committed', async () => {
    const state = await client().rollTo('web', snapshot.current!, options('rollback-1/undo-web'));
    assert.deepEqual(state.current, { id: ids['app:2'], label: 'app:2', image: 'app:2' });
    assert.equal(state.detail?.health, 'healthy');
    assert.equal(state.blocked, undefined);
    assert.equal((await container('web')).imageId, ids['app:2']);
    assert.equal(await health(), '2');
    assert.equal(readFileSync(file, 'utf8'), atCommit2);
    assert.equal(git('status', '--porcelain', '--', 'docker-compose.yml'), '', 'the working tree matches HEAD again');
    assert.equal(backups().length, 2);
  });

  test('a previous image the engine does not have is blocked, saying so; rolling to it is refused before anything changes', async () => {
    commit(composeFile('app:9', webPort, adminPort), 'web on app:9 (never imported)');
    commit(atCommit2, 'web back on app:2');
    const state = await client().readRelease('web');
    assert.deepEqual(state.current, { id: ids['app:2'], label: 'app:2', image: 'app:2' });
    assert.deepEqual(state.previous, { id: 'app:9', label: 'app:9', image: 'app:9' });
    assert.equal(state.blocked, 'image app:9 (service web in docker-compose.yml at HEAD~1) is not on this Docker engine and a rollback does not pull: load or pull it first (docker pull app:9, or docker load)');

    const webBefore = await container('web');
    const backupsBefore = backups();
    await assert.rejects(client().rollTo('web', state.previous!, options('rollback-2/step-web')), {
      message: 'cannot roll service web to app:9: the image is not on this Docker engine and a rollback does not pull; load or pull it first (docker pull app:9, or docker load)',
    });
    assert.equal(readFileSync(file, 'utf8'), atCommit2);
    assert.deepEqual(backups(), backupsBefore);
    assert.equal((await container('web')).id, webBefore.id);
  });

  test('blocked when the previous file has no such service, or there is no previous version', async () => {
    writeFileSync(join(repo, 'older.yml'), 'services:\n  admin:\n    image: app:1\n');
    const noService = await client({ previous: { file: 'older.yml' } }).readRelease('web');
    assert.equal(noService.previous, null);
    assert.equal(noService.blocked, 'older.yml has no service web: there is nothing to roll back to');
    const noRevision = await client({ previous: { git: 'HEAD~10' } }).readRelease('web');
    assert.equal(noRevision.previous, null);
    assert.match(noRevision.blocked ?? '', /^there is no docker-compose\.yml at HEAD~10 \(`git show HEAD~10:\.\/docker-compose\.yml` exited with 128: fatal: /);
    rmSync(join(repo, 'older.yml'));
  });

  test('a rollout that fails names the service, the command and its last output; rolling to the snapshot puts it back', async (t) => {
    const rolled = client().rollTo('web', { id: ids['app:broken']!, label: 'app:broken', image: 'app:broken' }, options('rollback-3/step-web'));
    const command = `docker compose --ansi never --progress plain -f ${file} -p ${PROJECT} up -d --no-deps --wait --wait-timeout 60 --pull never --scale web=1 web`;
    await assert.rejects(rolled, (err: Error) => {
      t.diagnostic(err.message);
      assert.ok(err.message.startsWith(`docker compose up for service web failed: \`${command}\` exited with 1; last output: `), err.message);
      assert.match(err.message, /exec: "\/bin\/httpd": stat \/bin\/httpd: no such file or directory/);
      assert.ok(err.message.endsWith(`. ${file} now names app:broken for web; the file as it was before is ${file}.rollback-${shortHash('rollback-3/step-web')}`), err.message);
      assert.ok(!err.message.includes(SECRET));
      return true;
    });
    const state = await client().rollTo('web', snapshot.current!, options('rollback-3/undo-web'));
    assert.deepEqual(state.current, { id: ids['app:2'], label: 'app:2', image: 'app:2' });
    assert.equal(await health(), '2');
    assert.equal(readFileSync(file, 'utf8'), atCommit2);
  });

  test('a retry after the worker died between editing the file and `up` finishes the rollout and keeps the first backup', async () => {
    // What the first attempt left: its backup of the untouched file, and the file already naming app:1.
    const backup = join(repo, `docker-compose.yml.rollback-${shortHash('rollback-4/step-web')}`);
    writeFileSync(backup, atCommit2);
    const edited = atCommit2.replace('    image: app:2   # the release under test', '    image: app:1   # the release under test');
    writeFileSync(file, edited);
    assert.equal((await container('web')).imageId, ids['app:2']);

    const state = await client().rollTo('web', snapshot.previous!, options('rollback-4/step-web'));
    assert.deepEqual(state.current, { id: ids['app:1'], label: 'app:1', image: 'app:1' });
    assert.equal(await health(), '1');
    assert.equal(readFileSync(file, 'utf8'), edited);
    assert.equal(readFileSync(backup, 'utf8'), atCommit2, 'the backup taken before the change is kept, not overwritten by the edited file');

    await client().rollTo('web', snapshot.current!, options('rollback-4/undo-web'));
    assert.equal(await health(), '2');
    assert.equal(readFileSync(file, 'utf8'), atCommit2);
  });

  test('an unknown service, or a DOCKER_HOST variable that is not set, is refused with what to fix', async () => {
    await assert.rejects(client().readRelease('api'), { message: `service api is not in ${file} (services: web, admin)` });
    await assert.rejects(client().rollTo('api', snapshot.current!, options('k')), { message: `service api is not in ${file} (services: web, admin)` });
    const unset = dockerCompose.create(settings({ dockerHostEnv: 'NOT_SET_DOCKER_HOST' }), { env: env(), logger: quietLogger }).releases;
    await assert.rejects(unset.readRelease('web'), { message: 'environment variable NOT_SET_DOCKER_HOST is not set (the runbook references it)' });
  });

  test('bad settings are refused, naming the field', () => {
    const refused = (value: Record<string, unknown>, field: string) => {
      const parsed = dockerCompose.settingsSchema.safeParse(value);
      assert.equal(parsed.success, false, JSON.stringify(value));
      const named = parsed.error!.issues.some((issue) => issue.path[0] === field || ('keys' in issue && issue.keys.includes(field)));
      assert.ok(named, `${field}: ${JSON.stringify(parsed.error!.issues)}`);
    };
    refused({}, 'projectDir');
    refused({ projectDir: '.', dockerHostEnv: 'unix:///run/docker.sock' }, 'dockerHostEnv');
    refused({ projectDir: '.', composeCommand: [] }, 'composeCommand');
    refused({ projectDir: '.', file: '/etc/compose.yml' }, 'file');
    refused({ projectDir: '.', project: 'My Project' }, 'project');
    refused({ projectDir: '.', previous: { git: '' } }, 'previous');
    refused({ projectDir: '.', healthUrls: { web: 'not a url' } }, 'healthUrls');
    refused({ projectDir: '.', timeoutSeconds: 0 }, 'timeoutSeconds');
    refused({ projectDir: '.', image: 'app:1' }, 'image');
    const defaults = dockerCompose.settingsSchema.parse({ projectDir: '.' });
    assert.deepEqual(defaults.composeCommand, ['docker', 'compose']);
    assert.deepEqual(defaults.previous, { git: 'HEAD~1' });
    assert.equal(defaults.file, 'docker-compose.yml');
    assert.equal(defaults.timeoutSeconds, 300);
  });

  describe('releases named by git tag, revision or image (a second project whose versions are tagged)', () => {
    const NAMED = 'rrnamed';
    let namedRepo: string;
    let siteUrl: string;
    let siteCommand: string;
    const site: Record<string, string> = {};
    const namedGit = (...args: string[]) => execFileSync('git', args, { cwd: namedRepo, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
    const commitFile = (path: string, text: string, message: string) => {
      writeFileSync(join(namedRepo, path), text);
      namedGit('add', path);
      namedGit('-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '-m', message);
    };
    const release = (image: string, message: string) =>
      commitFile('docker-compose.yml', `services:\n  site:\n    image: ${image}\n    network_mode: host\n    command: ${siteCommand}\n    stop_grace_period: 1s\n    environment:\n      API_TOKEN: "${SECRET}"\n`, message);
    const named = () =>
      dockerCompose.create(dockerCompose.settingsSchema.parse({ projectDir: namedRepo, project: NAMED, dockerHostEnv: 'TEST_DOCKER_HOST', healthUrls: { site: siteUrl }, timeoutSeconds: 60 }), { env: env(), logger: quietLogger })
        .releases;
    /** What the site answers; asked again while it is still starting (up --wait without a healthcheck waits for running only). */
    const serves = async (): Promise<string> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return (await (await fetch(siteUrl)).text()).trim();
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    const siteContainer = async () => (await engine.docker(['compose', '-p', NAMED, 'ps', '-q', 'site'], { cwd: namedRepo })).trim();

    before(async () => {
      for (const v of ['1', '2', '3']) site[`site:${v}`] = await engine.importImage(`site:${v}`, { 'www/health': `v${v}\n` });
      const port = await freePort();
      siteUrl = `http://127.0.0.1:${port}/health`;
      siteCommand = `["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]`;
      namedRepo = mkdtempSync(join(tmpdir(), 'rr-compose-named-'));
      namedGit('init', '-q');
      release('site:${SITE_TAG}', 'site from a variable');
      namedGit('tag', 'v0');
      release('site:1', 'release 1');
      namedGit('tag', 'v1');
      commitFile('NOTES.md', 'release notes\n', 'docs only');
      release('site:2', 'release 2');
      namedGit('tag', '-a', '-m', 'release 2', 'v2'); // annotated: peeled to its commit
      await engine.docker(['compose', '-p', NAMED, 'up', '-d', '--wait'], { cwd: namedRepo });
    });
    after(() => namedRepo && rmSync(namedRepo, { recursive: true, force: true }));

    test('findRelease by git tag is the image the compose file named there; rolling to it serves v1; a retry changes nothing', async () => {
      assert.equal(await serves(), 'v2');
      const v1 = await named().findRelease('site', 'v1');
      assert.deepEqual({ ...v1, createdAt: undefined }, { id: site['site:1'], label: 'site:1', image: 'site:1', aliases: ['v1'], createdAt: undefined });
      assert.ok(Date.parse(v1!.createdAt!) > 0, 'the commit date');

      const state = await named().rollTo('site', v1!, options('release-1/step-site'));
      assert.equal(state.current!.id, site['site:1']);
      assert.equal(await serves(), 'v1');
      const container = await siteContainer();
      const lines: string[] = [];
      await named().rollTo('site', v1!, options('release-1/step-site', lines));
      assert.deepEqual(lines, [], 'no compose up ran');
      assert.equal(await siteContainer(), container);
      assert.equal(await serves(), 'v1');
    });

    test('findRelease: v9 is null and listReleases names v1 and v2; a revision, an image, its id and a version that cannot be rolled to', async () => {
      const client = named();
      assert.equal(await client.findRelease('site', 'v9'), null);
      const listed = await client.listReleases('site', 10);
      assert.deepEqual(listed.map((r) => [r.id, r.label, r.aliases]), [[site['site:2'], 'site:2', ['v2']], [site['site:1'], 'site:1', ['v1']]], 'each image once, newest first, with its tags');
      assert.deepEqual((await client.listReleases('site', 1)).map((r) => r.label), ['site:2']);

      assert.equal((await client.findRelease('site', 'HEAD~1'))?.label, 'site:1', 'the docs commit still names site:1');
      assert.deepEqual((await client.findRelease('site', 'site:2'))?.aliases, ['v2']);
      assert.equal((await client.findRelease('site', site['site:2']!))?.label, 'site:2', 'an image id, as the releases are identified');
      for (const name of ['-v1', '--all', 'v1 v2', 'site:9', 'nothing']) assert.equal(await client.findRelease('site', name), null, name);
      await assert.rejects(client.findRelease('site', 'v0'), { message: 'service site in docker-compose.yml at v0 has an image: built from variables (site:${SITE_TAG}); set the variable instead' });
      await assert.rejects(client.findRelease('web', 'v1'), { message: `service web is not in ${join(namedRepo, 'docker-compose.yml')} (services: site)` });
      assert.ok(!JSON.stringify(listed).includes(SECRET));
    });

    test('an image the engine has that no version names is a fresh release: rolled to, it leads the list; v2 by tag puts it back', async () => {
      const fresh = await named().findRelease('site', 'site:3');
      assert.deepEqual({ ...fresh, createdAt: undefined }, { id: site['site:3'], label: 'site:3', image: 'site:3', fresh: true, createdAt: undefined });
      await named().rollTo('site', fresh!, options('release-2/step-site'));
      assert.equal(await serves(), 'v3');
      assert.deepEqual((await named().listReleases('site', 10)).map((r) => r.label), ['site:3', 'site:2', 'site:1'], 'the running image first, as no commit names it');

      await named().rollTo('site', (await named().findRelease('site', 'v2'))!, options('release-2/undo-site'));
      assert.equal(await serves(), 'v2');
      assert.equal(namedGit('status', '--porcelain', '--', 'docker-compose.yml'), '', 'the file is as committed again');
    });
  });

  describe('instance scaling (docker compose up --scale), a third project whose worker takes its settings from an anchor', () => {
    const SCALED = 'rrscale';
    let scaleDir: string;
    let scaleFile: string;
    let calls: string;
    const logLines: string[] = [];
    /** Every compose command the provider runs, recorded by a wrapper that then runs `docker compose` with the same arguments. */
    const commands = () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []);
    const provider = () =>
      dockerCompose.create(
        dockerCompose.settingsSchema.parse({ projectDir: scaleDir, project: SCALED, dockerHostEnv: 'TEST_DOCKER_HOST', composeCommand: [join(scaleDir, 'compose-recorder')], timeoutSeconds: 60 }),
        { env: env(), logger: pino({ level: 'info' }, { write: (line: string) => logLines.push(line) }) },
      );
    const scaling = () => provider().scaling;
    /** The service's running containers, as the engine itself lists them (not through Compose). */
    const runningIds = async (service: string) =>
      (await engine.docker(['ps', '--quiet', '--no-trunc', '--filter', `label=com.docker.compose.project=${SCALED}`, '--filter', `label=com.docker.compose.service=${service}`, '--filter', 'status=running']))
        .split('\n')
        .filter(Boolean)
        .sort();
    const options = (key: string) => ({ idempotencyKey: key, actor: 'test' });
    const up = (count: number) =>
      `--ansi never --progress plain -f ${scaleFile} -p ${SCALED} up -d --no-deps --wait --wait-timeout 60 --pull never --scale worker=${count} worker`;
    const ps = () => `--ansi never --progress plain -f ${scaleFile} -p ${SCALED} ps --format json`;

    before(async () => {
      await engine.importImage('tick:1', {}, { applets: ['sh', 'sleep'] });
      ids['tick:2'] = await engine.importImage('tick:2', { 'etc/release': '2\n' }, { applets: ['sh', 'sleep'] });
      scaleDir = mkdtempSync(join(tmpdir(), 'rr-compose-scale-'));
      scaleFile = join(scaleDir, 'docker-compose.yml');
      calls = join(scaleDir, 'calls.log');
      writeFileSync(join(scaleDir, 'compose-recorder'), `#!/bin/sh\necho "$*" >> ${calls}\nexec docker compose "$@"\n`, { mode: 0o755 });
      writeFileSync(
        scaleFile,
        `x-sleeper: &sleeper
  image: tick:1
  network_mode: none
  command: ["/bin/sleep", "3600"]
  stop_grace_period: 1s   # sleep as PID 1 ignores SIGTERM
services:
  worker:
    <<: *sleeper
    image: tick:1   # its own, so a release can roll it
    environment:
      API_TOKEN: "${SECRET}"
  fixed:
    <<: *sleeper
    ports: ["9000", "127.0.0.1::9001", "127.0.0.1:18080:80/tcp"]
  named:
    <<: *sleeper
    container_name: rrscale-named-${SECRET}
  base:
    <<: *sleeper
    ports: [{ target: 80, published: "18090" }]
  derived:
    extends: base
`,
      );
      await engine.docker(['compose', '-p', SCALED, '-f', scaleFile, 'up', '-d', '--wait', 'worker'], { cwd: scaleDir });
    });
    after(() => scaleDir && rmSync(scaleDir, { recursive: true, force: true }));

    test('readState: each service of the file with its running containers, one `ps` for the project', async () => {
      const state = await scaling().readState();
      assert.deepEqual(state, { weights: {}, instances: { worker: 1, fixed: 0, named: 0, base: 0, derived: 0 } });
      assert.deepEqual(commands(), [ps()]);
    });

    test('scale up to 3 and down to 1: one `up --scale` each, the engine running that many worker containers, the first one kept', async () => {
      const [first] = await runningIds('worker');
      const upTo3 = await scaling().scale('worker', 3, options('scale-1/step-worker'));
      assert.deepEqual(upTo3.instances, { worker: 3, fixed: 0, named: 0, base: 0, derived: 0 });
      assert.equal((await runningIds('worker')).length, 3);
      assert.ok((await runningIds('worker')).includes(first!), 'the running container was kept, two added');

      const downTo1 = await scaling().scale('worker', 1, options('scale-1/undo-worker'));
      assert.equal(downTo1.instances.worker, 1);
      assert.equal((await runningIds('worker')).length, 1);
      assert.deepEqual(commands().slice(1), [ps(), up(3), ps(), ps(), up(1), ps()], 'read, scale, read back; once per change');
    });

    test('scale to 0 stops every worker container, and back to 1 starts one', async () => {
      assert.equal((await scaling().scale('worker', 0, options('scale-2/step-worker'))).instances.worker, 0);
      assert.deepEqual(await runningIds('worker'), []);
      assert.equal((await scaling().scale('worker', 1, options('scale-2/undo-worker'))).instances.worker, 1);
      assert.equal((await runningIds('worker')).length, 1);
    });

    test('a service already at the count runs nothing but reads: the same step again leaves the same container', async () => {
      const before = await runningIds('worker');
      const seen = commands().length;
      const state = await scaling().scale('worker', 1, options('scale-2/undo-worker'));
      assert.equal(state.instances.worker, 1);
      assert.deepEqual(commands().slice(seen), [ps(), ps()], 'no up: read, then the state returned');
      assert.deepEqual(await runningIds('worker'), before, 'the same container');
    });

    test('an unknown service is refused naming the services of the file, before anything runs', async () => {
      const seen = commands().length;
      await assert.rejects(scaling().scale('wroker', 2, options('scale-3/step-wroker')), { message: `service wroker is not in ${scaleFile} (services: worker, fixed, named, base, derived)` });
      assert.deepEqual(commands().slice(seen), []);
    });

    test('above 1, a fixed host port (short or long syntax, or from a service it extends) or a container_name is refused before anything runs; a port Docker picks is not', async () => {
      const seen = commands().length;
      const fix = 'publish the container port alone (Docker picks a free host port for each container) or a range of host ports, or scale it to 1 at most';
      await assert.rejects(scaling().scale('fixed', 2, options('scale-4/fixed')), {
        message: `cannot scale service fixed to 2: it publishes host port 18080, and two containers cannot listen on one host port (ports entry 3); ${fix}`,
      });
      await assert.rejects(scaling().scale('derived', 3, options('scale-4/derived')), {
        message: `cannot scale service derived to 3: it publishes host port 18090, and two containers cannot listen on one host port (ports entry 1); ${fix}`,
      });
      await assert.rejects(scaling().scale('named', 2, options('scale-4/named')), {
        message: 'cannot scale service named to 2: it sets container_name, and Docker names each container once, so Compose runs one container of it at most; remove container_name, or scale it to 1 at most',
      });
      assert.deepEqual(commands().slice(seen), [], 'nothing ran, not even a read');
      assert.deepEqual(await runningIds('fixed'), []);
      assert.deepEqual(await runningIds('named'), []);
      const logged = logLines.join('\n');
      assert.match(logged, /"service":"worker","from":1,"to":3,"actor":"test","idempotencyKey":"scale-1\/step-worker","msg":"scaling compose service"/);
      assert.ok(!logged.includes(SECRET), 'nothing of the file in the log');
    });

    test('a release rolled on a scaled service keeps its count: `up --scale worker=3` with the new image, not the file\'s one container', async () => {
      await scaling().scale('worker', 3, options('scale-5/step-worker'));
      const seen = commands().length;
      const state = await provider().releases.rollTo('worker', { id: ids['tick:2']!, label: 'tick:2', image: 'tick:2' }, options('release-5/step-worker'));
      const containers = state.detail?.containers as { image: string; state: string }[];
      assert.deepEqual(containers.map((c) => [c.image, c.state]), Array(3).fill(['tick:2', 'running']));
      assert.equal((await runningIds('worker')).length, 3);
      assert.ok(commands().slice(seen).includes(`--ansi never --progress plain -f ${scaleFile} -p ${SCALED} up -d --no-deps --wait --wait-timeout 60 --pull never --scale worker=3 worker`), commands().slice(seen).join('\n'));
    });

    test('which ports entries leave room for more than one container (pure)', () => {
      const doc = (ports: unknown[]) => parseDocument(stringify({ services: { s: { image: 'x', ports } } }));
      const allowed = [[3000], ['3000'], ['3000-3005'], ['127.0.0.1::5000'], ['[::1]::80'], [{ target: 80 }], [{ target: 80, published: '' }], ['8000-8002:80']];
      for (const ports of allowed) assert.equal(scaleProblem(doc(ports), 's', 3), null, JSON.stringify(ports));
      const refused: [unknown[], string][] = [
        [['8080:80'], 'host port 8080'],
        [['127.0.0.1:8001:8001'], 'host port 8001'],
        [['::1:6000:6000'], 'host port 6000'],
        [['[::1]:6001:6001/udp'], 'host port 6001'],
        [[{ target: 80, published: 8080, host_ip: '127.0.0.1' }], 'host port 8080'],
        [['9090-9091:8080-8081'], 'host port 9090-9091'],
        [['8000-8001:80'], 'host ports 8000-8001, enough for 2 containers'],
        [['${WEB_PORT}:80'], 'variables'],
        [['${WEB_PORT:-8080}:80'], 'variables'],
      ];
      for (const [ports, why] of refused) assert.ok(scaleProblem(doc(ports), 's', 3)?.includes(why), `${JSON.stringify(ports)}: ${scaleProblem(doc(ports), 's', 3)}`);
      assert.equal(scaleProblem(doc(['8080:80']), 's', 1), null, 'one container on a fixed port is fine');
    });
  });

  test('stopping the engine leaves nothing running and nothing on disk', async () => {
    await engine.stop();
    let leftover = '';
    try {
      leftover = execFileSync('pgrep', ['-a', '-f', engine.root]).toString();
    } catch {
      /* pgrep exits 1 when nothing matches */
    }
    assert.equal(leftover, '');
    assert.equal(existsSync(engine.root), false);
  });
});
