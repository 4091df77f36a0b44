/**
 * The statistics every benchmark reports, one definition each, so a figure named the same means the
 * same in every file of bench-results/. median, percentile and max return NaN where there is nothing
 * to measure (no values, or a value that is NaN because it was not measured), and ratio against a zero
 * baseline, so a missing figure shows as NaN (null in the JSON), never as a made-up number.
 *
 * `median` and `percentile(values, 50)` differ on purpose: the median of an even count is the mean of
 * the two middle values, while the nearest-rank p50 is the lower of them (it is always a value that
 * was measured, as p95 is). Figures named median use the first; figures named p50/p95 the second.
 */

/** In ascending order, a copy; null when there is nothing to order (no values, or one is NaN). */
function ascending(values: readonly number[]): number[] | null {
  if (values.length === 0 || values.some(Number.isNaN)) return null;
  return [...values].sort((a, b) => a - b);
}

/**
 * The median: the middle value of an odd count; of an even count, the mean of the two middle values
 * (so with 2 runs, their mean). NaN for no values or any NaN value.
 */
export function median(values: readonly number[]): number {
  const sorted = ascending(values);
  if (!sorted) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The nearest-rank percentile: the smallest value with at least p% of the values at or below it
 * (p from 0 to 100; p = 0 is the smallest value). Always one of the values, never interpolated: the
 * p95 of 50 latencies is the 48th smallest. NaN for no values or any NaN value.
 */
export function percentile(values: readonly number[], p: number): number {
  const sorted = ascending(values);
  if (!sorted) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The largest value; NaN for no values or any NaN value (Math.max would give -Infinity for none). */
export function max(values: readonly number[]): number {
  return ascending(values)?.at(-1) ?? NaN;
}

/** The sum; 0 for no values. */
export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/**
 * How many times `baseline` fits in `measured` (measured / baseline), unrounded; NaN when the baseline
 * is 0, where the division would give Infinity: a ratio against nothing is no figure.
 */
export function ratio(measured: number, baseline: number): number {
  return baseline === 0 ? NaN : measured / baseline;
}

/** To `decimals` places, halves rounded up (towards +Infinity, as Math.round does). NaN stays NaN. */
function roundTo(n: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(n * scale) / scale;
}

/** To one decimal: milliseconds, megabytes, seconds (see roundTo). */
export const round = (n: number): number => roundTo(n, 1);

/** To three decimals, where the second decimal matters: bench:restore's ratios against its target, cores in use (see roundTo). */
export const round3 = (n: number): number => roundTo(n, 3);
