/**
 * `approve`, `reject`, `decide`, `abort`: sent as Temporal Updates, so the workflow's own validator
 * answers at once whether it counts (`REFUSED: mallory is not an approver for role oncall ...`), and
 * a refusal never enters the history. With no worker running, an Update would wait for one: then the
 * request goes as a signal, which the workflow takes (or refuses) when a worker starts.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { DECISION_ACTIONS, type DecisionAction, type SignalName } from '../contract/index.ts';
import { EXIT_REFUSED, oneOf, parseCommand, positionals, required, UsageError } from './args.ts';
import { describe, endedAs, NoWorkerError, queryStatus, withTemporal } from './temporal.ts';
import { abortSignal, abortUpdate, approveSignal, approveUpdate, decideSignal, decideUpdate, rejectSignal, rejectUpdate } from '../contract/messages.ts';

const ACTIONS: readonly DecisionAction[] = DECISION_ACTIONS;

type Values = { by: string; comment?: string; reason?: string; action?: string };

interface SignalCommand {
  usage: string;
  options: { comment?: true; reason?: true; action?: true };
  /** The payload the workflow takes, from the flags. */
  payload(values: Values): Record<string, unknown>;
  update(handle: WorkflowHandle, payload: Record<string, unknown>): Promise<string>;
  signal(handle: WorkflowHandle, payload: Record<string, unknown>): Promise<void>;
}

const withComment = (v: Values) => ({ by: v.by, ...(v.comment !== undefined && { comment: v.comment }) });

export const signalCommands: Record<SignalName, SignalCommand> = {
  approve: {
    usage: 'Usage: rollback approve <workflowId> --by <you> [--comment "<text>"]\n\nApproves the gate the rollback waits at.',
    options: { comment: true },
    payload: withComment,
    update: (h, p) => h.executeUpdate(approveUpdate, { args: [p as { by: string }] }),
    signal: (h, p) => h.signal(approveSignal, p as { by: string }),
  },
  reject: {
    usage: 'Usage: rollback reject <workflowId> --by <you> --reason "<why>"\n\nRejects the gate the rollback waits at: the rollback stops there.',
    options: { reason: true },
    payload: (v) => ({ by: v.by, reason: v.reason }),
    update: (h, p) => h.executeUpdate(rejectUpdate, { args: [p as { by: string; reason: string }] }),
    signal: (h, p) => h.signal(rejectSignal, p as { by: string; reason: string }),
  },
  decide: {
    usage: `Usage: rollback decide <workflowId> --by <you> --action ${ACTIONS.join('|')}\n\nDecides what happens after a failed step: run it again, go on without it, undo what was done, or stop.`,
    options: { action: true },
    payload: (v) => ({ by: v.by, action: v.action }),
    update: (h, p) => h.executeUpdate(decideUpdate, { args: [p as { by: string; action: DecisionAction }] }),
    signal: (h, p) => h.signal(decideSignal, p as { by: string; action: DecisionAction }),
  },
  abort: {
    usage: 'Usage: rollback abort <workflowId> --by <you> --reason "<why>"\n\nStops the rollback where it stands; completed steps are left as they are.',
    options: { reason: true },
    payload: (v) => ({ by: v.by, reason: v.reason }),
    update: (h, p) => h.executeUpdate(abortUpdate, { args: [p as { by: string; reason: string }] }),
    signal: (h, p) => h.signal(abortSignal, p as { by: string; reason: string }),
  },
};

export async function sendSignal(name: SignalName, argv: string[]): Promise<number> {
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
  const payload = command.payload({ by, comment: values.comment, reason, action });

  return withTemporal(async (temporal) => {
    const handle = temporal.client.workflow.getHandle(id);
    const description = await describe(temporal, id);
    if (description.status.name !== 'RUNNING') {
      console.error(`not sent: ${id} has ended (${endedAs(description)}); there is nothing left to send it to. See: rollback status ${id}`);
      return EXIT_REFUSED;
    }
    const worker = await queryStatus(temporal, handle).catch((err: unknown) => {
      if (err instanceof NoWorkerError) return null;
      throw err;
    });
    if (!worker) {
      await command.signal(handle, payload);
      console.error(`sent ${name} to ${id} as a signal, but no worker is running to act on it: it will be acted on (or refused) when a worker starts.`);
      return 1;
    }
    try {
      const answer = await command.update(handle, payload);
      if (answer.startsWith('refused: ') || answer.startsWith('not applied: ')) {
        console.error(`REFUSED: ${answer.replace(/^refused: /, '')}`);
        return EXIT_REFUSED;
      }
      console.log(`accepted: ${answer}`);
      const now = await queryStatus(temporal, handle, false);
      console.log(`now: ${now.state}: ${now.details}`);
      return 0;
    } catch (err) {
      // The validator's refusal: it never entered the workflow's history.
      if (err instanceof WorkflowUpdateFailedError) {
        console.error(`REFUSED: ${(err.cause?.message ?? err.message).replace(/^refused: /, '')}`);
        return EXIT_REFUSED;
      }
      throw err;
    }
  });
}
