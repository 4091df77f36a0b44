/**
 * The handlers of the signals every rollback workflow answers (defined in src/contract/messages.ts).
 *
 * A handler never throws: a throwing signal handler fails the workflow task, and every task after it,
 * so one empty signal from the UI's dialog would jam the rollback for good. Each payload is parsed;
 * a malformed one, or a signal name nobody defined, is refused and recorded, and the rollback goes on.
 */
import { setDefaultSignalHandler, setHandler } from '@temporalio/workflow';
import { claimedBy, parseSignalPayload, preview, SIGNALS, type SignalName, type SignalPayload } from '../contract/index.ts';
import { abortSignal, approveSignal, decideSignal, rejectSignal } from '../contract/messages.ts';

/** What the handlers hand a well-formed payload to, and where they record a refusal. */
export interface SignalSink {
  accept<S extends SignalName>(signal: S, payload: SignalPayload<S>): void;
  refuse(by: string, detail: string): void;
}

const definitions = { approve: approveSignal, reject: rejectSignal, decide: decideSignal, abort: abortSignal };

/** Installs the four signal handlers and a default one that records unknown signal names as refused. */
export function installSignalHandlers(sink: SignalSink): void {
  for (const name of SIGNALS) {
    setHandler(definitions[name], (raw: unknown) => {
      try {
        const parsed = parseSignalPayload(name, raw);
        if (parsed.ok) sink.accept(name, parsed.payload);
        else sink.refuse(parsed.by, parsed.why);
      } catch (err) {
        // Unreachable by design; if a bug gets here, refusing beats failing every workflow task.
        sink.refuse('(unknown)', `${name}: not acted on: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }
  setDefaultSignalHandler((name: string, ...args: unknown[]) => {
    sink.refuse(claimedBy(args[0]), `unknown signal ${preview(name)}; this workflow takes ${SIGNALS.join(', ')}`);
  });
}
