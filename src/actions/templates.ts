/**
 * `{{name}}` placeholders in a command action's argument vectors (`command`, `undo`, `capture`),
 * filled with plan values when the plan is built, so a dry run shows the very argv that will run.
 * A value always becomes part of ONE argument: it is never split on spaces and never reaches a shell,
 * so `d-1; rm -rf /` stays one literal argument. Values are plan values (the system, the workflow id,
 * the requester, the phase, what the capture printed), never secrets: those reach a command only as
 * environment variables the runbook names.
 *
 * Only `{{identifier}}` and `{{identifier.path}}` are placeholders; anything else between braces
 * (a Go template such as `{{.Name}}` or `{{json .}}` for `docker`/`fly --format`) is left as written.
 * Pure and free of zod: the workflow bundle uses it to build plans.
 */

/** Placeholders a `command` or `undo` may use; `capture` may use all but the captured ones. */
export const PLACEHOLDERS = ['system', 'workflowId', 'requestedBy', 'phase', 'captured', 'captured.<field>'] as const;
const CAPTURE_PLACEHOLDERS = ['system', 'workflowId', 'requestedBy', 'phase'] as const;

/** How much of a capture's stdout the snapshot keeps (it lives in workflow history and status). */
export const CAPTURE_LIMIT = 8192;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;

const listed = (names: readonly string[]) => names.map((n) => `{{${n}}}`).join(', ');

/** The placeholder names in one argument, in order: `["captured.deploymentId"]`. */
export function placeholdersIn(arg: string): string[] {
  return [...arg.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * Why a placeholder cannot stand in `field` of an action (with or without a `capture`), or null.
 * Checked when the runbook loads, so a misspelt name never reaches a rollback.
 */
export function placeholderProblem(name: string, field: 'command' | 'undo' | 'capture', hasCapture: boolean): string | null {
  const isCaptured = name === 'captured' || name.startsWith('captured.');
  if (field === 'capture') {
    if (isCaptured) return `{{${name}}} cannot be used in capture: it is what the capture prints; capture may use ${listed(CAPTURE_PLACEHOLDERS)}`;
    return (CAPTURE_PLACEHOLDERS as readonly string[]).includes(name) ? null : `unknown placeholder {{${name}}}; capture may use ${listed(CAPTURE_PLACEHOLDERS)}`;
  }
  if (isCaptured) return hasCapture ? null : `{{${name}}} reads what the action's capture printed, but the action has no capture: [argv...]`;
  return (CAPTURE_PLACEHOLDERS as readonly string[]).includes(name) ? null : `unknown placeholder {{${name}}}; known placeholders: ${listed(PLACEHOLDERS)}`;
}

/** What the plan fills placeholders with; a value left out is missing (a plan problem naming it). */
export interface TemplateValues {
  system?: string;
  workflowId?: string;
  requestedBy?: string;
  phase?: number | null;
  /** What the action's capture printed (trimmed, masked, cut at CAPTURE_LIMIT). */
  captured?: { argv: string[]; output: string; truncated?: boolean };
}

/**
 * An argument vector as a person reads it: arguments with spaces, quotes or shell characters in
 * single quotes, so `railway rollback 'd-1; rm -rf /'` shows it is one argument. For display only:
 * nothing here is ever given to a shell.
 */
export function showArgv(argv: readonly string[]): string {
  return argv.map((arg) => (arg === '' || /[\s'"\\;&|<>$`]/.test(arg) ? `'${arg.replaceAll("'", "'\\''")}'` : arg)).join(' ');
}

/** The value of `name`, or why it has none. */
function valueOf(name: string, values: TemplateValues): { value: string } | { missing: string } {
  if (name === 'phase') return values.phase === null || values.phase === undefined ? { missing: 'this rollback is not undoing a phase' } : { value: String(values.phase) };
  if (name === 'system' || name === 'workflowId' || name === 'requestedBy') {
    const value = values[name];
    return value ? { value } : { missing: `the plan was given no ${name}` };
  }
  const captured = values.captured;
  if (!captured) return { missing: 'the capture was not run' };
  const from = `the output of \`${showArgv(captured.argv)}\``;
  if (captured.truncated) return { missing: `${from} was longer than ${CAPTURE_LIMIT} characters and was cut; capture a command that prints less` };
  if (name === 'captured') return captured.output === '' ? { missing: `${from} was empty` } : { value: captured.output };
  let node: unknown;
  try {
    node = JSON.parse(captured.output);
  } catch {
    return { missing: `${from} is not JSON (it begins ${JSON.stringify(captured.output.slice(0, 40))})` };
  }
  const path = name.slice('captured.'.length).split('.');
  for (const [i, key] of path.entries()) {
    const here = path.slice(0, i).join('.') || 'the top level';
    if (node === null || typeof node !== 'object') return { missing: `${from} has no field ${key} under ${here} (it is ${JSON.stringify(node)})` };
    const found = Array.isArray(node) ? (/^\d+$/.test(key) ? node[Number(key)] : undefined) : (node as Record<string, unknown>)[key];
    if (found === undefined) {
      const has = Array.isArray(node) ? `a list of ${node.length}` : `fields ${Object.keys(node).join(', ') || 'none'}`;
      return { missing: `${from} has no ${Array.isArray(node) ? 'item' : 'field'} ${key} under ${here} (it has ${has})` };
    }
    node = found;
  }
  if (node === null) return { missing: `${from} has ${path.join('.')} null` };
  if (typeof node === 'object') return { missing: `${from} has ${Array.isArray(node) ? 'a list' : 'an object'} at ${path.join('.')}, not a value; name a field inside it` };
  return { value: String(node) };
}

/**
 * `args` with every placeholder filled (each argument stays one argument, however its value reads),
 * or the problems naming each placeholder that has no value.
 */
export function fillArgs(args: readonly string[], values: TemplateValues): { argv: string[]; problems: string[] } {
  const problems: string[] = [];
  const argv = args.map((arg) =>
    arg.replace(PLACEHOLDER, (whole, name: string) => {
      const found = valueOf(name, values);
      if ('value' in found) return found.value;
      problems.push(`{{${name}}} has no value: ${found.missing}`);
      return whole;
    }),
  );
  return { argv, problems: [...new Set(problems)] };
}
