/**
 * Reads runbook files (one YAML file per system) and refuses broken ones with every problem named by
 * file, path and reason, e.g. `runbooks/x.yaml: health.thresholds.p95Ms: expected number, received
 * string`. Worker-side only: workflows receive the parsed runbook from the preflight activity.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { formatPath, formatProblems, secretQueryParams, validate, type Problem } from '../contract/index.ts';
import { earlierFormatProblems } from './migrations.ts';
import { checkProviders } from './provider-check.ts';
import { runbookSchema, type Runbook } from './schema.ts';

export class RunbookError extends Error {
  constructor(
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(formatProblems(problems, `${file}: `));
    this.name = 'RunbookError';
  }
}

// Keys whose values are credentials by name, and URLs that carry a password or a webhook token.
const secretKey = /(password|passwd|secret|token|api[_-]?key|dsn|credentials?)$/i;
const secretValue = /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@|hooks\.slack\.com\/services\/|^xox[abpr]-/i;

/** Finds secret values written into the file instead of an environment variable name. */
export function inlineSecrets(node: unknown, path: (string | number)[] = []): Problem[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => inlineSecrets(item, [...path, i]));
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([key, value]) => {
      const here = [...path, key];
      // A command's `env` maps each variable to the NAME of the worker's variable holding it (RAILWAY_TOKEN: RAILWAY_TOKEN),
      // as a health check's `headersFromEnv` maps a header to one (X-Api-Key: HEALTH_API_KEY).
      const namesVariable = (path.at(-1) === 'env' || path.at(-1) === 'headersFromEnv') && typeof value === 'string' && /^[A-Z_][A-Z0-9_]*$/.test(value);
      if (typeof value === 'string' && !key.endsWith('Env') && !namesVariable && (secretKey.test(key) || secretValue.test(value))) {
        return [
          {
            path: formatPath(here),
            message: `looks like an inline secret; put it in an environment variable and reference it by name (${path.at(-1) === 'env' ? `${key}: SOME_VARIABLE` : `${key}Env: SOME_VARIABLE`})`,
          },
        ];
      }
      const inQuery = typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? secretQueryParams(value) : [];
      if (inQuery.length > 0) {
        return [
          {
            path: formatPath(here),
            message: `carries a credential in its query string (${inQuery.join(', ')}); put it in an environment variable and reference it by name (${key}Env: SOME_VARIABLE)`,
          },
        ];
      }
      return inlineSecrets(value, here);
    });
  }
  return [];
}

/** `rollback import` leaves `<FILL: what>` where the markdown held no value: a draft loads only once every one is filled. */
function placeholdersLeft(node: unknown, path: (string | number)[] = []): Problem[] {
  const left = (text: string, at: (string | number)[]): Problem[] =>
    text.includes('<FILL:') ? [{ path: formatPath(at), message: `still holds the placeholder ${/<FILL:[^>]*>/.exec(text)?.[0] ?? '<FILL: ...>'}; fill it in (rollback import left it there)` }] : [];
  if (typeof node === 'string') return left(node, path);
  if (Array.isArray(node)) return node.flatMap((item, i) => placeholdersLeft(item, [...path, i]));
  if (node && typeof node === 'object') return Object.entries(node).flatMap(([key, value]) => [...left(key, [...path, key]), ...placeholdersLeft(value, [...path, key])]);
  return [];
}

/** How many times aliases may be expanded in one runbook: far above what a real one does, far below a "billion laughs". */
const MAX_ALIAS_EXPANSIONS = 100;

/**
 * The document as plain values. Aliases (`*name`) are expanded here, and a few nested ones can
 * expand into billions of nodes, which the yaml library refuses with its own words; said here with
 * the file's name and what to do.
 */
export function documentValue(document: ReturnType<typeof parseDocument>, file: string): unknown {
  try {
    return document.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS });
  } catch (err) {
    if (!(err instanceof ReferenceError) || !/alias/i.test(err.message)) throw err;
    throw new RunbookError(file, [
      { path: '', message: `YAML aliases expand too far (more than ${MAX_ALIAS_EXPANSIONS} expansions, as in a "billion laughs" attack); write the values out instead of nesting aliases` },
    ]);
  }
}

/** Validates one runbook's text; `file` is how messages name it. Throws RunbookError. */
export function parseRunbook(text: string, file: string): Runbook {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new RunbookError(
      file,
      document.errors.map((e) => ({
        path: '',
        message: `YAML syntax error at line ${e.linePos?.[0].line ?? '?'}: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
      })),
    );
  }
  const raw = documentValue(document, file);
  const unfilled = placeholdersLeft(raw);
  if (unfilled.length > 0) throw new RunbookError(file, unfilled);
  const secrets = inlineSecrets(raw);
  if (secrets.length > 0) throw new RunbookError(file, secrets);
  const earlier = earlierFormatProblems(raw);
  if (earlier.length > 0) throw new RunbookError(file, earlier);
  const result = validate(runbookSchema, raw);
  if (!result.ok) throw new RunbookError(file, result.problems);
  const problems = checkProviders(result.data);
  const expectedName = basename(file).replace(/\.ya?ml$/, '');
  if (result.data.system !== expectedName) {
    problems.unshift({ path: 'system', message: `'${result.data.system}' does not match the file name (${expectedName})` });
  }
  if (problems.length > 0) throw new RunbookError(file, problems);
  return result.data;
}

export class RunbookSetError extends Error {
  constructor(readonly errors: RunbookError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'RunbookSetError';
  }
}

/**
 * Loads every *.yaml / *.yml file of a directory, keyed by system. Throws RunbookSetError naming
 * every broken file at once, so an operator fixes them in one pass.
 */
export function loadRunbooks(dir: string): Map<string, Runbook> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => /\.ya?ml$/.test(name)).sort();
  } catch (err) {
    throw new Error(`cannot read runbooks directory ${dir}: ${(err as Error).message}`);
  }
  if (names.length === 0) throw new Error(`no runbook files (*.yaml) in ${dir}`);
  const runbooks = new Map<string, Runbook>();
  const errors: RunbookError[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const shown = relative(process.cwd(), path) || path;
    try {
      const runbook = parseRunbook(readFileSync(path, 'utf8'), shown);
      runbooks.set(runbook.system, runbook);
    } catch (err) {
      if (err instanceof RunbookError) errors.push(err);
      else throw err;
    }
  }
  if (errors.length > 0) throw new RunbookSetError(errors);
  return runbooks;
}
