/**
 * One way to say what is wrong with an input, shared by runbook files, the worker's environment and
 * workflow inputs: `path: reason`, one line per problem, e.g. `health.thresholds.p95Ms: expected
 * number, received string`.
 */
import type { z } from 'zod';

export interface Problem {
  path: string;
  message: string;
}

/** `['notify', 1, 'settings']` becomes `notify[1].settings`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

/** How much of a bad value a message repeats: enough to recognise it, never a whole pasted blob. */
const PREVIEW_CHARS = 40;

/**
 * A bad value as a message shows it: JSON, cut to a short prefix with its full length said, e.g.
 * `"xxxxxxxx…" (1048576 characters)`. Control characters come out escaped, so a message stays one line.
 */
export function preview(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  if (json.length <= PREVIEW_CHARS + 10) return json;
  if (typeof value === 'string') return `${JSON.stringify(value.slice(0, PREVIEW_CHARS)).slice(0, -1)}…" (${value.length} characters)`;
  return `${json.slice(0, PREVIEW_CHARS)}… (${json.length} characters of JSON)`;
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  return typeof input;
}

/** Turns one zod issue into a sentence an operator can act on without reading zod's docs. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `required (expected ${issue.expected})`;
      return `expected ${issue.expected}, received ${describeInput(issue.input)}`;
    case 'unrecognized_keys':
      return `unknown ${issue.keys.length === 1 ? 'key' : 'keys'} ${issue.keys.map((k) => (k.length > PREVIEW_CHARS ? preview(k) : `'${k}'`)).join(', ')}`;
    case 'invalid_value':
      return `must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; received ${preview(issue.input)}`;
    case 'invalid_union':
      if ('note' in issue && issue.note === 'No matching discriminator') {
        return `${issue.message.replace(/^Invalid input: ?/, '')}`.trim() || 'no variant matches';
      }
      // A union given its own message ("must be a list ... or a range ...") says it best.
      return issue.message && issue.message !== 'Invalid input' ? issue.message : 'matches none of the allowed forms';
    case 'invalid_key':
      // A record's key (a feature name, a config key) said in its own schema's words, not "Invalid key in record".
      return issue.issues.map(describeIssue).join('; ') || issue.message;
    default:
      return issue.message.replace(/^Invalid input: /, '');
  }
}

export function problemsOf(error: z.ZodError): Problem[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: describeIssue(issue) }));
}

export function formatProblems(problems: readonly Problem[], prefix = ''): string {
  return problems.map((p) => `${prefix}${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n');
}

export type Validation<T> = { ok: true; data: T } | { ok: false; problems: Problem[] };

/** Parses with zod, keeping each bad input in its issue so messages can say what was received. */
export function validate<T extends z.ZodType>(schema: T, raw: unknown): Validation<z.infer<T>> {
  const result = schema.safeParse(raw, { reportInput: true });
  return result.success ? { ok: true, data: result.data } : { ok: false, problems: problemsOf(result.error) };
}

/** Levenshtein distance, for the "did you mean" of a misspelt name. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/**
 * ` (did you mean 'grok'?)` when one of `known` is within three edits of `name` (the closest wins),
 * else ''. A tired person's typo (`grk`, `before-swp`) gets the name they meant.
 */
export function didYouMean(name: string, known: Iterable<string>): string {
  let best: { candidate: string; distance: number } | null = null;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance > 0 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best && best.distance <= Math.min(3, Math.max(1, Math.floor(best.candidate.length / 2))) ? ` (did you mean '${best.candidate}'?)` : '';
}
