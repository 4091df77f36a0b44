/**
 * Steps with compensation: each step is recorded on the board as it runs; a step that changed
 * something registers its undo; a failed step waits for a person to decide (retry, skip, compensate,
 * abort); compensation undoes the completed steps newest first and keeps going past an undo that fails.
 */
import { ApplicationFailure, CancellationScope, CancelledFailure, ActivityFailure, isCancellation, log, TemporalFailure } from '@temporalio/workflow';
import type { AbortRequest, DecisionAction } from '../contract/index.ts';
import { now, type StatusBoard } from './board.ts';
import type { Inbox } from './inbox.ts';
import type { StepKind, StepRecord } from '../contract/index.ts';

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

/** Asks a person what to do after `step` failed with `error`. */
export type Decide = (step: { name: string; skippable?: boolean }, error: string) => Promise<DecisionAction>;

export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return failureMessage(err.cause);
  if (err instanceof CancelledFailure) return 'cancelled';
  return err instanceof Error ? err.message : String(err);
}

export class StepRunner {
  private readonly compensations: { step: string | null; description: string; undo: () => Promise<unknown> }[] = [];
  private running: CancellationScope | null = null;

  constructor(
    private readonly board: StatusBoard,
    private readonly inbox: Inbox,
    private readonly decide: Decide,
  ) {}

  /** How many completed steps compensation would undo. */
  get undoable(): number {
    return this.compensations.length;
  }

  /**
   * Registers compensation for work spanning several steps (a phase, undone as one: its actions newest
   * first, restarts last). Such an undo marks its own steps and reports its own failures on the board.
   */
  addUndo(description: string, undo: () => Promise<unknown>): void {
    this.compensations.unshift({ step: null, description, undo });
  }

  /** Cancels the step that is running, if any (abort). */
  cancelRunningStep(): void {
    this.running?.cancel();
  }

  /**
   * Runs one step. On failure (after the activity's own bounded retries) it waits for `decide`:
   * retry runs it again, skip goes on without it, compensate and abort stop the rollback. A refusal
   * from a preflight or snapshot step (nothing changed yet: unknown system, another rollback running,
   * an unknown flag) ends the rollback with its own message instead.
   */
  async run<T>(spec: StepSpec<T>): Promise<T | undefined> {
    const record: StepRecord = { name: spec.name, kind: spec.kind, description: spec.description, startedAt: now(), endedAt: null, outcome: 'running', runs: 0 };
    this.board.addStep(record);
    for (;;) {
      const aborted = this.inbox.aborted;
      if (aborted) throw new StopRollback('abort', `aborted by ${aborted.by}: ${aborted.reason}`);
      record.runs += 1;
      record.outcome = 'running';
      this.board.setCurrentStep(spec.name);
      this.board.setState('running', spec.description);
      try {
        const result = await this.cancellable(spec.run);
        record.outcome = 'succeeded';
        record.endedAt = now();
        delete record.error;
        if (spec.undo) this.compensations.unshift({ step: spec.name, description: spec.description, undo: () => spec.undo!(result) });
        return result;
      } catch (err) {
        record.endedAt = now();
        const abort = this.inbox.aborted as AbortRequest | null; // set by an abort while we awaited (TypeScript assumes it is still null)
        if (abort && isCancellation(err)) {
          record.outcome = 'aborted';
          throw new StopRollback('abort', `aborted by ${abort.by} during ${spec.name}: ${abort.reason}`);
        }
        // A refusal surfaced by a step that reads before anything changes (unknown system, unknown flag): it stands.
        if ((spec.kind === 'preflight' || spec.kind === 'snapshot') && err instanceof ApplicationFailure) throw err;
        // Anything else Temporal reports (an activity, a child workflow, a timeout) may leave something
        // changed: a person decides. A plain Error is a bug in workflow code: Temporal retries the task.
        if (!(err instanceof TemporalFailure) || isCancellation(err)) throw err;
        record.outcome = 'failed';
        record.error = failureMessage(err);
        const action = await this.decide(spec, record.error);
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
      this.running = CancellationScope.current();
      try {
        return await run();
      } finally {
        this.running = null;
      }
    });
  }

  /** Undoes completed steps newest first; an undo that fails is reported and the rest still run. */
  async compensate(): Promise<void> {
    this.board.setState('compensating', `undoing ${this.compensations.length} completed step(s), newest first`);
    for (const { step, description, undo } of this.compensations.splice(0)) {
      const record = step === null ? undefined : this.board.stepNamed(step);
      try {
        this.board.describe(`undoing ${step ?? description}${step ? `: ${description}` : ''}`);
        await undo();
        if (record) record.outcome = 'compensated';
      } catch (err) {
        if (record) record.outcome = 'compensation_failed';
        this.board.compensationFailed(`${step ?? description}: ${failureMessage(err)}`);
        log.warn('undo failed; continuing with the rest', { step: step ?? description, error: failureMessage(err) });
      }
    }
  }
}
