/**
 * What a health check expects of a JSON answer (seed 002's `curl -s /health | jq .`, expecting
 * `{"status": "healthy"}`): a value found by path, compared with `equals`, `in`, `matches`, `above`
 * or `below`. Pure, so the runbook schema checks paths when the file loads and the check judges with
 * the same code.
 *
 * Paths are jq's simplest form or a dotted path: `$.status`, `$.checks.database`, `$.items[0].id`,
 * `$["odd key"]`, or the same without `$`: `status`, `checks.database`, `items.0.id`.
 */

export interface JsonExpectation {
  path: string;
  equals?: unknown;
  in?: unknown[];
  matches?: string;
  above?: number;
  below?: number;
}

/** The operators an expectation may use; `above` and `below` together are a range. */
export const JSON_OPERATORS = ['equals', 'in', 'matches', 'above', 'below'] as const;

/** `path` as the keys and indexes it walks, or why it is no path. */
export function parseJsonPath(path: string): { steps: (string | number)[] } | { problem: string } {
  let rest = path.trim();
  const steps: (string | number)[] = [];
  if (rest.startsWith('$')) rest = rest.slice(1);
  else if (rest !== '' && !rest.startsWith('.') && !rest.startsWith('[')) rest = `.${rest}`;
  while (rest !== '') {
    const dotted = /^\.([^.[\]\s"']+)/.exec(rest);
    const indexed = /^\[(\d+)\]/.exec(rest);
    const quoted = /^\[\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*\]/.exec(rest);
    if (dotted) steps.push(/^\d+$/.test(dotted[1]!) ? Number(dotted[1]) : dotted[1]!);
    else if (indexed) steps.push(Number(indexed[1]));
    else if (quoted) steps.push(quoted[1]!.startsWith('"') ? (JSON.parse(quoted[1]!) as string) : quoted[1]!.slice(1, -1));
    else return { problem: `not a path at ${JSON.stringify(rest.slice(0, 20))}; write $.status, $.checks.database, $.items[0].id or checks.database` };
    rest = rest.slice((dotted ?? indexed ?? quoted)![0].length);
  }
  return { steps };
}

/** The value at `steps`, or `undefined` when the document has none there. */
function valueAt(document: unknown, steps: readonly (string | number)[]): unknown {
  let node = document;
  for (const step of steps) {
    if (Array.isArray(node) && typeof step === 'number') node = node[step];
    else if (node !== null && typeof node === 'object' && !Array.isArray(node) && Object.hasOwn(node, String(step))) node = (node as Record<string, unknown>)[String(step)];
    else return undefined;
  }
  return node;
}

const SHOWN_CHARS = 80;

/** A value as a message shows it: JSON, cut after a few dozen characters. */
export function showJson(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > SHOWN_CHARS ? `${json.slice(0, SHOWN_CHARS)}…` : json;
}

/** What `expectation` asks for, in words: `"ready"`, `one of ["ok","degraded"]`, `above 5 and below 10`. */
export function expected(expectation: JsonExpectation): string {
  if ('equals' in expectation) return showJson(expectation.equals);
  if (expectation.in) return `one of ${showJson(expectation.in)}`;
  if (expectation.matches !== undefined) return `a match for /${expectation.matches}/`;
  const bounds = [expectation.above !== undefined ? `above ${expectation.above}` : null, expectation.below !== undefined ? `below ${expectation.below}` : null];
  return bounds.filter(Boolean).join(' and ');
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function holds(expectation: JsonExpectation, value: unknown): boolean {
  if ('equals' in expectation) return equal(value, expectation.equals);
  if (expectation.in) return expectation.in.some((candidate) => equal(value, candidate));
  if (expectation.matches !== undefined) return typeof value === 'string' && new RegExp(expectation.matches).test(value);
  if (typeof value !== 'number') return false;
  return (expectation.above === undefined || value > expectation.above) && (expectation.below === undefined || value < expectation.below);
}

/**
 * Why `document` does not meet `expectation`, naming the path, the value found and what was
 * expected (`$.status is "degraded", expected "ready"`), or null when it does.
 */
export function judgeJson(document: unknown, expectation: JsonExpectation): string | null {
  const parsed = parseJsonPath(expectation.path);
  if ('problem' in parsed) return `${expectation.path}: ${parsed.problem}`;
  const value = valueAt(document, parsed.steps);
  if (value === undefined) return `${expectation.path} is missing, expected ${expected(expectation)}`;
  return holds(expectation, value) ? null : `${expectation.path} is ${showJson(value)}, expected ${expected(expectation)}`;
}
