/**
 * Rolls code back the way seeds 001 and 004 say to on a shared branch: `git revert` of the bad
 * commits as new commits, pushed on top of the branch. History is only ever appended to: no
 * `git reset --hard`, no `--force` push (seed 001's warning), no rewriting of anyone's commits.
 *
 * The worker owns a working clone (`repoDir`). A revert fetches the branch, makes sure the clone is
 * clean and on the branch at the remote head (fast-forward only), reverts the range newest first on a
 * detached HEAD (so a conflict or a crash half-way never leaves a partial rollback on the branch),
 * fast-forwards the branch to the result and pushes. Every revert commit carries the trailers
 * `Rollback-Key: <idempotencyKey>` and `Reverts: <sha>`: a repeated call finds them on the branch and
 * creates nothing; commits made locally whose push failed are pushed again. If someone pushed in
 * between, only our new commits are rebased onto the new remote head and pushed once more.
 *
 * A conflict is taken back with `git revert --abort`, which only undoes the revert in progress (the
 * index and files it touched, back to the commit it started from), never anything committed or a
 * person's work: the clone must be clean before we start, and uncommitted changes are refused, never
 * discarded. A local branch that diverged from the remote is refused, never reset.
 *
 * git is run through the project's runner only (argument vectors, no shell, a timeout per command),
 * with an environment built here: nothing of the worker's leaks in but PATH, HOME and SSH_AUTH_SOCK.
 *
 * References (git 2.39):
 *   https://git-scm.com/docs/git-revert  (--no-commit, -m/--mainline, --abort, REVERT_HEAD)
 *   https://git-scm.com/docs/git-push    (--porcelain output, "[rejected] (fetch first | non-fast-forward)")
 *   https://git-scm.com/docs/git-fetch   (refspecs, remote-tracking branches)
 *   https://git-scm.com/docs/git-merge   (--ff-only)
 *   https://git-scm.com/docs/git-rebase  (--empty, --abort)
 *   https://git-scm.com/docs/git-commit  (--trailer, since 2.32)
 *   https://git-scm.com/docs/git-log     (%(trailers:key=...,valueonly,separator=...))
 *   https://git-scm.com/docs/git-config#Documentation/git-config.txt-GITCONFIGCOUNT
 *   https://git-scm.com/docs/git-config#Documentation/git-config.txt-httpextraHeader
 *   https://git-scm.com/docs/git#Documentation/git.txt-codeGITSSHCOMMANDcode
 */
import { existsSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { envVarName, GIT_RANGE } from '../../contract/index.ts';
import { runProgram, type RunResult } from '../command/runner.ts';
import { secretFromEnv, type ChangeOptions, type ProviderContext, type ProviderDefinition } from '../types.ts';

const refName = z
  .string()
  .regex(/^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*\.lock$)(?!.*\/$)[A-Za-z0-9._/-]+$/, 'must be a plain branch name like main or release/1.2');

const settingsSchema = z.strictObject({
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
type Settings = z.infer<typeof settingsSchema>;

const RANGE = GIT_RANGE;

/** Our own half-done work, so that a retry after a crash may undo it (and only it). */
const MARKER = 'rollback-runbooks-revert';

/** Files named in errors: enough to act on, not a wall of text. */
function nameFiles(files: string[]): string {
  return files.length > 10 ? `${files.slice(0, 10).join(', ')} and ${files.length - 10} more` : files.join(', ');
}

function short(sha: string): string {
  return sha.slice(0, 12);
}

/** One call at a time per clone: two reverts in the same working tree would trample each other. */
const cloneQueues = new Map<string, Promise<unknown>>();
function exclusive<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const previous = cloneQueues.get(dir) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  const settled = next.catch(() => undefined);
  cloneQueues.set(dir, settled);
  void settled.then(() => {
    if (cloneQueues.get(dir) === settled) cloneQueues.delete(dir);
  });
  return next;
}

interface RangeCommit {
  sha: string;
  parents: string[];
  subject: string;
}

function create(settings: Settings, context: ProviderContext) {
  const repoDir = resolve(settings.repoDir);
  const { remote, branch } = settings;
  const tracking = `refs/remotes/${remote}/${branch}`;
  const local = `refs/heads/${branch}`;
  const where = `${remote}/${branch}`;

  /** The environment of every git command, secrets read at call time (never at create). */
  function gitEnv(): { env: NodeJS.ProcessEnv; secrets: string[] } {
    const env: NodeJS.ProcessEnv = {
      LC_ALL: 'C', // messages in English: push rejections are recognised by their wording
      GIT_TERMINAL_PROMPT: '0', // a missing credential fails at once instead of waiting for a person
      GIT_EDITOR: 'true',
      GIT_MERGE_AUTOEDIT: 'no',
      GIT_AUTHOR_NAME: settings.authorName,
      GIT_AUTHOR_EMAIL: settings.authorEmail,
      GIT_COMMITTER_NAME: settings.authorName,
      GIT_COMMITTER_EMAIL: settings.authorEmail,
    };
    for (const name of ['PATH', 'HOME', 'SSH_AUTH_SOCK']) if (context.env[name] !== undefined) env[name] = context.env[name];
    const secrets: string[] = [];
    if (settings.sshCommandEnv) {
      env.GIT_SSH_COMMAND = secretFromEnv(context, settings.sshCommandEnv);
      secrets.push(env.GIT_SSH_COMMAND);
    }
    if (settings.tokenEnv) {
      const token = secretFromEnv(context, settings.tokenEnv);
      const basic = Buffer.from(`${settings.tokenUser}:${token}`).toString('base64');
      // The header goes in through GIT_CONFIG_COUNT/KEY/VALUE, not `git -c http.extraHeader=...`:
      // a process's argv is readable by every user of the machine (ps, /proc/<pid>/cmdline), its
      // environment only by its own user and root (/proc/<pid>/environ).
      env.GIT_CONFIG_COUNT = '1';
      env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
      env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
      secrets.push(token, basic);
    }
    return { env, secrets };
  }

  interface GitRun extends RunResult {
    ok: boolean;
    lines: string[];
  }

  /** Runs `git args` in the clone; resolves whatever the exit code unless asked to `check` it. */
  async function git(args: string[], check = true): Promise<GitRun> {
    const { env, secrets } = gitEnv();
    const command = `git ${args.join(' ')}`;
    let result: RunResult;
    try {
      result = await runProgram(['git', ...args], {
        env,
        cwd: repoDir,
        timeoutMs: settings.timeoutSeconds * 1000,
        secrets,
        keepLines: 60,
        onLine: (line) => context.logger.debug({ repoDir, git: args[0] }, line),
      });
    } catch (err) {
      throw new Error(`${command} in ${repoDir} could not start: ${(err as Error).message}`, { cause: err });
    }
    if (result.timedOut) throw new Error(`${command} in ${repoDir} did not finish within ${settings.timeoutSeconds} s (timeoutSeconds) and was stopped`);
    const lines = result.outputTail.filter((line) => line.trim() !== '' && !line.startsWith('hint:'));
    const run = { ...result, ok: result.exitCode === 0, lines };
    if (check && !run.ok) throw new Error(`${command} in ${repoDir} exited ${result.exitCode ?? result.signal}: ${outputOf(run)}`);
    return run;
  }

  function outputOf(run: GitRun): string {
    return run.lines.slice(-8).join(' / ') || '(no output)';
  }

  async function value(args: string[]): Promise<string> {
    return (await git(args)).stdout.trim();
  }

  async function resolveCommit(name: string): Promise<string | null> {
    const run = await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${name}^{commit}`], false);
    return run.ok ? run.stdout.trim() : null;
  }

  async function isAncestor(ancestor: string, of: string): Promise<boolean> {
    const run = await git(['merge-base', '--is-ancestor', ancestor, of], false);
    if (run.exitCode === 0 || run.exitCode === 1) return run.exitCode === 0;
    throw new Error(`git merge-base --is-ancestor ${ancestor} ${of} in ${repoDir} exited ${run.exitCode}: ${outputOf(run)}`);
  }

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

  async function revert(range: string, options: ChangeOptions) {
    const match = RANGE.exec(range);
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
    reverts: {
      async readHead() {
        return exclusive(repoDir, async () => {
          await openClone();
          return { branch, head: await fetchHead() };
        });
      },
      revert,
    },
  };
}

export const gitRevert: ProviderDefinition<'reverts', Settings> = {
  id: 'git-revert',
  description: 'rolls code back with git revert commits pushed on top of a shared branch (never reset, never force-push); a repeat with the same key adds nothing',
  capabilities: ['reverts'],
  settingsSchema,
  example: { repoDir: './deploy-clone', remote: 'origin', branch: 'main', authorName: 'rollback-bot', authorEmail: 'rollback-bot@example.com', tokenEnv: 'GIT_PUSH_TOKEN' },
  create,
};
