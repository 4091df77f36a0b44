/**
 * The Fly Machines API's rate limits, kept on our side: 1 request per second per action per Machine
 * (per app for creates), bursts up to 3; Get Machine 5 per second, bursts up to 10. Each client paces
 * its calls with a token bucket per action and Machine; a 429 that still comes is waited out by the
 * shared retry policy (retry-policy.ts).
 *
 * API reference: https://fly.io/docs/machines/api/working-with-machines-api/ (rate limits)
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** The API's actions, as its rate limits count them. */
export type Action =
  | 'list' | 'create' | 'get' | 'update' | 'stop' | 'destroy' | 'restart' | 'wait' | 'lease' | 'lease-get' | 'lease-release' | 'metadata' | 'versions'
  | 'secrets-list' | 'secret-set' | 'secret-delete';

/**
 * Paces calls per action and Machine (or app) to the documented limit: a bucket of 3 refilled at
 * 1 per second (Get Machine: 10 at 5 per second), so bursts stay within the burst limit and a run of
 * calls settles to the sustained one.
 */
export class RateLimits {
  private readonly buckets = new Map<string, { tokens: number; at: number; turn: Promise<void> }>();

  take(action: Action, id: string): Promise<void> {
    const [perSecond, burst] = action === 'get' ? [5, 10] : [1, 3];
    const key = `${action} ${id}`;
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { tokens: burst, at: Date.now(), turn: Promise.resolve() }));
    const b = bucket;
    const refill = () => {
      const now = Date.now();
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    };
    const mine = b.turn.then(async () => {
      refill();
      if (b.tokens < 1) {
        await sleep(Math.ceil(((1 - b.tokens) / perSecond) * 1000));
        refill();
      }
      b.tokens -= 1;
    });
    b.turn = mine;
    return mine;
  }
}
