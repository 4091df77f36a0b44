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
import type { Blocker, CapturedValue } from '../contract/index.ts';
import { actionKind, kindOf, type Action, type ResolvedAction } from '../actions/index.ts';
import type { CaptureContext } from '../actions/kind.ts';
import { planChanges } from '../plan/change-plan.ts';
import { resolveName } from '../runbook/provider-check.ts';
import { CAPTURE_LIMIT, showArgv } from '../actions/templates.ts';
import type { ProviderRef } from '../providers/index.ts';
import { secretFromEnv, type CommandResult } from '../providers/types.ts';
import { COMMAND_FAILED } from './commands.ts';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { sqliteTarget } from './sqlite.ts';
import { volumeTarget } from './volumes.ts';
import { providerRef, runbookFor } from './runbook.ts';

export const INVALID_CHANGE = 'InvalidInput';

/** The keyspace of a redis-restore action, its provider and where its backups are. */
export function keyspaceOf(runbook: Runbook, name: string) {
  const keyspace = runbook.keyspaces[name];
  if (!keyspace) throw ApplicationFailure.nonRetryable(`unknown keyspace '${name}' in the ${runbook.system} runbook`, INVALID_CHANGE);
  // The loader filled in the provider (the runbook's only keyspace provider, if not named).
  const provider = keyspace.provider ?? '(none)';
  return { ...keyspace, provider, ref: providerRef(runbook, keyspace.provider), dir: resolve(keyspace.backupDir, name) };
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
   * Resolves each action's provider (the runbook's only one of the kind when not named), has each
   * kind read its target's current value (src/actions/<kind>.ts), and refuses (InvalidInput, listing
   * every problem) a request that cannot be carried out. A dry run is not refused: it gets every
   * problem back as a blocker, with the command that clears it where there is one, and the values of
   * everything it could read. Safe to retry: it only reads.
   */
  async inspectChanges(input: { system: string; actions: Action[]; dryRun?: boolean }): Promise<{ actions: ResolvedAction[]; values: CapturedValue[]; blockers: Blocker[] }> {
    const runbook = runbookFor(deps, input.system);
    const blockers: Blocker[] = [];
    const block = (problem: string, fix: string | null = null) => void blockers.push({ problem, fix });
    const refuseUnlessDryRun = () => {
      if (blockers.length === 0 || input.dryRun) return;
      const found = blockers.map((b) => b.problem + (b.fix ? ` (clear it: ${b.fix})` : ''));
      throw ApplicationFailure.nonRetryable(`cannot roll back:\n  ${found.join('\n  ')}`, INVALID_CHANGE, found);
    };
    const actions: ResolvedAction[] = [];
    const unresolved = new Set<Action>(); // a dry run goes on without them
    for (const original of input.actions) {
      const action = { ...original } as Action;
      const { capability, describe } = kindOf(action);
      if (capability) {
        const resolved = resolveName(runbook, capability, (action as { provider?: string }).provider, actionKind(action));
        if ('problem' in resolved) {
          block(`${describe(action)}: ${resolved.problem.message} (in a configRollback input: "providers": {"${capability}": "<name>"})`);
          unresolved.add(action);
        } else (action as { provider?: string }).provider = resolved.name;
      }
      actions.push(action as ResolvedAction);
    }
    refuseUnlessDryRun();

    let captureLines: string[] = []; // the running capture's last lines, in heartbeats like runCommand's
    const context: CaptureContext = {
      system: input.system,
      client: (capability, provider) => deps.clients.get(capability, providerRef(runbook, provider)),
      keyspace: (name) => {
        const keyspace = keyspaceOf(runbook, name);
        return { provider: keyspace.provider, pattern: keyspace.pattern, dir: keyspace.dir, client: deps.clients.get('keyspace', keyspace.ref) };
      },
      sqlite: async (name) => {
        const { path, backupDir, backups, bytes, writer } = await sqliteTarget(deps, runbook, name);
        return { path, backupDir, bytes, backups: await backups(), writer: writer ? { target: writer.target, instances: await writer.instances() } : null };
      },
      volume: async (name) => {
        const target = volumeTarget(deps, runbook, name);
        const { exists, usedBy } = await target.client.readVolume(target.volume);
        return { volume: target.volume, exists, usedBy, backupDir: target.backupDir, backups: await target.backups() };
      },
      runCapture: (provider, action) => captureOutput(deps, providerRef(runbook, provider), provider, action, (lines) => (captureLines = lines)),
      hasEnv: (name) => !!deps.env[name],
      values: [],
      block,
    };
    await withHeartbeats(
      (async () => {
        for (const action of actions) if (!unresolved.has(action as Action)) await kindOf(action).capture(action, context);
      })(),
      () => (captureLines.length > 0 ? { output: captureLines } : undefined),
    );
    // What only the plan can see (a secret with no previous version); targets not read are above already.
    for (const problem of planChanges(actions, context.values, { phase: null, prefix: '' }).problems) block(problem);
    refuseUnlessDryRun();
    return { actions, values: context.values, blockers };
  },
});
