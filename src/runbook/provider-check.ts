/**
 * The runbook's providers, checked against the registry when the file loads: every provider id
 * exists, offers what it is used for, and accepts its settings; every action, keyspace and
 * maintenance flag names a provider of the right capability, or has it filled in where the runbook
 * has exactly one. Worker-side (it reads the registry); the runbook it returns names every provider.
 */
import { didYouMean, validate, type Problem } from '../contract/index.ts';
import { CAPABILITY_NAMES, findProvider, PROVIDERS, providersOf, UnknownProviderError } from '../providers/index.ts';
import type { Capability } from '../providers/types.ts';
import { kindOf } from '../actions/index.ts';
import type { Runbook } from './schema.ts';

function settingsProblems(capability: Capability | null, path: string, ref: { provider: string; settings: Record<string, unknown> }): Problem[] {
  try {
    const provider = capability ? findProvider(capability, ref.provider) : PROVIDERS.get(ref.provider);
    if (!provider) throw new UnknownProviderError(`unknown provider '${ref.provider}'; must be one of: ${[...PROVIDERS.keys()].join(', ')}`);
    const result = validate(provider.settingsSchema, ref.settings);
    if (result.ok) return [];
    return result.problems.map((p) => ({ path: `${path}.settings${p.path ? `.${p.path}` : ''}`, message: p.message }));
  } catch (err) {
    if (err instanceof UnknownProviderError) return [{ path: `${path}.provider`, message: err.message }];
    throw err;
  }
}

/**
 * Resolves the runbook provider name `given` for `capability`: the named one must offer it; with no
 * name, the only provider under `providers:` that offers it. Returns the name or a problem.
 */
export function resolveName(runbook: Runbook, capability: Capability, given: string | undefined, path: string): { name: string } | { problem: Problem } {
  const offering = Object.entries(runbook.providers)
    .filter(([, ref]) => PROVIDERS.get(ref.provider)?.capabilities.includes(capability))
    .map(([name]) => name);
  const what = CAPABILITY_NAMES[capability];
  if (given !== undefined) {
    const ref = runbook.providers[given];
    if (!ref) return { problem: { path: `${path}.provider`, message: `no provider named '${given}' under providers:; those offering ${what}: ${offering.join(', ') || 'none'}` } };
    if (!offering.includes(given)) return { problem: { path: `${path}.provider`, message: `provider '${given}' (${ref.provider}) offers no ${what}; those that do: ${offering.join(', ') || 'none'}` } };
    return { name: given };
  }
  if (offering.length === 1) return { name: offering[0]! };
  if (offering.length === 0) {
    return { problem: { path, message: `needs a provider of ${what}, and none is under providers: (one of: ${providersOf(capability).join(', ')})` } };
  }
  return { problem: { path: `${path}.provider`, message: `required: ${offering.join(' and ')} both offer ${what}; name one` } };
}

/** Whether the runbook's traffic provider also scales versions (instance counts). */
function scales(runbook: Runbook): boolean {
  return runbook.traffic !== undefined && (PROVIDERS.get(runbook.traffic.provider)?.capabilities.includes('scaling') ?? false);
}

/** Whether the runbook's traffic provider scales versions but splits no traffic (Fly Machines). */
export function onlyScales(runbook: Runbook): boolean {
  const capabilities = runbook.traffic ? PROVIDERS.get(runbook.traffic.provider)?.capabilities : undefined;
  return capabilities !== undefined && capabilities.includes('scaling') && !capabilities.includes('traffic');
}

/** Checks every provider reference and fills in the provider of each action; returns the problems found. */
export function checkProviders(runbook: Runbook): Problem[] {
  const problems: Problem[] = [];
  // Scaling is optional: a provider that routes traffic but scales by itself (Cloud Run) plans no instance counts.
  // Weights are optional too: a provider that only scales (Fly: no split between apps) moves traffic by instance counts.
  if (runbook.traffic) problems.push(...settingsProblems(onlyScales(runbook) ? 'scaling' : 'traffic', 'traffic', runbook.traffic));
  if (runbook.release) problems.push(...settingsProblems('releases', 'release', runbook.release));
  if (runbook.statusPage) problems.push(...settingsProblems('statusPage', 'statusPage', runbook.statusPage));
  runbook.notify.forEach((ref, i) => problems.push(...settingsProblems('notify', `notify[${i}]`, ref)));
  if (runbook.health.metrics) problems.push(...settingsProblems('metrics', 'health.metrics', runbook.health.metrics));
  for (const [name, ref] of Object.entries(runbook.providers)) problems.push(...settingsProblems(null, `providers.${name}`, ref));
  if (problems.length > 0) return problems; // names below resolve against providers that must exist first

  const resolve = (capability: Capability, given: string | undefined, path: string, set: (name: string) => void) => {
    const resolved = resolveName(runbook, capability, given, path);
    if ('problem' in resolved) problems.push(resolved.problem);
    else set(resolved.name);
  };
  for (const [name, keyspace] of Object.entries(runbook.keyspaces)) {
    resolve('keyspace', keyspace.provider, `keyspaces.${name}`, (p) => (keyspace.provider = p));
  }
  for (const [name, volume] of Object.entries(runbook.volumes)) {
    resolve('volumes', volume.provider, `volumes.${name}`, (p) => (volume.provider = p));
  }
  for (const [name, { writer }] of Object.entries(runbook.sqlite)) {
    if (writer) resolve('scale' in writer ? 'scaling' : 'commands', writer.provider, `sqlite.${name}.writer`, (p) => (writer.provider = p));
  }
  for (const [name, database] of Object.entries(runbook.databases)) {
    const how = database.stopWriters;
    if (how.method === 'maintenance-flag') resolve('flags', how.provider, `databases.${name}.stopWriters`, (p) => (how.provider = p));
    if (how.method === 'scale-to-zero' && !scales(runbook)) problems.push({ path: `databases.${name}.stopWriters`, message: 'scale-to-zero needs a traffic section whose provider scales versions (nothing here scales versions)' });
  }
  runbook.watch?.rules.forEach((rule, i) => {
    if ('scaleAndAlert' in rule.action && rule.action.scaleAndAlert.provider) {
      const scaling = rule.action.scaleAndAlert;
      resolve('scaling', scaling.provider, `watch.rules[${i}].action.scaleAndAlert`, (name) => (scaling.provider = name));
    } else if ('scaleAndAlert' in rule.action && runbook.traffic && !scales(runbook)) {
      problems.push({ path: `watch.rules[${i}].action`, message: `rule ${rule.name} scales ${rule.action.scaleAndAlert.version}, but traffic provider '${runbook.traffic.provider}' does not scale versions` });
    }
  });
  // Command and log checks run through a commands provider, named or the only one; a log API check
  // through a provider of log lines, which must take what its logsFrom adds.
  const checksOf = (checks: readonly object[], path: string) =>
    checks.forEach((check, c) => {
      if ('url' in check) return;
      if ('logsFrom' in check) {
        const from = check.logsFrom as { provider?: string } & Record<string, unknown>;
        resolve('logs', from.provider, `${path}[${c}].logsFrom`, (name) => {
          from.provider = name;
          problems.push(...logQueryProblems(runbook, name, from, `${path}[${c}].logsFrom`));
        });
        return;
      }
      const named = check as { provider?: string };
      resolve('commands', named.provider, `${path}[${c}]`, (name) => (named.provider = name));
    });
  checksOf(runbook.health.checks, 'health.checks');
  // Preflight commands likewise; a release check reads the release section's provider unless it names one.
  runbook.preflight.forEach((check, i) => {
    if ('command' in check) resolve('commands', check.provider, `preflight[${i}]`, (name) => (check.provider = name));
    if ('release' in check && (check.release.provider !== undefined || !runbook.release)) resolve('releases', check.release.provider, `preflight[${i}].release`, (name) => (check.release.provider = name));
  });
  runbook.phases.forEach((phase, p) => typeof phase.verify === 'object' && checksOf(phase.verify.checks, `phases[${p}].verify.checks`));
  runbook.phases.forEach((phase, p) =>
    phase.rollback.forEach((action, a) => {
      const { capability } = kindOf(action);
      if (!capability) return; // keyspaces and databases name their own providers
      const path = `phases[${p}].rollback[${a}]`;
      const named = action as { provider?: string };
      resolve(capability, named.provider, path, (name) => (named.provider = name));
      if ('kill-switch' in action && named.provider) problems.push(...undeclared(runbook, 'killSwitches', 'kill switch', named.provider, [action['kill-switch']], `${path}.kill-switch`));
    }),
  );
  runbook.watch?.rules.forEach((rule, i) => {
    const features = 'configRollback' in rule.action ? Object.keys(rule.action.configRollback.killSwitches ?? {}) : [];
    if (features.length === 0) return;
    const path = `watch.rules[${i}].action.configRollback.killSwitches`;
    resolve('killSwitches', undefined, path, (name) => problems.push(...undeclared(runbook, 'killSwitches', 'kill switch', name, features, path)));
  });
  return problems;
}

/** Fields of a log check's logsFrom that its provider does not take (a Cloud Logging filter given to fly-logs). */
function logQueryProblems(runbook: Runbook, name: string, from: Record<string, unknown>, path: string): Problem[] {
  const ref = runbook.providers[name]!;
  const takes: readonly string[] = PROVIDERS.get(ref.provider)?.logQuery ?? [];
  return Object.keys(from)
    .filter((field) => field !== 'provider' && from[field] !== undefined && !takes.includes(field))
    .map((field) => ({ path: `${path}.${field}`, message: `${ref.provider} (providers.${name}) takes no ${field}; it takes: ${takes.join(', ') || 'nothing besides provider'}` }));
}

/**
 * Targets the runbook uses that its provider's settings do not declare (a kill switch for a feature
 * the Redis provider does not list), each named with the closest declared one.
 */
function undeclared(runbook: Runbook, capability: Capability, what: string, name: string, targets: readonly string[], path: string): Problem[] {
  const ref = runbook.providers[name]!;
  const provider = PROVIDERS.get(ref.provider)!;
  const declared = provider.declaredTargets?.(provider.settingsSchema.parse(ref.settings))[capability];
  if (!declared) return []; // the platform lists its own: checked against live state in the rollback's snapshot
  return targets
    .filter((target) => !declared.includes(target))
    .map((target) => ({
      path,
      message: `unknown ${what} '${target}'${didYouMean(target, declared)}; the settings of providers.${name} list: ${declared.join(', ') || 'none'}`,
    }));
}
