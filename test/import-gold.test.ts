/**
 * The importer measured against the hand-labelled gold set of the five seeds (test/fixtures/import/gold.json):
 * precision and recall per kind, the shares of typed, absorbed, opaque, unmapped and destructive lines, and the
 * recall of thresholds, RTO targets, approval gates and drill cadences. The figures are printed and written to
 * a JSON file (its path printed), and the issue's targets are asserted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importMarkdown, type ImportReport } from '../src/import/index.ts';

interface GoldCommand {
  file: string;
  line: number;
  kind: string;
  text: string;
  target?: string;
  value?: string;
}
interface Gold {
  commands: GoldCommand[];
  thresholds: { file: string; line: number; metric: string; value: unknown }[];
  targets: { file: string; line: number; stage: string; minutes: number }[];
  gates: { file: string; line: number; role: string }[];
  drills: { file: string; line: number; cadence: string }[];
}

const fixtures = new URL('./fixtures/import/', import.meta.url);
const gold = JSON.parse(readFileSync(new URL('gold.json', fixtures), 'utf8')) as Gold;
const files = [...new Set(gold.commands.map((c) => c.file))];
const reports = new Map<string, ImportReport>(files.map((file) => [file, importMarkdown(readFileSync(new URL(`seeds/${file}`, fixtures), 'utf8'), { file, system: 'gold' }).report]));

const UNTYPED = new Set(['absorbed', 'opaque', 'unmapped', 'destructive']);
/** "<FILL>" in the gold set matches any placeholder, "*" anything; otherwise the same text. */
const same = (want: string | undefined, got: string | undefined) => want === undefined || want === '*' || (want === '<FILL>' ? (got ?? '').startsWith('<FILL') : want === got);

const pct = (n: number, d: number) => (d === 0 ? 100 : Math.round((n / d) * 1000) / 10);

test('the importer against the gold set of the five seeds: precision and recall per kind, shares, thresholds, gates and targets', () => {
  const predicted = new Map<string, { kind: string; target?: string; value?: string; text: string }>();
  for (const [file, report] of reports) {
    for (const l of report.lines) {
      const key = `${file}:${l.line}`;
      if (!predicted.has(key)) predicted.set(key, { kind: l.kind === 'typed' ? l.as! : l.kind, target: l.target, value: l.value, text: l.text });
    }
  }
  const kinds = [...new Set([...gold.commands.map((c) => c.kind), ...[...predicted.values()].map((p) => p.kind)])].sort();
  const perKind: Record<string, { precision: number; recall: number; gold: number; predicted: number; correct: number }> = {};
  const wrongTyped: string[] = [];
  const goldByKey = new Map(gold.commands.map((c) => [`${c.file}:${c.line}`, c]));
  for (const kind of kinds) {
    const goldOf = gold.commands.filter((c) => c.kind === kind);
    const predOf = [...predicted.entries()].filter(([, p]) => p.kind === kind);
    const correct = predOf.filter(([key, p]) => {
      const g = goldByKey.get(key);
      const ok = g !== undefined && g.kind === kind && (UNTYPED.has(kind) || (same(g.target, p.target) && same(g.value, p.value)));
      if (!ok && !UNTYPED.has(kind)) wrongTyped.push(`${key} ${p.text}: ${kind} ${p.target} ${p.value}; gold ${g ? `${g.kind} ${g.target ?? ''} ${g.value ?? ''}` : 'has no such command line'}`);
      return ok;
    }).length;
    perKind[kind] = { gold: goldOf.length, predicted: predOf.length, correct, precision: pct(correct, predOf.length), recall: pct(correct, goldOf.length) };
  }
  const typedPred = [...predicted.values()].filter((p) => !UNTYPED.has(p.kind)).length;
  const typedCorrect = Object.entries(perKind).filter(([k]) => !UNTYPED.has(k)).reduce((n, [, v]) => n + v.correct, 0);
  const missedLines = gold.commands.filter((c) => !predicted.has(`${c.file}:${c.line}`)).map((c) => `${c.file}:${c.line} ${c.text}`);

  // Shares over the gold set's command lines (a line the importer did not see counts as none of them), so a
  // line the importer invents cannot raise them.
  const total = gold.commands.length;
  const verdictOf = (c: GoldCommand) => {
    const p = predicted.get(`${c.file}:${c.line}`);
    return p === undefined ? 'missed' : UNTYPED.has(p.kind) ? p.kind : 'typed';
  };
  const count = (k: string) => gold.commands.filter((c) => verdictOf(c) === k).length;
  const shares = { typed: pct(count('typed'), total), absorbed: pct(count('absorbed'), total), opaque: pct(count('opaque'), total), unmapped: pct(count('unmapped'), total), destructive: pct(count('destructive'), total) };
  // A line absorbed that the gold set says changes something would be dropped from the draft: as bad as a wrong typed one.
  const wrongAbsorbed = gold.commands.filter((c) => verdictOf(c) === 'absorbed' && c.kind !== 'absorbed').map((c) => `${c.file}:${c.line} ${c.text}: absorbed; gold ${c.kind}`);
  const agreeing = gold.commands.filter((c) => {
    const p = predicted.get(`${c.file}:${c.line}`);
    return p !== undefined && p.kind === c.kind && (UNTYPED.has(c.kind) || (same(c.target, p.target) && same(c.value, p.value)));
  }).length;

  const found = <T extends { file: string; line: number }>(list: T[], pick: (r: ImportReport) => { line: number }[], match: (g: T, got: { line: number }) => boolean) =>
    list.filter((g) => pick(reports.get(g.file)!).some((got) => got.line === g.line && match(g, got)));
  const thresholds = found(gold.thresholds, (r) => r.thresholds, (g, got) => {
    const t = got as ImportReport['thresholds'][number];
    return t.metric === g.metric && (g.value === 'baseline' ? typeof t.value === 'object' : JSON.stringify(t.value) === JSON.stringify(g.value));
  });
  const targets = found(gold.targets, (r) => r.rto, (g, got) => (got as ImportReport['rto'][number]).stage === g.stage && (got as ImportReport['rto'][number]).minutes === g.minutes);
  const gates = found(gold.gates, (r) => r.gates, (g, got) => (got as ImportReport['gates'][number]).role === g.role);
  const drills = found(gold.drills, (r) => r.drills, (g, got) => (got as ImportReport['drills'][number]).cadence === g.cadence);
  const destructiveLive = gold.commands.filter((c) => c.kind === 'destructive' && predicted.get(`${c.file}:${c.line}`)?.kind !== 'destructive');

  const figures = {
    commandLines: { gold: gold.commands.length, found: predicted.size, missed: missedLines },
    shares,
    typedOrAbsorbedPct: pct(count('typed') + count('absorbed'), total),
    agreementWithGoldPct: pct(agreeing, total),
    absorbedPrecisionPct: pct(count('absorbed') - wrongAbsorbed.length, count('absorbed')),
    wrongAbsorbed,
    typedPrecisionPct: pct(typedCorrect, typedPred),
    perKind,
    wrongTyped,
    thresholdsAndTargetsRecoveredPct: pct(thresholds.length + targets.length, gold.thresholds.length + gold.targets.length),
    thresholds: `${thresholds.length}/${gold.thresholds.length}`,
    rtoTargets: `${targets.length}/${gold.targets.length}`,
    gatesRecoveredPct: pct(gates.length, gold.gates.length),
    drills: `${drills.length}/${gold.drills.length}`,
    destructiveEmittedLive: destructiveLive.length,
  };
  const out = join(mkdtempSync(join(tmpdir(), 'import-gold-')), 'figures.json');
  writeFileSync(out, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`import gold-set figures (${out}):\n${JSON.stringify({ ...figures, perKind: Object.fromEntries(Object.entries(perKind).map(([k, v]) => [k, `P ${v.precision}% R ${v.recall}% (${v.correct}/${v.predicted} predicted, ${v.gold} gold)`])) }, null, 2)}`);

  // The issue's targets, on the five seeds.
  assert.ok(figures.typedOrAbsorbedPct >= 60, `typed or absorbed ${figures.typedOrAbsorbedPct}% < 60%`);
  assert.ok(figures.typedPrecisionPct >= 95, `typed precision ${figures.typedPrecisionPct}% < 95%: ${wrongTyped.join('; ')}`);
  assert.ok(figures.thresholdsAndTargetsRecoveredPct >= 80, `thresholds and targets ${figures.thresholdsAndTargetsRecoveredPct}% < 80%`);
  assert.ok(figures.gatesRecoveredPct >= 70, `gates ${figures.gatesRecoveredPct}% < 70%`);
  assert.equal(figures.destructiveEmittedLive, 0, destructiveLive.map((c) => `${c.file}:${c.line}`).join(', '));
  assert.deepEqual(missedLines, ['seed-004.md:70 USE_DELTA_ENTITIES=false'], 'command lines the importer did not see');
});

test('the generalisation check: runbooks of other teams the importer was not tuned on, against their own labels', () => {
  const unseen = JSON.parse(readFileSync(new URL('unseen/gold.json', fixtures), 'utf8')) as { commands: GoldCommand[] };
  const byFile = [...new Set(unseen.commands.map((c) => c.file))];
  const figures: Record<string, unknown> = {};
  const wrong: string[] = [];
  let typedPredicted = 0;
  let typedCorrect = 0;
  let destructiveLive = 0;
  for (const file of byFile) {
    const report = importMarkdown(readFileSync(new URL(`unseen/${file}`, fixtures), 'utf8'), { file, system: 'unseen' }).report;
    const got = new Map(report.lines.map((l) => [l.line, { kind: l.kind === 'typed' ? l.as! : l.kind, target: l.target, value: l.value, text: l.text }]));
    const lines = unseen.commands.filter((c) => c.file === file);
    let agree = 0;
    let typedOrAbsorbed = 0;
    for (const c of lines) {
      const p = got.get(c.line);
      if (p && !UNTYPED.has(p.kind)) {
        typedPredicted++;
        if (p.kind === c.kind && same(c.target, p.target) && same(c.value, p.value)) typedCorrect++;
      }
      if (p && (!UNTYPED.has(p.kind) || p.kind === 'absorbed')) typedOrAbsorbed++;
      if (c.kind === 'destructive' && p?.kind !== 'destructive') destructiveLive++;
      const ok = p !== undefined && p.kind === c.kind && (UNTYPED.has(c.kind) || (same(c.target, p.target) && same(c.value, p.value)));
      if (ok) agree++;
      else wrong.push(`${file}:${c.line} ${c.text}: ${p ? `${p.kind} ${p.target ?? ''} ${p.value ?? ''}` : 'not seen'}; gold ${c.kind} ${c.target ?? ''} ${c.value ?? ''}`);
    }
    figures[file] = { lines: lines.length, agreementPct: pct(agree, lines.length), typedOrAbsorbedPct: pct(typedOrAbsorbed, lines.length) };
  }
  const summary = { ...figures, typedPrecisionPct: pct(typedCorrect, typedPredicted), destructiveEmittedLive: destructiveLive, disagreements: wrong };
  console.log(`import generalisation check (unseen runbooks):\n${JSON.stringify(summary, null, 2)}`);
  // Safety holds on any runbook; coverage is reported, not asserted: these files are too small for a share to mean much.
  assert.equal(destructiveLive, 0, wrong.join('; '));
  assert.ok(summary.typedPrecisionPct >= 95, `typed precision on unseen runbooks ${summary.typedPrecisionPct}% < 95%: ${wrong.join('; ')}`);
});
