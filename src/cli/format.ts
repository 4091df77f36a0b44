/** Plain-text output: aligned tables and times in UTC with "how long ago / how long left". */

/** Left-aligned columns; the last column is not padded, so long errors do not push others around. */
export function table(headers: string[], rows: string[][], indent = '  '): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `2025-11-21 22:35:01Z`: UTC, because on-call engineers and the Temporal UI may sit in different zones. */
export function when(iso: string | Date | null | undefined): string {
  if (!iso) return '-';
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** Time of day only, for tables whose rows share a date. */
export function clock(iso: string | null | undefined): string {
  return iso ? when(iso).slice(11) : '-';
}

/** `20251121T223501`: UTC to the second, compact, for ids that sort by time. */
export function utcStamp(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').slice(0, 15);
}

function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** `in 14m 50s` or `3m 12s ago`. */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const delta = Date.parse(iso) - now;
  return delta >= 0 ? `in ${duration(delta)}` : `${duration(delta)} ago`;
}

export function seconds(startedAt: string, endedAt: string | null, now = Date.now()): string {
  return (((endedAt ? Date.parse(endedAt) : now) - Date.parse(startedAt)) / 1000).toFixed(1);
}

/** `stable 50, canary 50` for weights, the number itself for instance counts. */
export function value(v: unknown): string {
  if (v && typeof v === 'object') return Object.entries(v).map(([k, n]) => `${k} ${String(n)}`).join(', ');
  return String(v);
}
