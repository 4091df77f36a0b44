/**
 * Releases of a Docker Compose service, rolled back the way seed 003 does by hand
 * (`git checkout HEAD~1 docker-compose.yml && docker compose up -d`), but one service at a time and
 * without touching the git index or branch:
 *   - current: the image the service's container runs (`docker compose ps --all --format json`, then
 *     `docker inspect` for the image id and the container's state and health);
 *   - previous: the service's `image:` in the previous version of the compose file (`git show
 *     <rev>:./<file>`, default HEAD~1, or another file), with its image id when the engine has it;
 *   - rollTo: saves the compose file next to itself (`<file>.rollback-<hash of the idempotency key>`),
 *     rewrites only that service's `image:` value, and runs
 *     `docker compose up -d --no-deps --wait --pull never [--scale <service>=<n>] <service>` (n: the
 *     containers it runs, so a scaled service keeps its count), then checks the health URL.
 *
 * Nothing is pulled: a rollback goes to an image the engine already has, and says so when it does not.
 * Compose files can hold secrets (environment values), so no file content ever appears in a return
 * value, an error or a log line: only image references, ids, line numbers and command output.
 *
 * The compose file itself (YAML, its `image:` lines) is read and edited by compose-file.ts; releases
 * named by git tag, revision or image (findRelease, listReleases) are found by compose-releases.ts;
 * services are scaled (instance counts, `up --scale`) by compose-scaling.ts and named volumes
 * archived and restored by volumes.ts.
 *
 * References: https://docs.docker.com/reference/cli/docker/compose/up/ (--no-deps, --wait,
 * --wait-timeout, --pull), https://docs.docker.com/reference/cli/docker/compose/ps/ (--format json),
 * https://docs.docker.com/reference/cli/docker/inspect/, https://docs.docker.com/reference/cli/docker/image/inspect/,
 * https://docs.docker.com/reference/compose-file/services/#image, https://git-scm.com/docs/git-show.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { runProgram, type RunResult } from '../command/runner.ts';
import { runHttpCheck } from '../health/http-checks.ts';
import { secretFromEnv, type ProviderContext, type ProviderDefinition, type Release, type ReleaseState, type RolloutOptions } from '../types.ts';
import { ComposeFileError, imageLine, parseCompose, serviceNames, withImage, type ComposeDocument } from './compose-file.ts';
import { composeReleases } from './compose-releases.ts';
import { composeScaling, parsePs } from './compose-scaling.ts';
import { composeVolumes } from './volumes.ts';

const argv = z.array(z.string().min(1)).min(1);

const settingsSchema = z.strictObject({
  projectDir: z.string().min(1).describe('the folder holding the compose file, relative to where the worker runs'),
  file: z
    .string()
    .min(1)
    .refine((f) => !isAbsolute(f), 'must be relative to projectDir (it is read from git by that path too)')
    .default('docker-compose.yml')
    .describe('the compose file, relative to projectDir'),
  project: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'a compose project name: lowercase letters, digits, dashes and underscores')
    .optional()
    .describe('compose project name (-p); by default Compose derives it from the folder name'),
  dockerHostEnv: envVarName.optional().describe('environment variable whose value is DOCKER_HOST (e.g. unix:///run/x/docker.sock); by default the worker\'s own DOCKER_HOST or the default socket'),
  composeCommand: argv.default(['docker', 'compose']).describe('the Compose v2 command, as an argument vector prefix'),
  dockerCommand: argv.default(['docker']).describe('the docker CLI, for `docker inspect` and `docker image inspect`'),
  previous: z
    .union([
      z.strictObject({ git: z.string().min(1).describe('a git revision: the compose file as committed there (git show <rev>:<file>)') }),
      z.strictObject({ file: z.string().min(1).describe('another compose file holding the previous release, relative to projectDir') }),
    ])
    .default({ git: 'HEAD~1' })
    .describe('where the previous compose file comes from'),
  healthUrls: z.record(z.string().min(1), z.url()).default({}).describe('service -> URL that must answer 2xx after a rollout'),
  healthWaitSeconds: z.number().positive().default(30).describe('how long a health URL may take to answer 2xx after the rollout'),
  timeoutSeconds: z.int().positive().default(300).describe('limit for each docker command, and for `up --wait`'),
  helperImage: z.string().min(1).default('alpine').describe('the image of the short-lived containers that archive and restore named volumes (it needs tar with gzip, and find); never pulled'),
});
type Settings = z.infer<typeof settingsSchema>;

/** One container of the service, as `docker compose ps` and `docker inspect` describe it. */
interface Container {
  id: string;
  name: string;
  /** The image reference the container was created from (the compose file's `image:`). */
  reference: string;
  imageId: string;
  state: string;
  health: string | null;
}

interface LocalImage {
  id: string;
  created?: string;
}

const shortHash = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 12);
const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

function create(settings: Settings, context: ProviderContext) {
  const cwd = resolve(settings.projectDir);
  const composeFile = join(cwd, settings.file);
  const timeoutMs = settings.timeoutSeconds * 1000;
  const composeArgs = [...settings.composeCommand, '--ansi', 'never', '--progress', 'plain', '-f', composeFile, ...(settings.project ? ['-p', settings.project] : [])];
  const previousWhere = 'git' in settings.previous ? `${settings.file} at ${settings.previous.git}` : settings.previous.file;

  /** The worker's environment (Compose interpolates from it, as it would in a shell), DOCKER_HOST as configured. */
  const environment = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(context.env)) if (value !== undefined) env[name] = value;
    if (settings.dockerHostEnv) env.DOCKER_HOST = secretFromEnv(context, settings.dockerHostEnv);
    return env;
  };

  const describe = (command: readonly string[]) => command.join(' ');
  const lastLines = (result: RunResult, n = 8) => {
    const lines = result.outputTail.filter((l) => l.trim() !== '').slice(-n);
    return lines.length ? lines.join(' | ') : '(no output)';
  };
  const outcome = (result: RunResult) =>
    result.timedOut ? `timed out after ${Math.round(result.durationMs / 1000)} s` : result.exitCode === null ? `was ended by ${result.signal}` : `exited with ${result.exitCode}`;

  async function run(command: string[], service: string, what: string, options: { signal?: AbortSignal; onLine?: (line: string) => void; allowFail?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    const result = await runProgram(command, { env: environment(), cwd, timeoutMs: options.timeoutMs ?? timeoutMs, signal: options.signal, keepLines: 40, onLine: options.onLine ? (line) => options.onLine!(line) : undefined });
    if (result.exitCode !== 0 && !options.allowFail) {
      throw new Error(`${what}${service ? ` for service ${service}` : ''} failed: \`${describe(command)}\` ${outcome(result)}; last output: ${lastLines(result)}`);
    }
    return result;
  }

  async function containers(service: string, signal?: AbortSignal): Promise<Container[]> {
    const ps = await run([...composeArgs, 'ps', '--all', '--format', 'json', service], service, 'reading the service\'s containers', { signal });
    const ids = parsePs(ps.stdout).filter((row) => row.Service === undefined || row.Service === service).flatMap((row) => (row.ID ? [row.ID] : []));
    if (ids.length === 0) return [];
    // Only these fields: the whole inspect output carries the container's environment, which may hold secrets.
    // (State as JSON: a template naming State.Health fails for a container without a healthcheck.)
    const format = '{{.Id}}|{{.Name}}|{{.Image}}|{{.Config.Image}}|{{json .State}}';
    const inspect = await run([...settings.dockerCommand, 'inspect', '--type', 'container', '--format', format, ...ids], service, 'inspecting the service\'s containers', { signal });
    return inspect.stdout
      .split('\n')
      .filter((line) => line.includes('|'))
      .map((line) => {
        const [id = '', name = '', imageId = '', reference = ''] = line.split('|', 4);
        const state = JSON.parse(line.split('|').slice(4).join('|')) as { Status: string; Health?: { Status: string } };
        return { id, name: name.replace(/^\//, ''), reference, imageId, state: state.Status, health: state.Health?.Status ?? null };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The image the engine has under `reference` (a tag, a digest reference or an id); undefined when it has none. */
  async function localImage(reference: string, service: string, signal?: AbortSignal): Promise<LocalImage | undefined> {
    const command = [...settings.dockerCommand, 'image', 'inspect', reference];
    const result = await run(command, service, 'looking up an image', { signal, allowFail: true });
    if (result.exitCode === 0) {
      const [image] = JSON.parse(result.stdout) as { Id: string; Created?: string }[];
      if (image) return { id: image.Id, created: image.Created };
    }
    if (result.exitCode !== 0 && !result.outputTail.some((line) => /no such image/i.test(line))) {
      throw new Error(`looking up image ${reference} for service ${service} failed: \`${describe(command)}\` ${outcome(result)}; last output: ${lastLines(result)}`);
    }
    return undefined;
  }

  function currentFile(): { text: string; doc: ComposeDocument } {
    let text: string;
    try {
      text = readFileSync(composeFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the compose file ${composeFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return { text, doc: parseCompose(text, composeFile) };
  }

  /** The previous compose file's text, or why there is none (a message safe to show). */
  async function previousFile(service: string, signal?: AbortSignal): Promise<{ text: string } | { missing: string }> {
    if ('file' in settings.previous) {
      const path = isAbsolute(settings.previous.file) ? settings.previous.file : join(cwd, settings.previous.file);
      if (!existsSync(path)) return { missing: `the previous compose file ${path} does not exist` };
      return { text: readFileSync(path, 'utf8') };
    }
    // `<rev>:./<path>` is read relative to the working directory, inside any repository layout;
    // `git show` reads the object store only: the index, the branch and the working tree stay as they are.
    const command = ['git', 'show', `${settings.previous.git}:./${settings.file}`];
    const result = await run(command, service, 'reading the previous compose file', { signal, allowFail: true });
    if (result.exitCode !== 0) return { missing: `there is no ${previousWhere} (\`${describe(command)}\` ${outcome(result)}: ${lastLines(result, 2)})` };
    return { text: result.stdout };
  }

  async function readRelease(service: string, signal?: AbortSignal): Promise<ReleaseState> {
    const { doc } = currentFile();
    if (!serviceNames(doc).includes(service)) throw new Error(`service ${service} is not in ${composeFile} (services: ${serviceNames(doc).join(', ') || 'none'})`);
    const fileImage = imageLine(doc, service, composeFile)?.value;
    const running = await containers(service, signal);
    const first = running[0];
    const current: Release | null = first ? { id: first.imageId, label: first.reference, image: first.reference } : null;
    const detail: Record<string, unknown> = {
      composeFile,
      fileImage,
      containers: running.map((c) => ({ name: c.name, id: shortId(c.id), image: c.reference, imageId: c.imageId, state: c.state, health: c.health })),
    };
    if (first) Object.assign(detail, { state: first.state, health: first.health });
    if (running.some((c) => c.imageId !== first?.imageId)) detail.mixedImages = true;

    const state: ReleaseState = { target: service, current, previous: null, detail };
    const previousText = await previousFile(service, signal);
    if ('missing' in previousText) return { ...state, blocked: previousText.missing };
    let previousImage: string | undefined;
    try {
      previousImage = imageLine(parseCompose(previousText.text, previousWhere), service, previousWhere)?.value;
    } catch (err) {
      if (err instanceof ComposeFileError) return { ...state, blocked: err.message };
      throw err;
    }
    if (previousImage === undefined) return { ...state, blocked: `${previousWhere} has no service ${service}: there is nothing to roll back to` };
    const image = await localImage(previousImage, service, signal);
    const previous: Release = { id: image?.id ?? previousImage, label: previousImage, image: previousImage, ...(image?.created ? { createdAt: image.created } : {}) };
    if (!image) {
      return {
        ...state,
        previous,
        blocked: `image ${previousImage} (service ${service} in ${previousWhere}) is not on this Docker engine and a rollback does not pull: load or pull it first (docker pull ${previousImage}, or docker load)`,
      };
    }
    if (current && (current.label === previousImage || current.id === image.id)) {
      return { ...state, previous, blocked: `${previousWhere} names ${previousImage}, which service ${service} already runs: there is nothing older to roll back to` };
    }
    return { ...state, previous };
  }

  async function rollTo(service: string, release: Release, options: RolloutOptions): Promise<ReleaseState> {
    const { text, doc } = currentFile();
    if (!serviceNames(doc).includes(service)) throw new Error(`service ${service} is not in ${composeFile} (services: ${serviceNames(doc).join(', ') || 'none'})`);
    const line = imageLine(doc, service, composeFile)!;
    const reference = release.image ?? release.id;
    const image = await localImage(reference, service, options.signal);
    if (!image) throw new Error(`cannot roll service ${service} to ${reference}: the image is not on this Docker engine and a rollback does not pull; load or pull it first (docker pull ${reference}, or docker load)`);
    // A tag moved since the snapshot would roll to a different image than the one recorded.
    if (release.id.startsWith('sha256:') && release.id !== image.id) {
      throw new Error(`cannot roll service ${service} to ${reference}: it now names image ${shortId(image.id)}, not ${shortId(release.id)} as recorded; tag the recorded image again or roll to it by id`);
    }

    const running = await containers(service, options.signal);
    const inPlace = line.value === reference && running.length > 0 && running.every((c) => c.imageId === image.id && c.state === 'running');
    if (inPlace) return readRelease(service, options.signal);

    // The file as it was before this change, for compensation and for people: written once per key,
    // so a retried call keeps the first attempt's copy (taken before anything was changed).
    const backup = `${composeFile}.rollback-${shortHash(options.idempotencyKey)}`;
    if (!existsSync(backup)) writeFileSync(backup, text, { flag: 'wx', mode: statSync(composeFile).mode & 0o777 });

    if (line.value !== reference) {
      // Written beside the file and renamed over it, so a crash leaves the old file or the new one.
      const temp = join(dirname(composeFile), `.${basename(composeFile)}.${process.pid}.tmp`);
      writeFileSync(temp, withImage(text, line, reference), { mode: statSync(composeFile).mode & 0o777 });
      renameSync(temp, composeFile);
    }

    const say = (l: string) => options.onProgress?.(l);
    // Without --scale, `up` brings the service to the file's count (1 unless it sets replicas) and would
    // undo a scale: a service running containers keeps as many as it runs.
    const runningNow = running.filter((c) => c.state === 'running').length;
    const keepCount = runningNow > 0 ? ['--scale', `${service}=${runningNow}`] : [];
    try {
      await run([...composeArgs, 'up', '-d', '--no-deps', '--wait', '--wait-timeout', String(settings.timeoutSeconds), '--pull', 'never', ...keepCount, service], service, 'docker compose up', {
        signal: options.signal,
        onLine: say,
        // Compose's own --wait-timeout ends it first, with its message about which container is not up.
        timeoutMs: timeoutMs + 30_000,
      });
    } catch (err) {
      // Whoever picks this up needs to know the file was already changed, and where the old one is.
      throw new Error(`${(err as Error).message}. ${composeFile} now names ${reference} for ${service}; the file as it was before is ${backup}`, { cause: err });
    }

    const url = settings.healthUrls[service];
    if (url) await waitHealthy(service, url, say, options.signal);
    return readRelease(service, options.signal);
  }

  async function waitHealthy(service: string, url: string, say: (line: string) => void, signal?: AbortSignal): Promise<void> {
    const deadline = performance.now() + settings.healthWaitSeconds * 1000;
    for (;;) {
      const check = await runHttpCheck({ name: service, url, expectStatus: 200, timeoutMs: 5000 });
      const passed = check.status !== null && check.status >= 200 && check.status < 300;
      if (passed) {
        say(`health ${url}: ${check.status}`);
        return;
      }
      if (performance.now() >= deadline || signal?.aborted) {
        const got = check.status === null ? check.detail : `status ${check.status}`;
        throw new Error(`service ${service} was rolled out but its health URL ${url} did not answer 2xx within ${settings.healthWaitSeconds} s (last: ${got})`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  const named = composeReleases({ file: settings.file, run, localImage, runningImage: async (service, signal) => (await containers(service, signal))[0]?.reference });
  /** A service the compose file does not define has no releases to name: said at once, with those it has. */
  const inFile = (service: string) => {
    const services = serviceNames(currentFile().doc);
    if (!services.includes(service)) throw new Error(`service ${service} is not in ${composeFile} (services: ${services.join(', ') || 'none'})`);
  };

  return {
    releases: {
      readRelease: (service: string) => readRelease(service),
      listReleases: async (service: string, limit: number) => {
        inFile(service);
        return named.listReleases(service, limit);
      },
      findRelease: async (service: string, name: string) => {
        inFile(service);
        return named.findRelease(service, name);
      },
      rollTo,
    },
    scaling: composeScaling({
      run: (command, service, what, options) => run(command, service, what, options),
      composeArgs,
      file: () => ({ doc: currentFile().doc, path: composeFile }),
      timeoutSeconds: settings.timeoutSeconds,
      logger: context.logger,
    }),
    volumes: composeVolumes({
      run: (command, what, options) => run(command, '', what, options),
      dockerCommand: settings.dockerCommand,
      composeArgs,
      helperImage: settings.helperImage,
    }),
  };
}

export const dockerCompose: ProviderDefinition<'releases' | 'scaling' | 'volumes', Settings> = {
  id: 'docker-compose',
  description: 'rolls a Docker Compose service back to the image its previous compose file names (git HEAD~1 by default): edits only that image: line, backs the file up, `up -d --no-deps --wait`; scales a service to a number of running containers (`up --scale`); archives and restores its named volumes',
  capabilities: ['releases', 'scaling', 'volumes'],
  settingsSchema,
  example: { projectDir: '.', file: 'docker-compose.yml', previous: { git: 'HEAD~1' }, healthUrls: { api: 'http://127.0.0.1:8000/health' } },
  create,
};
