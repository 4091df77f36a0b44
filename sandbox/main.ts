/**
 * Runs the sandbox system until SIGINT/SIGTERM. Ports and load come from the environment:
 * SANDBOX_ROUTER_PORT, SANDBOX_STABLE_PORT, SANDBOX_CANARY_PORT, SANDBOX_DATABASE_URL ("off" for none),
 * SANDBOX_LOAD_RPS (requests per second through the router; 0 for none), SANDBOX_REDIS_URL (where
 * kill switches live; "off" for none), SANDBOX_KILL_SWITCH_PREFIX and SANDBOX_FLAGD_FILE (the flagd
 * flag file, created when missing; unset for none). Its replicas are child processes that exit
 * with it, however it ends.
 */
import { redactCredentials } from '../src/contract/index.ts';
import { stopWithParent } from '../src/worker/parent.ts';
import { DEFAULT_PORTS, DEFAULT_REDIS, startSandbox } from './sandbox.ts';

function port(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number, got ${process.env[name]}`);
  return value;
}

async function run(): Promise<void> {
  const sandbox = await startSandbox({
    ports: {
      router: port('SANDBOX_ROUTER_PORT', DEFAULT_PORTS.router),
      stable: port('SANDBOX_STABLE_PORT', DEFAULT_PORTS.stable),
      canary: port('SANDBOX_CANARY_PORT', DEFAULT_PORTS.canary),
    },
    databaseUrl: process.env.SANDBOX_DATABASE_URL === 'off' ? null : (process.env.SANDBOX_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sandbox'),
    loadRequestsPerSecond: Number(process.env.SANDBOX_LOAD_RPS ?? 20),
    redis:
      process.env.SANDBOX_REDIS_URL === 'off'
        ? null
        : { url: process.env.SANDBOX_REDIS_URL || DEFAULT_REDIS.url, killSwitchPrefix: process.env.SANDBOX_KILL_SWITCH_PREFIX || DEFAULT_REDIS.killSwitchPrefix },
    flagdFile: process.env.SANDBOX_FLAGD_FILE || null,
  });
  console.log(
    `sandbox ready: router ${sandbox.urls.router} (admin ${sandbox.urls.router}/admin/state), ` +
      `stable ${sandbox.urls.stable}/metrics, canary ${sandbox.urls.canary}/metrics, database ${sandbox.databaseUrl ? redactCredentials(sandbox.databaseUrl) : 'none'}, ` +
      `kill switches ${sandbox.redis ? `${redactCredentials(sandbox.redis.url)} ${sandbox.redis.killSwitchPrefix}*` : 'off'}, flagd file ${sandbox.flagdFile ?? 'none'}`,
  );
  // A second signal while stopping (a terminal sends one to the whole group) must not cut the stop short.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void sandbox.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  stopWithParent(stop);
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
