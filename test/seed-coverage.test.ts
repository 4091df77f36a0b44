/**
 * docs/seed-coverage.md against what it cites: every runbook path:line exists and holds the key or
 * value the row names; every row says how (automated, partly, out of scope, refused by design), with
 * a reason where it is not automated; the totals at the top count the rows; and each cited seed line
 * range exists and holds the words the row quotes, read from the seeds' copies the importer's tests keep
 * (test/fixtures/import/seeds/seed-NNN.md, each the seed file NNN_*.txt unchanged). Starts nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const root = join(import.meta.dirname, '..');
const doc = readFileSync(join(root, 'docs', 'seed-coverage.md'), 'utf8');
/** The seeds, kept verbatim as the importer's fixtures: seed-000.md is 000_*.txt. */
const seedsDir = join(root, 'test', 'fixtures', 'import', 'seeds');
const seedCopy = (seedFile: string) => join(seedsDir, `seed-${seedFile.slice(0, 3)}.md`);
const HOW = ['automated', 'partly', 'out of scope', 'refused by design'] as const;
type How = (typeof HOW)[number];

interface Row {
  seed: string;
  line: number;
  seedFile: string;
  from: number;
  to: number;
  quote: string;
  how: How;
  reason: string;
  runbook: { path: string; line: number; holds: string } | null;
}

/** A markdown table row's cells (`\|` is a pipe inside a cell). */
const cells = (line: string) =>
  line
    .replace(/^\|/, '')
    .replace(/\|\s*$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replaceAll('\\|', '|'));
const normalize = (text: string) => text.replace(/\s+/g, ' ').trim();

function parseRows(): Row[] {
  const rows: Row[] = [];
  let seed: string | null = null;
  doc.split('\n').forEach((line, index) => {
    const heading = /^## Seed (\d{3})\b/.exec(line);
    if (heading) seed = heading[1]!;
    else if (line.startsWith('## ')) seed = null;
    if (!seed || !line.startsWith('| `')) return;
    const [where = '', step = '', howCell = '', runbookCell = ''] = cells(line);
    const at = /^`(\d{3}_[0-9a-f]+\.txt):(\d+)(?:-(\d+))?`$/.exec(where);
    assert.ok(at, `docs/seed-coverage.md:${index + 1}: the seed cell must be \`<file>:<line>[-<line>]\`, not ${where}`);
    assert.equal(at[1]!.slice(0, 3), seed, `docs/seed-coverage.md:${index + 1}: a row of seed ${seed} cites ${at[1]}`);
    const quote = /^"([^"]+)"/.exec(step);
    assert.ok(quote, `docs/seed-coverage.md:${index + 1}: the step must start with the seed's words in quotes`);
    const how = HOW.find((h) => howCell === h || howCell.startsWith(`${h}:`));
    assert.ok(how, `docs/seed-coverage.md:${index + 1}: how must start with one of ${HOW.join(', ')}: ${howCell}`);
    const cited = /^`(runbooks\/seeds\/[\w.-]+\.yaml):(\d+)` `([^`]+)`$/.exec(runbookCell);
    assert.ok(cited || runbookCell === '—', `docs/seed-coverage.md:${index + 1}: the runbook cell must be \`<path>:<line>\` \`<what it holds>\` or —, not ${runbookCell}`);
    rows.push({
      seed,
      line: index + 1,
      seedFile: at[1]!,
      from: Number(at[2]),
      to: Number(at[3] ?? at[2]),
      quote: quote[1]!,
      how,
      reason: howCell.slice(how.length).replace(/^:\s*/, ''),
      runbook: cited ? { path: cited[1]!, line: Number(cited[2]), holds: cited[3]! } : null,
    });
  });
  return rows;
}

const rows = parseRows();

describe('docs/seed-coverage.md', () => {
  test('has a section of rows for each seed it totals', () => {
    assert.ok(rows.length > 0);
    const sections = [...new Set(rows.map((r) => r.seed))];
    assert.deepEqual(sections, [...sections].sort(), 'seeds in order');
  });

  test('every runbook line cited exists, is not blank and holds what the row names', () => {
    for (const row of rows) {
      if (!row.runbook) continue;
      const file = join(root, row.runbook.path);
      assert.ok(existsSync(file), `docs/seed-coverage.md:${row.line}: ${row.runbook.path} does not exist`);
      const lines = readFileSync(file, 'utf8').split('\n');
      const cited = lines[row.runbook.line - 1];
      assert.ok(cited !== undefined && cited.trim() !== '', `docs/seed-coverage.md:${row.line}: ${row.runbook.path}:${row.runbook.line} is ${cited === undefined ? 'past the end of the file' : 'blank'}`);
      assert.ok(cited.includes(row.runbook.holds), `docs/seed-coverage.md:${row.line}: ${row.runbook.path}:${row.runbook.line} does not hold '${row.runbook.holds}': ${cited.trim()}`);
    }
  });

  test('an automated step cites the runbook line that does it; every other says why', () => {
    for (const row of rows) {
      if (row.how === 'automated') assert.ok(row.runbook, `docs/seed-coverage.md:${row.line}: automated, but no runbook line`);
      else assert.ok(row.reason.length >= 5, `docs/seed-coverage.md:${row.line}: ${row.how} needs its reason`);
    }
  });

  test('the totals at the top count the rows, per seed and overall', () => {
    const totals = new Map<string, number[]>();
    const section = doc.slice(doc.indexOf('## Totals'), doc.indexOf('\n## ', doc.indexOf('## Totals') + 1));
    for (const line of section.split('\n').filter((l) => /^\| (\d{3}|all) \|/.test(l))) {
      const [seed = '', ...counts] = cells(line);
      totals.set(seed, counts.map(Number));
    }
    const count = (of: Row[]) => [...HOW.map((h) => of.filter((r) => r.how === h).length), of.length];
    const seeds = [...new Set(rows.map((r) => r.seed))];
    assert.deepEqual([...totals.keys()], [...seeds, 'all'], 'one totals line per seed section, then all');
    for (const seed of seeds) assert.deepEqual(totals.get(seed), count(rows.filter((r) => r.seed === seed)), `totals of seed ${seed}`);
    assert.deepEqual(totals.get('all'), count(rows), 'totals of all seeds');
  });

  test('each seed line range cited exists and holds the words quoted', () => {
    for (const row of rows) {
      const file = seedCopy(row.seedFile);
      assert.ok(existsSync(file), `docs/seed-coverage.md:${row.line}: no seed ${row.seedFile}`);
      const lines = readFileSync(file, 'utf8').split('\n');
      assert.ok(row.from >= 1 && row.from <= row.to && row.to <= lines.length, `docs/seed-coverage.md:${row.line}: ${row.seedFile}:${row.from}-${row.to} is outside its ${lines.length} lines`);
      const cited = normalize(lines.slice(row.from - 1, row.to).join(' '));
      assert.ok(cited.includes(normalize(row.quote)), `docs/seed-coverage.md:${row.line}: "${row.quote}" is not on ${row.seedFile}:${row.from}-${row.to}: ${cited}`);
    }
  });
});
