/**
 * Signals and the status query every rollback workflow answers. Defined once, imported by workflows,
 * the operator CLI and tests; the names are the public contract (DESIGN.md).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RollbackStatus } from './status.ts';

export interface Approval {
  by: string;
  comment?: string;
}
export interface Rejection {
  by: string;
  reason: string;
}
export type DecisionAction = 'retry' | 'skip' | 'compensate' | 'abort';
export interface Decision {
  by: string;
  action: DecisionAction;
}
export interface AbortRequest {
  by: string;
  reason: string;
}

export const approveSignal = defineSignal<[Approval]>('approve');
export const rejectSignal = defineSignal<[Rejection]>('reject');
export const decideSignal = defineSignal<[Decision]>('decide');
export const abortSignal = defineSignal<[AbortRequest]>('abort');
export const statusQuery = defineQuery<RollbackStatus>('status');
