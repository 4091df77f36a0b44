/**
 * `rollback status <workflowId>`: what the rollback is doing, what it waits for and from whom, which
 * steps ran and every approval, refusal and decision, from the workflow's `status` query.
 */
import { QueryNotRegisteredError, WorkflowFailedError } from '@temporalio/client';
import { searchAttributes } from '../contract/index.ts';
import type { RollbackStatus } from '../contract/index.ts';
import { parseCommand, positionals } from './args.ts';
import { clock, relative, seconds, table, when } from './format.ts';
import { blockerList, healthLine } from './result.ts';
import { describe, NoWorkerError, queryStatus, uiLink, withTemporal, type Temporal } from './temporal.ts';

export const statusUsage = `Usage: rollback status <workflowId> [--json]

Shows a rollback: state, what it waits for and who may act, its steps and its events.
Works for finished rollbacks too, as long as a worker runs.

  --json    print the raw status query result`;

function gateSection(s: RollbackStatus, id: string): string[] {
  const g = s.pendingGate;
  if (!g) return [];
  const eligible = g.approvers.filter((a) => !(g.forbidRequester && a === s.requestedBy) && !g.approvedBy.includes(a));
  return [
    '',
    `Waiting for approval at gate ${g.gate}, before ${g.before}`,
    `  may approve:   ${eligible.join(', ') || 'nobody left in the role'} (role ${g.role}${g.forbidRequester ? `; ${s.requestedBy} requested it and may not approve` : ''})`,
    `  approvals:     ${g.approvedBy.length} of ${g.required}${g.approvedBy.length ? ` (${g.approvedBy.join(', ')})` : ''}`,
    ...(g.escalateAt ? [`  escalates:     ${when(g.escalateAt)} (${relative(g.escalateAt)})`] : []),
    `  deadline:      ${when(g.deadline)} (${relative(g.deadline)}); then ${g.onTimeout}`,
    `  approve:       rollback approve ${id} --by <name>`,
    `  reject:        rollback reject ${id} --by <name> --reason "<why>"`,
  ];
}

function decisionSection(s: RollbackStatus, id: string): string[] {
  const d = s.pendingDecision;
  if (!d) return [];
  return [
    '',
    `Waiting for a decision: step ${d.step} failed`,
    `  error:         ${d.error}`,
    `  actions:       ${d.actions.join(', ')}`,
    `  may decide:    ${d.deciders.join(', ')}`,
    `  deadline:      ${when(d.deadline)} (${relative(d.deadline)}); then ${d.onTimeout}`,
    `  decide:        rollback decide ${id} --by <name> --action ${d.actions.join('|')}`,
  ];
}

function renderStatus(s: RollbackStatus, namespace: string): string {
  const lines = [
    `Rollback ${s.workflowId} (${s.workflowType}${s.dryRun ? ', dry run' : ''})`,
    `  system:        ${s.system}`,
    `  state:         ${s.state}${s.currentStep ? ` (step ${s.currentStep})` : ''}`,
    `  requested by:  ${s.requestedBy}`,
    `  reason:        ${s.reason}`,
    `  started:       ${when(s.startedAt)} (${relative(s.startedAt)})`,
    `  ended:         ${s.endedAt ? `${when(s.endedAt)} (after ${seconds(s.startedAt, s.endedAt)} s)` : '-'}`,
    ...(s.detectedAt ? [`  detected:      ${when(s.detectedAt)}`] : []),
    `  now:           ${s.details}`,
    `  Web UI:        ${uiLink(namespace, s.workflowId)}`,
    ...gateSection(s, s.workflowId),
    ...decisionSection(s, s.workflowId),
  ];
  if (s.blockers?.length) lines.push('', blockerList(s.blockers));
  if (s.healthAfter) lines.push('', healthLine(s.healthAfter));
  if (s.compensationFailures.length) lines.push('', 'NOT restored:', ...s.compensationFailures.map((f) => `  - ${f}`));
  lines.push('', 'Steps:');
  lines.push(
    s.steps.length === 0
      ? '  none yet'
      : table(
          ['STEP', 'OUTCOME', 'RUNS', 'STARTED', 'SECONDS', 'ERROR'],
          s.steps.map((x) => [x.name, x.outcome, String(x.runs), clock(x.startedAt), seconds(x.startedAt, x.endedAt), x.error ?? '']),
        ),
  );
  lines.push('', 'Events:');
  lines.push(
    s.events.length === 0
      ? '  none'
      : table(
          ['WHEN', 'WHO', 'WHAT', 'DETAIL'],
          s.events.map((e) => [clock(e.at), e.by, [e.kind, e.gate && `gate ${e.gate}`, e.step && `step ${e.step}`].filter(Boolean).join(' '), e.detail]),
        ),
  );
  return lines.join('\n');
}

/** Without a worker the status query cannot run; Temporal itself still knows the basics. */
async function printWithoutWorker(temporal: Temporal, id: string, err: NoWorkerError): Promise<number> {
  console.error(err.message);
  const d = await describe(temporal, id);
  console.error('');
  console.error('What Temporal knows without a worker:');
  console.error(`  workflow:      ${d.workflowId} (${d.type}), ${d.status.name.toLowerCase()}`);
  console.error(`  summary:       ${(await d.staticSummary()) ?? '-'}`);
  console.error(`  state:         ${d.typedSearchAttributes.get(searchAttributes.state) ?? '-'} (last recorded by the workflow)`);
  console.error(`  started:       ${when(d.startTime)}`);
  console.error(`  closed:        ${when(d.closeTime)}`);
  console.error(`  Web UI:        ${uiLink(temporal.namespace, id)}`);
  return 1;
}

/** A workflow that failed before it set up its status (invalid input) can still say why it failed. */
async function printWithoutStatus(temporal: Temporal, id: string): Promise<number> {
  const d = await describe(temporal, id);
  let why = 'it does not answer the status query (not a rollback workflow?)';
  if (d.status.name === 'FAILED') {
    why = await temporal.client.workflow
      .getHandle(id)
      .result()
      .then(
        () => why,
        (err: unknown) => (err instanceof WorkflowFailedError ? `it failed before recording a status: ${err.cause?.message ?? err.message}` : why),
      );
  }
  console.error(`${id} (${d.type}, ${d.status.name.toLowerCase()}): ${why}`);
  console.error(`  Web UI: ${uiLink(temporal.namespace, id)}`);
  return 1;
}

export async function status(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, { json: { type: 'boolean' } });
  const [id] = positionals(given, ['<workflowId>']) as [string];
  return withTemporal(async (temporal) => {
    const handle = temporal.client.workflow.getHandle(id);
    let s: RollbackStatus;
    try {
      s = await queryStatus(temporal, handle);
    } catch (err) {
      if (err instanceof NoWorkerError) return printWithoutWorker(temporal, id, err);
      if (err instanceof QueryNotRegisteredError) return printWithoutStatus(temporal, id);
      throw err;
    }
    console.log(values.json ? JSON.stringify(s, null, 2) : renderStatus(s, temporal.namespace));
    return 0;
  });
}
