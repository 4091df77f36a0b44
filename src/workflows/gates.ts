/**
 * Approval gates: the runbook names the role whose members may approve, how many distinct approvals
 * are needed, whether the requester may approve their own rollback, when to escalate and what to do
 * on timeout. Every approval, rejection and refusal is recorded with who and when.
 */
import { plannedGate } from '../runbook/plan.ts';
import type { Gate } from '../runbook/schema.ts';
import { notify } from './activities.ts';
import type { InboxMessage, Rollback } from './rollback.ts';
import type { PendingGate } from './status.ts';

export interface GateOutcome {
  passed: boolean;
  why: string;
  approvedBy: string[];
}

function waitingText(rollback: Rollback, gate: PendingGate): string {
  const who = gate.approvers.filter((a) => !(gate.forbidRequester && a === rollback.status.requestedBy)).join(', ');
  return `awaiting approval from ${gate.role} (${gate.approvedBy.length} of ${gate.required}) before ${gate.before}; may approve: ${who}`;
}

/** Why `by` may not approve this gate, or null when they may. */
function approvalRefusal(rollback: Rollback, gate: PendingGate, by: string): string | null {
  if (!gate.approvers.includes(by)) return `${by} is not an approver for role ${gate.role} (${gate.approvers.join(', ')})`;
  if (gate.forbidRequester && by === rollback.status.requestedBy) return `${by} requested this rollback and cannot approve it (two-person rule)`;
  if (gate.approvedBy.includes(by)) return `${by} already approved this gate`;
  return null;
}

/** Applies one message to the open gate; returns a rejection when the message is one. */
function take(rollback: Rollback, gate: PendingGate, openedAt: number, message: InboxMessage): { by: string; reason: string } | null {
  if (message.at < openedAt || message.kind === 'decide') {
    rollback.refuseStale(message);
    return null;
  }
  const { by } = message;
  if (message.kind === 'approve') {
    const refused = approvalRefusal(rollback, gate, by);
    if (refused) rollback.record({ kind: 'refused', by, gate: gate.gate, detail: `approval refused: ${refused}` });
    else {
      gate.approvedBy.push(by);
      rollback.record({ kind: 'approved', by, gate: gate.gate, detail: message.comment ?? '' });
    }
    return null;
  }
  // Any member of the role may stop at the gate, the requester included: the two-person rule is about passing it.
  if (!gate.approvers.includes(by)) {
    rollback.record({ kind: 'refused', by, gate: gate.gate, detail: `rejection refused: ${by} is not an approver for role ${gate.role} (${gate.approvers.join(', ')})` });
    return null;
  }
  rollback.record({ kind: 'rejected', by, gate: gate.gate, detail: message.reason });
  return { by, reason: message.reason };
}

export async function awaitApproval(rollback: Rollback, name: string, gate: Gate, before: string): Promise<GateOutcome> {
  const openedAt = Date.now();
  const deadline = openedAt + gate.timeoutSeconds * 1000;
  let escalateAt = gate.escalateAfterSeconds !== undefined ? openedAt + gate.escalateAfterSeconds * 1000 : null;
  if (escalateAt !== null && escalateAt >= deadline) escalateAt = null;
  // Rollback.gate calls with its runbook's gate `name`, so this is always there.
  const { role, approvers, required, forbidRequester } = plannedGate(rollback.runbook!, name)!;
  const pending: PendingGate = {
    gate: name,
    before,
    role,
    approvers,
    required,
    approvedBy: [],
    forbidRequester,
    escalateAt: escalateAt !== null ? new Date(escalateAt).toISOString() : null,
    deadline: new Date(deadline).toISOString(),
    onTimeout: gate.onTimeout,
  };
  rollback.status.pendingGate = pending;
  rollback.setState('awaiting_approval', waitingText(rollback, pending));

  let rejection: { by: string; reason: string } | null = null;
  for (;;) {
    for (const message of rollback.inbox.splice(0)) rejection ??= take(rollback, pending, openedAt, message);
    if (rejection || rollback.aborted || pending.approvedBy.length >= gate.required) break;
    rollback.describe(waitingText(rollback, pending));
    if (escalateAt !== null && Date.now() >= escalateAt) {
      escalateAt = null;
      rollback.record({ kind: 'escalated', by: 'runbook', gate: name, detail: `no approval after ${gate.escalateAfterSeconds} s; escalation sent` });
      await notify({
        system: rollback.status.system,
        title: `approval needed: ${rollback.status.workflowType} waits at gate ${name}`,
        text: `${waitingText(rollback, pending)}. Rollback ${rollback.status.workflowId}, requested by ${rollback.status.requestedBy}: ${rollback.status.reason}`,
        severity: 'critical',
      });
      continue;
    }
    if (Date.now() >= deadline) break;
    await rollback.wait(escalateAt ?? deadline);
  }
  rollback.status.pendingGate = null;
  const approvedBy = [...pending.approvedBy];

  const aborted = rollback.aborted;
  if (aborted) return { passed: false, why: `aborted by ${aborted.by}: ${aborted.reason}`, approvedBy };
  if (rejection) return { passed: false, why: `rejected by ${rejection.by} at gate ${name}: ${rejection.reason}`, approvedBy };
  if (approvedBy.length >= gate.required) return { passed: true, why: `approved by ${approvedBy.join(', ')}`, approvedBy };
  rollback.record({ kind: 'timed_out', by: 'runbook', gate: name, detail: `no approval within ${gate.timeoutSeconds} s: ${gate.onTimeout}` });
  if (gate.onTimeout === 'approve') return { passed: true, why: `gate ${name} timed out; the runbook approves on timeout`, approvedBy };
  return { passed: false, why: `gate ${name} timed out after ${gate.timeoutSeconds} s without ${gate.required} approval(s)`, approvedBy };
}
