/**
 * `rollback import`: a markdown runbook -> a draft runbook YAML and a report. The pipeline, top to bottom:
 * markdown pieces (markdown.ts) -> command lines (shell.ts, sql.ts) -> verdicts (classify.ts and the
 * recognizers) and prose facts (prose.ts) -> the draft (draft.ts) and the report (report.ts). Offline:
 * nothing here reaches a platform.
 */
import { classifyLine, isKnownProgram, RECOGNIZERS } from './classify.ts';
import { assembleDraft, type Entry, type Prose } from './draft.ts';
import { readMarkdown, type Piece } from './markdown.ts';
import { readApprovals, readDrills, readRto, readThresholds } from './prose.ts';
import { countsOf, reportLines, type ImportReport } from './report.ts';
import { readShell } from './shell.ts';
import { classifySql, splitSql } from './sql.ts';
import { absorbed, slug, unmapped, type DocFacts, type Emission, type Verdict } from './verdict.ts';

export { ImportRefused, readMarkdownText, MAX_MARKDOWN_BYTES } from './markdown.ts';
export { reportMarkdown, type ImportReport, type ReportLine } from './report.ts';

const SHELL_LANGS = new Set(['bash', 'sh', 'shell', 'console', 'zsh', 'shell-session', 'terminal', '']);

/** Sections whose commands come after the rollback or before a change: not steps of a rollback. */
const NOT_ROLLBACK = /post[- ]rollback (actions|procedures)|root cause|fix and re-?deploy|before re-?deploying|prevention|lessons learned|incident report|creating backups|before (changes|migration)|testing rollback|rollback drills?|\bdrills?\b/i;

export interface ImportResult {
  yaml: string;
  report: ImportReport;
}

function sectionName(piece: Piece): string {
  return piece.section?.title ?? '(before the first heading)';
}

/** Inline code is a command when it reads as one: a known program with arguments, or a whole code span after "Command:". */
function inlineIsCommand(text: string, before: string): boolean {
  const words = text.trim().split(/\s+/);
  if (words.length < 2 || !isKnownProgram(words[0]!)) return false;
  return words.length >= 3 || /[:：]\s*$/.test(before.trim()) || RECOGNIZERS.has(words[0]!) && /[:：]\s*$/.test(before);
}

export function importMarkdown(text: string, options: { file: string; system: string }): ImportResult {
  const pieces = readMarkdown(text);
  const facts: DocFacts = { scanPatterns: [], splits: new Map() };
  const entries: Entry[] = [];
  const prose: Prose = { thresholds: [], approvals: [], rto: [], drills: [] };
  const possiblyMissed: { line: number; text: string }[] = [];
  const warnings: string[] = [];

  const add = (piece: Piece, line: number, lineText: string, verdict: Verdict, parsed: Entry['parsed']): void => {
    const section = sectionName(piece);
    const path = piece.section?.path.join(' / ') ?? '';
    // After the rollback or before a change: read-only and destructive verdicts stand, the rest are not rollback steps.
    const outside = NOT_ROLLBACK.test(path) && (verdict.kind === 'typed' || verdict.kind === 'opaque');
    const final = outside ? unmapped(`in "${section}", which is not a rollback step (${verdict.kind === 'typed' ? `it would be ${verdict.as}` : 'a command'})`) : verdict;
    entries.push({ line, text: lineText, section, step: 'step' in piece ? piece.step : null, verdict: final, parsed });
  };

  for (const piece of pieces) {
    if (piece.kind === 'code') {
      if (piece.unclosed) warnings.push(`the code block opened at line ${piece.line - 1} is never closed: read to the end of the file as code`);
      if (piece.lang === 'sql' || piece.lang === 'postgresql' || piece.lang === 'psql') {
        for (const statement of splitSql(piece.text)) add(piece, piece.line + statement.offset, statement.text, classifySql(statement.text, { urlEnv: 'DATABASE_URL', name: 'main' }), null);
        continue;
      }
      if (!SHELL_LANGS.has(piece.lang)) continue;
      const { lines, errors } = readShell(piece.text, piece.line);
      // A block with no language is as often a diagram as a script: its parse errors say nothing.
      if (piece.lang !== '') for (const e of errors) warnings.push(`shell block at line ${piece.line}: ${e}`);
      for (const line of lines) {
        // A block with no language may be a diagram: only lines that start with a program the importer knows are commands.
        if (piece.lang === '' && !isKnownProgram(line.commands[0]!.argv[0] ?? '')) continue;
        add(piece, line.line, line.text, classifyLine(line, facts), line);
      }
    } else if (piece.kind === 'inline') {
      if (!inlineIsCommand(piece.text, piece.before)) continue;
      const { lines } = readShell(piece.text, piece.line);
      for (const line of lines) add(piece, piece.line, line.text, classifyLine(line, facts), line);
    } else {
      const heading = piece.section?.path.join(' / ') ?? '';
      const thresholds = readThresholds(piece.text, piece.line, heading);
      const approvals = readApprovals(piece.text, piece.line).map((a) => ({ ...a, section: sectionName(piece) }));
      const rto = readRto(piece.text, piece.line, heading);
      const drills = readDrills(piece.text, piece.line, heading);
      prose.thresholds.push(...thresholds);
      prose.approvals.push(...approvals);
      prose.rto.push(...rto);
      prose.drills.push(...drills);
      const found = thresholds.length + approvals.length + rto.length + drills.length;
      if (!found && !piece.heading && /(error rate|latency|p95|success rate|\brto\b|approv|sign[- ]?off)[^.]*\d|approv(al|e)\s+(from|by)|without\s+(approval|sign)/i.test(piece.text)) {
        possiblyMissed.push({ line: piece.line, text: piece.text.length > 160 ? `${piece.text.slice(0, 157)}...` : piece.text });
      }
    }
  }

  absorbIntoRestoresAndChecks(entries);
  const draft = assembleDraft(options.system, options.file, entries, prose);
  const lines = reportLines(entries);
  const report: ImportReport = {
    file: options.file,
    system: options.system,
    ...countsOf(lines),
    lines,
    thresholds: prose.thresholds,
    gates: prose.approvals,
    rto: prose.rto,
    drills: prose.drills,
    possiblyMissed,
    placeholders: draft.placeholders,
    warnings,
  };
  if (lines.length === 0) warnings.push('no command lines found: the draft has no phases');
  return { yaml: draft.yaml, report };
}

/** Typed restores that stop and start what writes to the data themselves (sqlite-restore's writer, dataRestore's stopWriters, volume-restore's services). */
const RESTORES = new Set(['sqlite-restore', 'dataRestore', 'volume-restore', 'redis-restore']);
const WRITER_STOP_START = /^(railway (down|up|restart)\b|docker[- ]compose (stop|start|up|restart)\b|docker compose (stop|start|up|restart)\b|docker (stop|start|restart)\b|systemctl (stop|start|restart)\b)/;
const BUILDS = /^(docker[- ]compose\b.*\sbuild\b|docker compose\b.*\sbuild\b|docker build\b)/;
const VERIFYING = /verif|health|smoke|sanity|test|check/i;
const CHECK_RUNNERS = /^(\.{0,2}\/\S+|\S+\.(sh|py)|python3?|pnpm|npm|yarn|npx|make|pytest|docker|curl)$/;

/**
 * Second look at opaque lines: stopping and starting the writers around a typed restore is what that
 * restore does itself, and a verification script or request (in a section or comment about verifying)
 * is a health check of the verification (a command or HTTP check), not a step that changes anything.
 */
function absorbIntoRestoresAndChecks(entries: Entry[]): void {
  for (const entry of entries) {
    if (entry.verdict.kind !== 'opaque' || !entry.parsed) continue;
    const restore = entries.find((e) => e.section === entry.section && e.verdict.kind === 'typed' && RESTORES.has(e.verdict.as));
    // A start right after a build (or one that builds) deploys new images: that is a release, not the writers coming back.
    const before = entries[entries.indexOf(entry) - 1];
    const deploys = /(^|\s)--build\b/.test(entry.text) || (before?.section === entry.section && BUILDS.test(before.text));
    if (restore && restore.verdict.kind === 'typed' && WRITER_STOP_START.test(entry.text) && !deploys) {
      entry.verdict = absorbed(`stops or starts what writes to the data: the ${restore.verdict.as} at line ${restore.line} does that itself`);
      continue;
    }
    const cmd = entry.parsed.commands[0]!;
    const about = [entry.section, entry.step ?? '', ...entry.parsed.comments].join(' ');
    if (!VERIFYING.test(about) || !CHECK_RUNNERS.test(cmd.argv[0] ?? '') || entry.parsed.commands.length > 1) continue;
    const name = slug(cmd.argv.find((w) => /\.(sh|py)$|^test/.test(w))?.replace(/^.*\//, '').replace(/\.(sh|py)$/, '') ?? `check-line-${entry.line}`);
    let check: Record<string, unknown>;
    if (cmd.argv[0] === 'curl') {
      const url = cmd.argv.find((w) => /^https?:\/\//.test(w));
      if (!url) continue;
      const method = cmd.argv[cmd.argv.indexOf('-X') + 1] ?? 'GET';
      const data = cmd.argv[cmd.argv.indexOf('-d') + 1];
      let body: unknown = data;
      try {
        body = data === undefined ? undefined : JSON.parse(data);
      } catch {
        // a text body stays text
      }
      check = { name, url, method, ...(body === undefined ? {} : { body }), expectStatus: 200 };
    } else {
      check = { name, command: cmd.argv, timeoutSeconds: 300, provider: 'commands' };
    }
    const emit: Emission[] = [{ provider: 'commands', ref: { provider: 'command', settings: { cwd: '.' } } }, { path: ['health', 'checks'], value: check, append: true }];
    entry.verdict = absorbed(`a verification ${cmd.argv[0] === 'curl' ? 'request' : 'script'}: a ${cmd.argv[0] === 'curl' ? 'HTTP' : 'command'} check of the health verification (it must exit 0${cmd.argv[0] === 'curl' ? ', here answer 200' : ''})`, ...emit);
  }
}
