/**
 * The git-revert provider's runbook settings: the working clone the worker owns, the remote and the
 * shared branch, who authors the revert commits, the credentials (an SSH command or an HTTPS token,
 * by the variable holding them), a time limit per git command, and how merge commits are reverted.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';

const refName = z
  .string()
  .regex(/^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*\.lock$)(?!.*\/$)[A-Za-z0-9._/-]+$/, 'must be a plain branch name like main or release/1.2');

export const settingsSchema = z.strictObject({
  repoDir: z.string().min(1).describe('the working clone the worker owns (relative to where the worker runs, or absolute); nobody else works in it'),
  remote: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must name a remote configured in the clone, like origin')
    .default('origin')
    .describe('the remote the branch is fetched from and pushed to'),
  branch: refName.describe('the shared branch the revert commits are pushed to, e.g. main'),
  authorName: z.string().min(1).regex(/^[^<>\n]+$/, 'a name without < > or line breaks').describe('author and committer name of the revert commits'),
  authorEmail: z.string().min(1).regex(/^[^<>\s]+$/, 'an address without < > or spaces').describe('author and committer email of the revert commits'),
  sshCommandEnv: envVarName.optional().describe('variable holding the GIT_SSH_COMMAND to use (e.g. ssh -i /keys/deploy -o IdentitiesOnly=yes); never logged'),
  tokenEnv: envVarName.optional().describe('variable holding an HTTPS access token, sent as an Authorization header'),
  tokenUser: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('x-access-token')
    .describe('user name sent with the token (x-access-token for GitHub, oauth2 for GitLab, x-token-auth for Bitbucket)'),
  timeoutSeconds: z.int().positive().default(120).describe('limit for each git command'),
  mainline: z
    .union([z.literal(1), z.literal(2)])
    .optional()
    .describe('parent number of merge commits (git revert -m); without it a merge commit in the range is refused'),
});
export type Settings = z.infer<typeof settingsSchema>;
