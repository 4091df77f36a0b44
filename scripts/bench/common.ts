/** What the benchmarks share: rounding, event times from a workflow history, saving the figures. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** To one decimal. */
export const round = (n: number) => Math.round(n * 10) / 10;

/** A history event's time in ms since the epoch (the server's clock). */
export const eventMs = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** Writes bench-results/<benchmark>-<at>.json and returns its path. */
export function saveResults(results: { benchmark: string; at: string }): string {
  mkdirSync('bench-results', { recursive: true });
  const file = join('bench-results', `${results.benchmark}-${results.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
