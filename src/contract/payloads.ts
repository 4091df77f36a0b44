/**
 * The shapes of what people send a rollback: names, reasons, and the payloads of the approve,
 * reject, decide and abort signals. Parsed inside the workflow (a signal from the UI's dialog or the
 * `temporal` CLI is checked like one from our CLI), so a malformed one is refused with a message
 * naming the problem instead of failing the workflow task.
 */
import { z } from 'zod';
import { oncePerWorker } from './schema-cache.ts';
import { validate, type Problem } from './problems.ts';
import type { SignalName, WatchdogSignalName } from './names.ts';
import { signedClaims } from './signing.ts';

// NUL, other C0 controls and DEL: invisible in the UI, and a name carrying them is never who it looks like.
const CONTROL = /[\u0000-\u001f\u007f]/;
// Free text may span lines; every other control character is refused.
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f]/;

export const MAX_NAME = 100;
export const MAX_TEXT = 2000;

/** A person (requester, approver): trimmed, so "bob " is bob; 1 to 100 characters, no control characters. */
export const personName = z
  .string()
  .trim()
  .min(1, 'must name a person')
  .max(MAX_NAME, `must be at most ${MAX_NAME} characters`)
  .refine((s) => !CONTROL.test(s), 'must not contain control characters');

/** A reason or comment: trimmed, at most 2000 characters, lines allowed, no other control characters. */
export const freeText = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `must say ${what}`)
    .max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`)
    .refine((s) => !CONTROL_IN_TEXT.test(s), 'must not contain control characters');

/** A runbook system name, as the runbook file names it. */
export const systemName = z
  .string()
  .max(64, 'must be at most 64 characters')
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must name a runbook (lower-case letters, digits, "-" or "_", e.g. "sandbox")');

/** Config keys look like environment variables (seed 000: ROUTING_MODE, LLM_PROVIDER). */
export const configKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must look like an environment variable name (letters, digits, "_")');

/**
 * A feature or flag name, as a kill switch or a flag store keys it. One name only: spaces, control
 * characters (a CR/LF would forge a second line in every log and store) and glob characters
 * (`kill_switch:*` would be a pattern, not a feature) are refused before anything reads them.
 */
export const featureName = z
  .string()
  .min(1, 'must name a feature')
  .max(200, 'must be at most 200 characters')
  .refine((s) => !/[\u0000-\u0020\u007f*?[\]{}\\]/.test(s), 'must be one feature name: no spaces, control characters or glob characters (* ? [ ] { } \\)');

export const DECISION_ACTIONS = ['retry', 'skip', 'compensate', 'abort'] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];

const comment = () =>
  z
    .string()
    .trim()
    .max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`)
    .refine((s) => !CONTROL_IN_TEXT.test(s), 'must not contain control characters');

// Made on first use, like the workflow inputs (src/contract/inputs.ts says why).
// `signature`: optional unless the runbook requires signed approvals (src/contract/signing.ts).
const signature = () => signedClaims.optional();
export const approvalPayload = z.lazy(oncePerWorker('payloads.approvalPayload', () => z.strictObject({ by: personName, comment: comment().optional(), signature: signature() })));
export const rejectionPayload = z.lazy(oncePerWorker('payloads.rejectionPayload', () => z.strictObject({ by: personName, reason: freeText('why'), signature: signature() })));
export const decisionPayload = z.lazy(oncePerWorker('payloads.decisionPayload', () => z.strictObject({ by: personName, action: z.enum(DECISION_ACTIONS), signature: signature() })));
export const abortPayload = z.lazy(oncePerWorker('payloads.abortPayload', () => z.strictObject({ by: personName, reason: freeText('why'), signature: signature() })));

export type Approval = z.infer<typeof approvalPayload>;
export type Rejection = z.infer<typeof rejectionPayload>;
export type Decision = z.infer<typeof decisionPayload>;
export type AbortRequest = z.infer<typeof abortPayload>;

export const SIGNAL_PAYLOADS = {
  approve: { schema: approvalPayload, example: '{"by": "bob", "comment": "error rate back under 1%"}' },
  reject: { schema: rejectionPayload, example: '{"by": "bob", "reason": "canary is fine, false alarm"}' },
  decide: { schema: decisionPayload, example: `{"by": "bob", "action": "${DECISION_ACTIONS.join('|')}"}` },
  abort: { schema: abortPayload, example: '{"by": "bob", "reason": "wrong system"}' },
} as const satisfies Record<SignalName, { schema: z.ZodType; example: string }>;

export const pausePayload = z.lazy(oncePerWorker('payloads.pausePayload', () =>
  z
    .strictObject({
      by: personName,
      reason: freeText('why'),
      until: z.iso.datetime({ offset: true }).optional().describe('resume by itself at this instant (ISO 8601)'),
      untilMinutes: z.number().positive().max(7 * 24 * 60, 'must be at most a week (10080 minutes)').optional().describe('resume by itself after this many minutes'),
    })
    .refine((p) => p.until === undefined || p.untilMinutes === undefined, 'give until or untilMinutes, not both'),
));
export const resumePayload = z.lazy(oncePerWorker('payloads.resumePayload', () => z.strictObject({ by: personName })));
export type PauseRequest = z.infer<typeof pausePayload>;
export type ResumeRequest = z.infer<typeof resumePayload>;

export const WATCHDOG_SIGNAL_PAYLOADS = {
  pause: { schema: pausePayload, example: '{"by": "bob", "reason": "planned load test", "untilMinutes": 60}' },
  resume: { schema: resumePayload, example: '{"by": "bob"}' },
} as const satisfies Record<WatchdogSignalName, { schema: z.ZodType; example: string }>;

/** Parses a watchdog signal's payload; never throws (see parseSignalPayload). */
export function parseWatchdogPayload<S extends WatchdogSignalName>(signal: S, raw: unknown): { ok: true; payload: z.infer<(typeof WATCHDOG_SIGNAL_PAYLOADS)[S]['schema']> } | { ok: false; why: string; by: string } {
  return parsePayload(signal, WATCHDOG_SIGNAL_PAYLOADS[signal], raw) as ReturnType<typeof parseWatchdogPayload<S>>;
}

export type SignalPayload<S extends SignalName> = z.infer<(typeof SIGNAL_PAYLOADS)[S]['schema']>;

export type ParsedPayload<S extends SignalName> = { ok: true; payload: SignalPayload<S> } | { ok: false; why: string; by: string };

function sentence(problem: Problem): string {
  if (!problem.path) return problem.message; // about the whole payload, e.g. "unknown key 'comments'"
  const field = `'${problem.path}'`;
  return problem.message.startsWith('required') ? `${field} is required` : `${field} ${problem.message}`;
}

/** Who a payload claims to be from, fit to record even when the payload is refused; "(unknown)" otherwise. */
export function claimedBy(raw: unknown): string {
  const claimed = (raw as { by?: unknown } | null | undefined)?.by;
  if (typeof claimed !== 'string' || CONTROL.test(claimed) || !claimed.trim()) return '(unknown)';
  return claimed.trim().slice(0, MAX_NAME);
}

/**
 * Parses what arrived with a signal or update. Never throws: a malformed payload comes back with
 * why (`approve: 'by' is required`) and who it claims to be from (or "(unknown)"), to be recorded.
 */
export function parseSignalPayload<S extends SignalName>(signal: S, raw: unknown): ParsedPayload<S> {
  return parsePayload(signal, SIGNAL_PAYLOADS[signal], raw) as ParsedPayload<S>;
}

/** The parsing both kinds of signal share: what is wrong, said in the signal's name, with an example. */
function parsePayload(signal: string, { schema, example }: { schema: z.ZodType; example: string }, raw: unknown): { ok: true; payload: unknown } | { ok: false; why: string; by: string } {
  const by = claimedBy(raw);
  if (raw === undefined || raw === null) return { ok: false, by, why: `${signal}: no payload; send JSON like ${example}` };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, by, why: `${signal}: the payload must be a JSON object like ${example}` };
  const result = validate(schema, raw);
  if (result.ok) return { ok: true, payload: result.data };
  return { ok: false, by, why: `${signal}: ${result.problems.map(sentence).join('; ')}` };
}

/** A gauge series as runbooks name it: `name` or `name{label="value",...}` (several series: the highest counts). */
export const GAUGE_SELECTOR = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:\s*[a-zA-Z_][a-zA-Z0-9_]*\s*=\s*"[^"]*"\s*,?)*)\})?$/;
