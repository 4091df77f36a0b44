/**
 * Signed requests from the CLI: `--key <private key file>` on approve, reject, decide and abort, and
 * `rollback sign`, which prints the signed payload to paste into the UI's Signal or Update dialog (or,
 * without --key, the statement to sign with `ssh-keygen -Y sign -n rollback-runbooks`).
 */
import { readFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { gateSubject, parseSignalPayload, ROLLBACK_SUBJECT, SIGNING_NAMESPACE, signedStatement, stepSubject, type RollbackStatus, type SignalName, type SignedClaims } from '../contract/index.ts';
import { parsePrivateKey, planHash, signSshsig } from '../providers/ssh-signatures.ts';
import { UsageError } from './args.ts';
import { describe, queryStatus, type Temporal } from './temporal.ts';

export const signUsage = `Usage: rollback sign approve|reject|decide|abort <workflowId> --by <you> [--key <private key file>]
                    [--comment "<text>"] [--reason "<why>"] [--action retry|skip|compensate|abort]

Prints the signed payload of a request, to paste into the Temporal UI's Signal or Update dialog. The
statement signed names the workflow, its run, the gate (or failed step), the plan's hash, you and now;
the runbook's approvals.keys must list your public key. Without --key it prints the statement and the
ssh-keygen command to sign it with (ssh-agent and passphrase-protected keys work there).`;

/** What a request is signed for at this moment: the open gate, the failed step, or the rollback. */
function subjectOf(name: SignalName, status: RollbackStatus): string {
  if (name === 'abort') return ROLLBACK_SUBJECT;
  if (name === 'decide') {
    if (!status.pendingDecision) throw new UsageError(`nothing to sign: ${status.workflowId} is not waiting for a decision (${status.state})`);
    return stepSubject(status.pendingDecision.step);
  }
  if (!status.pendingGate) throw new UsageError(`nothing to sign: ${status.workflowId} is not waiting at a gate (${status.state})`);
  return gateSubject(status.pendingGate.gate);
}

/** The claims and statement of `request` for the rollback as it stands. */
export async function statementFor(temporal: Temporal, handle: WorkflowHandle, name: SignalName, request: Record<string, unknown>) {
  const [{ runId }, status] = await Promise.all([describe(temporal, handle.workflowId), queryStatus(temporal, handle)]);
  const claims: Omit<SignedClaims, 'sshsig'> = { workflowId: handle.workflowId, runId, subject: subjectOf(name, status), plan: planHash(status.plan), at: new Date().toISOString() };
  // Signed as the workflow will read it (trimmed, as its parser leaves it).
  const parsed = parseSignalPayload(name, request);
  if (!parsed.ok) throw new UsageError(parsed.why);
  return { claims, statement: signedStatement({ request: name, ...parsed.payload }, claims), payload: parsed.payload as Record<string, unknown> };
}

/** Reads and parses a private key file, or says plainly why it cannot be used. */
export function readKey(file: string) {
  try {
    return parsePrivateKey(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--key ${file}: ${(err as Error).message}`);
  }
}

/** The payload of `request` signed by `key` under `claims`. */
export function signedPayload(key: ReturnType<typeof readKey>, { claims, statement, payload }: Awaited<ReturnType<typeof statementFor>>): Record<string, unknown> {
  return { ...payload, signature: { ...claims, sshsig: signSshsig(key, SIGNING_NAMESPACE, statement) } };
}

/** `request` with a signature by `keyFile` for the rollback as it stands. */
export async function signRequest(temporal: Temporal, handle: WorkflowHandle, name: SignalName, request: Record<string, unknown>, keyFile: string): Promise<Record<string, unknown>> {
  const key = readKey(keyFile);
  return signedPayload(key, await statementFor(temporal, handle, name, request));
}
