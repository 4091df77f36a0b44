/**
 * Instance counts of a Docker Compose project's services (seed 003 stops and starts services by hand:
 * `docker compose stop api worker`, `docker compose up -d api worker`):
 *   - readState: every service the compose file defines, with its running containers
 *     (`docker compose ps --format json`, one call for the project); a service with none is at 0;
 *   - scale: reads first, so a service already at the count runs nothing; otherwise
 *     `docker compose up -d --no-deps --wait --wait-timeout <s> --pull never --scale <service>=<count> <service>`,
 *     then reads again.
 * Refused before anything runs: a service the file does not define (naming those it does) and, above
 * one instance, a service that sets `container_name` or publishes a fixed host port. Compose cannot
 * run two containers under one name or on one host port: the second would fail after the first was
 * made, leaving the service half scaled.
 *
 * The file is read as YAML (merge keys `<<` and `extends` of a service of the same file followed; an
 * `extends` from another file is not), never interpolated: a host port written with variables is taken
 * as fixed. Compose files can hold secrets (environment values), so messages name services, host port
 * numbers and positions in `ports:` only, never a value of the file.
 *
 * References: https://docs.docker.com/reference/cli/docker/compose/up/ (--scale, --no-deps, --wait),
 * https://docs.docker.com/reference/cli/docker/compose/ps/ (--format json),
 * https://docs.docker.com/reference/compose-file/services/#ports (short and long syntax),
 * https://docs.docker.com/reference/compose-file/services/#container_name, https://docs.docker.com/reference/compose-file/services/#extends.
 */
import type { Logger } from 'pino';
import type { RunResult } from '../command/runner.ts';
import type { ChangeOptions, ScalingClient, TrafficState } from '../types.ts';
import { serviceNames, type ComposeDocument } from './compose-file.ts';

/** One row of `docker compose ps --format json`: the fields read here. */
export interface PsRow {
  ID?: string;
  Service?: string;
  State?: string;
}

/** Compose prints one JSON object per line (v2.21 and later) or one array (earlier v2); nothing when there are no containers. */
export function parsePs(stdout: string): PsRow[] {
  const text = stdout.trim();
  if (text === '') return [];
  return (text.startsWith('[') ? (JSON.parse(text) as PsRow[]) : text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as PsRow));
}

export interface ScalingTools {
  /** Runs a compose command (the provider's environment, DOCKER_HOST); throws naming `what` and the service. */
  run(command: string[], service: string, what: string, options?: { timeoutMs?: number }): Promise<RunResult>;
  /** The compose command prefix: `docker compose --ansi never --progress plain -f <file> [-p <project>]`. */
  composeArgs: readonly string[];
  /** The compose file as it is now, and its path for messages. */
  file(): { doc: ComposeDocument; path: string };
  /** Compose's --wait-timeout; the command itself gets 30 s more, so Compose says what is not up. */
  timeoutSeconds: number;
  logger: Logger;
}

type Config = Record<string, unknown>;
const isMap = (value: unknown): value is Config => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A service's settings with YAML merge keys applied (`<<: *common`, or a list of them; its own keys win). */
function merged(value: unknown): Config {
  if (!isMap(value)) return {};
  const { '<<': sources, ...own } = value;
  const bases = (Array.isArray(sources) ? sources : [sources]).filter(isMap).map(merged);
  return Object.assign({}, ...bases.reverse(), own) as Config;
}

/**
 * The service's ports and whether it sets container_name, following `extends` of a service in the same
 * file (Compose appends the base's ports to the service's own, and its own container_name wins).
 */
function portsAndName(services: Config, service: string, seen: string[] = []): { ports: unknown[]; containerName: boolean } {
  const config = merged(services[service]);
  const own = { ports: Array.isArray(config.ports) ? config.ports : [], containerName: config.container_name !== undefined && config.container_name !== null };
  const base = typeof config.extends === 'string' ? config.extends : isMap(config.extends) && config.extends.file === undefined ? config.extends.service : undefined;
  if (typeof base !== 'string' || seen.includes(base) || !(base in services)) return own;
  const inherited = portsAndName(services, base, [...seen, service]);
  return { ports: [...inherited.ports, ...own.ports], containerName: own.containerName || inherited.containerName };
}

/** How many containers one `ports:` entry lets the service run: Infinity when Docker picks the host port. */
type PortRoom = { room: number; hostPorts: string } | { room: 1; variables: true };

const PORT_RANGE = /^(\d+)(?:-(\d+))?$/;
const rangeSize = (range: string) => {
  const [, low, high] = PORT_RANGE.exec(range) ?? [];
  return low === undefined ? null : high === undefined ? 1 : Number(high) - Number(low) + 1;
};

/**
 * One `ports:` entry: short syntax `[[ip:]host:]container[/protocol]` (a number, or a string whose host
 * and container parts may be ranges; IPv6 addresses in or out of brackets), or long syntax `{target,
 * published, ...}`. A host range as large as the container range maps port to port (fixed); a host range
 * for one container port gives each container one of its ports.
 */
export function portRoom(entry: unknown): PortRoom {
  let host: string;
  let container: string;
  if (typeof entry === 'number') return { room: Infinity, hostPorts: '' };
  if (isMap(entry)) {
    host = entry.published === undefined || entry.published === null ? '' : String(entry.published);
    container = String(entry.target ?? '');
  } else {
    const text = String(entry);
    if (text.includes('$')) return { room: 1, variables: true };
    const withoutProtocol = text.replace(/\/[a-z]+$/i, '');
    const last = withoutProtocol.lastIndexOf(':');
    container = withoutProtocol.slice(last + 1);
    const rest = last === -1 ? '' : withoutProtocol.slice(0, last);
    // The host part follows the address, if any; an address alone (`[::1]:80`) leaves the host port to Docker.
    host = rest.endsWith(']') ? '' : rest.slice(rest.lastIndexOf(':') + 1);
  }
  if (host.includes('$')) return { room: 1, variables: true };
  if (host === '') return { room: Infinity, hostPorts: '' };
  const hostSize = rangeSize(host);
  if (hostSize === null) return { room: 1, hostPorts: host }; // not a port Compose could read: take it as fixed
  const containerSize = rangeSize(container) ?? 1;
  return { room: hostSize > containerSize ? hostSize : 1, hostPorts: host };
}

/** Why `service` cannot run `count` containers, or null when nothing in the file stops it. */
export function scaleProblem(doc: ComposeDocument, service: string, count: number): string | null {
  if (count <= 1) return null;
  const services = doc.toJS({ maxAliasCount: 1000 }) as { services?: unknown };
  const { ports, containerName } = portsAndName(isMap(services.services) ? services.services : {}, service);
  const refuse = (why: string, fix: string) => `cannot scale service ${service} to ${count}: ${why}; ${fix}, or scale it to 1 at most`;
  if (containerName) return refuse('it sets container_name, and Docker names each container once, so Compose runs one container of it at most', 'remove container_name');
  const fix = 'publish the container port alone (Docker picks a free host port for each container) or a range of host ports';
  for (const [index, entry] of ports.entries()) {
    const room = portRoom(entry);
    if (room.room >= count) continue;
    if ('variables' in room) return refuse(`its ports entry ${index + 1} sets the host port from variables, which fixes one host port for every container`, fix);
    const what = room.room === 1 ? `host port ${room.hostPorts}, and two containers cannot listen on one host port` : `host ports ${room.hostPorts}, enough for ${room.room} containers`;
    return refuse(`it publishes ${what} (ports entry ${index + 1})`, fix);
  }
  return null;
}

export function composeScaling(tools: ScalingTools): ScalingClient {
  const { run, composeArgs } = tools;

  /** Running containers per service of the project (one `ps` for all of them). */
  async function runningCounts(): Promise<Map<string, number>> {
    const ps = await run([...composeArgs, 'ps', '--format', 'json'], '', 'reading the project\'s containers');
    const counts = new Map<string, number>();
    for (const row of parsePs(ps.stdout)) if (row.Service && row.State === 'running') counts.set(row.Service, (counts.get(row.Service) ?? 0) + 1);
    return counts;
  }

  /** Safe to retry: it only reads. */
  async function readState(): Promise<TrafficState> {
    const services = serviceNames(tools.file().doc);
    const counts = await runningCounts();
    return { weights: {}, instances: Object.fromEntries(services.map((service) => [service, counts.get(service) ?? 0])) };
  }

  /**
   * Safe to retry: a service already running `count` containers is only read, never touched; one that
   * is not is brought to `count` by `up --scale`, which converges whatever an earlier attempt left.
   */
  async function scale(service: string, count: number, options: ChangeOptions): Promise<TrafficState> {
    const { doc, path } = tools.file();
    const services = serviceNames(doc);
    if (!services.includes(service)) throw new Error(`service ${service} is not in ${path} (services: ${services.join(', ') || 'none'})`);
    const problem = scaleProblem(doc, service, count);
    if (problem) throw new Error(problem);
    const from = (await runningCounts()).get(service) ?? 0;
    if (from === count) return readState();
    tools.logger.info({ service, from, to: count, actor: options.actor, idempotencyKey: options.idempotencyKey }, 'scaling compose service');
    await run(
      [...composeArgs, 'up', '-d', '--no-deps', '--wait', '--wait-timeout', String(tools.timeoutSeconds), '--pull', 'never', '--scale', `${service}=${count}`, service],
      service,
      'docker compose up --scale',
      { timeoutMs: (tools.timeoutSeconds + 30) * 1000 },
    );
    return readState();
  }

  return { readState, scale };
}
