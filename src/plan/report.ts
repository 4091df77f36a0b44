/**
 * The incident report, in markdown, written from the rollback's final status: what happened when,
 * who approved what, health before and after, and time per RTO stage against the runbook's targets.
 * Pure, so a workflow can build it deterministically and tests can read it.
 */
import type { CapturedValue, RollbackStatus, StepKind, WindowHealth } from '../contract/index.ts';
import type { Runbook } from '../runbook/schema.ts';
import { showArgv } from '../actions/templates.ts';

export interface RtoStage {
  stage: 'detection' | 'decision' | 'execution' | 'verification';
  seconds: number | null;
  targetSeconds: number;
  met: boolean | null;
}

const ms = (from: string, to: string | null) => (to ? Date.parse(to) - Date.parse(from) : 0);

function secondsIn(status: RollbackStatus, kinds: StepKind[]): number {
  return status.steps.filter((s) => kinds.includes(s.kind)).reduce((sum, s) => sum + ms(s.startedAt, s.endedAt), 0) / 1000;
}

/** Detection: incident detected to rollback requested. Decision: time waiting on people (gates, decisions).
 *  Execution: time in change steps. Verification: time in health verification. */
export function rtoScorecard(status: RollbackStatus, rto: Runbook['rto']): RtoStage[] {
  const stage = (name: RtoStage['stage'], seconds: number | null, minutes: number): RtoStage => ({
    stage: name,
    seconds: seconds === null ? null : Math.round(seconds * 10) / 10,
    targetSeconds: minutes * 60,
    met: seconds === null ? null : seconds <= minutes * 60,
  });
  return [
    stage('detection', status.detectedAt ? ms(status.detectedAt, status.startedAt) / 1000 : null, rto.detectionMinutes),
    stage('decision', secondsIn(status, ['gate']) + status.decisionWaitMs / 1000, rto.decisionMinutes),
    stage('execution', secondsIn(status, ['change']), rto.executionMinutes),
    stage('verification', secondsIn(status, ['verify']), rto.verificationMinutes),
  ];
}

function health(window: WindowHealth | null | undefined): string {
  if (!window) return 'not measured';
  const p95 = window.p95Ms === null ? 'n/a' : `${Math.round(window.p95Ms)} ms`;
  return `${window.requests} requests over ${window.seconds.toFixed(0)} s: error rate ${window.errorRatePct.toFixed(1)}%, success rate ${window.successRatePct.toFixed(1)}%, p95 ${p95}`;
}

/** A capture's output as the snapshot kept it (masked, cut at a few KB): its first lines. */
function capturedOutput(c: Extract<CapturedValue, { kind: 'command-output' }>): string[] {
  const output = c.output.split('\n');
  const shown = output.slice(0, 20).map((line) => `  ${line.replaceAll('```', "'''")}`);
  const more = output.length > 20 ? `  (${output.length - 20} more line(s) in the snapshot)` : c.truncated ? '  (cut: the snapshot keeps the first few KB)' : null;
  return [`- \`${showArgv(c.argv)}\` (${c.provider}; exit 0, ${(c.durationMs / 1000).toFixed(1)} s):`, '', '  ```', ...(c.output ? shown : ['  (no output)']), '  ```', ...(more ? [more] : []), ''];
}

const time = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');

/** Whether the approvals are bound to keys or only to the names their senders typed. */
function signatures(status: RollbackStatus, runbook: Runbook | null): string {
  const approvals = (runbook as Partial<Runbook> | null)?.approvals;
  const required = approvals?.signed === 'required' || Object.values(runbook?.gates ?? {}).some((g) => g.signed === 'required');
  const signed = status.events.filter((e) => e.key).length;
  if (required) return `Signatures: required by the runbook (${approvals?.signed === 'required' ? 'every request' : 'at its signed gates'}); ${signed} signed request(s) counted, each listed with its key's fingerprint.`;
  if (signed > 0) return `Signatures: not required by the runbook; ${signed} request(s) were signed (key fingerprints below), the rest unsigned.`;
  return 'Signatures: approvals were unsigned (the runbook does not require signatures): each name is as its sender typed it.';
}

export function renderIncidentReport(status: RollbackStatus, runbook: Runbook | null): string {
  const lines = [
    `# Incident report: ${status.system} ${status.workflowType}`,
    '',
    `- **Rollback**: ${status.workflowId}`,
    `- **Outcome**: ${status.state}`,
    `- **Requested by**: ${status.requestedBy}: ${status.reason}`,
    `- **Started**: ${time(status.startedAt)}; **ended**: ${time(status.endedAt)} (${(ms(status.startedAt, status.endedAt) / 1000).toFixed(1)} s)`,
  ];
  if (status.detectedAt) lines.push(`- **Detected**: ${time(status.detectedAt)}`);
  lines.push('', '## Timeline', '', '| step | started | ended | seconds | outcome | runs | note |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const s of status.steps) {
    lines.push(`| ${s.name} | ${time(s.startedAt)} | ${time(s.endedAt)} | ${(ms(s.startedAt, s.endedAt) / 1000).toFixed(1)} | ${s.outcome} | ${s.runs} | ${(s.error ?? s.description).replaceAll('|', '\\|')} |`);
  }
  lines.push('', '## Approvals, decisions and refusals', '', signatures(status, runbook), '');
  if (status.events.length === 0) lines.push('None.');
  for (const e of status.events) {
    const where = e.gate ? ` at gate ${e.gate}` : e.step ? ` on step ${e.step}` : '';
    lines.push(`- ${time(e.at)}: **${e.kind}** by ${e.by}${where}${e.detail ? `: ${e.detail}` : ''}${e.key ? ` (signed, key ${e.key})` : ''}`);
  }
  if (status.preflight?.length) {
    lines.push('', '## Preflight checks (before any change)', '', ...status.preflight.map((r) => `- ${r.passed ? 'passed' : '**FAILED**'}: ${r.name} (${r.kind}): ${r.detail}`));
  }
  lines.push('', '## Health', '', `- **Before** (baseline): ${health(status.snapshot?.baseline)}`);
  const after = status.healthAfter;
  lines.push(`- **After**: ${after ? `${after.passed ? 'verified' : 'NOT verified'}; ${health(after.window)}` : 'not verified'}`);
  for (const reason of after?.reasons ?? []) lines.push(`  - ${reason}`);
  for (const stage of after?.stages ?? []) {
    const outcome = stage.outcome === 'met' ? `met at ${stage.atSeconds} s` : stage.outcome === 'missed' ? `MISSED at ${stage.atSeconds} s` : 'not reached';
    lines.push(`  - stage ${stage.name}, due by ${stage.withinSeconds} s: ${outcome}`);
  }
  const captures = (status.snapshot?.values ?? []).filter((v) => v.kind === 'command-output');
  if (captures.length > 0) {
    lines.push('', '## Captured before any change', '');
    for (const c of captures) lines.push(...capturedOutput(c));
  }
  if (status.blockers?.length) {
    lines.push('', '## Blockers (a real run would be refused)', '', ...status.blockers.map((b) => `- ${b.problem}${b.fix ? `; clear it: \`${b.fix}\`` : ''}`));
  }
  if (status.notes.length > 0) lines.push('', '## Changes applied', '', ...status.notes);
  if (status.compensationFailures.length > 0) {
    lines.push('', '## Not restored', '', ...status.compensationFailures.map((f) => `- ${f}`));
  }
  if (runbook) {
    lines.push('', '## Recovery time against targets', '', '| stage | seconds | target | met |', '| --- | --- | --- | --- |');
    for (const s of rtoScorecard(status, runbook.rto)) {
      lines.push(`| ${s.stage} | ${s.seconds ?? 'not measured'} | ${s.targetSeconds} | ${s.met === null ? 'n/a' : s.met ? 'yes' : 'NO'} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
