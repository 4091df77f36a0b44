/**
 * The rollback's inbox: what people send it (approve, reject, decide, abort), as signals (the UI's
 * Send a Signal dialog, `temporal workflow signal`) or as Updates with validators (the CLI, the UI's
 * update dialog), which answer the sender at once and keep a refused request out of history.
 *
 * Requests that ask for something (approve, reject, decide) are filed with the workflow time they
 * arrived and taken by the gate or decision that waits: handlers never act on "what is pending right
 * now", because within one activation Temporal runs signal handlers before activity results, so acting
 * in the handler could decide differently on replay than it did live. Abort only records the request.
 */
import type { UpdateDefinition } from '@temporalio/common';
import { condition, setHandler } from '@temporalio/workflow';
import { parseSignalPayload, SIGNALS, type AbortRequest, type SignalName, type SignalPayload } from '../contract/index.ts';
import { installSignalHandlers } from './signals.ts';
import type { AuditEvent } from '../contract/index.ts';
import { abortUpdate, approveUpdate, decideUpdate, rejectUpdate } from '../contract/messages.ts';
import { ROLLBACK_SUBJECT, type SignatureVerdict, type SignedClaims } from '../contract/index.ts';
import { signatureRefusal, signedWith, type SigningRule } from './signed.ts';

export type InboxMessage = (
  | { kind: 'approve'; by: string; comment?: string }
  | { kind: 'reject'; by: string; reason: string }
  | { kind: 'decide'; by: string; action: SignalPayload<'decide'>['action'] }
) & {
  /** Workflow time it arrived (ms). */
  at: number;
  /** Set for an Update: the sender waits for the answer given under this number. */
  replyTo?: number;
  /** A signed request's claims, and what checking its signature found (see signed.ts). */
  signature?: SignedClaims;
  verdict?: SignatureVerdict;
};

const updates = { approve: approveUpdate, reject: rejectUpdate, decide: decideUpdate, abort: abortUpdate };

/** What the inbox needs from the rollback: where to record, and whether a request could count now. */
export interface InboxPolicy {
  record(event: Omit<AuditEvent, 'at'>, at?: string): void;
  /** Why `request` would not count if it arrived now, or null; an Update's validator refuses with this. */
  refusal<S extends SignalName>(signal: S, request: SignalPayload<S>): string | null;
  /** Checks a signed request's signature (a local activity); undefined for an unsigned one. */
  verify<S extends SignalName>(signal: S, request: SignalPayload<S>): Promise<SignatureVerdict | undefined>;
  /** What the runbook asks of signatures on an abort. */
  abortSigning(): SigningRule;
}

export class Inbox {
  private messages: InboxMessage[] = [];
  private abortRequest: AbortRequest | null = null;
  private readonly answers = new Map<number, string>();
  private nextReply = 1;

  constructor(private readonly policy: InboxPolicy) {}

  /** Signal and Update handlers for approve, reject, decide and abort, and a recorder for unknown signals. */
  install(): void {
    installSignalHandlers({
      accept: (signal, payload) => void this.acceptChecked(signal, payload),
      refuse: (by, detail) => this.policy.record({ kind: 'refused', by, detail }),
    });
    for (const name of SIGNALS) {
      setHandler(
        updates[name] as UpdateDefinition<string, [unknown]>,
        async (raw: unknown) => {
          const parsed = parseSignalPayload(name, raw);
          if (!parsed.ok) return `refused: ${parsed.why}`; // the validator let nothing malformed through
          const replyTo = await this.acceptChecked(name, parsed.payload, true);
          await condition(() => this.answers.has(replyTo));
          return this.answers.get(replyTo)!;
        },
        {
          validator: (raw: unknown) => {
            const parsed = parseSignalPayload(name, raw);
            const why = parsed.ok ? this.policy.refusal(name, parsed.payload) : parsed.why;
            if (!why) return;
            // The UI's Update dialog shows the message, and a stack if there is one: here it is only noise.
            const refusal = new Error(`refused: ${why}`);
            refusal.stack = '';
            throw refusal;
          },
        },
      );
    }
  }

  /**
   * Files a well-formed request, a signed one once its signature is checked; returns the number its
   * answer will be given under. An unsigned request is filed at once, as it always was.
   */
  private acceptChecked<S extends SignalName>(signal: S, payload: SignalPayload<S>, wantsReply = false): number | Promise<number> {
    if (!payload.signature) return this.accept(signal, payload, wantsReply);
    const at = Date.now();
    return this.policy.verify(signal, payload).then((verdict) => this.accept(signal, payload, wantsReply, at, verdict));
  }

  private accept<S extends SignalName>(signal: S, payload: SignalPayload<S>, wantsReply: boolean, at = Date.now(), verdict?: SignatureVerdict): number {
    const replyTo = this.nextReply++;
    if (signal === 'abort') {
      const answer = this.requestAbort(payload as AbortRequest, verdict);
      if (wantsReply) this.answers.set(replyTo, answer);
      return replyTo;
    }
    const reply = wantsReply ? { replyTo } : {};
    this.messages.push({ kind: signal, at, ...reply, ...(payload as object), ...(verdict && { verdict }) } as InboxMessage);
    return replyTo;
  }

  private requestAbort(request: AbortRequest, verdict?: SignatureVerdict): string {
    const refused = this.policy.refusal('abort', request) ?? signatureRefusal(this.policy.abortSigning(), ROLLBACK_SUBJECT, 0, { ...request, verdict });
    if (refused) {
      this.policy.record({ kind: 'refused', by: request.by, detail: `abort refused: ${refused}` });
      return `refused: ${refused}`;
    }
    if (this.abortRequest) return `an abort was already requested by ${this.abortRequest.by}`;
    this.abortRequest = request;
    const key = signedWith({ ...request, verdict });
    this.policy.record({ kind: 'abort_requested', by: request.by, detail: request.reason, ...(key && { key }) });
    return `abort requested by ${request.by}: the running step is cancelled and the rollback stops where it stands`;
  }

  /** The abort request, if one came. */
  get aborted(): AbortRequest | null {
    return this.abortRequest;
  }

  /** Takes every filed message, oldest first. */
  take(): InboxMessage[] {
    return this.messages.splice(0);
  }

  /** Tells an Update's sender what became of its message (no-op for signals). */
  answer(message: InboxMessage, text: string): void {
    if (message.replyTo !== undefined) this.answers.set(message.replyTo, text);
  }

  /** Records (and answers) a message that came when nothing it could apply to was waiting. */
  refuseStale(message: InboxMessage): void {
    const what = message.kind === 'decide' ? `decision '${message.action}'` : message.kind === 'approve' ? 'approval' : 'rejection';
    const waiting = message.kind === 'decide' ? 'no step was waiting for a decision' : 'no gate was waiting for approval';
    const detail = `${what} refused: ${waiting}`;
    this.policy.record({ kind: 'refused', by: message.by, detail }, new Date(message.at).toISOString());
    this.answer(message, `refused: ${waiting}`);
  }

  /**
   * Waits until a message arrives, an abort comes, or `untilMs` (workflow time) passes.
   * Returns true when woken by something other than the time running out.
   */
  async wait(untilMs: number): Promise<boolean> {
    const woken = () => this.messages.length > 0 || this.abortRequest !== null;
    const waitMs = untilMs - Date.now();
    if (waitMs <= 0) return woken();
    return condition(woken, waitMs);
  }
}
