/**
 * The git-revert provider's reverts (seeds 001 and 004): the range's commits reverted newest first,
 * as new commits, on a detached HEAD (so a conflict or a crash half-way never leaves a partial
 * rollback on the branch); the branch fast-forwarded to the result and pushed. Every revert commit
 * carries the trailers `Rollback-Key: <idempotencyKey>` and `Reverts: <sha>`: a repeated call finds
 * them on the branch and creates nothing; commits made locally whose push failed are pushed again. If
 * someone pushed in between, only our new commits are rebased onto the new remote head and pushed once
 * more. A conflict is taken back with `git revert --abort`, which only undoes the revert in progress.
 *
 * References (git 2.39):
 *   https://git-scm.com/docs/git-revert  (--no-commit, -m/--mainline, --abort, REVERT_HEAD)
 *   https://git-scm.com/docs/git-push    (--porcelain output, "[rejected] (fetch first | non-fast-forward)")
 *   https://git-scm.com/docs/git-commit  (--trailer, since 2.32)
 *   https://git-scm.com/docs/git-log     (%(trailers:key=...,valueonly,separator=...))
 */
import { GIT_RANGE } from '../../contract/index.ts';
import type { ChangeOptions, ProviderContext, RevertsClient } from '../types.ts';
import { exclusive, nameFiles, short, type WorkingClone } from './clone.ts';
import type { GitCli } from './git-cli.ts';
import type { Settings } from './settings.ts';

interface RangeCommit {
  sha: string;
  parents: string[];
  subject: string;
}

/** The reverts client of the clone: one call at a time per clone (`exclusive`); every refusal says nothing was reverted. */
export function gitReverts(cli: GitCli, clone: WorkingClone, settings: Settings, context: ProviderContext): RevertsClient {
  const { repoDir, git, value, resolveCommit, isAncestor, outputOf } = cli;
  const { remote, branch } = settings;
  const { tracking, local, where, openClone, fetchHead, inProgress, mark, unmark, recoverInterrupted, ensureClean, syncBranch, conflictedFiles } = clone;

  /**
   * Commits on HEAD's history carrying `Rollback-Key: key`, newest first, each with the commits it
   * reverts (its `Reverts:` trailers).
   */
  async function keyedCommits(key: string): Promise<{ sha: string; reverts: string[] }[]> {
    const out = await value([
      'log',
      '--fixed-strings',
      `--grep=Rollback-Key: ${key}`,
      '--format=%H%x1f%(trailers:key=Rollback-Key,valueonly,separator=%x1d)%x1f%(trailers:key=Reverts,valueonly,separator=%x1d)%x1e',
      'HEAD',
    ]);
    const split = (list: string | undefined) => (list ?? '').split('\x1d').map((v) => v.trim()).filter(Boolean);
    return out
      .split('\x1e')
      .map((r) => r.trim())
      .filter(Boolean)
      .map((record) => record.split('\x1f'))
      .filter(([, keys]) => split(keys).includes(key))
      .map(([sha, , reverts]) => ({ sha: sha!, reverts: split(reverts) }));
  }

  /** The range's commits, newest first, after checking both ends are known and on the branch. */
  async function listRange(range: string, from: string | undefined, to: string): Promise<RangeCommit[]> {
    const ends: Record<string, string> = {};
    for (const name of from === undefined ? [to] : [from, to]) {
      const sha = await resolveCommit(name);
      if (!sha) throw new Error(`commit '${name}' of range '${range}' is not known in ${repoDir} after fetching ${where}: give commits of ${where}; nothing was reverted`);
      ends[name] = sha;
    }
    const tip = ends[to]!;
    if (!(await isAncestor(tip, tracking))) {
      const named = from === undefined ? '' : ` ('${to}', the end of range '${range}')`;
      throw new Error(`commit ${tip}${named} is not on ${where}: only commits of the branch can be reverted there; nothing was reverted`);
    }
    if (from !== undefined && !(await isAncestor(ends[from]!, tip))) {
      throw new Error(`range '${range}': '${from}' is not an ancestor of '${to}', so the range would take in unrelated history; give A..B with A older than B on ${where}; nothing was reverted`);
    }
    // With a mainline, a merge commit's revert takes back everything it brought in: its side
    // branch's commits are not reverted a second time one by one.
    const walk = from === undefined ? ['--no-walk', tip] : ['--topo-order', ...(settings.mainline ? ['--first-parent'] : []), `${ends[from]}..${tip}`];
    const out = await value(['log', '--format=%H%x1f%P%x1f%s%x1e', ...walk]);
    const commits = out
      .split('\x1e')
      .map((r) => r.trim())
      .filter(Boolean)
      .map((record) => {
        const [sha, parents, subject] = record.split('\x1f');
        return { sha: sha!, parents: (parents ?? '').split(' ').filter(Boolean), subject: subject ?? '' };
      });
    if (commits.length === 0) throw new Error(`range '${range}' holds no commits: nothing to revert`);
    return commits;
  }

  /** Reverts `commits` (newest first) on a detached HEAD, then fast-forwards the branch to the result. */
  async function revertCommits(commits: RangeCommit[], options: ChangeOptions): Promise<void> {
    const actor = options.actor.replace(/[\r\n]+/g, ' ').trim();
    mark(options.idempotencyKey);
    // Detached, so that a conflict or a crash half-way leaves the branch where the remote has it.
    await git(['switch', '--quiet', '--detach', local]);
    for (const commit of commits) {
      const mainline = commit.parents.length > 1 ? ['-m', String(settings.mainline)] : [];
      const run = await git(['revert', '--no-commit', ...mainline, commit.sha], false);
      if (!run.ok) {
        const files = await conflictedFiles();
        // `git revert --abort` takes back only this revert in progress (the index and files it
        // changed), nothing committed before it; then the branch, which this call never moved.
        if (inProgress().some((s) => s.op === 'revert')) await git(['revert', '--abort']);
        await git(['switch', '--quiet', branch]);
        unmark();
        const why = files.length > 0 ? `conflicts with ${where} in ${nameFiles(files)}` : `failed: ${outputOf(run)}`;
        throw new Error(
          `git revert of ${commit.sha} ("${commit.subject}") ${why}; the revert was aborted (git revert --abort) and nothing was committed or pushed, the clone is clean: revert it by hand, or revert the later commits that touch the same lines with it`,
        );
      }
      // git prepared the usual "Revert ..." message (MERGE_MSG); the trailers make it findable again.
      await git([
        'commit',
        '--quiet',
        '--no-edit',
        '--allow-empty', // a change already undone by hand still gets its record, so a repeat finds it
        '--trailer',
        `Rollback-Key: ${options.idempotencyKey}`,
        '--trailer',
        `Reverts: ${commit.sha}`,
        ...(actor ? ['--trailer', `Rollback-Actor: ${actor}`] : []),
      ]);
    }
    const result = await value(['rev-parse', 'HEAD']);
    await git(['switch', '--quiet', branch]);
    await git(['merge', '--ff-only', '--quiet', result]);
    unmark();
  }

  type PushOutcome = { ok: true } | { ok: false; movedOn: boolean; detail: string };

  async function pushOnce(): Promise<PushOutcome> {
    const run = await git(['push', '--porcelain', remote, `${local}:refs/heads/${branch}`], false);
    if (run.ok) return { ok: true };
    const status = run.lines.find((line) => line.startsWith('!\t'));
    const movedOn = status !== undefined && /\[rejected\].*\((fetch first|non-fast-forward)\)/.test(status);
    return { ok: false, movedOn, detail: status ? status.split('\t').slice(2).join(' ') : outputOf(run) };
  }

  /** Pushes the branch if it is ahead of the remote; if the remote moved on, rebases our commits once and pushes again. */
  async function push(key: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const head = await value(['rev-parse', local]);
      if (head === (await value(['rev-parse', tracking]))) return head;
      const outcome = await pushOnce();
      if (outcome.ok) {
        // git push has moved our remote-tracking ref along with the remote branch.
        context.logger.info({ repoDir, remote, branch, head }, 'pushed the revert commits');
        return head;
      }
      if (!outcome.movedOn) {
        throw new Error(
          `git push ${remote} ${branch} from ${repoDir} failed: ${outcome.detail}; the revert commits are committed on local branch ${branch} there: a retry with the same idempotency key pushes them without reverting again`,
        );
      }
      if (attempt > 1) {
        throw new Error(
          `git push ${remote} ${branch} from ${repoDir} was rejected twice because ${where} kept moving on (${outcome.detail}); the revert commits are on local branch ${branch} there: retry with the same idempotency key`,
        );
      }
      context.logger.info({ repoDir, remote, branch }, `${where} moved on while reverting; fetching and rebasing the revert commits onto it`);
      await fetchHead();
      await syncBranch(key);
    }
  }

  /** Safe to retry: commits already reverted under this key are found by their trailers and not reverted again; unpushed ones are pushed. */
  async function revert(range: string, options: ChangeOptions) {
    const match = GIT_RANGE.exec(range);
    if (!match) {
      throw new Error(`range '${range}' is not a commit or an A..B range of commits (names of letters, digits and . _ / ~ ^ - only); nothing was reverted`);
    }
    const key = options.idempotencyKey;
    if (!key.trim() || /[\r\n]/.test(key)) throw new Error('the idempotency key must be one non-empty line: it is written into the revert commits');
    const [from, to] = match[2] === undefined ? [undefined, match[1]!] : [match[1]!, match[2]];
    return exclusive(repoDir, async () => {
      await openClone();
      await fetchHead();
      await recoverInterrupted();
      await ensureClean();
      await syncBranch(key);
      const commits = await listRange(range, from, to);
      const keyed = await keyedCommits(key);
      const done = new Set(keyed.flatMap((c) => c.reverts));
      const ourCommits = new Set(keyed.map((c) => c.sha));
      const own = commits.filter((c) => ourCommits.has(c.sha));
      if (own.length > 0) {
        throw new Error(
          `range '${range}' now takes in this rollback's own revert commit(s) (${own.map((c) => short(c.sha)).join(', ')}): it must name fixed commits (shas or tags), not a moving branch; nothing more was reverted`,
        );
      }
      const todo = commits.filter((c) => !done.has(c.sha));
      const merge = todo.find((c) => c.parents.length > 1);
      if (merge && settings.mainline === undefined) {
        throw new Error(
          `commit ${merge.sha} ("${merge.subject}") in range '${range}' is a merge commit: set the provider's mainline setting (1 to keep the branch it was merged into) to revert it; nothing was reverted`,
        );
      }
      if (todo.length > 0) {
        context.logger.info({ repoDir, range, commits: todo.length, actor: options.actor }, `reverting ${todo.length} commit(s) on ${where}`);
        await revertCommits(todo, options);
      } else {
        context.logger.info({ repoDir, range }, 'every commit of the range is already reverted under this key; nothing new to revert');
      }
      const head = await push(key);
      // Read again: a rebase onto a remote that moved on gave our commits new shas.
      const inRange = new Set(commits.map((c) => c.sha));
      const created = (await keyedCommits(key)).filter((c) => c.reverts.some((sha) => inRange.has(sha))).map((c) => c.sha);
      return { head, reverted: commits.map((c) => c.sha), created };
    });
  }

  return {
    async readHead() {
      return exclusive(repoDir, async () => {
        await openClone();
        return { branch, head: await fetchHead() };
      });
    },
    revert,
  };
}
