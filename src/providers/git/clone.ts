/**
 * The working clone the git-revert provider owns (`repoDir`), kept fit for a revert: fetched, clean,
 * and on the shared branch at the remote head (fast-forward only). Nothing here discards a person's
 * work: uncommitted changes and a git operation started by someone else are refused, never undone; a
 * local branch that diverged from the remote is refused, never reset. What this provider left half
 * done (a worker killed mid-revert) carries its marker and only that is taken back, with
 * `git revert --abort` / `git rebase --abort`. One call at a time per clone.
 *
 * References (git 2.39):
 *   https://git-scm.com/docs/git-fetch   (refspecs, remote-tracking branches)
 *   https://git-scm.com/docs/git-merge   (--ff-only)
 *   https://git-scm.com/docs/git-rebase  (--empty, --abort)
 *   https://git-scm.com/docs/git-status  (--porcelain=v1 -z)
 */
import { existsSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProviderContext } from '../types.ts';
import type { GitCli } from './git-cli.ts';
import type { Settings } from './settings.ts';

/** Our own half-done work, so that a retry after a crash may undo it (and only it). */
const MARKER = 'rollback-runbooks-revert';

/** Files named in errors: enough to act on, not a wall of text. */
export function nameFiles(files: string[]): string {
  return files.length > 10 ? `${files.slice(0, 10).join(', ')} and ${files.length - 10} more` : files.join(', ');
}

/** A commit as errors name it. */
export function short(sha: string): string {
  return sha.slice(0, 12);
}

const cloneQueues = new Map<string, Promise<unknown>>();

/** Runs `work` when the calls queued before it on `dir` are done: two reverts in the same working tree would trample each other. */
export function exclusive<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const previous = cloneQueues.get(dir) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  const settled = next.catch(() => undefined);
  cloneQueues.set(dir, settled);
  void settled.then(() => {
    if (cloneQueues.get(dir) === settled) cloneQueues.delete(dir);
  });
  return next;
}

export type WorkingClone = ReturnType<typeof workingClone>;

/** The working clone `cli` runs git in. Creating it touches nothing; `openClone` checks it exists, before anything else is done. */
export function workingClone(cli: GitCli, settings: Settings, context: ProviderContext) {
  const { repoDir, git, value, resolveCommit, isAncestor, outputOf } = cli;
  const { remote, branch } = settings;
  const tracking = `refs/remotes/${remote}/${branch}`;
  const local = `refs/heads/${branch}`;
  const where = `${remote}/${branch}`;

  let gitDir = '';

  /** The clone exists and is a repository of its own: never let git walk up into a parent repository. */
  async function openClone(): Promise<void> {
    if (!existsSync(repoDir) || !statSync(repoDir).isDirectory()) {
      throw new Error(`the working clone ${repoDir} (repoDir) does not exist: clone ${where} there first (git clone <url> ${repoDir})`);
    }
    const top = await git(['rev-parse', '--show-toplevel'], false);
    if (!top.ok || realpathSync(top.stdout.trim()) !== realpathSync(repoDir)) {
      throw new Error(`${repoDir} (repoDir) is not the top of a git working clone: clone ${where} there first`);
    }
    gitDir = await value(['rev-parse', '--absolute-git-dir']);
  }

  /** Fetches the branch into its remote-tracking ref and returns the remote's head. */
  async function fetchHead(): Promise<string> {
    // `+` only on our remote-tracking ref, as git's default refspec has it: the local branch is never forced.
    const run = await git(['fetch', '--no-tags', remote, `+refs/heads/${branch}:${tracking}`], false);
    if (!run.ok) throw new Error(`git fetch ${remote} ${branch} in ${repoDir} failed (exit ${run.exitCode}): ${outputOf(run)}`);
    return value(['rev-parse', '--verify', `${tracking}^{commit}`]);
  }

  const inProgress = (): { op: string; path: string }[] =>
    [
      { op: 'revert', path: 'REVERT_HEAD' },
      { op: 'cherry-pick', path: 'CHERRY_PICK_HEAD' },
      { op: 'merge', path: 'MERGE_HEAD' },
      { op: 'rebase', path: 'rebase-merge' },
      { op: 'rebase', path: 'rebase-apply' },
    ].filter((state) => existsSync(join(gitDir, state.path)));

  const markerPath = () => join(gitDir, MARKER);
  const mark = (key: string) => writeFileSync(markerPath(), `${JSON.stringify({ key, pid: process.pid, at: new Date().toISOString() })}\n`);
  const unmark = () => {
    if (existsSync(markerPath())) unlinkSync(markerPath());
  };

  /**
   * A previous call died half-way (worker killed): its marker is there. What it left in progress is
   * ours and is undone with `git revert --abort` / `git rebase --abort`, which only take back that
   * operation (its commits are redone); the branch is switched back to. Anything in progress without
   * our marker is a person's and is left alone (refused below).
   */
  async function recoverInterrupted(): Promise<void> {
    if (!existsSync(markerPath())) return;
    for (const { op } of inProgress()) {
      context.logger.warn({ repoDir, op }, 'an earlier rollback call was interrupted; aborting its unfinished git operation');
      if (op === 'revert') await git(['revert', '--abort']);
      if (op === 'rebase') await git(['rebase', '--abort']);
    }
    if ((await cleanStatus()).length > 0) return; // not only ours after all: refused below, marker kept
    const head = await git(['symbolic-ref', '--quiet', 'HEAD'], false);
    if (!head.ok) await git(['switch', '--quiet', branch]);
    unmark();
  }

  /** Paths with changes not committed (tracked or untracked, not ignored). */
  async function cleanStatus(): Promise<string[]> {
    const out = (await git(['-c', 'core.quotePath=false', 'status', '--porcelain=v1', '-z', '--untracked-files=all'])).stdout;
    const entries = out.split('\0');
    const files: string[] = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.length < 4) continue;
      files.push(entry.slice(3));
      if (entry[0] === 'R' || entry[0] === 'C') i++; // the rename's source follows
    }
    return files;
  }

  async function ensureClean(): Promise<void> {
    const pending = inProgress();
    if (pending.length > 0) {
      throw new Error(
        `a git ${pending[0]!.op} is in progress in the working clone ${repoDir} (not started by this provider); nothing was reverted and it was left as it is: finish or abort it there (git ${pending[0]!.op} --continue or --abort), then retry`,
      );
    }
    const files = await cleanStatus();
    if (files.length > 0) {
      throw new Error(
        `the working clone ${repoDir} has uncommitted changes (${nameFiles(files)}); nothing was reverted and they were left as they are: commit, move or remove them there, then retry`,
      );
    }
  }

  /** Local commits not on the remote branch, with the rollback keys they carry. */
  async function localOnly(): Promise<{ sha: string; keys: string[] }[]> {
    const out = await value(['log', '--format=%H%x1f%(trailers:key=Rollback-Key,valueonly,separator=%x1d)%x1e', `${tracking}..${local}`]);
    return out
      .split('\x1e')
      .map((record) => record.trim())
      .filter(Boolean)
      .map((record) => {
        const [sha, keys] = record.split('\x1f');
        return { sha: sha!, keys: (keys ?? '').split('\x1d').map((k) => k.trim()).filter(Boolean) };
      });
  }

  /**
   * The clone on `branch` at the remote head, or at the remote head plus this rollback's own
   * commits (made by an earlier attempt whose push failed), rebased onto the remote head if it moved.
   * Anything else on the local branch is not ours: refused, never reset.
   */
  async function syncBranch(key: string): Promise<void> {
    const current = await git(['symbolic-ref', '--quiet', 'HEAD'], false);
    if (current.stdout.trim() !== local) {
      if (await resolveCommit(local)) await git(['switch', '--quiet', branch]);
      else await git(['switch', '--quiet', '--create', branch, tracking]);
    }
    const ours = await localOnly();
    const foreign = ours.filter((c) => !c.keys.includes(key));
    if (foreign.length > 0) {
      throw new Error(
        `local branch ${branch} in ${repoDir} has ${foreign.length} commit(s) not on ${where} that this rollback did not make (${foreign.map((c) => short(c.sha)).join(', ')}); nothing was reverted and the branch was left as it is (never reset): push or remove them there by hand, then retry`,
      );
    }
    const remoteHead = await value(['rev-parse', tracking]);
    if (await isAncestor(remoteHead, 'HEAD')) return;
    if (ours.length === 0) {
      await git(['merge', '--ff-only', '--quiet', tracking]);
      return;
    }
    context.logger.info({ repoDir, commits: ours.length, onto: remoteHead }, `${where} moved on; rebasing this rollback's unpushed revert commits onto it`);
    mark(key);
    const rebase = await git(['rebase', '--empty=keep', '--no-autosquash', tracking], false);
    if (!rebase.ok) {
      const files = await conflictedFiles();
      if (inProgress().some((s) => s.op === 'rebase')) await git(['rebase', '--abort']);
      unmark();
      throw new Error(
        `${where} moved on (now ${short(remoteHead)}) and this rollback's revert commits (${ours.map((c) => short(c.sha)).join(', ')}) do not apply on top of it${files.length ? ` (conflict in ${nameFiles(files)})` : `: ${outputOf(rebase)}`}; the rebase was aborted and they stay unpushed on local branch ${branch} in ${repoDir}: resolve by hand`,
      );
    }
    unmark();
  }

  async function conflictedFiles(): Promise<string[]> {
    const out = await value(['-c', 'core.quotePath=false', 'diff', '--name-only', '--diff-filter=U', '-z']);
    return out.split('\0').filter(Boolean);
  }

  return { tracking, local, where, openClone, fetchHead, inProgress, mark, unmark, recoverInterrupted, ensureClean, syncBranch, conflictedFiles };
}
