/**
 * `approve`, `reject`, `decide`, `abort`: send the signal, then read the workflow's answer. A signal
 * is accepted by Temporal even when the workflow will not act on it (an unlisted approver, no gate
 * waiting), and the workflow records such refusals as `refused` events; the operator must see which.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { abortSignal, approveSignal, decideSignal, rejectSignal, type DecisionAction } from '../../src/workflows/signals.ts';
import type { AuditEvent, RollbackStatus } from '../../src/contract/index.ts';
import { EXIT_REFUSED, oneOf, parseCommand, positionals, required, UsageError } from './args.ts';
import { describe, NoWorkerError, queryStatus, withTemporal, type Temporal } from './temporal.ts';

const ACTIONS: readonly DecisionAction[] = ['retry', 'skip', 'compensate', 'abort'];
/** How long to poll the status query for the workflow's answer. */
const ANSWER_WINDOW_MS = 2000;

interface SignalCommand {
  usage: string;
  options: { comment?: true; reason?: true; action?: true };
  /** What the workflow's event details start with for this signal ("approval refused: ..."). */
  noun: string;
  accepted: AuditEvent['kind'];
  send(handle: WorkflowHandle, values: { by: string; comment?: string; reason?: string; action?: string }): Promise<void>;
}

export const signalCommands: Record<'approve' | 'reject' | 'decide' | 'abort', SignalCommand> = {
  approve: {
    usage: 'Usage: rollback approve <workflowId> --by <you> [--comment "<text>"]\n\nApproves the gate the rollback waits at.',
    options: { comment: true },
    noun: 'approval',
    accepted: 'approved',
    send: (h, v) => h.signal(approveSignal, { by: v.by, ...(v.comment !== undefined && { comment: v.comment }) }),
  },
  reject: {
    usage: 'Usage: rollback reject <workflowId> --by <you> --reason "<why>"\n\nRejects the gate the rollback waits at: the rollback stops there.',
    options: { reason: true },
    noun: 'rejection',
    accepted: 'rejected',
    send: (h, v) => h.signal(rejectSignal, { by: v.by, reason: v.reason! }),
  },
  decide: {
    usage: `Usage: rollback decide <workflowId> --by <you> --action ${ACTIONS.join('|')}\n\nDecides what happens after a failed step: run it again, go on without it, undo what was done, or stop.`,
    options: { action: true },
    noun: 'decision',
    accepted: 'decided',
    send: (h, v) => h.signal(decideSignal, { by: v.by, action: v.action as DecisionAction }),
  },
  abort: {
    usage: 'Usage: rollback abort <workflowId> --by <you> --reason "<why>"\n\nStops the rollback where it stands; completed steps are left as they are.',
    options: { reason: true },
    noun: 'abort',
    accepted: 'abort_requested',
    send: (h, v) => h.signal(abortSignal, { by: v.by, reason: v.reason! }),
  },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The first event after `since` by `by` that answers this kind of signal, or null after the window. */
async function awaitAnswer(temporal: Temporal, handle: WorkflowHandle, since: number, by: string, command: SignalCommand) {
  const deadline = Date.now() + ANSWER_WINDOW_MS;
  let latest: RollbackStatus;
  do {
    latest = await queryStatus(temporal, handle, false); // the worker was just seen answering
    const answer = latest.events
      .slice(since)
      .find((e) => e.by === by && (e.kind === command.accepted || (e.kind === 'refused' && e.detail.startsWith(command.noun))));
    if (answer) return { answer, latest };
    await sleep(100);
  } while (Date.now() < deadline);
  return { answer: null, latest };
}

/**
 * Why the workflow did not answer, when it is certain not to act on the signal: approvals and
 * decisions count only for a gate or failed step waiting when they arrive (src/workflows/rollback.ts).
 */
function notWaitingFor(name: keyof typeof signalCommands, s: RollbackStatus): string | null {
  if (s.endedAt) return `the rollback has already ended (${s.state})`;
  const doing = `it is ${s.state}${s.currentStep ? ` (step ${s.currentStep})` : ''}`;
  const later = 'the workflow records it as refused when it next waits';
  if ((name === 'approve' || name === 'reject') && !s.pendingGate) return `no gate is waiting for approval; ${doing}; ${later}`;
  if (name === 'decide' && !s.pendingDecision) return `no failed step is waiting for a decision; ${doing}; ${later}`;
  if (name === 'abort' && s.events.some((e) => e.kind === 'abort_requested')) return 'an abort was already requested';
  return null;
}

export async function sendSignal(name: keyof typeof signalCommands, argv: string[]): Promise<number> {
  const command = signalCommands[name];
  const { values, positionals: given } = parseCommand(argv, {
    by: { type: 'string' },
    comment: { type: 'string' },
    reason: { type: 'string' },
    action: { type: 'string' },
  });
  const [id] = positionals(given, ['<workflowId>']) as [string];
  const by = required(values.by, 'by', 'your name');
  // Flags that belong to another signal are mistakes worth stopping for (e.g. --reason on approve).
  for (const flag of ['comment', 'reason', 'action'] as const) {
    if (values[flag] !== undefined && !command.options[flag]) throw new UsageError(`--${flag} does not apply to ${name}`);
  }
  const reason = command.options.reason ? required(values.reason, 'reason', 'why') : undefined;
  const action = command.options.action ? oneOf(required(values.action, 'action', ACTIONS.join('|')), ACTIONS, 'action') : undefined;

  return withTemporal(async (temporal) => {
    const handle = temporal.client.workflow.getHandle(id);
    const description = await describe(temporal, id);
    if (description.status.name !== 'RUNNING') {
      console.error(`not sent: ${id} has ended (${description.status.name.toLowerCase()}); there is nothing left to send it to. See: rollback status ${id}`);
      return EXIT_REFUSED;
    }
    const before = await queryStatus(temporal, handle).catch((err: unknown) => {
      if (err instanceof NoWorkerError) return null;
      throw err;
    });
    await command.send(handle, { by, comment: values.comment, reason, action });
    if (!before) {
      console.error(`sent ${command.noun} to ${id}, but no worker is running to act on it: it will be acted on (or refused) when a worker starts.`);
      return 1;
    }
    const { answer, latest } = await awaitAnswer(temporal, handle, before.events.length, by, command);
    if (!answer) {
      const why = notWaitingFor(name, latest);
      if (why) {
        console.error(`NOT ACCEPTED: ${why}`);
        return EXIT_REFUSED;
      }
      console.error(`sent, but ${id} has not answered within ${ANSWER_WINDOW_MS / 1000} s (the worker may be busy); check: rollback status ${id}`);
      return 1;
    }
    if (answer.kind === 'refused') {
      console.error(`REFUSED: ${answer.detail}`);
      return EXIT_REFUSED;
    }
    const where = answer.gate ? ` at gate ${answer.gate}` : answer.step ? ` on step ${answer.step}` : '';
    console.log(`accepted: ${answer.kind.replace('_', ' ')} by ${by}${where}${answer.detail ? `: ${answer.detail}` : ''}`);
    console.log(`now: ${latest.state}: ${latest.details}`);
    return 0;
  });
}
