/**
 * Signed requests at gates, decisions and aborts (src/contract/signing.ts): the signature is checked
 * by a local activity as the request arrives (node:crypto has no place in workflow code); whether it
 * counts is judged here, deterministically, when a gate or decision takes it.
 */
import { proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import { signedStatement, type SignalName, type SignatureVerdict, type SignedClaims } from '../contract/index.ts';
import type { RollbackActivities } from '../activities/index.ts';

/** What the runbook asks of signatures where a request is judged. */
export interface SigningRule {
  required: boolean;
  /** Public key lines by person (runbook `approvals.keys`). */
  keys: Readonly<Record<string, readonly string[]>>;
}

export const UNSIGNED: SigningRule = { required: false, keys: {} };

/** A request as filed: what it says, its signature if any, and what checking the signature found. */
export interface SignedPart {
  by: string;
  signature?: SignedClaims;
  verdict?: SignatureVerdict;
}

const { verifySignedRequest } = proxyLocalActivities<RollbackActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
});

/** Checks a signed request's signature against the statement it claims; plain requests are left alone. */
export async function checkSignature(request: SignalName, payload: { by: string; comment?: string; reason?: string; action?: string; signature?: SignedClaims }, plan: unknown): Promise<SignatureVerdict | undefined> {
  const claims = payload.signature;
  if (!claims) return undefined;
  const statement = signedStatement({ request, ...payload }, claims);
  return verifySignedRequest({ statement, sshsig: claims.sshsig, plan });
}

/** The refusal of an unsigned request where the runbook requires a signature. */
export const unsignedRefusal = (subject: string) => `a signed request is required at ${subject}; sign it with --key <private key file> (or paste the payload of \`rollback sign\`)`;

const keyOf = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ');

/**
 * Why a request may not count under `rule` at `subject` (a gate opened at `openedAt`), or null. Names
 * the reason: unsigned where required, a signature that does not verify (a field changed after
 * signing), one made for another workflow, run, gate or plan, or before the gate opened (replayed),
 * or by a key not listed for the person.
 */
export function signatureRefusal(rule: SigningRule, subject: string, openedAt: number, request: SignedPart): string | null {
  const { by, signature: claims, verdict } = request;
  if (!claims) return rule.required ? unsignedRefusal(subject) : null;
  if (!verdict) return 'the signature was not checked';
  if (!verdict.ok) return `signature refused: ${verdict.why}`;
  const { workflowId, runId } = workflowInfo();
  if (claims.workflowId !== workflowId) return `signature refused: it was made for workflow ${claims.workflowId}, not ${workflowId} (a replayed signature)`;
  if (claims.runId !== runId) return `signature refused: it was made for run ${claims.runId}, not this run ${runId} (a replayed signature)`;
  if (claims.subject !== subject) return `signature refused: it was made for ${claims.subject}, not ${subject} (a replayed signature)`;
  if (claims.plan !== verdict.planHash) return `signature refused: it was made for plan ${claims.plan}, not this rollback's plan ${verdict.planHash} (a replayed signature)`;
  if (Date.parse(claims.at) < openedAt) return `signature refused: it was made at ${claims.at}, before ${subject} opened at ${new Date(openedAt).toISOString()} (a replayed signature)`;
  const listed = (rule.keys[by] ?? []).map(keyOf);
  if (!listed.includes(verdict.key)) return `signature refused: key ${verdict.fingerprint} is not listed for ${by}${listed.length ? '' : ' (the runbook lists no keys for them)'}`;
  return null;
}

/** The fingerprint of the key a request counted under, for the record; undefined when unsigned. */
export const signedWith = (request: SignedPart): string | undefined => (request.verdict?.ok ? request.verdict.fingerprint : undefined);
