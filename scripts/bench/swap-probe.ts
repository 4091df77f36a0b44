/**
 * bench:restore's probe of the swap window from outside the workflow: how long connections to the live
 * database's name are refused while the restored database is swapped in.
 */
import pg from 'pg';
import { sleep } from './common.ts';
import { median, round } from './stats.ts';

/** How often the probe tries to connect: its resolution. */
export const PROBE_INTERVAL_MS = 5;
/** At most this many attempts unanswered at once; a slower server skips attempts rather than piling them up. */
const PROBE_IN_FLIGHT = 8;
/** The workflow's steps from which the swap may begin: the probe starts once the status shows one. */
const STEPS_BEFORE_SWAP_ENDS = ['verify-side', 'stop-writers', 'swap', 'verify-live'];

export interface ProbeResult {
  /** Longest stretch of refused connections: first refused attempt's start to the next accepted attempt's start. */
  longestRefusedMs: number | null;
  attempts: number;
  refused: number;
  /** Median time from one attempt's start to the next (the probe's resolution). */
  attemptPeriodMs: number | null;
  /** Median time one attempt took to be accepted or refused. */
  medianConnectMs: number | null;
  /** Attempts not made because PROBE_IN_FLIGHT were still unanswered. */
  skipped: number;
  /** true when the probe may have missed the start of the swap (its first attempt was already refused). */
  startedLate: boolean;
  /** true when the refusals had not ended when the probe stopped. */
  unfinished: boolean;
  errors: string[];
}

/** A probe told each step of the run as the status shows it; `stop()` gives null if it never started. */
export interface SwapProbe {
  onStep(step: string): void;
  stop(): Promise<ProbeResult | null>;
}

/**
 * A probe of the live name at `url` that starts itself when the run reaches verify-side or a later
 * step. Told the swap or verify-live first (the swap passed between two status reads), it starts late
 * and says so.
 */
export function swapProbe(url: string): SwapProbe {
  let probe: { stop(): Promise<ProbeResult> } | null = null;
  return {
    onStep(step) {
      if (!probe && STEPS_BEFORE_SWAP_ENDS.includes(step)) probe = startSwapProbe(url, step === 'swap' || step === 'verify-live');
    },
    stop: async () => (probe ? probe.stop() : null),
  };
}

/** How a run's probe is shown on its progress line. */
export function probeSummary(probe: ProbeResult | null): string {
  if (!probe) return 'not started (the swap passed between two status polls)';
  if (probe.longestRefusedMs === null) return `saw no refusal in ${probe.attempts} attempts (the window fell between attempts)`;
  return `${probe.longestRefusedMs} ms${probe.startedLate ? ' (started late: a lower bound, left out)' : ''}`;
}

/** One connection attempt: true if accepted; a refusal's message is kept in `errors` (the first five kinds). */
async function tryConnect(url: string, errors: string[]): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return true;
  } catch (err) {
    const message = (err as Error).message;
    if (!errors.includes(message) && errors.length < 5) errors.push(message);
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Watches the swap from outside. Until the maintenance flag turns on (stop-writers ran; the swap is
 * next) it reads the flag every 5 ms on one connection, which costs next to nothing; from then on it
 * opens a new connection to the live name every 5 ms and records the longest stretch of refusals,
 * stopping 250 ms after connections are accepted again.
 */
function startSwapProbe(url: string, late: boolean): { stop(): Promise<ProbeResult> } {
  let stopping = false;
  const result: ProbeResult = { longestRefusedMs: null, attempts: 0, refused: 0, attemptPeriodMs: null, medianConnectMs: null, skipped: 0, startedLate: late, unfinished: false, errors: [] };
  const run = async () => {
    if (!late) {
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => undefined);
      try {
        await c.connect();
        while (!stopping) {
          const { rows } = await c.query<{ enabled: boolean }>("SELECT enabled FROM feature_flags WHERE name = 'maintenance_mode'");
          if (rows[0]?.enabled === true) break;
          await sleep(PROBE_INTERVAL_MS);
        }
      } catch {
        result.startedLate = true; // the swap ended this connection: it is already under way
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    // A new attempt every 5 ms whether or not the last one has answered (a connection takes about as
    // long), so the resolution is the interval; at most PROBE_IN_FLIGHT at once.
    const attempts: { start: number; end: number; accepted: boolean }[] = [];
    const pending = new Set<Promise<void>>();
    let lastRefusedStart: number | null = null;
    let acceptedSince = 0;
    let skipped = 0;
    while (!stopping) {
      const start = performance.now();
      if (pending.size < PROBE_IN_FLIGHT) {
        const attempt: Promise<void> = tryConnect(url, result.errors).then((accepted) => {
          attempts.push({ start, end: performance.now(), accepted });
          if (!accepted) {
            if (lastRefusedStart === null || start > lastRefusedStart) lastRefusedStart = start;
            acceptedSince = 0;
          } else if (lastRefusedStart !== null && start > lastRefusedStart) acceptedSince += 1;
          pending.delete(attempt);
        });
        pending.add(attempt);
      } else skipped += 1;
      // The swap is over once connections are accepted again for 250 ms: stop adding load to verify-live.
      if (lastRefusedStart !== null && acceptedSince >= 10 && start - lastRefusedStart >= 250) break;
      await sleep(Math.max(0, PROBE_INTERVAL_MS - (performance.now() - start)));
    }
    await Promise.all(pending);
    attempts.sort((a, b) => a.start - b.start);
    let stretchStart: number | null = null;
    for (const { start, accepted } of attempts) {
      if (!accepted) stretchStart ??= start;
      else if (stretchStart !== null) {
        result.longestRefusedMs = round(Math.max(result.longestRefusedMs ?? 0, start - stretchStart));
        stretchStart = null;
      }
    }
    if (stretchStart !== null) {
      result.unfinished = true;
      result.longestRefusedMs = round(Math.max(result.longestRefusedMs ?? 0, attempts.at(-1)!.end - stretchStart));
    }
    result.attempts = attempts.length;
    result.refused = attempts.filter((a) => !a.accepted).length;
    result.skipped = skipped;
    result.startedLate ||= attempts[0]?.accepted === false;
    const gaps = attempts.slice(1).map((a, i) => a.start - attempts[i]!.start);
    result.attemptPeriodMs = gaps.length > 0 ? round(median(gaps)) : null;
    const durations = attempts.map((a) => a.end - a.start);
    result.medianConnectMs = durations.length > 0 ? round(median(durations)) : null;
  };
  const running = run();
  return {
    async stop() {
      stopping = true;
      await running;
      return result;
    },
  };
}
