/**
 * Commands the runbook lists (seed 000's `python scripts/clear_rag_cache.py`): argv, never a shell,
 * with a timeout, output in heartbeats (the UI shows the last lines on the pending activity) and in
 * the result, judged by exit code and the runbook's success pattern. Secrets reach the command only as
 * environment variables named by the runbook, and are masked in everything it prints.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { secretFromEnv } from '../providers/types.ts';
import { showArgv } from '../actions/templates.ts';
import type { CommandChange, CommandSummary } from '../actions/command.ts';
import type { ActivityDeps } from './deps.ts';
import { refuseUnsafeRepeat } from './repeat-guard.ts';
import { providerRef, runbookFor } from './runbook.ts';
import { heartbeat } from './heartbeat.ts';

export const COMMAND_FAILED = 'CommandFailed';

/** One runbook command as its kind's carry-out sends it (src/actions/command.ts). */
export type CommandInput = CommandChange & { system: string };


export const createCommandActivities = (deps: ActivityDeps) => ({
  /**
   * Runs one runbook command. Safe to retry only when the runbook marks it repeatable; otherwise a
   * retry after an attempt that ended without an answer is refused for a person to decide.
   */
  async runCommand(input: CommandInput): Promise<CommandSummary> {
    const shown = showArgv(input.argv);
    refuseUnsafeRepeat(`the command ${shown}`, input.repeatable);
    const context = Context.current();
    const client = deps.clients.get('commands', providerRef(runbookFor(deps, input.system), input.provider));
    const env = Object.fromEntries(Object.entries(input.env).map(([name, from]) => [name, secretFromEnv({ env: deps.env, logger: deps.logger }, from)]));
    let last: string[] = [];
    const beat = setInterval(() => heartbeat({ output: last }, context), 1000);
    try {
      const result = await client.run(
        { argv: input.argv, env, timeoutMs: input.timeoutSeconds * 1000 },
        { onLine: (line) => (last = [...last, line].slice(-5)), signal: context.cancellationSignal },
      );
      const summary: CommandSummary = { exitCode: result.exitCode, durationMs: Math.round(result.durationMs), outputTail: result.outputTail, timedOut: result.timedOut, signal: result.signal };
      const output = result.outputTail.slice(-5).join(' | ') || '(no output)';
      if (result.timedOut) throw ApplicationFailure.nonRetryable(`${shown} did not finish within ${input.timeoutSeconds} s and was stopped: ${output}`, COMMAND_FAILED, summary);
      if (result.exitCode !== 0) {
        throw ApplicationFailure.nonRetryable(`${shown} ${result.signal ? `was killed (${result.signal})` : `exited with ${result.exitCode}`}: ${output}`, COMMAND_FAILED, summary);
      }
      if (input.successPattern && !result.outputTail.some((line) => new RegExp(input.successPattern!).test(line))) {
        throw ApplicationFailure.nonRetryable(`${shown} exited 0 but its output never matched /${input.successPattern}/: ${output}`, COMMAND_FAILED, summary);
      }
      return summary;
    } finally {
      clearInterval(beat);
    }
  },
});
