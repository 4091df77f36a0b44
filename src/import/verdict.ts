/**
 * What the importer makes of one command line: a typed action (with its provider and the sections it
 * fills), absorbed (read-only: the snapshot or the dry run does it), destructive (never emitted live:
 * commented out with the reason, or its safe equivalent), opaque (a `command` action marked for review)
 * or unmapped (nothing a rollback can run: an editor, a shell of its own, `cd`).
 */
import type { ShellCommand, CommandLine } from './shell.ts';
import { PLACEHOLDER_WORD } from './shell.ts';

export const TYPED_KINDS = [
  'scale', 'traffic', 'release', 'restart', 'config', 'kill-switch', 'flag', 'git-revert', 'dataRestore', 'notify', 'statusPage',
  'sqlite-restore', 'volume-restore', 'redis-restore', 'down-sql', 'secret-version',
] as const;
export type TypedKind = (typeof TYPED_KINDS)[number];

export interface ProviderRef {
  provider: string;
  settings: Record<string, unknown>;
}

/** One thing a command line adds to the draft. */
export type Emission =
  | { action: Record<string, unknown> }
  | { provider: string; ref: ProviderRef }
  /** A value set at a path of the runbook; `append` adds to the list there (once per equal value). */
  | { path: string[]; value: unknown; append?: boolean };

export interface Typed {
  as: TypedKind;
  target: string;
  value: string;
  emit: Emission[];
}

export type Verdict =
  | ({ kind: 'typed'; reason: string } & Typed)
  | { kind: 'absorbed'; reason: string; emit?: Emission[] }
  | { kind: 'destructive'; reason: string; safe?: Typed }
  | { kind: 'opaque'; reason: string }
  | { kind: 'unmapped'; reason: string };

/** Facts an earlier line of the document left for later ones (a SCAN pattern backed up, then restored). */
export interface DocFacts {
  scanPatterns: string[];
  /** Cloud Run traffic splits seen, per service, in order: [revision, percent][] each. */
  splits: Map<string, [string, number][][]>;
  /** The Cloud Run service last named, for a secret that service loads. */
  lastService?: string;
}

export interface LineContext {
  line: CommandLine;
  /** Which command of the line this is. */
  index: number;
  facts: DocFacts;
}

export type Recognizer = (cmd: ShellCommand, ctx: LineContext) => Verdict | null;

/** A value the document does not hold, named for the person who fills it; the loader refuses it until then. */
export function fill(what: string): string {
  return `<FILL: ${what}>`;
}

/** Words the genre writes instead of a value: <deployment-id>, [service-name], PREV, HASH, PROJECT_ID, $VAR. */
export function isPlaceholderWord(word: string): boolean {
  return (
    PLACEHOLDER_WORD.test(word) ||
    word.includes('⟨') ||
    /^\[[^\]]+\]$/.test(word) ||
    /(?<![A-Za-z0-9])[A-Z][A-Z0-9]*(_[A-Z0-9]+)*(?![a-z0-9])/.test(word.replace(/[A-Z0-9]{1,3}(?![A-Z0-9_])/g, '')) ||
    word.includes('$') ||
    /(^|[/.:])your[-_]/.test(word)
  );
}

/** "previous" where the document names the release before by a placeholder (PREV, PREVIOUS_REVISION, <previous-version>). */
export function meansPrevious(word: string): boolean {
  return /^(⟨|\[)?(prev|previous|last[-_ ]?known[-_ ]?good|good)[-_a-z]*(⟩|\])?$/i.test(word) && isPlaceholderWord(word);
}

/** `word` as a value, or a named placeholder when the document wrote a placeholder there. */
export function valueOr(word: string | undefined, what: string): string {
  if (word === undefined || word === '') return fill(what);
  // Shown without angle brackets, which would end the placeholder early.
  if (isPlaceholderWord(word)) return fill(`${what} (the document writes ${word.replace(/[⟨⟩<>]/g, '')})`);
  return word;
}

/** The value of an option written `-a x`, `--app x` or `--app=x`. */
export function option(argv: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    for (const name of names) {
      if (arg === name) return argv[i + 1];
      if (name.startsWith('--') && arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    }
  }
  return undefined;
}

export function hasFlag(argv: readonly string[], ...names: string[]): boolean {
  return argv.some((a) => names.includes(a) || names.some((n) => n.startsWith('--') && a.startsWith(`${n}=`)));
}

/** The words that are not options (nor values of the options named in `valued`). */
export function positionals(argv: readonly string[], valued: readonly string[] = []): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('-') && arg !== '-') {
      if (valued.includes(arg)) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** A lower-case identifier for names the runbook keys things by (providers, databases). */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'main';
}

export const typed = (as: TypedKind, target: string, value: string, reason: string, ...emit: Emission[]): Verdict => ({ kind: 'typed', as, target, value, reason, emit });
export const absorbed = (reason: string, ...emit: Emission[]): Verdict => ({ kind: 'absorbed', reason, emit });
export const opaque = (reason: string): Verdict => ({ kind: 'opaque', reason });
export const unmapped = (reason: string): Verdict => ({ kind: 'unmapped', reason });
export const destructive = (reason: string, safe?: Typed): Verdict => ({ kind: 'destructive', reason, ...(safe ? { safe } : {}) });
