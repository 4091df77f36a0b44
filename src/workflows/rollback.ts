/**
 * What every rollback workflow shares (DESIGN.md "Semantics"), put together for a workflow file to
 * read top to bottom as its runbook: `preflight`, `step`, `gate` and `settle`. The mechanics live
 * beside it, each with one job: the status board (board.ts), the inbox of signals and updates
 * (inbox.ts), steps with compensation (steps.ts), gates (gates.ts) and decisions (decisions.ts).
 */
import { ApplicationFailure, CancellationScope, condition, getExternalWorkflowHandle, patched, workflowInfo } from '@temporalio/workflow';
import { gateSubject, lockWorkflowId, ROLLBACK_SUBJECT, stepSubject, type Blocker, type RollbackState, type SignalName, type SignalPayload } from '../contract/index.ts';
import type { Notification } from '../providers/types.ts';
import { plannedGate } from '../plan/plan.ts';
import { preflightBlockers, preflightRefusal, preflightSeconds } from '../plan/preflight.ts';
import { renderIncidentReport } from '../plan/report.ts';
import type { Runbook } from '../runbook/schema.ts';
import { activities, notify, publishReport, watching } from './activities.ts';
import { StatusBoard, type RollbackIdentity } from './board.ts';
import { awaitDecision, decisionRefusal } from './decisions.ts';
import { surfaceKnownFailure } from './failures.ts';
import { approvalRefusal, awaitApproval, rejectionRefusal, type GateOutcome } from './gates.ts';
import { Inbox } from './inbox.ts';
import { checkSignature, UNSIGNED, unsignedRefusal, type SigningRule } from './signed.ts';
import { StepRunner, StopRollback, type StepSpec } from './steps.ts';
import { releaseLockSignal } from '../contract/messages.ts';

export { StopRollback, failureMessage, type StepSpec } from './steps.ts';

/** A dry run's last word: nothing changed, and whether a real run would go through. */
function dryRunOutcome(blockers: readonly Blocker[]): string {
  if (blockers.length === 0) return 'dry run completed: nothing changed; the plan is in the status and the result';
  const each = blockers.map((b) => `- ${b.problem}${b.fix ? `\n  clear it: \`${b.fix}\`` : ''}`);
  return `dry run completed: nothing changed; a real run would be refused until these ${blockers.length} blocker(s) are cleared:\n${each.join('\n')}`;
}

export class Rollback {
  readonly board: StatusBoard;
  private readonly inbox: Inbox;
  private readonly steps: StepRunner;
  private loaded: Runbook | null = null;
  /** Whether preflight may have taken the system's lock (it may have even if its answer was lost). */
  private mayHoldLock = false;

  constructor(identity: RollbackIdentity, headline: string) {
    this.inbox = new Inbox({
      record: (event, at) => this.board.record(event, at),
      refusal: (signal, request) => this.refusal(signal, request),
      verify: (signal, request) => checkSignature(signal, request, this.board.view.plan),
      abortSigning: () => this.signing(false),
    });
    this.board = new StatusBoard(identity, headline, () => this.inbox.install());
    this.steps = new StepRunner(this.board, this.inbox, (step, error) =>
      awaitDecision(this.inbox, this.board, step, error, {
        deciders: this.operators(),
        timeoutSeconds: this.loaded?.decisions.timeoutSeconds ?? 1800,
        onTimeout: this.loaded?.decisions.onTimeout ?? 'abort',
        signing: this.signing(false),
      }),
    );
  }

  /** The runbook, once preflight has loaded it. */
  get runbook(): Runbook {
    if (!this.loaded) throw new Error('the runbook is read by preflight, the first step');
    return this.loaded;
  }

  /** The abort request, if one came. */
  get aborted() {
    return this.inbox.aborted;
  }

  /** Who changes are made by, as providers record it: "<requester> via <workflow id>". */
  get actor(): string {
    return `${this.board.view.requestedBy} via ${workflowInfo().workflowId}`;
  }

  /** The idempotency key of `step` in this run: "<workflow id>:<run id>:<step>". */
  key(step: string): string {
    const { workflowId, runId } = workflowInfo();
    return `${workflowId}:${runId}:${step}`;
  }

  /** People who may decide after a failure or abort: every approver of the runbook, and the requester. */
  operators(): string[] {
    const approvers = Object.values(this.loaded?.approvers ?? {}).flat();
    return [...new Set([this.board.view.requestedBy, ...approvers])];
  }

  /**
   * What the runbook asks of signatures: `approvals.signed: required` for every request, or a gate's
   * own `signed: required` for that gate. Runbooks in histories from before signing have no `approvals`.
   */
  private signing(gateRequires: boolean): SigningRule {
    const approvals = (this.loaded as Partial<Runbook> | null)?.approvals;
    if (!approvals) return gateRequires ? { required: true, keys: {} } : UNSIGNED;
    return { required: gateRequires || approvals.signed === 'required', keys: approvals.keys };
  }

  /** Why a request would not count now (an Update's validator refuses with it; signals are judged when taken). */
  private refusal<S extends SignalName>(signal: S, request: SignalPayload<S>): string | null {
    const { pendingGate, pendingDecision, requestedBy } = this.board.view;
    if (this.board.ended) return `the rollback has already ended (${this.board.view.state})`;
    const by = request.by;
    if (signal === 'abort') {
      if (this.loaded && !this.operators().includes(by)) return `${by} is neither the requester nor an approver`;
      if (this.signing(false).required && !request.signature) return unsignedRefusal(ROLLBACK_SUBJECT);
      return this.inbox.aborted ? `an abort was already requested by ${this.inbox.aborted.by}` : null;
    }
    // Unsigned where a signature is required: refused at once; a signature itself is checked when taken.
    const unsigned = (where: string) => (request.signature ? null : unsignedRefusal(where));
    if (signal === 'decide') {
      if (!pendingDecision) return 'no failed step is waiting for a decision';
      return decisionRefusal(pendingDecision, by, (request as SignalPayload<'decide'>).action) ?? (pendingDecision.signed ? unsigned(stepSubject(pendingDecision.step)) : null);
    }
    if (!pendingGate) return 'no gate is waiting for approval';
    const refused = signal === 'approve' ? approvalRefusal(pendingGate, requestedBy, by) : rejectionRefusal(pendingGate, by);
    return refused ?? (pendingGate.signed ? unsigned(gateSubject(pendingGate.gate)) : null);
  }

  /**
   * Tells the runbook's channels, saying which rollback and its state, so a chat message links to it
   * and names who may approve, and the status page's incident follows it (src/activities/notify.ts).
   */
  announce(notification: Omit<Notification, 'system' | 'rollback'>, context: { state?: RollbackState; gate?: string; approvers?: string[] } = {}) {
    const { system, workflowType, state } = this.board.view;
    return notify({ system, ...notification, rollback: { workflowId: workflowInfo().workflowId, workflowType, state: context.state ?? state, gate: context.gate, approvers: context.approvers } });
  }

  /** Compensation for work spanning several steps (see StepRunner.addUndo). */
  undoLater(description: string, undo: () => Promise<unknown>): void {
    this.steps.addUndo(description, undo);
  }

  /** Runs one step (see StepRunner.run): on failure a person decides. */
  step<T>(spec: StepSpec<T>): Promise<T | undefined> {
    return this.steps.run(spec);
  }

  /**
   * The first step of every rollback: load the runbook (kept in history from here on) and refuse
   * if another rollback of the same system runs. Its refusals end the workflow with their own message.
   */
  async preflight(): Promise<Runbook> {
    const { system, workflowType, dryRun } = this.board.view;
    const { workflowId, startTime } = workflowInfo();
    this.mayHoldLock = !dryRun;
    try {
      this.loaded = (await this.step({
        name: 'preflight',
        kind: 'preflight',
        description: "load the runbook; take the system's rollback lock, or refuse naming the rollback that holds it",
        skippable: false,
        run: () =>
          activities(`preflight: ${system}`)
            .preflight({ system, workflowId, workflowType, startedAt: startTime.toISOString(), dryRun })
            .catch(surfaceKnownFailure),
      }))!;
    } catch (err) {
      if (err instanceof ApplicationFailure && (err.type === 'RollbackAlreadyRunning' || err.type === 'UnknownSystem')) this.mayHoldLock = false;
      throw err;
    }
    // Runbooks in histories from before preflight checks have none (and no `preflight` at all).
    const checks = this.loaded.preflight ?? [];
    if (checks.length > 0 && patched('preflight-checks')) await this.runPreflightChecks(checks);
    return this.loaded;
  }

  /**
   * The runbook's preflight checks, all of them, before the snapshot: a real run is refused naming
   * every failed one (settle releases the lock; nothing was changed), a dry run lists them as blockers.
   */
  private async runPreflightChecks(checks: Runbook['preflight']): Promise<void> {
    const { system, dryRun } = this.board.view;
    const results = (await this.step({
      name: 'preflight-checks',
      kind: 'preflight',
      description: `run the runbook's ${checks.length} preflight check(s): ${checks.map((c) => c.name).join(', ')}`,
      skippable: false,
      run: () => activities(`preflight checks: ${system}`, watching(preflightSeconds(checks))).runPreflightChecks({ system }),
    }))!;
    this.board.setPreflight(results, dryRun ? preflightBlockers(results) : []);
    if (dryRun || results.every((r) => r.passed)) return;
    const refusal = preflightRefusal(system, results);
    const record = this.board.stepNamed('preflight-checks')!;
    record.outcome = 'failed';
    record.error = refusal;
    throw ApplicationFailure.nonRetryable(refusal, 'PreflightBlocked');
  }

  /** Waits at a runbook gate when the runbook has one of that name; a rejection or a timeout that aborts stops the rollback. */
  async gate(name: string, before: string): Promise<GateOutcome | null> {
    const runbook = this.loaded;
    const settings = runbook?.gates[name];
    if (!runbook || !settings) return null; // the runbook asks for no approval here
    const approvers = plannedGate(runbook, name)!.approvers;
    const { workflowType, workflowId, requestedBy, reason } = this.board.view;
    // Each state change reaches the channels and the status page; histories from before did not send it.
    if (patched('announce-state-changes')) {
      await this.announce(
        { title: `${workflowType} waits for approval at gate ${name}`, text: `Before ${before}: ${settings.required} approval(s) from ${settings.role}. Requested by ${requestedBy}: ${reason}`, severity: 'warning' },
        { state: 'awaiting_approval', gate: name, approvers },
      );
    }
    const record = this.board.addStep({ name: `gate:${name}`, kind: 'gate', description: `approval before ${before}`, startedAt: new Date().toISOString(), endedAt: null, outcome: 'running', runs: 1 });
    const outcome = await awaitApproval(this.inbox, this.board, {
      name,
      before,
      settings,
      planned: plannedGate(runbook, name)!,
      requestedBy,
      signing: this.signing(settings.signed === 'required'),
      escalate: (waiting) =>
        this.announce(
          { title: `approval needed: ${workflowType} waits at gate ${name}`, text: `${waiting}. Rollback ${workflowId}, requested by ${requestedBy}: ${reason}`, severity: 'critical' },
          { state: 'awaiting_approval', gate: name, approvers },
        ),
    });
    record.endedAt = new Date().toISOString();
    record.outcome = outcome.passed ? 'succeeded' : 'failed';
    if (!outcome.passed) {
      record.error = outcome.why;
      throw new StopRollback('abort', outcome.why);
    }
    return outcome;
  }

  /** The incident report, kept in status; published and announced for real (not dry) runs. */
  private async report(outcome: string): Promise<void> {
    const { system, workflowId, state, details, dryRun } = this.board.view;
    this.board.setReport(renderIncidentReport(this.board.view, this.loaded));
    if (dryRun || !this.loaded) return;
    await publishReport({ system, workflowId, markdown: this.board.view.report! }).catch(() => undefined); // the report stays in status and history
    await this.announce({ title: `${outcome} ${state}`, text: details, severity: state === 'completed' ? 'info' : 'critical' });
  }

  /**
   * Runs the workflow's body and settles its end: completed, aborted (left as is) or failed after
   * compensation. In every case the incident report is written and, unless it was a dry run, published
   * and announced as `<outcome> <state>` (e.g. "rollback completed"). Aborted and failed rollbacks end
   * the workflow as failed, so the UI shows them red, with the final status as details. Last of all
   * the system's lock is released, so the next rollback may start.
   */
  async settle<R>(body: () => Promise<R>, outcome: string): Promise<R> {
    try {
      return await this.settleBody(body, outcome);
    } finally {
      await CancellationScope.nonCancellable(() => this.releaseLock());
    }
  }

  /**
   * Tells the system's lock this rollback is done. The lock lets go only for its holder, so a release
   * from a rollback that was refused changes nothing. Histories recorded before the lock existed did
   * not send it; `patched` keeps them replaying.
   */
  private async releaseLock(): Promise<void> {
    if (!this.mayHoldLock || !patched('release-system-lock')) return;
    const { system } = this.board.view;
    await getExternalWorkflowHandle(lockWorkflowId(system))
      .signal(releaseLockSignal, { workflowId: workflowInfo().workflowId })
      .catch(() => undefined); // no lock running (taken over, or never taken): nothing to release
  }

  private async settleBody<R>(body: () => Promise<R>, outcome: string): Promise<R> {
    let result: R | undefined;
    let failure: StopRollback | null = null;
    // The abort handler only records the request; this stops the running step (see inbox.ts for why).
    void condition(() => this.inbox.aborted !== null).then(() => this.steps.cancelRunningStep());
    try {
      result = await body();
      this.board.setState('completed', this.board.view.dryRun ? dryRunOutcome(this.board.view.blockers) : 'rollback completed');
    } catch (err) {
      if (err instanceof ApplicationFailure && this.steps.undoable === 0) {
        // A refusal before anything changed (unknown system, another rollback running): end as failed.
        this.board.end();
        this.board.setState('failed', err.message);
        for (const message of this.inbox.take()) this.inbox.refuseStale(message);
        throw err;
      }
      if (!(err instanceof StopRollback) && !(err instanceof ApplicationFailure)) throw err;
      // A refusal after something changed is a failure like any other: undo what was done.
      failure = err instanceof StopRollback ? err : new StopRollback('compensate', err.message);
      if (failure.mode === 'compensate') {
        if (patched('announce-state-changes')) {
          await CancellationScope.nonCancellable(() => this.announce({ title: `${this.board.view.workflowType} failed; undoing its changes`, text: failure!.why, severity: 'critical' }, { state: 'compensating' }));
        }
        await this.steps.compensate();
        const leftovers = this.board.view.compensationFailures;
        this.board.setState('failed', leftovers.length ? `compensated with ${leftovers.length} undo failure(s): ${leftovers.join('; ')}` : 'failed; completed steps undone, snapshot restored');
      } else {
        this.board.setState('aborted', `aborted: ${failure.why}; steps done so far are left as they are`);
      }
    }
    this.board.end();
    for (const message of this.inbox.take()) this.inbox.refuseStale(message);
    await CancellationScope.nonCancellable(() => this.report(outcome));
    if (failure) {
      const { workflowType, system, state, compensationFailures } = this.board.view;
      throw ApplicationFailure.create({
        message: `${workflowType} of ${system} ${state}: ${failure.why}`,
        type: state === 'aborted' ? 'RollbackAborted' : 'RollbackFailed',
        nonRetryable: true,
        details: [{ state, compensationFailures }],
      });
    }
    return result as R;
  }
}
