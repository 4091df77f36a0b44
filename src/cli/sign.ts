/**
 * Signed requests from the CLI: `--key <key file>` on approve, reject, decide and abort, and
 * `rollback sign`, which prints the signed payload to paste into the UI's Signal or Update dialog (or,
 * without --key, the statement to sign with `ssh-keygen -Y sign -n rollback-runbooks`).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { gateSubject, parseSignalPayload, ROLLBACK_SUBJECT, SIGNING_NAMESPACE, signedStatement, stepSubject, type RollbackStatus, type SignalName, type SignedClaims } from '../contract/index.ts';
import { parsePrivateKey, planHash, signSshsig } from '../providers/ssh-signatures.ts';
import { UsageError } from './args.ts';
import { describe, queryStatus, type Temporal } from './temporal.ts';

export const signUsage = `Usage: rollback sign approve|reject|decide|abort <workflowId> --by <you> [--key <key file>]
                    [--comment "<text>"] [--reason "<why>"] [--action retry|skip|compensate|abort]

Prints the signed payload of a request, to paste into the Temporal UI's Signal or Update dialog. The
statement signed names the workflow, its run, the gate (or failed step), the plan's hash, you and now;
the runbook's approvals.keys must list your public key. --key is a private key file, or a public key
file (~/.ssh/id_ed25519.pub) whose private half ssh-agent holds. Without --key it prints the statement
and the ssh-keygen command to sign it with.`;

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

/** Makes the SSH signature of a statement: with a private key file, or through ssh-agent. */
export interface Signer {
  sign(statement: string): Promise<string>;
}

/**
 * The signer `--key <file>` names, or says plainly why it cannot be used. A private key file signs
 * here. A public key file (`~/.ssh/id_ed25519.pub`) signs through ssh-agent, as `ssh-keygen -Y sign -f
 * <file.pub>` does: the private half never leaves the agent, so a passphrase-protected key or one on
 * a hardware token works too.
 */
export function readKey(file: string, env: Record<string, string | undefined> = process.env): Signer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--key ${file}: ${(err as Error).message}`);
  }
  if (/^ssh-ed25519 \S+/.test(text.trim())) {
    if (!env.SSH_AUTH_SOCK) throw new UsageError(`--key ${file} is a public key, whose private half ssh-agent must hold, but SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add the key, or give the private key file`);
    return { sign: (statement) => signWithAgent(file, statement, env) };
  }
  try {
    const key = parsePrivateKey(text);
    return { sign: async (statement) => signSshsig(key, SIGNING_NAMESPACE, statement) };
  } catch (err) {
    throw new UsageError(`--key ${file}: ${(err as Error).message}`);
  }
}

/** `ssh-keygen -Y sign` of the statement on its standard input, the private key held by ssh-agent. */
function signWithAgent(publicKeyFile: string, statement: string, env: Record<string, string | undefined>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('ssh-keygen', ['-Y', 'sign', '-n', SIGNING_NAMESPACE, '-f', publicKeyFile], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const why = stderr.split('\n').filter((line) => line && !line.startsWith('Signing data on standard input')).join('; ') || err.message;
      reject(new UsageError(`--key ${publicKeyFile}: ssh-agent did not sign: ${why} (is the key added? ssh-add -l lists what the agent holds)`));
    });
    child.stdin?.end(statement);
  });
}

/** The payload of `request` signed by `signer` under `claims`. */
export async function signedPayload(signer: Signer, { claims, statement, payload }: Awaited<ReturnType<typeof statementFor>>): Promise<Record<string, unknown>> {
  return { ...payload, signature: { ...claims, sshsig: await signer.sign(statement) } };
}

/** `request` with a signature by `keyFile` (a private key, or a public key whose private half ssh-agent holds) for the rollback as it stands. */
export async function signRequest(temporal: Temporal, handle: WorkflowHandle, name: SignalName, request: Record<string, unknown>, keyFile: string, env: Record<string, string | undefined> = process.env): Promise<Record<string, unknown>> {
  return signedPayload(readKey(keyFile, env), await statementFor(temporal, handle, name, request));
}
