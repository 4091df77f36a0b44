/**
 * What a benchmark must undo however it ends: what it started and made, undone newest first, once,
 * whoever asks first (its own `finally`, or Ctrl-C).
 */

/** A list of undo steps: add one as soon as there is something to undo, run them all at the end. */
export class Cleanup {
  private readonly steps = new Set<{ what: string; undo: () => unknown }>();
  private running: Promise<void> | undefined;

  /**
   * Adds `undo`, described by `what` for the message if it fails. Returns a function that takes it off
   * again, for a thing that ended by itself (a workflow that completed).
   */
  add(what: string, undo: () => unknown): () => void {
    const step = { what, undo };
    this.steps.add(step);
    return () => this.steps.delete(step);
  }

  /**
   * Runs every step, newest first; a step that fails is reported on stderr and the others still run,
   * so one stuck thing does not leave the rest behind. A second call returns the first one's promise.
   */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await step.undo();
        } catch (err) {
          console.error(`cleanup: ${step.what} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }

  /**
   * On SIGINT or SIGTERM: prints `message`, runs the cleanup and exits 130. `interrupted` then names the
   * signal (so the error it causes, such as a terminated workflow, is not reported as the failure);
   * `release()` removes the handlers.
   */
  onSignals(message: string): { readonly interrupted: NodeJS.Signals | null; release(): void } {
    let interrupted: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      interrupted = signal;
      console.error(`\n${signal}: ${message}`);
      void this.run().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    return {
      get interrupted() {
        return interrupted;
      },
      release() {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      },
    };
  }
}
