/**
 * Every signal, update and query the workflows answer, defined once under the contract's names: the
 * workflows set their handlers on these, and the CLI, the triggers and the tests send and ask through
 * the same objects, so a name or a payload type cannot drift between them.
 *
 * Payloads a person types (the UI's Signal and Update dialogs) arrive as whatever was typed: each
 * handler parses its payload and refuses a malformed one (src/contract/payloads.ts), never throws.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { RELEASE_LOCK_SIGNAL, STATUS_QUERY, type SignalName, type WatchdogSignalName } from './names.ts';
import type { AbortRequest, Approval, Decision, Rejection, SignalPayload } from './payloads.ts';
import type { DrillStatus, RollbackStatus, WatchdogStatus } from './status.ts';

// Rollbacks (fullRollback, dataRestore, phaseRollback, configRollback): the four requests a person
// sends, as signals (taken when a worker runs) and as Updates (answered at once, refusals unrecorded).
export const approveSignal = defineSignal<[Approval]>('approve' satisfies SignalName);
export const rejectSignal = defineSignal<[Rejection]>('reject' satisfies SignalName);
export const decideSignal = defineSignal<[Decision]>('decide' satisfies SignalName);
export const abortSignal = defineSignal<[AbortRequest]>('abort' satisfies SignalName);
export const approveUpdate = defineUpdate<string, [SignalPayload<'approve'>]>('approve' satisfies SignalName);
export const rejectUpdate = defineUpdate<string, [SignalPayload<'reject'>]>('reject' satisfies SignalName);
export const decideUpdate = defineUpdate<string, [SignalPayload<'decide'>]>('decide' satisfies SignalName);
export const abortUpdate = defineUpdate<string, [SignalPayload<'abort'>]>('abort' satisfies SignalName);
export const statusQuery = defineQuery<RollbackStatus>(STATUS_QUERY);

// rollbackWatchdog: approvers pause and resume it; payloads parsed by the watchdog (any JSON may come).
export const pauseSignal = defineSignal<[unknown]>('pause' satisfies WatchdogSignalName);
export const resumeSignal = defineSignal<[unknown]>('resume' satisfies WatchdogSignalName);
export const watchdogStatusQuery = defineQuery<WatchdogStatus>(STATUS_QUERY);

// rollbackDrill
export const drillStatusQuery = defineQuery<DrillStatus>(STATUS_QUERY);

// rollbackLock: a rollback releases its system's lock as it ends, naming itself (any payload is accepted).
export const releaseLockSignal = defineSignal<[unknown]>(RELEASE_LOCK_SIGNAL);
