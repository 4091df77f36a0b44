/**
 * git as the git-revert provider runs it: through the project's runner only (argument vectors, no
 * shell, a timeout per command), in the working clone, with an environment built here: nothing of the
 * worker's leaks in but PATH, HOME and SSH_AUTH_SOCK, and credentials read at each command (never at
 * create), masked in any output kept.
 *
 * References (git 2.39):
 *   https://git-scm.com/docs/git-config#Documentation/git-config.txt-GITCONFIGCOUNT
 *   https://git-scm.com/docs/git-config#Documentation/git-config.txt-httpextraHeader
 *   https://git-scm.com/docs/git#Documentation/git.txt-codeGITSSHCOMMANDcode
 *   https://git-scm.com/docs/git-merge-base  (--is-ancestor: exit 0 yes, 1 no)
 */
import { resolve } from 'node:path';
import { runProgram, type RunResult } from '../command/runner.ts';
import { secretFromEnv, type ProviderContext } from '../types.ts';
import type { Settings } from './settings.ts';

export interface GitRun extends RunResult {
  ok: boolean;
  lines: string[];
}

export type GitCli = ReturnType<typeof gitCli>;

/** git in the clone the settings name. Creating it runs nothing. */
export function gitCli(settings: Settings, context: ProviderContext) {
  const repoDir = resolve(settings.repoDir);

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

  return { repoDir, git, value, resolveCommit, isAncestor, outputOf };
}
