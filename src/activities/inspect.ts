/**
 * Before a phase or config rollback changes anything: the provider of every action resolved, every
 * target read from live state (the snapshot compensation restores; a command action's `capture` run
 * and its output kept, for its `{{captured}}` placeholders), and the whole request judged, so
 * an unknown flag, secret, version or restart target is refused with every problem named and nothing
 * changed.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { resolve } from 'node:path';
import { didYouMean, type Blocker, type CapturedValue } from '../contract/index.ts';
import { ACTION_CAPABILITY, actionKind } from '../runbook/action-kinds.ts';
import type { Action } from '../runbook/actions.ts';
import { planChanges } from '../runbook/change-plan.ts';
import { resolveName } from '../runbook/provider-check.ts';
import { CAPTURE_LIMIT, showArgv } from '../runbook/templates.ts';
import type { ProviderRef } from '../providers/index.ts';
import { secretFromEnv, type CommandResult } from '../providers/types.ts';
import { COMMAND_FAILED } from './commands.ts';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';

export const INVALID_CHANGE = 'InvalidInput';

/** The action's target in words: "flag grok_integration", "restart all". */
function targetOf(action: Action): string {
  const kind = actionKind(action);
  const target = (action as Record<string, unknown>)[kind];
  return `${kind} ${typeof target === 'string' ? target : Array.isArray(target) ? target.join(' ') : Object.keys(target as object).join(', ')}`;
}

/** A name not found among `known`, with the closest one and what there is. */
function unknown(what: string, name: string, where: string, known: string[]): string {
  return `unknown ${what} '${name}' in ${where}${didYouMean(name, known)}; it has: ${[...known].sort().join(', ') || 'none'}`;
}

/** The keyspace of a redis-restore action, its provider and where its backups are. */
export function keyspaceOf(runbook: Runbook, name: string) {
  const keyspace = runbook.keyspaces[name];
  if (!keyspace) throw ApplicationFailure.nonRetryable(`unknown keyspace '${name}' in the ${runbook.system} runbook`, INVALID_CHANGE);
  return { ...keyspace, ref: providerRef(runbook, keyspace.provider), dir: resolve(keyspace.backupDir, name) };
}

/**
 * Runs a command action's capture (read-only by definition, so a retry may run it again) and keeps
 * what it printed on stdout: trimmed, the action's secrets masked (by the provider), cut at
 * CAPTURE_LIMIT. Anything but exit 0 fails the snapshot, naming the command, how it ended and its
 * last lines.
 */
async function captureOutput(
  deps: ActivityDeps,
  ref: ProviderRef,
  provider: string,
  action: { capture: string[]; env: Record<string, string>; timeoutSeconds: number },
  onLines: (lines: string[]) => void,
): Promise<CapturedValue> {
  const shown = showArgv(action.capture);
  const env = Object.fromEntries(Object.entries(action.env).map(([name, from]) => [name, secretFromEnv({ env: deps.env, logger: deps.logger }, from)]));
  let last: string[] = [];
  // The provider's result carries stdout besides the interleaved tail (the command provider's runner does).
  const result: CommandResult & { stdout?: string } = await deps.clients.get('commands', ref).run(
    { argv: action.capture, env, timeoutMs: action.timeoutSeconds * 1000 },
    { onLine: (line) => onLines((last = [...last, line].slice(-5))), signal: Context.current().cancellationSignal },
  );
  const tail = result.outputTail.slice(-5).join(' | ') || '(no output)';
  const summary = { exitCode: result.exitCode, durationMs: Math.round(result.durationMs), outputTail: result.outputTail };
  if (result.timedOut) throw ApplicationFailure.nonRetryable(`capture ${shown} did not finish within ${action.timeoutSeconds} s and was stopped: ${tail}`, COMMAND_FAILED, summary);
  if (result.exitCode !== 0) {
    throw ApplicationFailure.nonRetryable(`capture ${shown} ${result.signal ? `was killed (${result.signal})` : `exited with ${result.exitCode}`}: ${tail}`, COMMAND_FAILED, summary);
  }
  if (result.stdout === undefined) throw ApplicationFailure.nonRetryable(`capture ${shown}: provider ${ref.provider} does not return a command's stdout, so it cannot capture`, 'InvalidRunbook');
  const output = result.stdout.trim();
  const truncated = output.length > CAPTURE_LIMIT;
  return { kind: 'command-output', provider, argv: action.capture, output: truncated ? output.slice(0, CAPTURE_LIMIT) : output, ...(truncated ? { truncated } : {}), durationMs: summary.durationMs };
}

export const createInspectActivities = (deps: ActivityDeps) => ({
  /**
   * Resolves each action's provider (the runbook's only one of the kind when not named), reads the
   * current value of every target, and refuses (InvalidInput, listing every problem) a request that
   * cannot be carried out. A dry run is not refused: it gets every problem back as a blocker, with
   * the command that clears it where there is one, and the values of everything it could read.
   * Safe to retry: it only reads.
   */
  async inspectChanges(input: { system: string; actions: Action[]; dryRun?: boolean }): Promise<{ actions: Action[]; values: CapturedValue[]; blockers: Blocker[] }> {
    const runbook = runbookFor(deps, input.system);
    const blockers: Blocker[] = [];
    const block = (problem: string, fix: string | null = null) => blockers.push({ problem, fix });
    const refuseUnlessDryRun = () => {
      if (blockers.length === 0 || input.dryRun) return;
      const found = blockers.map((b) => b.problem + (b.fix ? ` (clear it: ${b.fix})` : ''));
      throw ApplicationFailure.nonRetryable(`cannot roll back:\n  ${found.join('\n  ')}`, INVALID_CHANGE, found);
    };
    const actions: Action[] = [];
    const unresolved = new Set<Action>(); // a dry run goes on without them
    for (const original of input.actions) {
      const action = { ...original } as Action;
      const capability = ACTION_CAPABILITY[actionKind(action)];
      if (capability && !('redis-restore' in action) && !('down-sql' in action)) {
        const resolved = resolveName(runbook, capability, action.provider, actionKind(action));
        if ('problem' in resolved) {
          block(`${targetOf(action)}: ${resolved.problem.message} (in a configRollback input: "providers": {"${capability}": "<name>"})`);
          unresolved.add(action);
        } else action.provider = resolved.name;
      }
      actions.push(action);
    }
    refuseUnlessDryRun();

    const values: CapturedValue[] = [];
    const ref = (name: string) => providerRef(runbook, name);
    let captureLines: string[] = []; // the running capture's last lines, in heartbeats like runCommand's
    await withHeartbeats(
      (async () => {
        for (const action of actions) {
          if (unresolved.has(action)) continue;
          if ('flag' in action) {
            const all = await deps.clients.get('flags', ref(action.provider!)).readFlags();
            if (!(action.flag in all)) block(unknown('flag', action.flag, action.provider!, Object.keys(all)));
            else if (!values.some((v) => v.kind === 'flag' && v.provider === action.provider && v.flag === action.flag)) {
              values.push({ kind: 'flag', provider: action.provider!, flag: action.flag, enabled: all[action.flag]! });
            }
          } else if ('config' in action) {
            const all = await deps.clients.get('config', ref(action.provider!)).readConfig();
            const missing = Object.keys(action.config).filter((key) => !(key in all));
            for (const key of missing) block(unknown('config key', key, action.provider!, Object.keys(all)));
            // One entry per provider, holding every key any action touches.
            const found = Object.fromEntries(Object.keys(action.config).map((k) => [k, all[k] ?? null]));
            const entry = values.find((v) => v.kind === 'config' && v.provider === action.provider);
            if (entry?.kind === 'config') Object.assign(entry.values, found);
            else if (missing.length === 0) values.push({ kind: 'config', provider: action.provider!, values: found });
          } else if ('secret-version' in action) {
            const all = await deps.clients.get('secrets', ref(action.provider!)).readSecrets();
            const secret = all.find((s) => s.name === action['secret-version']);
            if (!secret) block(unknown('secret', action['secret-version'], action.provider!, all.map((s) => s.name)));
            else if (!values.some((v) => v.kind === 'secret-version' && v.provider === action.provider && v.secret === secret.name)) {
              values.push({ kind: 'secret-version', provider: action.provider!, secret: secret.name, versions: secret.versions, current: secret.current });
            }
          } else if ('kill-switch' in action) {
            const switches = deps.clients.get('killSwitches', ref(action.provider!));
            const feature = action['kill-switch'];
            const known = await switches.listKillSwitches();
            if (!known.includes(feature)) {
              const where = `providers.${action.provider}.settings.killSwitches`;
              block(`${unknown('kill switch', feature, action.provider!, known)}${known.length === 0 ? `; list the features that have one under ${where}` : ` (listed under ${where})`}`);
              continue;
            }
            if (values.some((v) => v.kind === 'kill-switch' && v.provider === action.provider && v.feature === feature)) continue; // read once
            const found = await switches.readKillSwitches([feature]);
            values.push({ kind: 'kill-switch', provider: action.provider!, feature, on: found[feature] ?? false });
          } else if ('restart' in action) {
            const restarts = deps.clients.get('restarts', ref(action.provider!));
            const targets = await restarts.targets();
            if (action.restart !== 'all' && !targets.includes(action.restart)) {
              block(unknown('restart target', action.restart, action.provider!, [...targets, 'all']));
              continue;
            }
            for (const target of action.restart === 'all' ? targets : [action.restart]) {
              if (values.some((v) => v.kind === 'restart' && v.provider === action.provider && v.target === target)) continue; // read once
              const replicas = (await restarts.readReplicas(target)).map(({ replica, pid, startedAt, config, secretVersions }) => ({ replica, pid, startedAt, config, secretVersions }));
              values.push({ kind: 'restart', provider: action.provider!, target, replicas });
            }
          } else if ('redis-restore' in action) {
            const keyspace = keyspaceOf(runbook, action['redis-restore']);
            const client = deps.clients.get('keyspace', keyspace.ref);
            const backups = (await client.listBackups(keyspace.dir)).filter((b) => b.kind === 'backup');
            if (action.backup === 'latest' ? backups.length === 0 : !backups.some((b) => b.id === action.backup)) {
              block(
                `no backup '${action.backup}' of keyspace ${action['redis-restore']} in ${keyspace.dir}; backups: ${backups.map((b) => b.id).join(', ') || 'none'}`,
                action.backup === 'latest' ? `rollback backup --system ${runbook.system} --keyspace ${action['redis-restore']}` : null,
              );
            }
            values.push({ kind: 'keyspace', provider: keyspace.provider!, keyspace: action['redis-restore'], pattern: keyspace.pattern, keys: await client.countKeys(keyspace.pattern) });
          } else if ('git-revert' in action) {
            if (values.some((v) => v.kind === 'git-head' && v.provider === action.provider)) continue; // read once
            const { branch, head } = await deps.clients.get('reverts', ref(action.provider!)).readHead();
            values.push({ kind: 'git-head', provider: action.provider!, branch, head });
          } else if ('command' in action && action.capture) {
            const capture = action.capture;
            if (values.some((v) => v.kind === 'command-output' && v.provider === action.provider && v.argv.join('\0') === capture.join('\0'))) continue; // run once
            values.push(await captureOutput(deps, ref(action.provider!), action.provider!, { ...action, capture }, (lines) => (captureLines = lines)));
          }
        }
      })(),
      () => (captureLines.length > 0 ? { output: captureLines } : undefined),
    );
    // What only the plan can see (a secret with no previous version); targets not read are above already.
    for (const problem of planChanges(actions, values, { phase: null, prefix: '' }).problems) block(problem);
    refuseUnlessDryRun();
    return { actions, values, blockers };
  },
});
