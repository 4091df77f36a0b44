/**
 * `git-revert: <range>`: commits reverted as new commits on the branch and pushed (seeds 001 and 004),
 * never a reset or a force-push. The branch head is read into the snapshot; compensation reverts the
 * revert commits (found again by the forward step's key), again as new commits, so the history only grows.
 */
import { z } from 'zod';
import { GIT_RANGE } from '../contract/index.ts';
import { findValue, lazily, providerChange, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

const schema = lazily(() =>
  z.strictObject({
    'git-revert': z
      .string()
      .regex(GIT_RANGE, 'a commit or a range A..B (shas, branch or tag names)')
      .describe('commits to revert as new commits on the branch (A..B: those after A up to B), pushed; never a reset or a force-push'),
    provider: providerField(),
  }),
);
export type GitRevertAction = z.output<ReturnType<typeof schema>>;

export interface GitRevertChange {
  op: 'revert' | 'undo';
  provider: string;
  range: string;
}

type Reverted = { head: string; reverted: string[]; created: string[] };

export interface GitRevertActivities {
  revertCommits(input: ProviderChange & { range: string }): Promise<Reverted>;
  undoRevert(input: ProviderChange & { range: string; forwardKey: string }): Promise<Reverted>;
}

export const gitRevert: ActionKindModule<'git-revert', GitRevertAction, GitRevertChange, GitRevertActivities> = {
  kind: 'git-revert',
  schema,
  capability: 'reverts',
  repeat: { safe: true, why: 'the provider finds its commits by the idempotency key (a Rollback-Key trailer) and makes none twice' },
  describe: (action) => `git-revert ${action['git-revert']}`,

  async capture(action, ctx) {
    if (findValue(ctx.values, 'git-head', (v) => v.provider === action.provider)) return; // read once
    const { branch, head } = await ctx.client('reverts', action.provider).readHead();
    ctx.values.push({ kind: 'git-head', provider: action.provider, branch, head });
  },

  plan(action, ctx) {
    const { provider } = action;
    const range = action['git-revert'];
    const head = findValue(ctx.live, 'git-head', (v) => v.provider === provider);
    if (!head) {
      ctx.unread(`the branch of ${provider} was not read from ${provider}`);
      return [];
    }
    return [
      {
        name: ctx.named(`git revert ${range}`),
        phase: ctx.phase,
        kind: 'git-revert',
        target: `git ${head.branch} (${provider})`,
        from: `head ${head.head.slice(0, 12)}`,
        to: `${range} reverted as new commits, pushed`,
        changes: true,
        change: { op: 'revert', provider, range },
        // Reverts the commits the forward revert made (found again by its idempotency key): new commits again.
        undo: { op: 'undo', provider, range },
      },
    ];
  },

  async carryOut(change, ctx) {
    const request = { ...providerChange(ctx, change.provider), range: change.range };
    if (change.op === 'undo') {
      const result = await ctx.activities(600).undoRevert({ ...request, forwardKey: ctx.forwardKey });
      ctx.note(`- git: undo: the revert of ${change.range} reverted by ${result.created.length} new commit(s), pushed; head now ${result.head.slice(0, 12)}`);
      return result;
    }
    const result = await ctx.activities(600).revertCommits(request);
    ctx.note(`- git: reverted ${result.reverted.length} commit(s) of ${change.range} as ${result.created.length} new commit(s), pushed; head now ${result.head.slice(0, 12)}`);
    return result;
  },
};
