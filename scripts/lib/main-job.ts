/**
 * What a long-running job of this project (`npm start`, `npm run cluster`) does with the services it
 * starts: stop them all, once, however many signals arrive; stop them if whoever started it dies;
 * restart a crashed worker with backoff while the rest runs on; stop everything if a service the
 * others need (a Temporal server, the sandbox) exits.
 */
import { TASK_QUEUE } from '../../src/contract/index.ts';
import { stopService, type Service } from './processes.ts';

/** Restarts after a crash: 1 s, doubling to 30 s; back to 1 s once a run has lasted a minute. */
const RESTART_DELAYS = { firstMs: 1000, maxMs: 30_000, healthyAfterMs: 60_000 };

export class MainJob {
  private readonly services: Service[] = [];
  private stopping = false;
  /** Set once the workers first poll: from then on a worker exit is a crash to recover from. */
  private ready = false;

  constructor(private readonly say: (line: string) => void) {}

  /**
   * Stop on SIGINT/SIGTERM/SIGHUP, however many arrive. Ctrl-C in a terminal signals every process
   * of the foreground group (npm, the bootstrap and us), and the bootstrap passes its own on: a
   * handler that went away after the first signal would let the second kill us before the services
   * (each in its own group, so untouched by the terminal) were stopped. SIGHUP: the terminal closed.
   */
  stopOnSignals(): void {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        if (this.stopping) this.say(`${signal} again: already stopping (a worker may take up to its shutdown grace time)`);
        void this.stopAll(0);
      });
    }
    // Whoever reads our output may go first (`npm start | tee job.log`: Ctrl-C ends tee too). Writing to
    // that closed pipe must not kill us before the services are stopped: such writes are dropped.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
    // Whoever started us died without a signal for us (npm does that on SIGTERM): stop everything too.
    const parent = process.ppid;
    setInterval(() => process.ppid !== parent && void this.stopAll(0), 500).unref();
  }

  /** Stops every service, newest first (workers drain before the server they talk to), then exits. */
  async stopAll(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.say(`stopping: ${[...this.services].reverse().map((s) => s.name).join(', ')}`);
    for (const service of [...this.services].reverse()) await stopService(service);
    this.say('all stopped');
    process.exit(code);
  }

  /** A service the others need: if it exits, everything stops. */
  essential(service: Service): Service {
    this.services.push(service);
    void service.exited.then((code) => {
      if (!this.stopping) {
        this.say(`${service.name} exited unexpectedly (code ${code}); stopping the rest`);
        void this.stopAll(1);
      }
    });
    return service;
  }

  /** From now on a worker that exits is restarted (before, it stops everything: see supervise). */
  markReady(): void {
    this.ready = true;
  }

  /**
   * Keeps a worker running. A crashed worker loses nothing (every rollback resumes from its history
   * on the next worker), so it is started again, with backoff, while the rest goes on. One that dies
   * before the job was ready (a broken runbook or environment, printed above) stops everything:
   * restarting would only repeat it.
   */
  supervise(start: () => Service): void {
    let delayMs = RESTART_DELAYS.firstMs;
    const keep = (worker: Service, startedAt: number): void =>
      void worker.exited.then(async (code) => {
        if (this.stopping) return;
        if (!this.ready) {
          this.say(`${worker.name} exited (code ${code}) before it polled task queue '${TASK_QUEUE}'; see its error above. Stopping the rest`);
          void this.stopAll(1);
          return;
        }
        const ranMs = Date.now() - startedAt;
        if (ranMs >= RESTART_DELAYS.healthyAfterMs) delayMs = RESTART_DELAYS.firstMs;
        this.say(`${worker.name} exited unexpectedly (${code === 128 ? 'killed by a signal' : `code ${code}`}) after ${Math.round(ranMs / 1000)} s; restarting it in ${delayMs / 1000} s (rollbacks resume where they were)`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, RESTART_DELAYS.maxMs);
        if (this.stopping) return;
        this.services.splice(this.services.indexOf(worker), 1);
        const next = start();
        this.services.push(next);
        this.say(`${worker.name} restarted (pid ${next.child.pid})`);
        keep(next, Date.now());
      });
    const first = start();
    this.services.push(first);
    keep(first, Date.now());
  }

  /** Called when start-up fails: says why and stops what was started. */
  fail(err: unknown): void {
    this.say(err instanceof Error ? err.message : String(err));
    void this.stopAll(1);
  }
}
