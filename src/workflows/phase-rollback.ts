/**
 * phaseRollback: undo shipped phases, newest first. Seed 000's "Phase-Specific Rollback Procedures"
 * (env flags, `fly secrets set`, `fly apps restart`, the RAG cache script) and seed 004's
 * "Stage-Specific Rollback" (stage 9's Redis backup restore, stage 10 and 11 flags), made durable:
 *
 *   preflight -> the phases asked for, highest first -> snapshot (every value they change, read from
 *   live state, and what their commands' captures print; a health baseline) -> the plan, commands'
 *   {{placeholders}} filled (one with no value refuses here) -> notify -> for each phase: its gate
 *   if the runbook sets one -> its actions in order -> verify health -> report -> notify
 *
 * A failed step waits for `decide`; compensation re-applies the undone phases newest first (restoring
 * the snapshot exactly, restarting again so services load it); `abort` stops anywhere.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { phaseRollbackInput, type ChangeRollbackResult, type PhaseRollbackInput } from '../contract/index.ts';
import { phaseActions } from '../plan/plan.ts';
import { withCaptureFilled } from '../plan/change-plan.ts';
import { planPhaseRollback, selectPhases } from '../plan/phase-plan.ts';
import { announceStart, captureTargets, runPlan } from './changes.ts';
import { INVALID_INPUT, parseInput } from './input.ts';
import { Rollback } from './rollback.ts';


export async function phaseRollback(raw: PhaseRollbackInput): Promise<ChangeRollbackResult> {
  const input = parseInput('phaseRollback', phaseRollbackInput, raw);
  const { system, requestedBy } = input;
  const asked = Array.isArray(input.phases) ? input.phases.join(', ') : `${input.phases.from} to ${input.phases.to}`;
  const rollback = new Rollback(
    { workflowType: 'phaseRollback', system, reason: input.reason, requestedBy, dryRun: input.dryRun, detectedAt: input.detectedAt },
    `${system}: ${input.dryRun ? 'dry run of ' : ''}rollback of phases ${asked} requested by ${requestedBy}: ${input.reason}`,
  );

  const result = await rollback.settle(async () => {
    const runbook = await rollback.preflight();
    const selected = selectPhases(runbook, input.phases);
    if ('problem' in selected) throw ApplicationFailure.nonRetryable(`invalid phaseRollback input:\n  phases: ${selected.problem}`, INVALID_INPUT);
    const { phases } = selected;

    const ids = phases.map((p) => p.id).join(', ');
    // Commands' {{placeholders}}: captures are filled before the snapshot runs them, the rest in the plan.
    const context = { system, workflowId: workflowInfo().workflowId, requestedBy };
    const filled = phases.flatMap((p) => phaseActions(p).map((action) => withCaptureFilled(action, { ...context, phase: p.id })));
    const unfillable = filled.flatMap((f) => f.problems);
    if (unfillable.length > 0) throw ApplicationFailure.nonRetryable(`cannot roll back:\n  ${unfillable.join('\n  ')}`, INVALID_INPUT);
    const { actions, snapshot, blockers } = await captureTargets(rollback, system, `phases ${ids}`, filled.map((f) => f.action), input.baselineSeconds);
    const plan = planPhaseRollback(runbook, phases, actions, snapshot.values!, input.verifyWindowSeconds, context);
    rollback.board.setPlan(plan);
    if (input.dryRun) {
      // The whole plan with everything a real run would be refused at, each with what clears it.
      rollback.board.setBlockers([...blockers, ...(plan.problems ?? []).map((problem) => ({ problem, fix: null }))]);
      return { plan, snapshot };
    }
    if (plan.problems) throw ApplicationFailure.nonRetryable(`cannot roll back:\n  ${plan.problems.join('\n  ')}`, INVALID_INPUT);

    await announceStart(rollback, system, `rollback of phases ${ids} started by ${requestedBy}`, `${input.reason}\nPlan: ${plan.sets.map((s) => `${s.title} (${s.changes.length} changes)`).join('; ')}`);
    await runPlan(rollback, system, plan, (phase) => phase.name.replace(' ', '-'));
    return { plan, snapshot };
  }, 'phase rollback');
  const { blockers, healthAfter, report, preflight } = rollback.board.view;
  return { dryRun: input.dryRun, ...result, blockers, ...(preflight ? { preflight } : {}), healthAfter, report };
}
