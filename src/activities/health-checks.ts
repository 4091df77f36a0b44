/**
 * Runs a verification's checks once: HTTP requests (src/providers/health/http-checks.ts), commands
 * judged by exit code and output, and log commands whose matching lines are counted (seed 001's
 * `railway logs | grep ERROR | wc -l`), or read from a log API provider (Cloud Logging, Fly's logs
 * endpoint) for the window measured. Commands go through the runbook's commands provider, as
 * argument vectors with a timeout; secrets reach them (and HTTP headers) only from the worker's
 * environment, by the names the runbook gives, and are masked in every detail.
 */
import { secretFromEnv, type CommandResult } from '../providers/types.ts';
import { runHttpCheck } from '../providers/health/http-checks.ts';
import { showArgv } from '../actions/templates.ts';
import type { CheckOutcome } from '../plan/health.ts';
import type { CommandCheckSpec, HealthCheckSpec, HttpCheckSpec, LogApiCheckSpec, LogCheckSpec, Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { providerRef } from './runbook.ts';

/** The span a measurement covers: log commands read it through {{since}} and {{sinceSeconds}}. */
export interface MeasuredSpan {
  sinceMs: number;
  untilMs: number;
}

/** `{{since}}` as RFC 3339 in UTC to the second (what `docker compose logs --since` takes), `{{sinceSeconds}}` at least 1. */
export function fillSpan(argv: readonly string[], span: MeasuredSpan): string[] {
  const since = new Date(span.sinceMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const sinceSeconds = String(Math.max(1, Math.ceil((span.untilMs - span.sinceMs) / 1000)));
  return argv.map((arg) => arg.replace(/\{\{\s*(since|sinceSeconds)\s*\}\}/g, (_m, name: string) => (name === 'since' ? since : sinceSeconds)));
}

const tailOf = (lines: readonly string[]) => (lines.length > 0 ? ` (last output: ${lines.slice(-3).join(' | ')})` : '');

/** Runs `checks` together; every check answers, a failure to run being a failed check that says why. */
export function createCheckRunner(deps: ActivityDeps, runbook: Runbook, signal?: AbortSignal) {
  const fromEnv = (name: string) => secretFromEnv({ env: deps.env, logger: deps.logger }, name);

  async function http(check: HttpCheckSpec): Promise<CheckOutcome> {
    const headers: Record<string, string> = {};
    for (const [header, ref] of Object.entries(check.headersFromEnv)) {
      const { env, prefix } = typeof ref === 'string' ? { env: ref, prefix: '' } : ref;
      headers[header] = `${prefix}${fromEnv(env)}`;
    }
    const values = Object.entries(check.headersFromEnv).map(([, ref]) => fromEnv(typeof ref === 'string' ? ref : ref.env));
    const { passed, detail } = await runHttpCheck(check, { headers, values });
    return { name: check.name, passed, detail };
  }

  /** Runs a command or log check's argv; the result, or why it could not be judged. */
  async function run(check: CommandCheckSpec | LogCheckSpec, argv: string[]) {
    const ref = providerRef(runbook, check.provider);
    const env = Object.fromEntries(Object.entries(check.env).map(([name, from]) => [name, fromEnv(from)]));
    // The provider's result carries stdout besides the interleaved tail (the command provider's runner does).
    const result: CommandResult & { stdout?: string } = await deps.clients.get('commands', ref).run({ argv, env, timeoutMs: check.timeoutSeconds * 1000 }, { onLine: () => {}, signal });
    if (result.stdout === undefined) throw new Error(`provider ${ref.provider} does not return a command's stdout, so the check cannot read its output`);
    return { ...result, stdout: result.stdout };
  }

  async function command(check: CommandCheckSpec, span: MeasuredSpan): Promise<CheckOutcome> {
    const result = await run(check, fillSpan(check.command, span));
    const fail = (detail: string) => ({ name: check.name, passed: false, detail });
    if (result.timedOut) return fail(`did not finish within ${check.timeoutSeconds} s${tailOf(result.outputTail)}`);
    if (result.exitCode !== check.expectExit) return fail(`${result.exitCode === null ? `was killed (${result.signal})` : `exited with ${result.exitCode}`}, expected ${check.expectExit}${tailOf(result.outputTail)}`);
    if (check.outputMatches !== undefined) {
      const pattern = new RegExp(check.outputMatches);
      if (!pattern.test(result.stdout) && !result.outputTail.some((line) => pattern.test(line))) return fail(`output did not match /${check.outputMatches}/${tailOf(result.outputTail)}`);
    }
    return { name: check.name, passed: true, detail: 'ok' };
  }

  async function logs(check: LogCheckSpec, span: MeasuredSpan): Promise<CheckOutcome> {
    const argv = fillSpan(check.logs, span);
    const result = await run(check, argv);
    const fail = (detail: string) => ({ name: check.name, passed: false, detail });
    // Lines that cannot be read cannot be counted: never a pass.
    if (result.timedOut) return fail(`${showArgv(check.logs)} did not finish within ${check.timeoutSeconds} s, so its lines cannot be counted${tailOf(result.outputTail)}`);
    if (result.exitCode !== 0) return fail(`${showArgv(check.logs)} ${result.exitCode === null ? `was killed (${result.signal})` : `exited with ${result.exitCode}`}, so its lines cannot be counted${tailOf(result.outputTail)}`);
    const pattern = new RegExp(check.pattern, check.ignoreCase ? 'i' : '');
    const lines = result.stdout.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const matched = lines.filter((line) => pattern.test(line)).length;
    const seen = `${matched} line(s) matched /${check.pattern}/${check.ignoreCase ? 'i' : ''}`;
    return matched > check.atMost ? fail(`${seen}, at most ${check.atMost} allowed`) : { name: check.name, passed: true, detail: seen };
  }

  /**
   * The window's entries from the check's log provider, each matched as one line: its severity then
   * its text. A window not read whole is counted as far as it was read: too many already fails as
   * such, fewer cannot pass, since the rest might hold more.
   */
  async function logsFromApi(check: LogApiCheckSpec, span: MeasuredSpan): Promise<CheckOutcome> {
    const { provider, ...query } = check.logsFrom;
    const client = deps.clients.get('logs', providerRef(runbook, provider));
    const timeout = AbortSignal.timeout(check.timeoutSeconds * 1000);
    const read = await client.readWindow(query, span, signal ? AbortSignal.any([signal, timeout]) : timeout).catch((err: Error) => {
      throw new Error(timeout.aborted ? `its lines cannot be counted: provider ${provider} did not read the window within ${check.timeoutSeconds} s` : `its lines cannot be counted: ${err.message}`);
    });
    const pattern = check.pattern === undefined ? null : new RegExp(check.pattern, check.ignoreCase ? 'i' : '');
    const matched = read.lines.filter((line) => pattern === null || pattern.test(`${line.severity} ${line.text}`)).length;
    const seen = `${matched} line(s) ${pattern ? `matched /${check.pattern}/${check.ignoreCase ? 'i' : ''}` : 'in the window'}`;
    const fail = (detail: string) => ({ name: check.name, passed: false, detail });
    if (matched > check.atMost) return fail(`${seen}, at most ${check.atMost} allowed`);
    if (read.cutShort !== null) return fail(`${seen} in the ${read.lines.length} entries read, but the window was not read whole: ${read.cutShort}`);
    return { name: check.name, passed: true, detail: seen };
  }

  async function one(check: HealthCheckSpec, span: MeasuredSpan): Promise<CheckOutcome> {
    try {
      if ('url' in check) return await http(check);
      if ('command' in check) return await command(check, span);
      if ('logsFrom' in check) return await logsFromApi(check, span);
      return await logs(check, span);
    } catch (err) {
      // A variable not set, a program that cannot start: the check could not be made, which fails it.
      return { name: check.name, passed: false, detail: (err as Error).message };
    }
  }

  return (checks: readonly HealthCheckSpec[], span: MeasuredSpan): Promise<CheckOutcome[]> => Promise.all(checks.map((check) => one(check, span)));
}
