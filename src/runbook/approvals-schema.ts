/** The runbook's `approvals:` section: whether requests must be signed, and each person's public keys. */
import { z } from 'zod';

/** An OpenSSH ed25519 public key line, as in authorized_keys or `~/.ssh/id_ed25519.pub`. */
export const sshEd25519Key = z
  .string()
  .trim()
  .regex(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}=?(\s.*)?$/, 'must be an OpenSSH ed25519 public key line ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5... you@host")');

export const approvalsSchema = z
  .strictObject({
    signed: z
      .enum(['required', 'optional'])
      .default('optional')
      .describe('required: every approve, reject, decide and abort must carry an SSH signature by a key listed for its sender; optional: a signed request is still checked, an unsigned one counts as before'),
    keys: z
      .record(z.string().min(1), z.array(sshEd25519Key).min(1))
      .default({})
      .describe('OpenSSH ed25519 public keys by person (an approver listed under approvers): the keys their signatures may be made with'),
  })
  .describe('signed approvals: requests signed with `rollback approve|reject|decide|abort --key <file>`, `rollback sign`, or `ssh-keygen -Y sign -n rollback-runbooks`');

export type Approvals = z.infer<typeof approvalsSchema>;
