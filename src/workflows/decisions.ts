/**
 * After a step fails (its activity's bounded retries spent), the rollback waits for a person to
 * decide: retry the step, skip it, compensate (undo completed steps) or abort (stop, leave as is).
 * The requester and every approver of the runbook may decide; the runbook sets a timeout and what
 * happens then. Every decision and refusal is recorded.
 */
import type { Rollback } from './rollback.ts';
import type { DecisionAction } from './signals.ts';

export async function awaitDecision(rollback: Rollback, spec: { name: string; skippable?: boolean }, error: string): Promise<DecisionAction> {
  const runbook = rollback.runbook;
  const timeoutSeconds = runbook?.decisions.timeoutSeconds ?? 1800;
  const onTimeout = runbook?.decisions.onTimeout ?? 'abort';
  const actions: DecisionAction[] = spec.skippable === false ? ['retry', 'compensate', 'abort'] : ['retry', 'skip', 'compensate', 'abort'];
  const openedAt = Date.now();
  const deadline = openedAt + timeoutSeconds * 1000;
  const pending = {
    step: spec.name,
    error,
    actions,
    deciders: rollback.operators(),
    deadline: new Date(deadline).toISOString(),
    onTimeout,
  };
  rollback.status.pendingDecision = pending;
  rollback.setState('awaiting_decision', `${spec.name} failed: ${error}. Waiting for a decision (${actions.join(' | ')}); ${onTimeout} in ${timeoutSeconds} s`);
  let decision: { by: string; action: DecisionAction } | null = null;
  while (!decision && !rollback.aborted) {
    for (const message of rollback.inbox.splice(0)) {
      if (message.at < openedAt || message.kind !== 'decide') {
        rollback.refuseStale(message);
      } else if (!pending.deciders.includes(message.by)) {
        rollback.record({ kind: 'refused', by: message.by, step: spec.name, detail: `decision refused: ${message.by} may not decide (${pending.deciders.join(', ')} may)` });
      } else if (!actions.includes(message.action)) {
        rollback.record({ kind: 'refused', by: message.by, step: spec.name, detail: `decision refused: '${message.action}' is not one of ${actions.join(', ')}` });
      } else {
        decision ??= message;
      }
    }
    if (decision || !(await rollback.wait(deadline))) break;
  }
  rollback.status.decisionWaitMs += Date.now() - openedAt;
  rollback.status.pendingDecision = null;
  if (rollback.aborted) return 'abort';
  if (!decision) {
    rollback.record({ kind: 'timed_out', by: 'runbook', step: spec.name, detail: `no decision within ${timeoutSeconds} s: ${onTimeout}` });
    return onTimeout;
  }
  rollback.record({ kind: 'decided', by: decision.by, step: spec.name, detail: decision.action });
  return decision.action;
}
