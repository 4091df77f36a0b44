/** `start --wait`: the rollback's result in words; a dry run's plan as a table. */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { FullRollbackResult } from '../../src/workflows/full-rollback.ts';
import type { HealthVerdict } from '../../src/contract/index.ts';
import { table, value } from './format.ts';

function planTable(result: FullRollbackResult): string {
  const { plan, snapshot } = result;
  const lines = [
    `Now:   weights ${value(snapshot.traffic.weights)}; instances ${value(snapshot.traffic.instances)}`,
    '',
    `Plan (${plan.mode}) for ${plan.system}:`,
    table(
      ['STEP', 'PHASE', 'FROM', 'TO', 'WHAT'],
      plan.steps.map((s) => [s.name, s.phase, value(s.from), value(s.to), s.description]),
    ),
    '',
    'Gates:',
    ...(plan.gates.length === 0 ? ['  none: the runbook asks for no approval'] : []),
    ...plan.gates.map(
      (g) =>
        `  ${g.gate}: ${g.required} approval(s) from ${g.role} (${g.approvers.join(', ')})` +
        (g.forbidRequester ? '; the requester may not approve' : ''),
    ),
  ];
  return lines.join('\n');
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
