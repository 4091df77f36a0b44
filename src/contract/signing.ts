/**
 * Signed requests (issue 24): an approve, reject, decide or abort may carry an OpenSSH signature
 * (`ssh-keygen -Y sign -n rollback-runbooks`) over a canonical statement of what it asks, where and
 * by whom. The CLI and a person with ssh-keygen build the same statement; the workflow rebuilds it
 * from the request and checks it belongs to this workflow, run, gate (or step) and plan.
 */
import { z } from 'zod';
import { oncePerWorker } from './schema-cache.ts';
import type { SignalName } from './names.ts';

/** The sshsig namespace every request is signed in: a signature made for anything else never counts. */
export const SIGNING_NAMESPACE = 'rollback-runbooks';

/** What a signed request says it was signed for; all of it is inside the signed statement. */
export const signedClaims = z.lazy(oncePerWorker('signing.signedClaims', () =>
  z.strictObject({
    workflowId: z.string().min(1).max(400).describe('the workflow ID the request was signed for'),
    runId: z.string().min(1).max(100).describe('the run ID it was signed for'),
    subject: z.string().min(1).max(300).describe('gate <name>, step <name> (a decision) or rollback (an abort)'),
    plan: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>').describe("sha256 of the canonical JSON of the status's plan"),
    at: z.iso.datetime({ offset: true }).describe('when it was signed'),
    sshsig: z.string().min(1).max(4000).describe('the armored SSH signature (ssh-keygen -Y sign -n rollback-runbooks)'),
  }),
));
export type SignedClaims = z.infer<typeof signedClaims>;

/** Canonical JSON: keys sorted, no spaces, undefined dropped; what the plan's hash is taken of. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The subject a request answers: the gate for approve and reject, the failed step for decide, the rollback for abort. */
export const gateSubject = (gate: string) => `gate ${gate}`;
export const stepSubject = (step: string) => `step ${step}`;
export const ROLLBACK_SUBJECT = 'rollback';

/** The request's own words that the signature covers: comment, reason or action. */
export interface SignedRequest {
  request: SignalName;
  by: string;
  comment?: string;
  reason?: string;
  action?: string;
}

/**
 * The statement signed, one `field: value` a line, LF-terminated. Sign it with
 * `ssh-keygen -Y sign -f <key> -n rollback-runbooks statement.txt`.
 */
export function signedStatement(request: SignedRequest, claims: Omit<SignedClaims, 'sshsig'>): string {
  const words = request.request === 'approve' ? `comment: ${request.comment ?? ''}` : request.request === 'decide' ? `action: ${request.action ?? ''}` : `reason: ${request.reason ?? ''}`;
  const lines = [
    'rollback-runbooks signed request v1',
    `request: ${request.request}`,
    `workflow: ${claims.workflowId}`,
    `run: ${claims.runId}`,
    `subject: ${claims.subject}`,
    `plan: ${claims.plan}`,
    `by: ${request.by}`,
    `at: ${claims.at}`,
    words,
  ];
  return `${lines.map((l) => l.replace(/[\r\n]/g, ' ')).join('\n')}\n`;
}

/** What verification of a signature found (the verifySignedRequest local activity's answer). */
export type SignatureVerdict = { ok: true; key: string; fingerprint: string; planHash: string } | { ok: false; why: string; planHash: string };
