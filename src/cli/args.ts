/**
 * Argument handling shared by the commands: one kind of error for "you typed it wrong" (exit 2, one
 * line plus the command's usage), so a tired operator sees at once which flag is missing or wrong.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The operator typed something the CLI cannot use; nothing was sent to Temporal. */
export class UsageError extends Error {}

/** The workflow (or its state) did not accept what was asked: exit code 3. */
export const EXIT_REFUSED = 3;
export const EXIT_USAGE = 2;

/** Runs node:util parseArgs and turns its errors into one short UsageError line. */
function parse<T>(parseFn: () => T): T {
  try {
    return parseFn();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      // parseArgs appends advice about '--' that does not apply here; the first sentence is the problem.
      throw new UsageError((err as Error).message.split('. ')[0]!);
    }
    // The others (a value missing, or one starting with '-') carry advice worth keeping.
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message.replaceAll('\n', ' '));
    throw err;
  }
}

/** Convenience for commands: parseArgs with positionals allowed and unknown flags refused. */
export function parseCommand<const O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  return parse(() => parseArgs({ args: argv, options, allowPositionals: true, strict: true }));
}

/** Exactly the positionals the command expects, named in the error when one is missing or extra. */
export function positionals(given: string[], names: string[]): string[] {
  if (given.length < names.length) throw new UsageError(`missing ${names[given.length]}`);
  if (given.length > names.length) throw new UsageError(`unexpected argument '${given[names.length]}'`);
  return given;
}

export function required(value: string | undefined, flag: string, what: string): string {
  if (value === undefined || value.trim() === '') throw new UsageError(`missing --${flag} <${what}>`);
  return value;
}

export function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got '${value}'`);
  }
  return value as T;
}

export function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`--${flag} must be a number; got '${value}'`);
  return parsed;
}
