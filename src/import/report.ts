/**
 * The import report, as JSON and as markdown: every command line with what it became and why, the
 * thresholds, gates, RTO targets and drills recovered, the prose that looked like one but was not read,
 * and the placeholders left to fill.
 */
import type { Entry, Prose } from './draft.ts';

export interface ReportLine {
  line: number;
  text: string;
  section: string;
  kind: 'typed' | 'absorbed' | 'opaque' | 'unmapped' | 'destructive';
  as?: string;
  target?: string;
  value?: string;
  reason: string;
}

export interface ImportReport {
  file: string;
  system: string;
  counts: Record<ReportLine['kind'] | 'total', number>;
  /** Shares of all command lines, in percent, one decimal. */
  shares: Record<ReportLine['kind'], number>;
  lines: ReportLine[];
  thresholds: Prose['thresholds'];
  gates: Prose['approvals'];
  rto: Prose['rto'];
  drills: Prose['drills'];
  /** Sentences that name a metric, an approval or a time target and were not read as one. */
  possiblyMissed: { line: number; text: string }[];
  placeholders: string[];
  warnings: string[];
}

export function reportLines(entries: Entry[]): ReportLine[] {
  return entries.map((e) => {
    const v = e.verdict;
    const base = { line: e.line, text: e.text, section: e.section, kind: v.kind, reason: v.reason };
    if (v.kind === 'typed') return { ...base, as: v.as, target: v.target, value: v.value };
    if (v.kind === 'destructive' && v.safe) return { ...base, reason: `${v.reason} (emitted instead: ${v.safe.as} ${v.safe.value})` };
    return base;
  });
}

export function countsOf(lines: readonly ReportLine[]): Pick<ImportReport, 'counts' | 'shares'> {
  const kinds = ['typed', 'absorbed', 'opaque', 'unmapped', 'destructive'] as const;
  const counts = { total: lines.length, ...Object.fromEntries(kinds.map((k) => [k, lines.filter((l) => l.kind === k).length])) } as ImportReport['counts'];
  const shares = Object.fromEntries(kinds.map((k) => [k, lines.length ? Math.round((counts[k] / lines.length) * 1000) / 10 : 0])) as ImportReport['shares'];
  return { counts, shares };
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function reportMarkdown(r: ImportReport): string {
  const out: string[] = [];
  out.push(`# Import report: ${r.file} -> ${r.system}.yaml`, '');
  out.push(`${r.counts.total} command lines: ${r.counts.typed} typed (${r.shares.typed}%), ${r.counts.absorbed} absorbed (${r.shares.absorbed}%), ${r.counts.opaque} opaque (${r.shares.opaque}%), ${r.counts.unmapped} unmapped (${r.shares.unmapped}%), ${r.counts.destructive} destructive, none emitted live (${r.shares.destructive}%).`, '');
  for (const w of r.warnings) out.push(`- warning: ${w}`);
  if (r.warnings.length) out.push('');
  out.push('## Command lines', '', '| line | command | became | why |', '| --- | --- | --- | --- |');
  for (const l of r.lines) out.push(`| ${l.line} | \`${cell(l.text.length > 80 ? `${l.text.slice(0, 77)}...` : l.text)}\` | ${l.kind}${l.as ? `: ${l.as} ${cell(l.target ?? '')} ${cell(l.value ?? '')}` : ''} | ${cell(l.reason)} |`);
  out.push('', '## Thresholds recovered', '');
  for (const t of r.thresholds) out.push(`- line ${t.line}: ${t.metric} ${t.direction} ${JSON.stringify(t.value)}${t.forSeconds ? ` for ${t.forSeconds}s` : ''}${t.withinSeconds ? ` within ${t.withinSeconds}s` : ''} (${t.use}): "${t.text}"`);
  if (r.thresholds.length === 0) out.push('- none');
  out.push('', '## Gates recovered', '');
  for (const g of r.gates) out.push(`- line ${g.line}: role ${g.role}${g.people.length ? ` (${g.people.join(', ')})` : ''}: "${g.text}"`);
  if (r.gates.length === 0) out.push('- none');
  out.push('', '## RTO targets recovered', '');
  for (const t of r.rto) out.push(`- line ${t.line}: ${t.stage} ${t.minutes} min: "${t.text}"`);
  if (r.rto.length === 0) out.push('- none: rto is all placeholders');
  out.push('', '## Drills recovered', '');
  for (const d of r.drills) out.push(`- line ${d.line}: ${d.cadence} (cron ${d.cron}): "${d.text}"`);
  if (r.drills.length === 0) out.push('- none');
  out.push('', '## Possibly missed (prose that names a metric, approval or target and was not read as one)', '');
  for (const m of r.possiblyMissed) out.push(`- line ${m.line}: "${m.text}"`);
  if (r.possiblyMissed.length === 0) out.push('- none');
  out.push('', `## Placeholders to fill (${r.placeholders.length})`, '');
  for (const p of r.placeholders) out.push(`- \`${p}\``);
  return `${out.join('\n')}\n`;
}
