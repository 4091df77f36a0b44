/**
 * `approve`, `reject`, `decide`, `abort`: sent as Temporal Updates, so the workflow's own validator
 * answers at once whether it counts (`REFUSED: mallory is not an approver for role oncall ...`), and
 * a refusal never enters the history. With no worker running, an Update would wait for one: then the
 * request goes as a signal, which the workflow takes (or refuses) when a worker starts.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { DECISION_ACTIONS, SIGNALS, SIGNING_NAMESPACE, type DecisionAction, type SignalName } from '../contract/index.ts';
import { EXIT_REFUSED, oneOf, parseCommand, positionals, required, UsageError } from './args.ts';
import { readKey, signedPayload, signRequest, statementFor } from './sign.ts';
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

const KEY_NOTE = `\n\n--key signs the request with an OpenSSH ed25519 key: a private key file (unencrypted), or a public key file (~/.ssh/id_ed25519.pub) whose private half ssh-agent holds (passphrase-protected and hardware keys work this way): runbooks with approvals.signed or a gate's signed: required count only signed requests by a key listed for you.`;

/** The flags approve, reject, decide and abort take (each uses some of them). */
export const SIGNAL_OPTIONS = {
  by: { type: 'string' },
  comment: { type: 'string' },
  reason: { type: 'string' },
  action: { type: 'string' },
} as const;

/** The request `name` makes from the flags; a flag missing or belonging to another request is a usage error. */
export function requestFrom(name: SignalName, values: { by?: string; comment?: string; reason?: string; action?: string }): Record<string, unknown> {
  const command = signalCommands[name];
  const by = required(values.by, 'by', 'your name');
  // Flags that belong to another signal are mistakes worth stopping for (e.g. --reason on approve).
  for (const flag of ['comment', 'reason', 'action'] as const) {
    if (values[flag] !== undefined && !command.options[flag]) throw new UsageError(`--${flag} does not apply to ${name}`);
  }
  const reason = command.options.reason ? required(values.reason, 'reason', 'why') : undefined;
  const action = command.options.action ? oneOf(required(values.action, 'action', ACTIONS.join('|')), ACTIONS, 'action') : undefined;
  return command.payload({ by, comment: values.comment, reason, action });
}

const withComment = (v: Values) => ({ by: v.by, ...(v.comment !== undefined && { comment: v.comment }) });

export const signalCommands: Record<SignalName, SignalCommand> = {
  approve: {
    usage: `Usage: rollback approve <workflowId> --by <you> [--comment "<text>"] [--key <key file>]\n\nApproves the gate the rollback waits at.${KEY_NOTE}`,
    options: { comment: true },
    payload: withComment,
    update: (h, p) => h.executeUpdate(approveUpdate, { args: [p as { by: string }] }),
    signal: (h, p) => h.signal(approveSignal, p as { by: string }),
  },
  reject: {
    usage: `Usage: rollback reject <workflowId> --by <you> --reason "<why>" [--key <key file>]\n\nRejects the gate the rollback waits at: the rollback stops there.${KEY_NOTE}`,
    options: { reason: true },
    payload: (v) => ({ by: v.by, reason: v.reason }),
    update: (h, p) => h.executeUpdate(rejectUpdate, { args: [p as { by: string; reason: string }] }),
    signal: (h, p) => h.signal(rejectSignal, p as { by: string; reason: string }),
  },
  decide: {
    usage: `Usage: rollback decide <workflowId> --by <you> --action ${ACTIONS.join('|')} [--key <key file>]\n\nDecides what happens after a failed step: run it again, go on without it, undo what was done, or stop.${KEY_NOTE}`,
    options: { action: true },
    payload: (v) => ({ by: v.by, action: v.action }),
    update: (h, p) => h.executeUpdate(decideUpdate, { args: [p as { by: string; action: DecisionAction }] }),
    signal: (h, p) => h.signal(decideSignal, p as { by: string; action: DecisionAction }),
  },
  abort: {
    usage: `Usage: rollback abort <workflowId> --by <you> --reason "<why>" [--key <key file>]\n\nStops the rollback where it stands; completed steps are left as they are.${KEY_NOTE}`,
    options: { reason: true },
    payload: (v) => ({ by: v.by, reason: v.reason }),
    update: (h, p) => h.executeUpdate(abortUpdate, { args: [p as { by: string; reason: string }] }),
    signal: (h, p) => h.signal(abortSignal, p as { by: string; reason: string }),
  },
};

export async function sendSignal(name: SignalName, argv: string[]): Promise<number> {
  const command = signalCommands[name];
  const { values, positionals: given } = parseCommand(argv, { ...SIGNAL_OPTIONS, key: { type: 'string' } });
  const [id] = positionals(given, ['<workflowId>']) as [string];
  let payload = requestFrom(name, values);
  if (values.key !== undefined) readKey(values.key); // a key that cannot be used is a usage error, before anything is sent

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
    if (!worker && values.key !== undefined) {
      console.error(`not sent: a signed ${name} names the gate and the plan, read from the status query, and no worker is running to answer it. Start one and try again.`);
      return 1;
    }
    if (values.key !== undefined) payload = await signRequest(temporal, handle, name, payload, values.key);
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

/** `rollback sign`: prints a signed payload to paste into the UI, or the statement to sign with ssh-keygen. */
export async function sign(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, { ...SIGNAL_OPTIONS, key: { type: 'string' } });
  const [request, id] = positionals(given, ['approve|reject|decide|abort', '<workflowId>']) as [string, string];
  const name = oneOf(request, SIGNALS, 'request');
  const payload = requestFrom(name, values);
  const key = values.key !== undefined ? readKey(values.key) : null;
  return withTemporal(async (temporal) => {
    const signing = await statementFor(temporal, temporal.client.workflow.getHandle(id), name, payload);
    if (key) {
      console.log(JSON.stringify(await signedPayload(key, signing), null, 2));
      return 0;
    }
    process.stdout.write(signing.statement);
    console.error(`\nSave the statement above exactly (it ends in one newline) as statement.txt, sign it with\n  ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n ${SIGNING_NAMESPACE} statement.txt\nand send ${name} with this payload, its sshsig the contents of statement.txt.sig:`);
    console.error(JSON.stringify({ ...signing.payload, signature: { ...signing.claims, sshsig: '<contents of statement.txt.sig>' } }));
    return 0;
  });
}
