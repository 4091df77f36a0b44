/**
 * `npm run bench:import`: how fast `rollback import` reads markdown, at BENCH_SIZES (default 100KB,1MB,10MB)
 * of runbook text made by repeating the five seeds (test/fixtures/import/seeds/), side by side with a bare
 * mdast-util-from-markdown parse (with GFM tables, as the importer parses) of the same text. For each size:
 * seconds (wall and CPU) and MB/s of the whole import and of the bare parse, and their ratio, which says how
 * much the importer adds to the parser. Prints a summary and writes bench-results/import-<time>.json.
 * Sizes above MAX_MARKDOWN_BYTES are what the CLI refuses; they are measured here to decide that limit.
 * The bare parse grows faster than the text (about 25 s of CPU for 1 MB, so an hour for 10 MB): above
 * BENCH_BARE_MAX_MB (default 2) it is skipped and the row says so. Speed targets live here, never as
 * timed assertions in tests.
 */
import { readFileSync } from 'node:fs';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { gfmTable } from 'micromark-extension-gfm-table';
import { importMarkdown, MAX_MARKDOWN_BYTES } from '../../src/import/index.ts';
import { saveResults } from './common.ts';
import { round3 } from './stats.ts';

const SIZES = (process.env.BENCH_SIZES ?? '100KB,1MB,10MB').split(',').map((s) => {
  const m = /^(\d+(?:\.\d+)?)(KB|MB)$/i.exec(s.trim());
  if (!m) throw new Error(`BENCH_SIZES: ${s} is not a size like 100KB or 1MB`);
  return { label: s.trim(), bytes: Math.round(Number(m[1]) * (m[2]!.toUpperCase() === 'MB' ? 1024 * 1024 : 1024)) };
});

const BARE_MAX_BYTES = Number(process.env.BENCH_BARE_MAX_MB ?? 2) * 1024 * 1024;

const seeds = [0, 1, 2, 3, 4].map((n) => readFileSync(new URL(`../../test/fixtures/import/seeds/seed-00${n}.md`, import.meta.url), 'utf8')).join('\n\n');

/** Whole seeds repeated up to the size, so headings, fences and tables stay balanced as a real file's are. */
function runbookOf(bytes: number): string {
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    parts.push(seeds);
    length += seeds.length + 2;
  }
  return parts.join('\n\n').slice(0, bytes);
}

function timed(run: () => void): { wallS: number; cpuS: number } {
  const cpu = process.cpuUsage();
  const start = performance.now();
  run();
  const used = process.cpuUsage(cpu);
  return { wallS: round3((performance.now() - start) / 1000), cpuS: round3((used.user + used.system) / 1e6) };
}

// One small run first, so neither side pays for the JIT's warm-up.
importMarkdown(seeds, { file: 'warm-up.md', system: 'bench' });

const rows = [];
for (const size of SIZES) {
  const text = runbookOf(size.bytes);
  const mb = Buffer.byteLength(text) / 1024 / 1024;
  const bare = size.bytes <= BARE_MAX_BYTES ? timed(() => fromMarkdown(text, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] })) : null;
  const whole = timed(() => importMarkdown(text, { file: `bench-${size.label}.md`, system: 'bench' }));
  const row = {
    size: size.label,
    bytes: Buffer.byteLength(text),
    refusedByCli: Buffer.byteLength(text) > MAX_MARKDOWN_BYTES,
    import: { ...whole, mbPerS: round3(mb / whole.cpuS) },
    bareParse: bare ? { ...bare, mbPerS: round3(mb / bare.cpuS) } : `skipped above ${BARE_MAX_BYTES / 1024 / 1024} MB`,
    importOverBareCpu: bare ? round3(whole.cpuS / bare.cpuS) : null,
  };
  rows.push(row);
  const bareText = bare ? `bare parse ${bare.wallS} s wall, ${bare.cpuS} s CPU (${round3(mb / bare.cpuS)} MB/s); ratio ${row.importOverBareCpu}` : `bare parse ${String(row.bareParse)}`;
  console.log(`${size.label}: import ${whole.wallS} s wall, ${whole.cpuS} s CPU (${row.import.mbPerS} MB/s); ${bareText}${row.refusedByCli ? ' (the CLI refuses this size)' : ''}`);
}
const file = saveResults({ benchmark: 'import', at: new Date().toISOString(), maxMarkdownBytes: MAX_MARKDOWN_BYTES, rows });
console.log(`saved ${file}`);
