/**
 * bench:restore's concurrent writer: the worst case for the swap, a client that ignores the maintenance
 * flag and keeps writing to the live name, and the count of where its acknowledged writes ended up.
 */
import pg from 'pg';
import { sleep } from './common.ts';
import { LIVE, LIVE_URL, sql } from './restore-database.ts';
import { max, round } from './stats.ts';

/** How often the writer INSERTs. */
export const WRITE_INTERVAL_MS = 5;

/** What the concurrent writer saw through one orchestrated run, and where its writes ended up. */
export interface WriterResult {
  /** INSERTs the server acknowledged. */
  acknowledged: number;
  /** Attempts that failed (connection ended by the swap, connections refused, the maintenance window). */
  failed: number;
  /** The longest time between two acknowledged writes: how long a writer that ignores the maintenance flag could not write. */
  longestGapMs: number;
  /** Acknowledged writes found afterwards in the database kept aside (before the swap) and in the live one (after). */
  inKeptDatabase: number;
  inLiveDatabase: number;
  /** Acknowledged writes found in neither: must be 0. */
  lost: number;
  errors: string[];
}

/**
 * A writer that ignores the maintenance flag: one INSERT into bench_writes on the live name every 5 ms
 * on a kept connection, reconnecting at once when the swap ends it, until stopped. Run `run` writes
 * the numbers run x 1,000,000 onwards, so each run's writes are told apart. `stop(keptDatabase)` then
 * looks for every acknowledged write in the database kept aside (null: none, or the run failed) and in
 * the live one.
 */
export function startConcurrentWriter(run: number): { stop(keptDatabase: string | null): Promise<WriterResult> } {
  const base = run * 1_000_000;
  const acked: number[] = [];
  const ackedAt: number[] = [];
  const errors: string[] = [];
  let failed = 0;
  let stopping = false;
  const loop = async () => {
    let c: pg.Client | null = null;
    for (let n = base; !stopping; n += 1) {
      const start = performance.now();
      try {
        if (!c) {
          c = new pg.Client({ connectionString: LIVE_URL });
          c.on('error', () => undefined);
          await c.connect();
        }
        await c.query('INSERT INTO bench_writes (n) VALUES ($1)', [n]);
        acked.push(n);
        ackedAt.push(performance.now());
      } catch (err) {
        failed += 1;
        const message = (err as Error).message;
        if (!errors.includes(message) && errors.length < 5) errors.push(message);
        await c?.end().catch(() => undefined);
        c = null;
      }
      await sleep(Math.max(0, WRITE_INTERVAL_MS - (performance.now() - start)));
    }
    await c?.end().catch(() => undefined);
  };
  const running = loop();
  return {
    async stop(keptDatabase) {
      stopping = true;
      await running;
      const found = async (database: string | null) => {
        if (!database) return new Set<number>();
        const rows = await sql<{ n: number }>(database, `SELECT n FROM bench_writes WHERE n >= ${base} AND n < ${base + 1_000_000}`);
        return new Set(rows.map((r) => Number(r.n)));
      };
      const kept = await found(keptDatabase);
      const live = await found(LIVE);
      const gaps = ackedAt.slice(1).map((at, i) => at - ackedAt[i]!);
      return {
        acknowledged: acked.length,
        failed,
        longestGapMs: round(max([0, ...gaps])),
        inKeptDatabase: acked.filter((n) => kept.has(n)).length,
        inLiveDatabase: acked.filter((n) => live.has(n)).length,
        lost: acked.filter((n) => !kept.has(n) && !live.has(n)).length,
        errors,
      };
    },
  };
}
