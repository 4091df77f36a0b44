/**
 * A runbook file checked the way the worker loads it, but every problem reported at once and each
 * placed in the file (`rollback validate`): YAML syntax errors with line and column; then inline
 * secrets, earlier formats and the schema (gate names against the contract included) together; then,
 * once the schema holds, the providers against the registry. Offline: it reads the file and nothing
 * else, and an environment variable the runbook names but this shell does not set is a warning, not
 * an error (the worker's environment is what counts).
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { formatPath, validate, type Problem } from '../contract/index.ts';
import { documentValue, inlineSecrets, parseRunbook, RunbookError } from './load.ts';
import { earlierFormatProblems } from './migrations.ts';
import { checkProviders } from './provider-check.ts';
import { runbookSchema, type Runbook } from './schema.ts';

/** One finding, placed in the file where it can be: `line` and `column` count from 1. */
export interface Finding extends Problem {
  line?: number;
  column?: number;
}

export interface RunbookCheck {
  file: string;
  errors: Finding[];
  warnings: Finding[];
  /** What was not checked yet, and why (the providers, while the schema has errors). */
  notChecked: string | null;
  /** The runbook as the worker would hold it (providers filled in), when there are no errors. */
  runbook: Runbook | null;
}

/**
 * `phases[2].rollback[0].flag` as the keys it names. A key holding a dot or a bracket cannot be told
 * apart from a path here; such a finding is placed at its nearest parent instead.
 */
function segments(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

/** Where `path` is in the file: its node's start, or its nearest parent's when the key is missing. */
function locate(document: Document, lines: LineCounter, path: string): { line: number; column: number } | undefined {
  const keys = segments(path);
  for (let length = keys.length; length >= 0; length -= 1) {
    const node = document.getIn(keys.slice(0, length), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) {
      const { line, col } = lines.linePos(node.range[0]);
      return { line, column: col };
    }
  }
  return undefined;
}

/**
 * Every environment variable the runbook names (`*Env` settings, a command's `env`, a check's
 * `headersFromEnv`) with where it is named; those unset in `env` come back as warnings.
 */
function unsetVariables(node: unknown, env: Readonly<Record<string, string | undefined>>, path: (string | number)[] = []): Problem[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => unsetVariables(item, env, [...path, i]));
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) => {
    const here = [...path, key];
    const namesVariable = key.endsWith('Env') || path.at(-1) === 'env' || path.at(-1) === 'headersFromEnv';
    if (namesVariable && typeof value === 'string' && /^[A-Z_][A-Z0-9_]*$/.test(value)) {
      return env[value] ? [] : [{ path: formatPath(here), message: `environment variable ${value} is not set here; the worker needs it set to use this` }];
    }
    return unsetVariables(value, env, here);
  });
}

/** What a file holds that no runbook can: NUL bytes, or bytes that are not UTF-8. */
function notText(bytes: Buffer): string | null {
  const nul = bytes.indexOf(0);
  if (nul >= 0) return `is not a text file (a NUL byte at offset ${nul}); a runbook is YAML text`;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return null;
  } catch {
    return 'is not UTF-8 text; a runbook is YAML text in UTF-8';
  }
}

/** Checks the text of a runbook; `file` is how it is named (its base name must be the system's name). */
export function checkRunbookText(text: string, file: string, env: Readonly<Record<string, string | undefined>> = {}): RunbookCheck {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  const result = (errors: Finding[], warnings: Finding[] = [], runbook: Runbook | null = null, notChecked: string | null = null): RunbookCheck => ({ file, errors, warnings, notChecked, runbook });
  if (document.errors.length > 0) {
    return result(
      document.errors.map((e) => {
        const at = e.linePos?.[0];
        return { path: '', message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, ...(at ? { line: at.line, column: at.col } : {}) };
      }),
    );
  }
  let raw: unknown;
  try {
    raw = documentValue(document, file);
  } catch (err) {
    if (err instanceof RunbookError) return result(err.problems);
    throw err;
  }
  const placed = (problems: Problem[]): Finding[] => problems.map((p) => ({ ...p, ...(p.path ? locate(document, lines, p.path) : {}) }));
  const warnings = placed(unsetVariables(raw, env));
  // An earlier format explains the schema's complaints about the same keys, and says what to write instead.
  const earlier = earlierFormatProblems(raw);
  const parsed = earlier.length > 0 ? null : validate(runbookSchema, raw);
  const problems = [...inlineSecrets(raw), ...earlier, ...(parsed && !parsed.ok ? parsed.problems : [])];
  if (!parsed?.ok) {
    // Provider references are resolved against a runbook the schema accepted; say they are still to come.
    return result(placed(withLoaderProblems(problems, text, file)), warnings, null, 'provider references are checked once these errors are fixed');
  }
  problems.push(...checkProviders(parsed.data));
  // The loader adds what is left: the file's name against the system's, and anything it learns later.
  return result(placed(withLoaderProblems(problems, text, file)), warnings, problems.length === 0 && loaderProblems(text, file).length === 0 ? parsed.data : null);
}

/** What the worker's loader refuses the file for (parseRunbook), so no check it makes is missed here. */
function loaderProblems(text: string, file: string): Problem[] {
  try {
    parseRunbook(text, file);
    return [];
  } catch (err) {
    if (err instanceof RunbookError) return err.problems;
    throw err;
  }
}

/** `problems` and, after them, any the loader finds that they do not already say. */
function withLoaderProblems(problems: Problem[], text: string, file: string): Problem[] {
  const said = new Set(problems.map((p) => `${p.path}\n${p.message}`));
  return [...problems, ...loaderProblems(text, file).filter((p) => !said.has(`${p.path}\n${p.message}`))];
}

/** Reads and checks a runbook file; a file that cannot be read or is not text is one error. */
export function checkRunbookFile(file: string, env: Readonly<Record<string, string | undefined>> = {}): RunbookCheck {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    return { file, errors: [{ path: '', message: `cannot read the file: ${why}` }], warnings: [], notChecked: null, runbook: null };
  }
  const binary = notText(bytes);
  if (binary) return { file, errors: [{ path: '', message: binary }], warnings: [], notChecked: null, runbook: null };
  return checkRunbookText(bytes.toString('utf8'), file, env);
}
