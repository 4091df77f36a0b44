/**
 * After a step fails (its activity's bounded retries spent), the rollback waits for a person to
 * decide: retry the step, skip it, compensate (undo completed steps) or abort (stop, leave as is).
 * The requester and every approver of the runbook may decide; the runbook sets a timeout and what
 * happens then. Every decision and refusal is recorded.
 */
import type { DecisionAction } from '../contract/index.ts';
import type { StatusBoard } from './board.ts';
import type { Inbox } from './inbox.ts';
import { stepSubject, type PendingDecision } from '../contract/index.ts';
import { signatureRefusal, signedWith, UNSIGNED, type SigningRule } from './signed.ts';

export interface DecisionPolicy {
  /** Who may decide: the requester and every approver. */
  deciders: string[];
  timeoutSeconds: number;
  onTimeout: 'abort' | 'compensate';
  /** Whether decisions must be signed, and by which keys; unsigned when absent. */
  signing?: SigningRule;
}

/** The actions open after `step` failed: a step later steps depend on cannot be skipped. */
export function actionsFor(step: { skippable?: boolean }): DecisionAction[] {
  return step.skippable === false ? ['retry', 'compensate', 'abort'] : ['retry', 'skip', 'compensate', 'abort'];
}

/** Why `by` may not decide `action` on the pending decision, or null. */
export function decisionRefusal(pending: PendingDecision, by: string, action: DecisionAction): string | null {
  if (!pending.deciders.includes(by)) return `${by} may not decide (${pending.deciders.join(', ')} may)`;
  if (!pending.actions.includes(action)) return `'${action}' is not one of ${pending.actions.join(', ')}`;
  return null;
}

export async function awaitDecision(inbox: Inbox, board: StatusBoard, step: { name: string; skippable?: boolean }, error: string, policy: DecisionPolicy): Promise<DecisionAction> {
  const { timeoutSeconds, onTimeout } = policy;
  const actions = actionsFor(step);
  const openedAt = Date.now();
  const deadline = openedAt + timeoutSeconds * 1000;
  const pending: PendingDecision = {
    step: step.name,
    error,
    actions,
    deciders: policy.deciders,
    deadline: new Date(deadline).toISOString(),
    onTimeout,
    ...(policy.signing?.required && { signed: true }),
  };
  board.setPendingDecision(pending);
  board.setState('awaiting_decision', `${step.name} failed: ${error}. Waiting for a decision (${actions.join(' | ')}); ${onTimeout} in ${timeoutSeconds} s`);
  let decision: { by: string; action: DecisionAction; key?: string } | null = null;
  while (!decision && !inbox.aborted) {
    for (const message of inbox.take()) {
      if (message.at < openedAt || message.kind !== 'decide') {
        inbox.refuseStale(message);
        continue;
      }
      const refused = decisionRefusal(pending, message.by, message.action) ?? signatureRefusal(policy.signing ?? UNSIGNED, stepSubject(step.name), openedAt, message);
      if (refused) {
        board.record({ kind: 'refused', by: message.by, step: step.name, detail: `decision refused: ${refused}` });
        inbox.answer(message, `refused: ${refused}`);
      } else if (decision) {
        inbox.answer(message, `not applied: ${decision.by} already decided ${decision.action}`);
      } else {
        decision = { by: message.by, action: message.action, key: signedWith(message) };
        inbox.answer(message, `decided ${message.action} by ${message.by} on step ${step.name}`);
      }
    }
    if (decision || !(await inbox.wait(deadline))) break;
  }
  board.addDecisionWait(Date.now() - openedAt);
  board.setPendingDecision(null);
  if (inbox.aborted) return 'abort';
  if (!decision) {
    board.record({ kind: 'timed_out', by: 'runbook', step: step.name, detail: `no decision within ${timeoutSeconds} s: ${onTimeout}` });
    return onTimeout;
  }
  board.record({ kind: 'decided', by: decision.by, step: step.name, detail: decision.action, ...(decision.key && { key: decision.key }) });
  return decision.action;
}
