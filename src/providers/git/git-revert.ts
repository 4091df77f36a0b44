/**
 * Rolls code back the way seeds 001 and 004 say to on a shared branch: `git revert` of the bad
 * commits as new commits, pushed on top of the branch. History is only ever appended to: no
 * `git reset --hard`, no `--force` push (seed 001's warning), no rewriting of anyone's commits.
 *
 * The provider in files:
 *   settings.ts  the runbook settings
 *   git-cli.ts   git run in the clone: argument vectors through the runner, its environment, credentials
 *   clone.ts     the working clone: fetched, clean, on the branch; half-done work of ours taken back
 *   revert.ts    the capability: revert commits with their trailers, and the push
 */
import type { ProviderContext, ProviderDefinition } from '../types.ts';
import { workingClone } from './clone.ts';
import { gitCli } from './git-cli.ts';
import { gitReverts } from './revert.ts';
import { settingsSchema, type Settings } from './settings.ts';

function create(settings: Settings, context: ProviderContext) {
  const cli = gitCli(settings, context);
  return { reverts: gitReverts(cli, workingClone(cli, settings, context), settings, context) };
}

export const gitRevert: ProviderDefinition<'reverts', Settings> = {
  id: 'git-revert',
  description: 'rolls code back with git revert commits pushed on top of a shared branch (never reset, never force-push); a repeat with the same key adds nothing',
  capabilities: ['reverts'],
  settingsSchema,
  example: { repoDir: './deploy-clone', remote: 'origin', branch: 'main', authorName: 'rollback-bot', authorEmail: 'rollback-bot@example.com', tokenEnv: 'GIT_PUSH_TOKEN' },
  create,
};
