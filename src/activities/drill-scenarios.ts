/**
 * The drill activities that work on any platform: which system a drill injects into (its own, or the
 * staging system it names), HTTP scenarios and their undo calls, the rollback a drill starts itself
 * when the target has no watch rules, and the read-only checks of a production drill.
 */
import { ApplicationFailure } from '@temporalio/common';
import { TASK_QUEUE, type DrillCheck } from '../contract/index.ts';
import { secretFromEnv } from '../providers/types.ts';
import { runHttpCheck } from '../providers/health/http-checks.ts';
import { verificationOf, verificationSeconds } from '../plan/health.ts';
import { checkDrills, type Drill } from '../runbook/drill-schema.ts';
import type { HttpCheckSpec, Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { runbookFor } from './runbook.ts';

/** What a drill needs to know of the system it drills, besides the drill itself. */
export interface DrillTargetInfo {
  /** The system injected into and rolled back: the drill's `system:`, else its own runbook's. */
  target: string;
  /** The target has watch: rules, so its watchdog detects the fault; otherwise the drill starts the rollback. */
  watched: boolean;
  /** What the drill (and a read-only drill's dry run) rehearses on the target: fullRollback (traffic or release), else phaseRollback of every phase. */
  rehearses: 'fullRollback' | 'phaseRollback' | null;
  /** The target's phase ids, for a phaseRollback dry run. */
  phases: number[];
  /** How long the target's health verification may take: the drill's window, or its last stage, then its checks. */
  verifySeconds?: number;
}

/** Settings of a notify channel that name a worker environment variable (urlEnv, tokenEnv, webhookUrlEnv...). */
const envSettings = (settings: Record<string, unknown>) => Object.entries(settings).filter((e): e is [string, string] => /Env$/.test(e[0]) && typeof e[1] === 'string');

export const createDrillScenarioActivities = (deps: ActivityDeps) => ({
  /**
   * The system `drill` injects into and what it rehearses there. A drill naming a staging system is
   * checked against that runbook now (the runbooks load one at a time): an unknown system names the
   * known ones, and the drill's checks (scenario, gates, approver) are those of a drill written there.
   * Safe to retry: it only reads.
   */
  async drillTarget(input: { system: string; drillName: string; drill: Drill }): Promise<DrillTargetInfo> {
    const own = runbookFor(deps, input.system);
    const name = input.drill.system ?? input.system;
    const runbook = deps.runbooks.get(name);
    if (!runbook) {
      const known = [...deps.runbooks.keys()].sort().join(', ');
      throw ApplicationFailure.nonRetryable(`drill ${input.drillName} of ${input.system} names system '${name}', which has no runbook; known systems: ${known}`, 'InvalidRunbook');
    }
    if (runbook !== own) {
      const problems: string[] = [];
      checkDrills({ ...runbook, drills: { [input.drillName]: { ...input.drill, system: undefined } } }, (path, message) => problems.push(`${path.join('.')}: ${message}`));
      if (problems.length > 0) throw ApplicationFailure.nonRetryable(`drill ${input.drillName} of ${input.system} cannot drill ${name}:\n  ${problems.join('\n  ')}`, 'InvalidRunbook');
    }
    return {
      target: name,
      watched: runbook.watch !== undefined && runbook.watch.rules.length > 0,
      rehearses: rehearsal(runbook),
      phases: runbook.phases.map((p) => p.id),
      verifySeconds: verificationSeconds(verificationOf(runbook.health), input.drill.verifySeconds),
    };
  },

  /**
   * Makes a scenario's HTTP call (the fault switched on, or off again): the runbook's method, URL,
   * headers and body, secret headers from the worker's environment, masked in every message. Fails
   * when the answer is not the status expected. Safe to retry as far as the call is: a drill's switch
   * is set, not toggled, so a repeated PUT leaves it as one.
   */
  async callDrillHttp(input: { system: string; call: HttpCheckSpec; what: string }): Promise<string> {
    const fromEnv = (name: string) => secretFromEnv({ env: deps.env, logger: deps.logger }, name);
    const headers: Record<string, string> = {};
    const values: string[] = [];
    for (const [header, ref] of Object.entries(input.call.headersFromEnv)) {
      const { env, prefix } = typeof ref === 'string' ? { env: ref, prefix: '' } : ref;
      const value = fromEnv(env);
      headers[header] = `${prefix}${value}`;
      values.push(value);
    }
    const result = await runHttpCheck(input.call, { headers, values });
    const line = `${input.call.method} ${result.url}: ${result.status ?? 'no answer'}`;
    if (!result.passed) throw ApplicationFailure.retryable(`${input.what} ${line}: ${result.detail}`, 'DrillCallFailed');
    return line;
  },

  /**
   * Starts the rollback a drill rehearses, for a target without watch rules (nobody else would):
   * requested by rollback-drill. Safe to retry: a start already made is found.
   */
  async startDrillRollback(input: { workflowId: string; system: string; mode: 'immediate' | 'gradual'; reason: string }): Promise<void> {
    await deps.temporal.client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: input.workflowId,
      args: [{ system: input.system, mode: input.mode, requestedBy: 'rollback-drill', reason: input.reason }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  },

  /**
   * A read-only drill's checks that no dry run makes: every gate's role lists enough approvers (and, where
   * signatures are required, each has a key), and every notify channel that would page them has its
   * credentials on this worker. Nothing is sent: a read-only drill pages nobody. Safe to retry: it only reads.
   */
  async checkDrillReadiness(input: { system: string }): Promise<DrillCheck[]> {
    const runbook = runbookFor(deps, input.system);
    return [...gateChecks(runbook), ...runbook.notify.map((channel, i): DrillCheck => {
      const missing = envSettings(channel.settings).filter(([, variable]) => !deps.env[variable]);
      const check = `notify ${channel.provider}${runbook.notify.length > 1 ? ` #${i + 1}` : ''}`;
      if (missing.length > 0) return { check, ok: false, detail: `cannot reach approvers: ${missing.map(([setting, variable]) => `${setting} ${variable} is not set on the worker`).join('; ')}` };
      const named = envSettings(channel.settings).map(([, variable]) => variable);
      return { check, ok: true, detail: named.length > 0 ? `credentials set (${named.join(', ')}); nothing sent` : 'needs no credentials; nothing sent' };
    })];
  },
});

/** What a drill of `runbook` rehearses: a fullRollback where it has traffic or a release section, else its phases. */
function rehearsal(runbook: Runbook): DrillTargetInfo['rehearses'] {
  if (runbook.traffic || runbook.release) return 'fullRollback';
  return runbook.phases.length > 0 ? 'phaseRollback' : null;
}

/** Each gate: its role lists at least the approvals it needs (beyond a requester it forbids), each with a key where signatures are required. */
function gateChecks(runbook: Runbook): DrillCheck[] {
  return Object.entries(runbook.gates).map(([gate, settings]) => {
    const members = runbook.approvers[settings.role] ?? [];
    const check = `gate ${gate}`;
    // With the two-person rule, one of them may be the requester: one more must be listed.
    const needed = settings.required + (settings.forbidRequester ? 1 : 0);
    if (members.length < needed) {
      return { check, ok: false, detail: `role ${settings.role} lists ${members.length === 0 ? 'nobody' : members.join(', ')}; it needs ${needed} approver(s)${settings.forbidRequester ? ' (the requester may not approve)' : ''}` };
    }
    const signed = settings.signed === 'required' || runbook.approvals.signed === 'required';
    const keyless = signed ? members.filter((m) => !runbook.approvals.keys[m]) : [];
    if (signed && members.length - keyless.length < needed) return { check, ok: false, detail: `needs signed approvals, but only ${members.length - keyless.length} of ${members.join(', ')} has a key` };
    return { check, ok: true, detail: `role ${settings.role}: ${members.join(', ')} (needs ${settings.required}${signed ? ', signed' : ''})` };
  });
}
