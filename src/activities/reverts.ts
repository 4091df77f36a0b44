/**
 * Code rolled back with git (seeds 001 and 004): the commits of a range reverted as new commits on the
 * branch and pushed, never a reset or a force-push. Compensation reverts those revert commits, again
 * as new commits, so the branch's history only grows and says what happened.
 */
import type { ActivityDeps } from './deps.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';

export interface RevertInput {
  system: string;
  provider: string;
  range: string;
  idempotencyKey: string;
  actor: string;
}

export const createRevertActivities = (deps: ActivityDeps) => {
  const client = (system: string, provider: string) => deps.clients.get('reverts', providerRef(runbookFor(deps, system), provider));
  return {
    /** Reverts `range` and pushes. Safe to retry: the provider finds its commits by the idempotency key and makes none twice. */
    async revertCommits(input: RevertInput) {
      return withHeartbeats(client(input.system, input.provider).revert(input.range, input));
    },

    /**
     * Undoes revertCommits: asks for the forward revert again under its own key (which finds its
     * commits and makes none) to learn which commits it made, then reverts those. Safe to retry: the
     * undo's key finds its own commits the same way.
     */
    async undoRevert(input: RevertInput & { forwardKey: string }) {
      const reverts = client(input.system, input.provider);
      const forward = await withHeartbeats(reverts.revert(input.range, { idempotencyKey: input.forwardKey, actor: input.actor }));
      if (forward.created.length === 0) return { head: forward.head, reverted: [], created: [] };
      // `created` is newest first: from the parent of the oldest revert commit to the newest.
      const made = `${forward.created.at(-1)}~1..${forward.created[0]}`;
      return withHeartbeats(reverts.revert(made, input));
    },
  };
};
