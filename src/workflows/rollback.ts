/**
 * The mechanics every rollback workflow shares (DESIGN.md "Semantics"): steps with a status record,
 * approval gates, operator decisions after a failed step, compensation newest first, abort at any
 * point, and the `status` query, search attributes and current details that keep the UI truthful.
 * A workflow file uses this to read top to bottom as its runbook.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Runbook } from '../runbook/schema.ts';
import { searchAttributes, type SignalName, type SignalPayload } from '../contract/index.ts';
import { renderIncidentReport } from '../runbook/report.ts';
import { activities, notify, publishReport } from './activities.ts';
import { surfaceKnownFailure } from './failures.ts';
import { awaitDecision } from './decisions.ts';
import { awaitApproval, type GateOutcome } from './gates.ts';
import { installSignalHandlers, statusQuery, type AbortRequest, type Approval, type Decision, type DecisionAction, type Rejection } from './signals.ts';
import type { AuditEvent, RollbackState, RollbackStatus, StepKind, StepRecord } from './status.ts';

/**
 * Signals that ask for something (approve, reject, decide) go into an inbox with the workflow time
 * they arrived, and the workflow code takes them when it waits. Handlers never act on "what is pending
 * right now": within one activation Temporal runs signal handlers before activity results, so acting in
 * the handler could decide differently on replay than it did live.
 */
export type InboxMessage =
  | { kind: 'approve'; at: number; by: string; comment?: string }
  | { kind: 'reject'; at: number; by: string; reason: string }
  | { kind: 'decide'; at: number; by: string; action: DecisionAction };

/** Thrown inside the workflow to stop where it stands (abort) or to undo completed steps (compensate). */
export class StopRollback extends Error {
  constructor(
    readonly mode: 'abort' | 'compensate',
    readonly why: string,
  ) {
    super(why);
  }
}

export interface StepSpec<T> {
  name: string;
  kind: StepKind;
  description: string;
  run: () => Promise<T>;
  /** Undoes this step during compensation; registered only once the step succeeded. */
  undo?: (result: T) => Promise<unknown>;
  /** Steps whose result later steps need (preflight, snapshot) cannot be skipped. */
  skippable?: boolean;
}

const now = () => new Date().toISOString();

export class Rollback {
  readonly status: RollbackStatus;
  runbook: Runbook | null = null;
  readonly inbox: InboxMessage[] = [];
  private readonly compensations: { step: string; description: string; undo: () => Promise<unknown> }[] = [];
  private abortRequest: AbortRequest | null = null;
  private stepScope: CancellationScope | null = null;

  constructor(
    init: { workflowType: string; system: string; reason: string; requestedBy: string; dryRun: boolean; detectedAt?: string },
    /** First line of the UI's current details, e.g. "sandbox: immediate rollback requested by alice: error rate 14%". */
    private readonly headline: string,
  ) {
    this.status = {
      ...init,
      detectedAt: init.detectedAt ?? null,
      decisionWaitMs: 0,
      workflowId: workflowInfo().workflowId,
      startedAt: now(),
      endedAt: null,
      state: 'running',
      currentStep: null,
      details: '',
      steps: [],
      pendingGate: null,
      pendingDecision: null,
      events: [],
      snapshot: null,
      plan: null,
      healthAfter: null,
      compensationFailures: [],
      notes: [],
      report: null,
    };
    setHandler(statusQuery, () => this.status);
    installSignalHandlers({
      accept: (signal, payload) => this.accept(signal, payload),
      refuse: (by, detail) => this.record({ kind: 'refused', by, detail }),
    });
    upsertSearchAttributes([
      { key: searchAttributes.system, value: init.system },
      { key: searchAttributes.kind, value: init.workflowType },
      { key: searchAttributes.state, value: 'running' },
    ]);
    this.describe('starting');
  }

  /** The abort request, if one came (a method, so TypeScript does not assume it stays as last read). */
  get aborted(): AbortRequest | null {
    return this.abortRequest;
  }

  record(event: Omit<AuditEvent, 'at'>): void {
    this.status.events.push({ at: now(), ...event });
    log.info('rollback event', { ...event });
  }

  /** Sets the state (and the RollbackState search attribute) and the UI's current details. */
  setState(state: RollbackState, details: string): void {
    if (state !== this.status.state) {
      this.status.state = state;
      upsertSearchAttributes([{ key: searchAttributes.state, value: state }]);
    }
    this.describe(details);
  }

  describe(details: string): void {
    this.status.details = details;
    setCurrentDetails(`**${this.headline}**\n\n${details}`);
  }

  /** Who changes are made by, as providers record it: "<requester> via <workflow id>". */
  get actor(): string {
    return `${this.status.requestedBy} via ${workflowInfo().workflowId}`;
  }

  /** The idempotency key of `step` in this run: "<workflow id>:<run id>:<step>". */
  key(step: string): string {
    const { workflowId, runId } = workflowInfo();
    return `${workflowId}:${runId}:${step}`;
  }

  /** People who may decide after a failure or abort: every approver of the runbook, and the requester. */
  operators(): string[] {
    const approvers = Object.values(this.runbook?.approvers ?? {}).flat();
    return [...new Set([this.status.requestedBy, ...approvers])];
  }

  /**
   * A well-formed signal: abort is judged at once (it only records the request); approve, reject and
   * decide go into the inbox for the gate or decision that waits (see InboxMessage for why).
   */
  private accept<S extends SignalName>(signal: S, payload: SignalPayload<S>): void {
    const at = Date.now();
    if (signal === 'abort') this.onAbort(payload as AbortRequest);
    else if (signal === 'approve') this.inbox.push({ kind: 'approve', at, ...(payload as Approval) });
    else if (signal === 'reject') this.inbox.push({ kind: 'reject', at, ...(payload as Rejection) });
    else this.inbox.push({ kind: 'decide', at, ...(payload as Decision) });
  }

  private onAbort(request: AbortRequest): void {
    if (this.runbook && !this.operators().includes(request.by)) {
      this.record({ kind: 'refused', by: request.by, detail: `abort refused: ${request.by} is neither the requester nor an approver` });
      return;
    }
    if (this.abortRequest || ['completed', 'failed', 'aborted'].includes(this.status.state)) return;
    this.abortRequest = request;
    this.record({ kind: 'abort_requested', by: request.by, detail: request.reason });
  }

  /** Records why a message was not acted on: it came when nothing it could apply to was waiting. */
  refuseStale(message: InboxMessage): void {
    const what = message.kind === 'decide' ? `decision '${message.action}'` : message.kind === 'approve' ? 'approval' : 'rejection';
    const waiting = message.kind === 'decide' ? 'no step was waiting for a decision' : 'no gate was waiting for approval';
    this.status.events.push({ at: new Date(message.at).toISOString(), kind: 'refused', by: message.by, detail: `${what} refused: ${waiting}` });
  }

  /**
   * Waits until a message arrives, an abort comes, or `untilMs` (workflow time) passes.
   * Returns true when woken by something other than the time running out.
   */
  async wait(untilMs: number): Promise<boolean> {
    const woken = () => this.inbox.length > 0 || this.abortRequest !== null;
    const waitMs = untilMs - Date.now();
    if (waitMs <= 0) return woken();
    return condition(woken, waitMs);
  }

  /**
   * Runs one step. On failure (after the activity's own bounded retries) it waits for `decide`:
   * retry runs it again, skip goes on without it, compensate and abort stop the rollback.
   */
  async step<T>(spec: StepSpec<T>): Promise<T | undefined> {
    const record: StepRecord = { name: spec.name, kind: spec.kind, description: spec.description, startedAt: now(), endedAt: null, outcome: 'running', runs: 0 };
    this.status.steps.push(record);
    for (;;) {
      if (this.abortRequest) throw new StopRollback('abort', `aborted by ${this.abortRequest.by}: ${this.abortRequest.reason}`);
      record.runs += 1;
      record.outcome = 'running';
      this.status.currentStep = spec.name;
      this.setState('running', spec.description);
      try {
        const result = await this.cancellable(spec.run);
        record.outcome = 'succeeded';
        record.endedAt = now();
        delete record.error;
        if (spec.undo) this.compensations.unshift({ step: spec.name, description: spec.description, undo: () => spec.undo!(result) });
        return result;
      } catch (err) {
        record.endedAt = now();
        const abort = this.abortRequest as AbortRequest | null; // set by the abort signal while we awaited
        if (abort && isCancellation(err)) {
          record.outcome = 'aborted';
          throw new StopRollback('abort', `aborted by ${abort.by} during ${spec.name}: ${abort.reason}`);
        }
        if (!(err instanceof ActivityFailure)) throw err; // a bug in workflow code: let Temporal retry the task
        record.outcome = 'failed';
        record.error = failureMessage(err);
        const action = await awaitDecision(this, spec, record.error);
        if (action === 'retry') continue;
        if (action === 'skip') {
          record.outcome = 'skipped';
          return undefined;
        }
        throw new StopRollback(action, `${spec.name} failed (${record.error}); ${action} decided`);
      }
    }
  }

  private async cancellable<T>(run: () => Promise<T>): Promise<T> {
    return CancellationScope.cancellable(async () => {
      this.stepScope = CancellationScope.current();
      try {
        return await run();
      } finally {
        this.stepScope = null;
      }
    });
  }

  /** The incident report, kept in status; published and announced for real (not dry) runs. */
  private async report(outcome: string): Promise<void> {
    const { system, workflowId, state, details, dryRun } = this.status;
    this.status.report = renderIncidentReport(this.status, this.runbook);
    if (dryRun || !this.runbook) return;
    await publishReport({ system, workflowId, markdown: this.status.report }).catch(() => undefined); // the report stays in status and history
    await notify({ system, title: `${outcome} ${state}`, text: details, severity: state === 'completed' ? 'info' : 'critical' });
  }

  /**
   * The first step of every rollback: load the runbook (kept in history from here on) and refuse
   * if another rollback of the same system runs. Its refusals end the workflow with their own message.
   */
  async preflight(): Promise<Runbook> {
    const { system, workflowType, dryRun } = this.status;
    const { workflowId, startTime } = workflowInfo();
    this.runbook = (await this.step({
      name: 'preflight',
      kind: 'preflight',
      description: 'load the runbook; refuse if another rollback of this system runs',
      skippable: false,
      run: () =>
        activities(`preflight: ${system}`)
          .preflight({ system, workflowId, workflowType, startedAt: startTime.toISOString(), dryRun })
          .catch(surfaceKnownFailure),
    }))!;
    return this.runbook;
  }

  /** Waits at a runbook gate; a rejection or a timeout that aborts stops the rollback. */
  async gate(name: string, before: string): Promise<GateOutcome | null> {
    const gate = this.runbook?.gates[name];
    if (!this.runbook || !gate) return null; // the runbook asks for no approval here
    const record: StepRecord = { name: `gate:${name}`, kind: 'gate', description: `approval before ${before}`, startedAt: now(), endedAt: null, outcome: 'running', runs: 1 };
    this.status.steps.push(record);
    this.status.currentStep = record.name;
    const outcome = await awaitApproval(this, name, gate, before);
    record.endedAt = now();
    record.outcome = outcome.passed ? 'succeeded' : 'failed';
    if (!outcome.passed) {
      record.error = outcome.why;
      throw new StopRollback('abort', outcome.why);
    }
    return outcome;
  }

  /** Undoes completed steps newest first; an undo that fails is reported and the rest still run. */
  async compensate(): Promise<void> {
    this.setState('compensating', `undoing ${this.compensations.length} completed step(s), newest first`);
    for (const { step, description, undo } of this.compensations.splice(0)) {
      const record = this.status.steps.find((s) => s.name === step);
      try {
        this.describe(`undoing ${step}: ${description}`);
        await undo();
        if (record) record.outcome = 'compensated';
      } catch (err) {
        if (record) record.outcome = 'compensation_failed';
        this.status.compensationFailures.push(`${step}: ${failureMessage(err)}`);
        log.warn('undo failed; continuing with the rest', { step, error: failureMessage(err) });
      }
    }
  }

  /**
   * Runs the workflow's body and settles its end: completed, aborted (left as is) or failed after
   * compensation. In every case the incident report is written and, unless it was a dry run, published
   * and announced as `<outcome> <state>` (e.g. "rollback completed"). Aborted and failed rollbacks end
   * the workflow as failed, so the UI shows them red, with the final status as details.
   */
  async settle<R>(body: () => Promise<R>, outcome: string): Promise<R> {
    let result: R | undefined;
    let failure: StopRollback | null = null;
    // The abort handler only records the request; this stops the running step (see InboxMessage for why).
    void condition(() => this.abortRequest !== null).then(() => this.stepScope?.cancel());
    try {
      result = await body();
      this.setState('completed', 'rollback completed');
    } catch (err) {
      if (err instanceof ApplicationFailure) {
        // A refusal before anything changed (unknown system, another rollback running): end as failed.
        this.status.currentStep = null;
        this.status.endedAt = now();
        this.setState('failed', err.message);
        throw err;
      }
      if (!(err instanceof StopRollback)) throw err;
      failure = err;
      if (err.mode === 'compensate') {
        await this.compensate();
        const leftovers = this.status.compensationFailures;
        this.setState('failed', leftovers.length ? `compensated with ${leftovers.length} undo failure(s): ${leftovers.join('; ')}` : 'failed; completed steps undone, snapshot restored');
      } else {
        this.setState('aborted', `aborted: ${err.why}; steps done so far are left as they are`);
      }
    }
    this.status.currentStep = null;
    this.status.endedAt = now();
    for (const message of this.inbox.splice(0)) this.refuseStale(message);
    await CancellationScope.nonCancellable(() => this.report(outcome));
    if (failure) {
      throw ApplicationFailure.create({
        message: `${this.status.workflowType} of ${this.status.system} ${this.status.state}: ${failure.why}`,
        type: this.status.state === 'aborted' ? 'RollbackAborted' : 'RollbackFailed',
        nonRetryable: true,
        details: [{ state: this.status.state, compensationFailures: this.status.compensationFailures }],
      });
    }
    return result as R;
  }
}

export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return failureMessage(err.cause);
  if (err instanceof CancelledFailure) return 'cancelled';
  return err instanceof Error ? err.message : String(err);
}
