/**
 * The rollback's status board: the record the `status` query returns and the incident report is
 * written from, kept truthful in the UI too (the RollbackState search attribute and the current
 * details). Everything else writes to it through these methods and reads it through `view`.
 */
import { log, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { searchAttributes } from '../contract/index.ts';
import type { AuditEvent, Blocker, HealthVerdict, PendingDecision, PendingGate, PreflightResult, RollbackState, RollbackStatus, Snapshot, StepRecord } from '../contract/index.ts';
import { statusQuery } from '../contract/messages.ts';

export const now = () => new Date().toISOString();

export interface RollbackIdentity {
  workflowType: string;
  system: string;
  reason: string;
  requestedBy: string;
  dryRun: boolean;
  detectedAt?: string;
}

export class StatusBoard {
  private readonly status: RollbackStatus;
  private preflightBlockers: Blocker[] = [];

  constructor(
    identity: RollbackIdentity,
    /** First line of the UI's current details, e.g. "sandbox: immediate rollback requested by alice: error rate 14%". */
    private readonly headline: string,
    /** Installed between the status query and the search attributes, where the handlers always were (replay). */
    installHandlers: () => void,
  ) {
    this.status = {
      ...identity,
      detectedAt: identity.detectedAt ?? null,
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
      blockers: [],
      healthAfter: null,
      compensationFailures: [],
      notes: [],
      report: null,
    };
    setHandler(statusQuery, () => this.status);
    installHandlers();
    upsertSearchAttributes([
      { key: searchAttributes.system, value: identity.system },
      { key: searchAttributes.kind, value: identity.workflowType },
      { key: searchAttributes.state, value: 'running' },
    ]);
    this.describe('starting');
  }

  /** What the status query answers; read-only for everyone but the board. */
  get view(): Readonly<RollbackStatus> {
    return this.status;
  }

  /** True once the rollback has completed, failed or been aborted. */
  get ended(): boolean {
    return ['completed', 'failed', 'aborted'].includes(this.status.state);
  }

  record(event: Omit<AuditEvent, 'at'>, at = now()): void {
    this.status.events.push({ at, ...event });
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

  /** A new step record; the caller (the step runner or a gate) keeps it current. */
  addStep(record: StepRecord): StepRecord {
    this.status.steps.push(record);
    this.status.currentStep = record.name;
    return record;
  }

  stepNamed(name: string): StepRecord | undefined {
    return this.status.steps.find((s) => s.name === name);
  }

  setCurrentStep(name: string | null): void {
    this.status.currentStep = name;
  }

  setPendingGate(gate: PendingGate | null): void {
    this.status.pendingGate = gate;
  }

  setPendingDecision(decision: PendingDecision | null): void {
    this.status.pendingDecision = decision;
  }

  addDecisionWait(ms: number): void {
    this.status.decisionWaitMs += ms;
  }

  setSnapshot(snapshot: Snapshot): void {
    this.status.snapshot = snapshot;
  }

  setPlan(plan: unknown): void {
    this.status.plan = plan;
  }

  /** A dry run's blockers found after preflight; those of its preflight checks stay first. */
  setBlockers(blockers: Blocker[]): void {
    this.status.blockers = [...this.preflightBlockers, ...blockers];
  }

  /** Each preflight check's live result; a dry run's failed ones are blockers. */
  setPreflight(results: PreflightResult[], blockers: Blocker[]): void {
    this.status.preflight = results;
    this.preflightBlockers = blockers;
    this.status.blockers = [...blockers, ...this.status.blockers];
  }

  setHealthAfter(verdict: HealthVerdict | null): void {
    this.status.healthAfter = verdict;
  }

  /** A line for the report's "Changes applied" (e.g. the SQL a schema rollback ran). */
  note(...lines: string[]): void {
    this.status.notes.push(...lines);
  }

  compensationFailed(what: string): void {
    this.status.compensationFailures.push(what);
  }

  end(): void {
    this.status.currentStep = null;
    this.status.endedAt = now();
  }

  setReport(markdown: string): void {
    this.status.report = markdown;
  }
}
