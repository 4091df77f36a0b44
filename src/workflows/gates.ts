/**
 * Approval gates: the runbook names the role whose members may approve, how many distinct approvals
 * are needed, whether the requester may approve their own rollback, when to escalate and what to do
 * on timeout. Every approval, rejection and refusal is recorded with who and when.
 */
import { condition, setHandler } from '@temporalio/workflow';
import type { Gate } from '../runbook/schema.ts';
import { notify } from './activities.ts';
import type { Rollback } from './rollback.ts';
import { approveSignal, rejectSignal, type Rejection } from './signals.ts';

export interface GateOutcome {
  passed: boolean;
  why: string;
  approvedBy: string[];
}

/** Why `by` may not act on the pending gate, or null when they may. */
function refusal(rollback: Rollback, by: string): string | null {
  const gate = rollback.status.pendingGate;
  if (!gate) return 'no gate is waiting for approval';
  if (!gate.approvers.includes(by)) return `${by} is not an approver for role ${gate.role} (${gate.approvers.join(', ')})`;
  if (gate.forbidRequester && by === rollback.status.requestedBy) {
    return `${by} requested this rollback and cannot approve it (two-person rule)`;
  }
  return null;
}

export function installGateHandlers(rollback: Rollback): void {
  setHandler(approveSignal, ({ by, comment }) => {
    const gate = rollback.status.pendingGate;
    const refused = refusal(rollback, by) ?? (gate?.approvedBy.includes(by) ? `${by} already approved this gate` : null);
    if (refused || !gate) {
      rollback.record({ kind: 'refused', by, gate: gate?.gate, detail: `approval refused: ${refused}` });
      return;
    }
    gate.approvedBy.push(by);
    rollback.record({ kind: 'approved', by, gate: gate.gate, detail: comment ?? '' });
    rollback.describe(waitingText(rollback));
  });
  setHandler(rejectSignal, ({ by, reason }) => {
    const gate = rollback.status.pendingGate;
    // The two-person rule is about passing a gate; a requester who is an approver may still stop it.
    const refused = gate && !gate.approvers.includes(by) ? refusal(rollback, by) : gate ? null : 'no gate is waiting for approval';
    if (refused || !gate) {
      rollback.record({ kind: 'refused', by, gate: gate?.gate, detail: `rejection refused: ${refused}` });
      return;
    }
    rollback.record({ kind: 'rejected', by, gate: gate.gate, detail: reason });
    rollback.gateRejection ??= { by, reason };
  });
}

function waitingText(rollback: Rollback): string {
  const gate = rollback.status.pendingGate;
  if (!gate) return '';
  const who = gate.approvers.filter((a) => !(gate.forbidRequester && a === rollback.status.requestedBy)).join(', ');
  return `awaiting approval from ${gate.role} (${gate.approvedBy.length} of ${gate.required}) before ${gate.before}; may approve: ${who}`;
}

export async function awaitApproval(rollback: Rollback, name: string, gate: Gate, before: string): Promise<GateOutcome> {
  const runbook = rollback.runbook!;
  const startedMs = Date.now();
  const escalateMs = gate.escalateAfterSeconds !== undefined ? gate.escalateAfterSeconds * 1000 : null;
  rollback.status.pendingGate = {
    gate: name,
    before,
    role: gate.role,
    approvers: runbook.approvers[gate.role] ?? [],
    required: gate.required,
    approvedBy: [],
    forbidRequester: gate.forbidRequester,
    escalateAt: escalateMs !== null ? new Date(startedMs + escalateMs).toISOString() : null,
    deadline: new Date(startedMs + gate.timeoutSeconds * 1000).toISOString(),
    onTimeout: gate.onTimeout,
  };
  rollback.gateRejection = null;
  rollback.setState('awaiting_approval', waitingText(rollback));
  const pending = rollback.status.pendingGate;
  const settled = () => pending.approvedBy.length >= gate.required || rollback.gateRejection !== null || rollback.aborted !== null;

  let done = false;
  if (escalateMs !== null && escalateMs < gate.timeoutSeconds * 1000) {
    done = await condition(settled, escalateMs);
    if (!done) {
      rollback.record({ kind: 'escalated', by: 'runbook', gate: name, detail: `no approval after ${gate.escalateAfterSeconds} s; escalation sent` });
      await notify({
        system: rollback.status.system,
        title: `approval needed: ${rollback.status.workflowType} waits at gate ${name}`,
        text: `${waitingText(rollback)}. Rollback ${rollback.status.workflowId}, requested by ${rollback.status.requestedBy}: ${rollback.status.reason}`,
        severity: 'critical',
      });
    }
  }
  if (!done) done = await condition(settled, Math.max(0, startedMs + gate.timeoutSeconds * 1000 - Date.now()));
  rollback.status.pendingGate = null;
  const approvedBy = [...pending.approvedBy];

  const rejection = rollback.gateRejection as Rejection | null; // set by the reject signal while we waited
  if (rollback.aborted) return { passed: false, why: `aborted by ${rollback.aborted.by}: ${rollback.aborted.reason}`, approvedBy };
  if (rejection) return { passed: false, why: `rejected by ${rejection.by} at gate ${name}: ${rejection.reason}`, approvedBy };
  if (approvedBy.length >= gate.required) return { passed: true, why: `approved by ${approvedBy.join(', ')}`, approvedBy };
  rollback.record({ kind: 'timed_out', by: 'runbook', gate: name, detail: `no approval within ${gate.timeoutSeconds} s: ${gate.onTimeout}` });
  if (gate.onTimeout === 'approve') return { passed: true, why: `gate ${name} timed out; the runbook approves on timeout`, approvedBy };
  return { passed: false, why: `gate ${name} timed out after ${gate.timeoutSeconds} s without ${gate.required} approval(s)`, approvedBy };
}
