/** Checks signed requests (src/contract/signing.ts) for workflows, as a local activity. */
import { SIGNING_NAMESPACE, type SignatureVerdict } from '../contract/index.ts';
import { planHash, verifySshsig } from '../providers/ssh-signatures.ts';

export interface VerifySignedRequestInput {
  /** The statement the workflow rebuilt from the request and what it claims. */
  statement: string;
  sshsig: string;
  /** The plan in status now: its hash is what a signature must name. */
  plan: unknown;
}

export const createSignatureActivities = () => ({
  /**
   * Whether `sshsig` is a signature over `statement` in the rollback-runbooks namespace, by which key,
   * and the hash of the plan. Never throws: a bad signature comes back with why.
   * Safe to retry: it reads nothing but its input, so it answers the same every time.
   */
  async verifySignedRequest({ statement, sshsig, plan }: VerifySignedRequestInput): Promise<SignatureVerdict> {
    return { ...verifySshsig(sshsig, SIGNING_NAMESPACE, statement), planHash: planHash(plan) };
  },
});
