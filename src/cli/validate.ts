/**
 * `rollback validate <runbook.yaml> [--json]`: a runbook file checked as the worker would load it,
 * offline, with every problem at once, each named by its path and placed in the file, e.g.
 * `runbooks/shop.yaml:41:11: phases[2].rollback[0].provider: no provider named 'flagsd' under providers:; ...`.
 * Exit 0 when the worker would load it (warnings allowed), 1 when it would refuse it.
 */
import { relative } from 'node:path';
import { parseCommand, positionals } from './args.ts';

export const validateUsage = `Usage: rollback validate <runbook.yaml> [--json]

Checks a runbook file as the worker loads it, offline: YAML syntax (line and column), the schema
(every key, action and gate name), inline secrets, and the providers against the registry. Every
problem is listed at once, each named by its path in the file. Nothing is contacted and no
environment variable is needed: one the runbook names but this shell does not set is a warning.

  <runbook.yaml>   the file, e.g. runbooks/sandbox.yaml (the worker loads it as <system>.yaml)
  --json           {file, valid, errors, warnings, notChecked}, each finding {path, message, line, column}

Exit codes: 0 the worker would load it (warnings allowed), 1 it would refuse it, 2 usage error.

Examples:
  rollback validate runbooks/sandbox.yaml
  rollback validate drafts/shop.yaml --json`;

export async function validateRunbook(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, { json: { type: 'boolean' } });
  const [file] = positionals(given, ['<runbook.yaml>']);
  // The provider registry brings every provider's client library: loaded for this command only.
  const { checkRunbookFile } = await import('../runbook/validate.ts');
  const shown = relative(process.cwd(), file!).startsWith('..') ? file! : relative(process.cwd(), file!) || file!;
  const check = checkRunbookFile(file!, process.env);
  const valid = check.errors.length === 0;
  if (values.json) {
    console.log(JSON.stringify({ file: shown, valid, errors: check.errors, warnings: check.warnings, notChecked: check.notChecked }, null, 2));
    return valid ? 0 : 1;
  }
  const where = (f: { line?: number; column?: number }) => `${shown}${f.line === undefined ? '' : `:${f.line}:${f.column}`}: `;
  for (const error of check.errors) console.error(`${where(error)}${error.path ? `${error.path}: ` : ''}${error.message}`);
  for (const warning of check.warnings) console.error(`${where(warning)}warning: ${warning.path ? `${warning.path}: ` : ''}${warning.message}`);
  if (!valid) {
    console.error(`${shown}: ${check.errors.length} ${check.errors.length === 1 ? 'error' : 'errors'}${check.notChecked ? `; ${check.notChecked}` : ''}`);
    return 1;
  }
  const runbook = check.runbook!;
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  console.log(
    `${shown}: valid runbook for system ${runbook.system} (${count(runbook.phases.length, 'phase')}, ${count(Object.keys(runbook.gates).length, 'gate')}, ${count(Object.keys(runbook.providers).length, 'provider')})` +
      (check.warnings.length > 0 ? `, ${count(check.warnings.length, 'warning')}` : ''),
  );
  // What a dry run of it would do, for the workflow it suits best.
  const example = runbook.traffic || runbook.release ? '--workflow fullRollback --mode immediate' : runbook.phases.length > 0 ? `--workflow phaseRollback --phases ${runbook.phases.at(-1)!.id}` : '--workflow configRollback --flag <name>=off';
  console.log(`  See what a rollback would do: rollback plan ${shown} ${example}`);
  return 0;
}
