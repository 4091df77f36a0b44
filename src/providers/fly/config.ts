/**
 * The fly-machines provider's config (seed 000's env changes): the env vars of an app's Machines'
 * config (`config.env`, never secrets: those are set with `fly secrets set`). A change updates each
 * Machine whose env is not yet as asked, under its lease, which reboots it with the new env; a retry
 * finds them done and sends nothing.
 *
 * API reference: https://fly.io/docs/machines/api/machines-resource/ (update: the whole config)
 */
import type { ChangeOptions, ConfigClient, ProviderContext } from '../types.ts';
import { API, GONE, mostCommon, type FlyApi, type MachineConfig } from './api.ts';
import type { Settings } from './settings.ts';

function applyEnv(env: MachineConfig['env'], values: Record<string, string | null>): Record<string, string> {
  const next = { ...(env ?? {}) };
  for (const [name, value] of Object.entries(values)) {
    if (value === null) delete next[name];
    else next[name] = value;
  }
  return next;
}

const sameEnv = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/** The config client: the env vars of the app `configVersion` names (or the only app). */
export function flyConfig(api: FlyApi, settings: Settings, context: ProviderContext): ConfigClient {
  const configApp = (): string => {
    if (settings.configVersion) return api.appOf(settings.configVersion);
    const versions = Object.keys(settings.apps);
    if (versions.length === 1) return api.appOf(versions[0]!);
    throw new Error(`${API}: settings name several apps (${versions.join(', ')}); set configVersion to say whose env vars config reads and changes`);
  };

  const readConfig = async (): Promise<Record<string, string>> => {
    const app = configApp();
    const live = await api.list(app);
    const names = new Set(live.flatMap((m) => Object.keys(m.config.env ?? {})));
    const config: Record<string, string> = {};
    const differing: string[] = [];
    for (const name of [...names].sort()) {
      // Machines mid-change may disagree: the value most of them have is the app's.
      const { value, counts } = mostCommon(live.map((m) => m.config.env?.[name] ?? null));
      if (counts.size > 1) differing.push(name);
      if (value !== null) config[name] = value;
    }
    if (differing.length > 0) context.logger.warn({ app, differing }, `the Machines of ${app} differ on ${differing.join(', ')}; read the value most of them have`);
    return config;
  };

  /** Safe to retry: Machines whose env already is as asked are not updated again. */
  const setConfig = async (values: Record<string, string | null>, options: ChangeOptions): Promise<void> => {
    const app = configApp();
    for (const machine of await api.list(app)) {
      const env = machine.config.env ?? {};
      if (sameEnv(applyEnv(env, values), env)) continue;
      await api.withLease(app, machine.id, options, async (nonce) => {
        const fresh = await api.get(app, machine.id);
        const next = applyEnv(fresh.config.env, values);
        if (GONE.has(fresh.state) || sameEnv(next, fresh.config.env ?? {})) return;
        await api.update(app, fresh, { ...fresh.config, env: next }, nonce);
        context.logger.info({ app, machine: machine.id, names: Object.keys(values), actor: options.actor }, `updated the env of Fly Machine ${machine.id} of ${app}`);
      });
    }
  };

  return { readConfig, setConfig };
}
