/** `start --wait`: the rollback's result in words; a dry run's plan as a table. */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Blocker, ChangePlan, ChangeRollbackResult, FullRollbackResult, HealthVerdict } from '../contract/index.ts';
import { table, value } from './format.ts';

function planTable(result: FullRollbackResult): string {
  const { plan, snapshot } = result;
  const { releases, traffic } = snapshot;
  const lines =
    releases
      ? [
          `Now:   ${releases.map((r) => `${r.target} ${r.current?.label ?? '(nothing deployed)'}`).join('; ')}`,
          '',
          `Plan (release rollback) for ${plan.system}:`,
          table(['STEP', 'FROM', 'TO'], plan.steps.map((s) => [s.name, 'target' in s ? s.from.label : '', 'target' in s ? s.to.label : ''])),
          ...('problems' in plan && plan.problems.length > 0 ? ['', 'Cannot roll back:', ...plan.problems.map((p) => `  ${p}`)] : []),
        ]
      : [
          `Now:   weights ${value(traffic?.weights)}; instances ${value(traffic?.instances)}`,
          '',
          `Plan (${plan.mode}) for ${plan.system}:`,
          table(['STEP', 'PHASE', 'FROM', 'TO', 'WHAT'], plan.steps.map((s) => ('phase' in s ? [s.name, s.phase, value(s.from), value(s.to), s.description] : [s.name, '', s.from.label, s.to.label, s.description]))),
        ];
  lines.push(
    '',
    'Gates:',
    ...(plan.gates.length === 0 ? ['  none: the runbook asks for no approval'] : []),
    ...plan.gates.map(
      (g) =>
        `  ${g.gate}: ${g.required} approval(s) from ${g.role} (${g.approvers.join(', ')})` +
        (g.forbidRequester ? '; the requester may not approve' : ''),
    ),
  );
  return lines.join('\n');
}

/** A phase or config rollback's plan: every change with the value found (live) and the value set. */
export function changePlanTable(plan: ChangePlan): string {
  return plan.sets
    .map((set) => {
      const gate = set.gate ? `; gate ${set.gate.gate}: ${set.gate.required} approval(s) from ${set.gate.role} (${set.gate.approvers.join(', ')})` : '';
      const verify = set.verifySeconds === null ? '' : `; then health verified for ${set.verifySeconds} s`;
      const rows = set.changes.map((c) => [c.name, c.from || '-', c.to, c.changes ? '' : '(already so)']);
      return `${set.title}${gate}${verify}\n${table(['STEP', 'NOW', 'AFTER', ''], rows)}`;
    })
    .join('\n\n');
}

/** What a real run would be refused at, each with the command that clears it. */
export function blockerList(blockers: readonly Blocker[]): string {
  return [
    `Blockers: a real run would be refused until ${blockers.length === 1 ? 'this is' : `these ${blockers.length} are`} cleared:`,
    ...blockers.flatMap((b) => [`  - ${b.problem}`, ...(b.fix ? [`    clear it: ${b.fix}`] : [])]),
  ].join('\n');
}

export function healthLine(health: HealthVerdict | null): string {
  if (!health) return 'Health after: not measured';
  const w = health.window;
  const numbers = w ? ` (error rate ${w.errorRatePct.toFixed(1)}%, success ${w.successRatePct.toFixed(1)}%, p95 ${w.p95Ms === null ? "-" : Math.round(w.p95Ms)} ms, ${w.requests} requests)` : '';
  return `Health after: ${health.passed ? 'verified' : `NOT verified: ${health.reasons.join('; ')}`}${numbers}`;
}

/** Waits for the workflow to close; 0 when it completed, 1 when it failed, was aborted or rejected. */
export async function printOutcome(handle: WorkflowHandle, kind: string): Promise<number> {
  let result: unknown;
  try {
    result = await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      console.error(`${kind} ${handle.workflowId} did not complete: ${err.cause?.message ?? err.message}`);
      console.error(`See why: rollback status ${handle.workflowId}`);
      return 1;
    }
    throw err;
  }
  if (kind === 'phaseRollback' || kind === 'configRollback') {
    const changes = result as ChangeRollbackResult;
    console.log(changes.dryRun ? 'Dry run: nothing was changed.' : 'Rollback completed.');
    console.log(changePlanTable(changes.plan));
    if (changes.blockers?.length) console.log(`\n${blockerList(changes.blockers)}`);
    if (!changes.dryRun) console.log(healthLine(changes.healthAfter));
    if (changes.report) console.log(`\n${changes.report}`);
    return 0;
  }
  if (kind !== 'fullRollback') {
    console.log(JSON.stringify(result, null, 2));
    return 0;
  }
  const full = result as FullRollbackResult;
  if (full.dryRun) {
    console.log('Dry run: nothing was changed.');
    console.log(planTable(full));
    return 0;
  }
  console.log('Rollback completed.');
  console.log(healthLine(full.healthAfter));
  if (full.report) console.log(`\n${full.report}`);
  return 0;
}
