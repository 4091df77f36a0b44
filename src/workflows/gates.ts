/**
 * Approval gates: the runbook names the role whose members may approve, how many distinct approvals
 * are needed, whether the requester may approve their own rollback, when to escalate and what to do
 * on timeout. Every approval, rejection and refusal is recorded with who and when.
 */
import type { PlannedGate } from '../plan/plan.ts';
import type { Gate } from '../runbook/schema.ts';
import type { StatusBoard } from './board.ts';
import type { Inbox, InboxMessage } from './inbox.ts';
import { gateSubject, type PendingGate } from '../contract/index.ts';
import { signatureRefusal, signedWith, UNSIGNED, type SigningRule } from './signed.ts';

export interface GateOutcome {
  passed: boolean;
  why: string;
  approvedBy: string[];
}

export interface GateSpec {
  name: string;
  /** What passing the gate lets happen, in words ("cleanup (canary scaled to 0)"). */
  before: string;
  settings: Gate;
  planned: PlannedGate;
  requestedBy: string;
  /** Whether approvals and rejections must be signed, and by which keys; unsigned when absent. */
  signing?: SigningRule;
  /** Sends the escalation notification. */
  escalate(text: string): Promise<unknown>;
}

function waitingText(gate: PendingGate, requestedBy: string): string {
  const who = gate.approvers.filter((a) => !(gate.forbidRequester && a === requestedBy)).join(', ');
  return `awaiting approval from ${gate.role} (${gate.approvedBy.length} of ${gate.required}) before ${gate.before}; may approve: ${who}`;
}

/** Why `by` may not approve this gate, or null when they may. */
export function approvalRefusal(gate: PendingGate, requestedBy: string, by: string): string | null {
  if (!gate.approvers.includes(by)) return `${by} is not an approver for role ${gate.role} (${gate.approvers.join(', ')})`;
  if (gate.forbidRequester && by === requestedBy) return `${by} requested this rollback and cannot approve it (two-person rule)`;
  if (gate.approvedBy.includes(by)) return `${by} already approved this gate`;
  return null;
}

/** Why `by` may not reject at this gate, or null. Any member of the role may stop at a gate, the requester included. */
export function rejectionRefusal(gate: PendingGate, by: string): string | null {
  return gate.approvers.includes(by) ? null : `${by} is not an approver for role ${gate.role} (${gate.approvers.join(', ')})`;
}

/** Applies one message to the open gate; returns a rejection when the message is one. */
function take(inbox: Inbox, board: StatusBoard, gate: PendingGate, openedAt: number, requestedBy: string, signing: SigningRule, message: InboxMessage): { by: string; reason: string } | null {
  if (message.at < openedAt || message.kind === 'decide') {
    inbox.refuseStale(message);
    return null;
  }
  const { by } = message;
  const unsigned = () => signatureRefusal(signing, gateSubject(gate.gate), openedAt, message);
  const key = signedWith(message);
  const signed = key ? { key } : {};
  if (message.kind === 'approve') {
    const refused = approvalRefusal(gate, requestedBy, by) ?? unsigned();
    if (refused) {
      board.record({ kind: 'refused', by, gate: gate.gate, detail: `approval refused: ${refused}` });
      inbox.answer(message, `refused: ${refused}`);
    } else {
      gate.approvedBy.push(by);
      board.record({ kind: 'approved', by, gate: gate.gate, detail: message.comment ?? '', ...signed });
      inbox.answer(message, `approved by ${by} at gate ${gate.gate} (${gate.approvedBy.length} of ${gate.required})`);
    }
    return null;
  }
  const refused = rejectionRefusal(gate, by) ?? unsigned();
  if (refused) {
    board.record({ kind: 'refused', by, gate: gate.gate, detail: `rejection refused: ${refused}` });
    inbox.answer(message, `refused: ${refused}`);
    return null;
  }
  board.record({ kind: 'rejected', by, gate: gate.gate, detail: message.reason, ...signed });
  inbox.answer(message, `rejected by ${by} at gate ${gate.gate}: the rollback stops here`);
  return { by, reason: message.reason };
}

/** Waits at a gate until it is approved, rejected, aborted or times out; the board shows who may approve. */
export async function awaitApproval(inbox: Inbox, board: StatusBoard, spec: GateSpec): Promise<GateOutcome> {
  const { name, settings: gate, planned, requestedBy } = spec;
  const openedAt = Date.now();
  const deadline = openedAt + gate.timeoutSeconds * 1000;
  let escalateAt = gate.escalateAfterSeconds !== undefined ? openedAt + gate.escalateAfterSeconds * 1000 : null;
  if (escalateAt !== null && escalateAt >= deadline) escalateAt = null;
  const pending: PendingGate = {
    gate: name,
    before: spec.before,
    role: planned.role,
    approvers: planned.approvers,
    required: planned.required,
    approvedBy: [],
    forbidRequester: planned.forbidRequester,
    escalateAt: escalateAt !== null ? new Date(escalateAt).toISOString() : null,
    deadline: new Date(deadline).toISOString(),
    onTimeout: gate.onTimeout,
    ...(spec.signing?.required && { signed: true }),
  };
  board.setPendingGate(pending);
  board.setState('awaiting_approval', waitingText(pending, requestedBy));

  let rejection: { by: string; reason: string } | null = null;
  for (;;) {
    for (const message of inbox.take()) rejection ??= take(inbox, board, pending, openedAt, requestedBy, spec.signing ?? UNSIGNED, message);
    if (rejection || inbox.aborted || pending.approvedBy.length >= gate.required) break;
    board.describe(waitingText(pending, requestedBy));
    if (escalateAt !== null && Date.now() >= escalateAt) {
      escalateAt = null;
      board.record({ kind: 'escalated', by: 'runbook', gate: name, detail: `no approval after ${gate.escalateAfterSeconds} s; escalation sent` });
      await spec.escalate(waitingText(pending, requestedBy));
      continue;
    }
    if (Date.now() >= deadline) break;
    await inbox.wait(escalateAt ?? deadline);
  }
  board.setPendingGate(null);
  const approvedBy = [...pending.approvedBy];

  const aborted = inbox.aborted;
  if (aborted) return { passed: false, why: `aborted by ${aborted.by}: ${aborted.reason}`, approvedBy };
  if (rejection) return { passed: false, why: `rejected by ${rejection.by} at gate ${name}: ${rejection.reason}`, approvedBy };
  if (approvedBy.length >= gate.required) return { passed: true, why: `approved by ${approvedBy.join(', ')}`, approvedBy };
  board.record({ kind: 'timed_out', by: 'runbook', gate: name, detail: `no approval within ${gate.timeoutSeconds} s: ${gate.onTimeout}` });
  if (gate.onTimeout === 'approve') return { passed: true, why: `gate ${name} timed out; the runbook approves on timeout`, approvedBy };
  return { passed: false, why: `gate ${name} timed out after ${gate.timeoutSeconds} s without ${gate.required} approval(s)`, approvedBy };
}
