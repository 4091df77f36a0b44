/**
 * Keeps requests flowing through the router so metrics move. Bounded: it stops by itself after
 * `maxDurationMs`, and never has more than `concurrency` requests in flight.
 */
export interface LoadResult {
  status: number;
  version: string | null;
}

export async function sendRequest(url: string): Promise<LoadResult> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    const body = (await response.json().catch(() => ({}))) as { version?: string };
    return { status: response.status, version: body.version ?? null };
  } catch {
    return { status: 0, version: null };
  }
}

/** Sends exactly `count` requests, `concurrency` at a time, and returns every answer. */
export async function sendBurst(url: string, count: number, concurrency = 8): Promise<LoadResult[]> {
  const results: LoadResult[] = [];
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      next += 1;
      results.push(await sendRequest(url));
    }
  });
  await Promise.all(lanes);
  return results;
}

export class LoadGenerator {
  sent = 0;
  private timer?: NodeJS.Timeout;
  private inFlight = 0;
  private stopAt = 0;

  constructor(
    private readonly url: string,
    private readonly requestsPerSecond: number,
    private readonly maxDurationMs = 60 * 60_000,
    private readonly concurrency = 32,
  ) {}

  start(): void {
    if (this.requestsPerSecond <= 0) return;
    this.stopAt = Date.now() + this.maxDurationMs;
    const tickMs = 100;
    let owed = 0;
    this.timer = setInterval(() => {
      if (Date.now() > this.stopAt) return this.stop();
      owed += (this.requestsPerSecond * tickMs) / 1000;
      while (owed >= 1 && this.inFlight < this.concurrency) {
        owed -= 1;
        this.inFlight += 1;
        this.sent += 1;
        void sendRequest(this.url).finally(() => (this.inFlight -= 1));
      }
    }, tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
