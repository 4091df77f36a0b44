/** `rollback list`: rollbacks found through the search attributes the workflows keep up to date. */
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { ROLLBACK_WORKFLOWS, searchAttributes } from '../contract/index.ts';
import type { RollbackState } from '../contract/index.ts';
import { number, oneOf, parseCommand, positionals, UsageError } from './args.ts';
import { table, when } from './format.ts';
import { withTemporal } from './temporal.ts';

// A Record, so adding a state to RollbackState fails typechecking here until it is listed.
const STATES = Object.keys({
  running: 1,
  awaiting_approval: 1,
  awaiting_decision: 1,
  compensating: 1,
  completed: 1,
  failed: 1,
  aborted: 1,
} satisfies Record<RollbackState, 1>) as RollbackState[];

const ENDED_STATES: readonly string[] = ['completed', 'failed', 'aborted'];
/** Newest first needs every match in hand (the dev server's visibility cannot ORDER BY): stop somewhere. */
const MAX_SCANNED = 2000;

export const listUsage = `Usage: rollback list [--system <name>] [--state <state>] [--kind <type>] [--limit <n>]

Lists rollbacks, newest first.

  --system <name>   only this runbook system
  --state <state>   one of ${STATES.join(', ')}
  --kind <type>     one of ${ROLLBACK_WORKFLOWS.join(', ')}
  --limit <n>       at most n rows (default 20)`;

function keyword(value: string, flag: string): string {
  if (/['"\\]/.test(value)) throw new UsageError(`--${flag} must not contain quotes or backslashes`);
  return `'${value}'`;
}

export async function list(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, {
    system: { type: 'string' },
    state: { type: 'string' },
    kind: { type: 'string' },
    limit: { type: 'string' },
  });
  positionals(given, []);
  const limit = number(values.limit, 'limit') ?? 20;
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number; got '${values.limit}'`);
  const clauses = [
    values.kind !== undefined
      ? `${searchAttributes.kind.name} = '${oneOf(values.kind, ROLLBACK_WORKFLOWS, 'kind')}'`
      : `${searchAttributes.kind.name} IN (${ROLLBACK_WORKFLOWS.map((k) => `'${k}'`).join(', ')})`,
  ];
  if (values.system !== undefined) clauses.push(`${searchAttributes.system.name} = ${keyword(values.system, 'system')}`);
  if (values.state !== undefined) clauses.push(`${searchAttributes.state.name} = '${oneOf(values.state, STATES, 'state')}'`);
  const query = clauses.join(' AND ');

  return withTemporal(async (temporal) => {
    const found: WorkflowExecutionInfo[] = [];
    for await (const workflow of temporal.client.workflow.list({ query })) {
      found.push(workflow);
      if (found.length >= MAX_SCANNED) break;
    }
    if (found.length === 0) {
      console.log(`no rollbacks in namespace ${temporal.namespace} match: ${query}`);
      return 0;
    }
    found.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
    const rows = found.slice(0, limit).map((w) => {
      const state = w.typedSearchAttributes.get(searchAttributes.state) ?? '-';
      // A workflow terminated or timed out by Temporal never got to record its end state.
      const stale = w.status.name !== 'RUNNING' && !ENDED_STATES.includes(state);
      return [
        w.workflowId,
        w.typedSearchAttributes.get(searchAttributes.kind) ?? w.type,
        w.typedSearchAttributes.get(searchAttributes.system) ?? '-',
        stale ? `${state} (${w.status.name.toLowerCase()})` : state,
        when(w.startTime),
      ];
    });
    console.log(table(['ID', 'KIND', 'SYSTEM', 'STATE', 'STARTED'], rows, ''));
    if (found.length > limit) console.log(`(${found.length - limit}${found.length >= MAX_SCANNED ? '+' : ''} more; --limit to see them)`);
    return 0;
  });
}
