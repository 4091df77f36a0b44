/**
 * A drill's scorecard: the seconds of every stage (detection, decision, execution, verification and
 * the total) against the runbook's RTO targets, as a table and as a chart a person can open. Pure, so
 * the drill workflow, the worker and `rollback drill report` draw the same thing.
 *
 * Stages, for a drill: detection is the injected fault to the rollback's start (the watchdog's time to
 * notice and act); decision, execution and verification are the rollback's own (time waiting at gates
 * and decisions, in changes, in health verification; the drill's own check after the rollback counts as
 * verification); total is the injected fault to verified recovery (for a dry-run drill, the dry run).
 *
 * A stage that cannot be measured is not scored, and says why: detection when the target has no watch
 * rules (the drill started the rollback itself, a second after injecting: timing that would flatter the
 * runbook), and in a read-only drill every stage but the dry run's total (it waits at no gate, changes
 * nothing and has nothing to verify afterwards).
 */
import type { DrillResult, DrillStage, RollbackStatus } from '../contract/index.ts';
import { rtoScorecard } from './report.ts';
import type { Runbook } from '../runbook/schema.ts';

const STAGES = ['detection', 'decision', 'execution', 'verification', 'total'] as const;

const round = (seconds: number) => Math.round(seconds * 10) / 10;

export function drillStages(input: {
  rollback: RollbackStatus | null;
  injectedAt: string | null;
  drillVerifySeconds: number;
  recoveredAt: string | null;
  rto: Runbook['rto'];
  /** A read-only (production) drill of any platform; absent in drills recorded before them. */
  readOnly?: boolean;
  /** Who started the rollback; 'drill' leaves detection unscored. */
  detectedBy?: 'watchdog' | 'drill';
}): DrillStage[] {
  const { rollback, injectedAt, rto } = input;
  const stage = (name: DrillStage['stage'], seconds: number | null, targetSeconds: number, unscored?: string): DrillStage => {
    if (unscored !== undefined) return { stage: name, seconds: null, targetSeconds, met: null, unscored };
    return { stage: name, seconds: seconds === null ? null : round(seconds), targetSeconds, met: seconds === null ? null : seconds <= targetSeconds };
  };
  const own = rollback ? rtoScorecard(rollback, rto) : null;
  const of = (name: 'decision' | 'execution' | 'verification') => own?.find((s) => s.stage === name)?.seconds ?? null;
  const detection = rollback && injectedAt ? (Date.parse(rollback.startedAt) - Date.parse(injectedAt)) / 1000 : null;
  const verification = of('verification') === null ? null : of('verification')! + input.drillVerifySeconds;
  // A drill with a fault: injected to recovered. A dry-run drill (nothing injected): the dry run itself.
  const from = injectedAt ?? rollback?.startedAt ?? null;
  const to = input.recoveredAt ?? (injectedAt ? null : rollback?.endedAt ?? null);
  const total = from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : null;
  const targets = { detection: rto.detectionMinutes * 60, decision: rto.decisionMinutes * 60, execution: rto.executionMinutes * 60, verification: rto.verificationMinutes * 60 };
  const readOnly = input.readOnly ? 'read-only: ' : null;
  return [
    stage('detection', detection, targets.detection, readOnly ? `${readOnly}nothing injected to detect` : input.detectedBy === 'drill' ? 'not measured: the target has no watch rules, so the drill started the rollback itself' : undefined),
    stage('decision', of('decision'), targets.decision, readOnly ? `${readOnly}gates checked for approvers, not waited at` : undefined),
    stage('execution', of('execution'), targets.execution, readOnly ? `${readOnly}planned from live state, nothing changed` : undefined),
    stage('verification', verification, targets.verification, readOnly ? `${readOnly}nothing changed to verify` : undefined),
    stage('total', total, targets.detection + targets.decision + targets.execution + targets.verification),
  ];
}

const cell = (s: DrillStage | undefined) => (!s || s.seconds === null ? '-' : `${s.seconds}${s.met ? '' : '!'}`);

/** The drills as rows (newest last), seconds per stage; "!" marks a missed target. */
export function drillTable(results: DrillResult[]): { headers: string[]; rows: string[][] } {
  const headers = ['STARTED', 'DRILL', 'OUTCOME', ...STAGES.map((s) => s.toUpperCase())];
  const rows = results.map((r) => [
    r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    r.drill,
    r.outcome + (r.dryRun ? ' (dry run)' : ''),
    ...STAGES.map((name) => cell(r.stages.find((s) => s.stage === name))),
  ]);
  return { headers, rows };
}

/** The drill's report in markdown: its stages against the targets, what it put back, the trend chart. */
export function renderDrillReport(result: DrillResult, history: DrillResult[], chartFile: string | null): string {
  const lines = [
    `# Drill report: ${result.system} ${result.drill}`,
    '',
    `- **Drill**: ${result.workflowId}${result.dryRun ? ' (dry run: nothing injected or changed)' : ''}`,
    `- **Outcome**: ${result.outcome}${result.why ? `: ${result.why}` : ''}`,
    ...(result.target ? [`- **Drilled system**: ${result.target} (staging, in place of ${result.system})`] : []),
    `- **Injected**: ${result.injectedAt ?? 'nothing'}; **rollback**: ${result.rollbackWorkflowId ?? 'none'} (${result.rollbackState ?? 'not started'}${result.detectedBy === 'drill' ? ', started by the drill: no watch rules' : ''})`,
    '',
    '## Recovery time against targets',
    '',
    '| stage | seconds | target | met |',
    '| --- | --- | --- | --- |',
    ...result.stages.map((s) => `| ${s.stage} | ${s.unscored ? `not scored (${s.unscored})` : (s.seconds ?? 'not reached')} | ${s.targetSeconds} | ${s.met === null ? 'n/a' : s.met ? 'yes' : 'NO'} |`),
  ];
  if (result.checks) lines.push('', '## Read-only checks', '', '| check | ok | detail |', '| --- | --- | --- |', ...result.checks.map((c) => `| ${c.check} | ${c.ok ? 'yes' : 'NO'} | ${c.detail.replaceAll('|', '\\|')} |`));
  if (result.undo) {
    lines.push('', '## Scenario undone', '', ...result.undo.done.map((d) => `- ${d}`));
    if (result.undo.failed) lines.push(`- **undo failed**: ${result.undo.failed}`);
    else if (result.undo.done.length === 0) lines.push('Nothing to undo: the scenario found the target already so.');
  }
  lines.push('', '## Put back afterwards', '', ...(result.restored.length ? result.restored.map((r) => `- ${r}`) : ['Nothing needed putting back.']));
  if (chartFile) lines.push('', `## Trend (last ${history.length} drills)`, '', `![stage seconds per drill against the targets](${chartFile})`);
  return `${lines.join('\n')}\n`;
}

const COLORS: Record<DrillStage['stage'], string> = { detection: '#4e79a7', decision: '#f28e2b', execution: '#59a14f', verification: '#b07aa1', total: '#5f5f5f' };
const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * The chart: one panel per stage, a bar per drill (oldest left) and the target as a dashed line; a bar
 * over its target is drawn hatched red at the top. SVG, so it opens in any browser and diffs as text.
 */
export function renderDrillChart(results: DrillResult[], title: string): string {
  const panelWidth = 220;
  const panelHeight = 180;
  const margin = { top: 50, left: 50, bottom: 60 };
  const width = margin.left + STAGES.length * (panelWidth + 30);
  const height = margin.top + panelHeight + margin.bottom;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  STAGES.forEach((name, i) => {
    const x0 = margin.left + i * (panelWidth + 30);
    const stages = results.map((r) => r.stages.find((s) => s.stage === name));
    const target = stages.find((s) => s)?.targetSeconds ?? 0;
    const max = Math.max(target, ...stages.map((s) => s?.seconds ?? 0)) * 1.15 || 1;
    const y = (seconds: number) => margin.top + panelHeight - (seconds / max) * panelHeight;
    parts.push(`<text x="${x0}" y="${margin.top - 8}" font-weight="bold">${name} (s)</text>`);
    parts.push(`<line x1="${x0}" y1="${margin.top + panelHeight}" x2="${x0 + panelWidth}" y2="${margin.top + panelHeight}" stroke="#999"/>`);
    parts.push(`<line x1="${x0}" y1="${margin.top}" x2="${x0}" y2="${margin.top + panelHeight}" stroke="#999"/>`);
    parts.push(`<text x="${x0 - 4}" y="${margin.top + 4}" text-anchor="end">${round(max)}</text><text x="${x0 - 4}" y="${margin.top + panelHeight}" text-anchor="end">0</text>`);
    const slot = panelWidth / Math.max(results.length, 1);
    stages.forEach((s, j) => {
      const bx = x0 + j * slot + slot * 0.15;
      const bw = slot * 0.7;
      if (!s || s.seconds === null) {
        parts.push(`<text x="${bx + bw / 2}" y="${margin.top + panelHeight - 4}" text-anchor="middle" fill="#999">-</text>`);
        return;
      }
      parts.push(`<rect x="${bx}" y="${y(s.seconds)}" width="${bw}" height="${margin.top + panelHeight - y(s.seconds)}" fill="${s.met ? COLORS[name] : '#e15759'}"><title>${escape(results[j]!.drill)} ${escape(results[j]!.startedAt)}: ${s.seconds} s (target ${s.targetSeconds} s)</title></rect>`);
    });
    parts.push(`<line x1="${x0}" y1="${y(target)}" x2="${x0 + panelWidth}" y2="${y(target)}" stroke="#e15759" stroke-dasharray="5,3"/>`);
    parts.push(`<text x="${x0 + panelWidth}" y="${y(target) - 3}" text-anchor="end" fill="#e15759">target ${target}</text>`);
  });
  const first = results[0]?.startedAt.slice(0, 16).replace('T', ' ') ?? '';
  const last = results.at(-1)?.startedAt.slice(0, 16).replace('T', ' ') ?? '';
  parts.push(`<text x="${margin.left}" y="${height - 20}" fill="#555">${results.length} drill(s), oldest left: ${escape(first)} to ${escape(last)} UTC; red bars missed their target</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
