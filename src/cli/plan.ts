/**
 * `rollback plan <runbook.yaml> --workflow <type> [input flags]`: the plan a worker's dry run would
 * make, from live state where the providers answer, made in this process: no workflow is started and
 * no Temporal server is needed. The runbook file is checked first as `rollback validate` checks it.
 */
import { relative } from 'node:path';
import { userInfo } from 'node:os';
import { ROLLBACK_WORKFLOWS, type PlannedChange, type PlannedGate } from '../contract/index.ts';
import type { LocalPlan } from '../dry-run/plan.ts';
import { EXIT_REFUSED, number, parseCommand, positionals, required } from './args.ts';
import { when } from './format.ts';
import { inputOptions, rollbackInput, rollbackType } from './start.ts';

export const planUsage = `Usage: rollback plan <runbook.yaml> --workflow <type> [input flags as for rollback start] [--json]

Prints the plan a dry run of <type> would make (${ROLLBACK_WORKFLOWS.join(', ')}): steps, gates and
blockers, each change from its current value (read live through the runbook's providers) to its
target. It starts no workflow, needs no Temporal server and changes nothing: it only reads. Provider
settings and secrets come from this shell's environment variables, named by the runbook as for the
worker; a provider that does not answer is named with its error, and the plan goes on without it.

  <runbook.yaml>          the runbook file (checked first, as rollback validate does)
  --workflow <type>       ${ROLLBACK_WORKFLOWS.join(' | ')} (required)
  --mode, --steps, --phases, --from, --to, --flag, --config, --unset, --secret, --kill-switch,
  --scale, --restart, --provider, --database, --backup, --before, --dump, --action, --verify-window
                          as for rollback start (rollback start --help)
  --reason "<why>"        default "plan"; --by <you> default your login name
  --baseline <s>          seconds of health baseline in the snapshot (default 5, as a dry run; 0 skips it)
  --json                  the plan, snapshot, blockers and unreachable providers as JSON

Exit codes: 0 a plan from live state with nothing blocking, 1 a provider could not be reached (the plan
is partial) or the runbook file is invalid, 2 usage error, 3 a real run would be refused (blockers).

Examples:
  rollback plan runbooks/sandbox.yaml --workflow fullRollback --mode gradual --steps 50,0
  rollback plan runbooks/sandbox.yaml --workflow phaseRollback --from 5 --to 3
  rollback plan drafts/shop.yaml --workflow configRollback --flag checkout_v2=off`;

export async function plan(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, {
    ...inputOptions,
    workflow: { type: 'string' },
    baseline: { type: 'string' },
    json: { type: 'boolean' },
  });
  const [file] = positionals(given, ['<runbook.yaml>']);
  const workflow = rollbackType(required(values.workflow, 'workflow', ROLLBACK_WORKFLOWS.join('|')));
  const baselineSeconds = number(values.baseline, 'baseline');
  // The system comes from the file once it is read; the input is checked first, so a typo costs nothing.
  const input = (system: string) =>
    rollbackInput(workflow, system, values.reason ?? 'plan', values.by ?? userInfo().username, values, baselineSeconds === undefined ? {} : { baselineSeconds });
  input('plan');

  // The provider registry and activities bring every client library: loaded for this command only.
  const { checkRunbookFile } = await import('../runbook/validate.ts');
  const { planLocally } = await import('../dry-run/plan.ts');
  const shown = relative(process.cwd(), file!).startsWith('..') ? file! : relative(process.cwd(), file!) || file!;
  const check = checkRunbookFile(file!, process.env);
  if (!check.runbook) {
    for (const error of check.errors) console.error(`${shown}${error.line === undefined ? '' : `:${error.line}:${error.column}`}: ${error.path ? `${error.path}: ` : ''}${error.message}`);
    console.error(`${shown}: not a valid runbook (rollback validate ${shown} lists the same); nothing was planned`);
    return 1;
  }
  const runbook = check.runbook;
  const planned = await planLocally(runbook, workflow, input(runbook.system), process.env);
  const code = planned.unreachable.length > 0 ? 1 : planned.blockers.length > 0 ? EXIT_REFUSED : 0;
  if (values.json) {
    console.log(JSON.stringify(planned, null, 2));
    return code;
  }
  console.log(`Plan of ${workflow} for ${runbook.system} (${shown}), as a dry run would make it; nothing was changed and no workflow was started.`);
  if (planned.snapshot) console.log(`Live state read at ${when(planned.snapshot.takenAt)}.`);
  printPlan(planned);
  if (planned.blockers.length > 0) {
    console.log('\nBlockers (a real run would be refused):');
    for (const b of planned.blockers) console.log(`  - ${b.problem}${b.fix ? ` (clear it: ${b.fix})` : ''}`);
  }
  if (planned.unreachable.length > 0) {
    console.log('\nNot reached:');
    for (const u of planned.unreachable) console.log(`  - ${u.provider}: could not read ${u.reading}: ${u.error.replace(/\.$/, "")}; ${u.consequence}`);
  }
  if (code === 0) console.log(`\nStart it: rollback start ${workflow} --system ${runbook.system} <the same flags> --reason "<why>" --by <you>`);
  return code;
}

const gateText = (g: PlannedGate) => `gate ${g.gate}: ${g.required} of role ${g.role} (${g.approvers.join(', ') || 'nobody listed'})${g.forbidRequester ? ', not the requester' : ''}`;

function printPlan(planned: LocalPlan): void {
  const plan = planned.plan;
  if (!plan) return;
  const snapshot = planned.snapshot;
  if (snapshot?.traffic) {
    const { weights, instances } = snapshot.traffic;
    const list = (r: Record<string, number>, unit: string) => Object.entries(r).map(([v, n]) => `${v} ${n}${unit}`).join(', ');
    console.log(`Current: weights ${list(weights, '%')}; instances ${list(instances, '')}`);
  }
  if ('sets' in plan) {
    console.log('\nSteps:');
    let n = 0;
    for (const set of plan.sets) {
      console.log(`  ${set.title}${set.gate ? `   [${gateText(set.gate)}]` : ''}`);
      for (const change of set.changes as PlannedChange[]) {
        console.log(`    ${++n}. ${change.target}: ${change.from ? `${change.from} -> ` : ''}${change.to}${change.changes ? '' : ' (already so)'}`);
      }
      if (set.verifySeconds !== null) console.log(`    then health verified for ${set.verifySeconds} s`);
    }
  } else if ('backup' in plan) {
    console.log(`\nRestore of ${plan.live} from backup ${plan.backup.id} (taken ${when(plan.backup.takenAt)}):`);
    plan.steps.forEach((step, i) => console.log(`  ${i + 1}. ${step}`));
    console.log('Checked:');
    for (const check of plan.checks) console.log(`  - ${check}`);
  } else {
    console.log(`\nSteps${planned.targetsOnly ? ' (targets only: the current state was not read)' : ''}:`);
    plan.steps.forEach((step, i) => {
      const gate = 'gate' in step && step.gate ? (typeof step.gate === 'string' ? `   [gate ${step.gate}]` : `   [${gateText(step.gate)}]`) : '';
      const text = planned.targetsOnly && 'action' in step ? (step.action === 'scale' ? `scale ${step.version} to ${String(step.to)}` : `set weights ${Object.entries(step.to as Record<string, number>).map(([v, w]) => `${v} ${w}%`).join(', ')}`) : step.description;
      console.log(`  ${i + 1}. ${step.name}: ${text}${gate}`);
    });
  }
  const gates = 'gates' in plan ? plan.gates : [];
  if (gates.length > 0) {
    console.log('\nGates:');
    for (const g of gates) console.log(`  ${gateText(g)}`);
  }
}
