/**
 * configRollback: the ad-hoc rollback of configuration. Seed 002's "Bad environment variable", "Bad
 * secret" (`gcloud secrets versions enable --version=PREV` + redeploy), "Bad feature flag" and
 * "Emergency Kill Switch" (instant effect), seed 001's "Configuration Rollback":
 *
 *   preflight -> snapshot (every value it changes, from live state) -> notify -> kill switches, at once
 *   (gate before-kill-switch only if the runbook has it) -> gate before-config-change if the runbook has
 *   it -> flags, config, secret versions, restarts -> verify health -> report -> notify
 *
 * A failed step waits for `decide`; compensation puts every value back and restarts again.
 */
import { configRollbackInput, type ChangeRollbackResult, type ConfigRollbackInput } from '../contract/index.ts';
import { configActions, planConfigRollback } from '../plan/phase-plan.ts';
import { announceStart, captureTargets, runPlan } from './changes.ts';
import { parseInput } from './input.ts';
import { Rollback } from './rollback.ts';


/** "kill switch grok, flag grok_integration, config LLM_PROVIDER, secret XAI_API_KEY, scale canary to 0, restart all". */
function whatChanges(input: ReturnType<typeof parseInput<typeof configRollbackInput>>): string {
  return [
    ...Object.keys(input.killSwitches ?? {}).map((f) => `kill switch ${f}`),
    ...Object.keys(input.flags ?? {}).map((f) => `flag ${f}`),
    ...Object.keys(input.config ?? {}).map((k) => `config ${k}`),
    ...Object.keys(input.secrets ?? {}).map((s) => `secret ${s}`),
    ...Object.entries(input.scale ?? {}).map(([target, instances]) => `scale ${target} to ${instances}`),
    ...(input.restart ?? []).map((t) => `restart ${t}`),
  ].join(', ');
}

export async function configRollback(raw: ConfigRollbackInput): Promise<ChangeRollbackResult> {
  const input = parseInput('configRollback', configRollbackInput, raw);
  const { system, requestedBy } = input;
  const rollback = new Rollback(
    { workflowType: 'configRollback', system, reason: input.reason, requestedBy, dryRun: input.dryRun, detectedAt: input.detectedAt },
    `${system}: ${input.dryRun ? 'dry run of ' : ''}config rollback (${whatChanges(input)}) requested by ${requestedBy}: ${input.reason}`,
  );

  const result = await rollback.settle(async () => {
    const runbook = await rollback.preflight();
    const asked = configActions(input);
    const { actions, snapshot, blockers } = await captureTargets(rollback, system, whatChanges(input), [...asked.killSwitches, ...asked.changes], input.baselineSeconds);
    // The inspection resolved each action's provider, in the order given: kill switches first.
    const resolved = { killSwitches: actions.slice(0, asked.killSwitches.length), changes: actions.slice(asked.killSwitches.length) };
    const plan = planConfigRollback(runbook, resolved, snapshot.values!, input.verifyWindowSeconds);
    rollback.board.setPlan(plan);
    rollback.board.setBlockers(blockers);
    if (input.dryRun) return { plan, snapshot };

    await announceStart(rollback, system, `config rollback started by ${requestedBy}`, `${input.reason}\nChanges: ${whatChanges(input)}`);
    await runPlan(rollback, system, plan, () => 'config');
    return { plan, snapshot };
  }, 'config rollback');
  const { blockers, healthAfter, report, preflight } = rollback.board.view;
  return { dryRun: input.dryRun, ...result, blockers, ...(preflight ? { preflight } : {}), healthAfter, report };
}
