/**
 * `rollback start <type>`: starts a rollback workflow on task queue `rollbacks` with a summary the
 * Temporal UI shows in its list, then prints where to watch it and what to type next.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { z } from 'zod';
import {
  configRollbackInput,
  dataRestoreInput,
  formatProblems,
  fullRollbackInput,
  phaseRollbackInput,
  ROLLBACK_WORKFLOWS,
  TASK_QUEUE,
  validate,
  type RollbackWorkflow,
} from '../contract/index.ts';
import { number, oneOf, parseCommand, positionals, required, UsageError } from './args.ts';
import { utcStamp } from './format.ts';
import { printOutcome } from './result.ts';
import { uiLink, withTemporal } from './temporal.ts';

export const startUsage = `Usage: rollback start <type> --system <name> --reason "<why>" --by <you> [options]

Starts a rollback workflow. <type> is one of ${ROLLBACK_WORKFLOWS.join(', ')}.

  --system <name>         runbook system, e.g. sandbox (required)
  --reason "<why>"        why the rollback is needed (required)
  --by <you>              who asks for it (required)
  --mode <mode>           immediate | gradual (fullRollback: required)
  --database <name>       dataRestore: the runbook's database, e.g. main (required)
  --backup <id>           dataRestore: "latest" (default) or a backup id (rollback backups lists them)
  --before <ISO>          dataRestore: with latest, the latest backup taken before this instant
  --dump <path>           dataRestore: restore the team's own pg_dump instead (custom, directory or
                          plain SQL), inside the runbook database's dumpsDir [--dump-format <format>]
  --action <action>       dataRestore: restore (default) | schema-rollback
  --phases <ids>          dataRestore schema-rollback: phases whose down SQL runs, e.g. 5,4
  --steps <weights>       canary weights for a gradual rollback, e.g. 50,0 (the last must be 0)
  --phases <ids>          phaseRollback: the phases to undo, highest first, e.g. 5,4,3
  --from <id> --to <id>   phaseRollback: every runbook phase from one id to the other, e.g. --from 5 --to 3
  --kill-switch <f[=on]>  configRollback: engage (on) or clear (off) a feature's kill switch; repeatable
  --flag <name=on|off>    configRollback: set a feature flag; repeatable
  --config <KEY=value>    configRollback: set a config value; repeatable (--unset KEY removes one)
  --secret <NAME=previous|N>  configRollback: the secret version services load; never a value
  --scale <target=N>      configRollback: scale a target to N instances (fly scale count N); repeatable
  --restart <target>      configRollback: restart a version afterwards, or all; repeatable
  --provider <kind=name>  configRollback: which runbook provider, where it has two (e.g. flags=flagd)
  --dry-run               compute and print the plan from live state; change nothing
  --verify-window <s>     seconds of health verification after each traffic step
  --detected-at <ISO>     when the incident was detected, for the RTO scorecard
  --id <workflowId>       default rollback-<system>-<UTC yyyymmddThhmmss>
  --wait                  wait for the result and print it (a dry run prints its plan)

Examples:
  rollback start fullRollback --system sandbox --mode immediate --reason "error rate 14%" --by alice
  rollback start phaseRollback --system sandbox --from 5 --to 3 --verify-window 30 --reason "grok answers wrong" --by alice
  rollback start configRollback --system sandbox --kill-switch grok --secret XAI_API_KEY=previous --restart all --reason "bad key" --by alice`;

/**
 * Each rollback's own input schema, checked before starting so a typo exits 2 instead of starting a
 * workflow that fails at once. Typed by the contract's list: a new rollback type needs its entry here.
 */
const schemas: Record<RollbackWorkflow, z.ZodLazy<z.ZodObject>> = {
  fullRollback: fullRollbackInput,
  dataRestore: dataRestoreInput,
  phaseRollback: phaseRollbackInput,
  configRollback: configRollbackInput,
};

/** Problem paths are input keys; the operator typed flags. */
const flagOf: Record<string, string> = {
  system: '--system',
  reason: '--reason',
  requestedBy: '--by',
  mode: '--mode',
  steps: '--steps',
  dryRun: '--dry-run',
  verifyWindowSeconds: '--verify-window',
  detectedAt: '--detected-at',
  database: '--database',
  backup: '--backup',
  before: '--before',
  source: '--dump',
  action: '--action',
  phases: '--phases (or --from and --to)',
  killSwitches: '--kill-switch',
  flags: '--flag',
  config: '--config or --unset',
  secrets: '--secret',
  scale: '--scale',
  restart: '--restart',
  providers: '--provider',
};

function checkInput(kind: RollbackWorkflow, input: Record<string, unknown>): void {
  const schema = schemas[kind];
  const foreign = Object.keys(input).filter((key) => !(key in schema.unwrap().shape));
  if (foreign.length > 0) throw new UsageError(`${foreign.map((key) => flagOf[key] ?? key).join(', ')} ${foreign.length === 1 ? 'does' : 'do'} not apply to ${kind}`);
  const result = validate(schema, input);
  if (result.ok) return;
  const problems = result.problems.map((p) => {
    const key = p.path.split(/[.[]/)[0] ?? '';
    const flag = flagOf[key] ?? p.path;
    return input[key] === undefined ? { path: '', message: `missing ${flag}` } : { path: p.path.replace(key, flag), message: p.message };
  });
  throw new UsageError(formatProblems(problems).replaceAll('\n', '; '));
}

/** `--flag grok_integration=off`, repeated, as {grok_integration: false}. */
function keyValues<T>(raw: string[] | undefined, flag: string, example: string, value: (text: string, key: string) => T): Record<string, T> | undefined {
  if (!raw || raw.length === 0) return undefined;
  return Object.fromEntries(
    raw.map((item) => {
      const at = item.indexOf('=');
      if (at <= 0) throw new UsageError(`--${flag} takes name=value like ${example}; got '${item}'`);
      return [item.slice(0, at), value(item.slice(at + 1), item.slice(0, at))];
    }),
  );
}

const onOff = (flag: string) => (text: string, key: string) => {
  if (['on', 'true', 'enabled'].includes(text)) return true;
  if (['off', 'false', 'disabled'].includes(text)) return false;
  throw new UsageError(`--${flag} ${key}= must be on or off; got '${text}'`);
};

/** The phases of phaseRollback: --phases 5,4,3 or --from 5 --to 3. */
function phasesOf(values: { phases?: string; from?: string; to?: string }): number[] | { from: number; to: number } | undefined {
  if (values.from !== undefined || values.to !== undefined) {
    if (values.phases !== undefined) throw new UsageError('give --phases or --from and --to, not both');
    const [from, to] = [number(values.from, 'from'), number(values.to, 'to')];
    if (from === undefined || to === undefined) throw new UsageError('--from and --to go together, e.g. --from 5 --to 3');
    return { from, to };
  }
  return parseNumbers(values.phases, 'phases', '5,4,3');
}

function parseNumbers(raw: string | undefined, flag: string, example: string): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new UsageError(`--${flag} must be comma-separated numbers like ${example}; got '${raw}'`);
  return parts.map(Number);
}

/** `rollback-sandbox-20251121T223501`: readable, sortable, and unique per system per second. */
function defaultWorkflowId(system: string, now = new Date()): string {
  return `rollback-${system}-${utcStamp(now)}`;
}

/** The flags that make a rollback's input: shared by `rollback start` and `rollback plan`. */
export const inputOptions = {
  reason: { type: 'string' },
  by: { type: 'string' },
  mode: { type: 'string' },
  steps: { type: 'string' },
  database: { type: 'string' },
  backup: { type: 'string' },
  before: { type: 'string' },
  dump: { type: 'string' },
  'dump-format': { type: 'string' },
  action: { type: 'string' },
  phases: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  flag: { type: 'string', multiple: true },
  config: { type: 'string', multiple: true },
  unset: { type: 'string', multiple: true },
  secret: { type: 'string', multiple: true },
  'kill-switch': { type: 'string', multiple: true },
  restart: { type: 'string', multiple: true },
  scale: { type: 'string', multiple: true },
  provider: { type: 'string', multiple: true },
  'verify-window': { type: 'string' },
  'detected-at': { type: 'string' },
} as const;

type InputValues = { [K in keyof typeof inputOptions]?: (typeof inputOptions)[K] extends { multiple: true } ? string[] : string };

/** `fullRollback` (or another type) as typed, or a usage error naming the four. */
export function rollbackType(typeArg: string): RollbackWorkflow {
  if (!(ROLLBACK_WORKFLOWS as readonly string[]).includes(typeArg)) {
    throw new UsageError(`unknown workflow type '${typeArg}'; must be one of ${ROLLBACK_WORKFLOWS.join(', ')}`);
  }
  return typeArg as RollbackWorkflow;
}

/**
 * The workflow input the flags describe, checked against the type's schema (a typo is a usage error
 * naming the flag). `extra` is added as given (dryRun, a plan's baseline).
 */
export function rollbackInput(kind: RollbackWorkflow, system: string, reason: string, by: string, values: InputValues, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const mode = values.mode === undefined ? undefined : oneOf(values.mode, ['immediate', 'gradual'], 'mode');
  if (values['dump-format'] !== undefined && values.dump === undefined) throw new UsageError('--dump-format applies to a --dump');
  const input: Record<string, unknown> = Object.fromEntries(
    Object.entries({
      system,
      reason,
      requestedBy: by,
      mode,
      steps: parseNumbers(values.steps, 'steps', '50,0'),
      database: values.database,
      backup: values.backup,
      before: values.before,
      source: values.dump === undefined ? undefined : { dump: values.dump, ...(values['dump-format'] === undefined ? {} : { format: values['dump-format'] }) },
      action: values.action,
      phases: kind === 'phaseRollback' ? phasesOf(values) : parseNumbers(values.phases, 'phases', '5,4'),
      killSwitches: keyValues(values['kill-switch']?.map((k) => (k.includes('=') ? k : `${k}=on`)), 'kill-switch', 'grok=on', onOff('kill-switch')),
      flags: keyValues(values.flag, 'flag', 'grok_integration=off', onOff('flag')),
      config: values.config || values.unset ? { ...keyValues(values.config, 'config', 'LLM_PROVIDER=openai', (v) => v), ...Object.fromEntries((values.unset ?? []).map((k) => [k, null])) } : undefined,
      secrets: keyValues(values.secret, 'secret', 'XAI_API_KEY=previous', (v, key) => {
        if (v === 'previous') return v;
        if (/^\d+$/.test(v)) return Number(v);
        // Never echo it: what was typed may be the secret itself.
        throw new UsageError(`--secret ${key}= must be "previous" or a version number; a secret's value never goes into a rollback`);
      }),
      scale: keyValues(values.scale, 'scale', 'app-canary=0', (v, key) => {
        if (/^\d+$/.test(v)) return Number(v);
        throw new UsageError(`--scale ${key}=${v}: the instance count must be a whole number, 0 or more`);
      }),
      restart: values.restart,
      providers: keyValues(values.provider, 'provider', 'flags=flagd', (v) => v),
      verifyWindowSeconds: number(values['verify-window'], 'verify-window'),
      detectedAt: values['detected-at'],
      ...extra,
    }).filter(([, v]) => v !== undefined),
  );
  checkInput(kind, input);
  return input;
}

export async function start(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, {
    system: { type: 'string' },
    ...inputOptions,
    'dry-run': { type: 'boolean' },
    id: { type: 'string' },
    wait: { type: 'boolean' },
  });
  const [typeArg] = positionals(given, [`the workflow type (${ROLLBACK_WORKFLOWS.join(', ')})`]);
  const kind = rollbackType(typeArg!);
  const system = required(values.system, 'system', 'runbook system');
  const reason = required(values.reason, 'reason', 'why');
  const by = required(values.by, 'by', 'your name');
  const mode = values.mode;
  const dryRun = values['dry-run'] === true;
  const input = rollbackInput(kind, system, reason, by, values, dryRun ? { dryRun } : {});
  const workflowId = values.id ?? defaultWorkflowId(system);
  const what = mode
    ? `${mode} rollback`
    : values.database
      ? `${values.action ?? 'restore'} of database ${values.database}`
      : kind === 'phaseRollback'
        ? `rollback of phases ${Array.isArray(input.phases) ? input.phases.join(', ') : `${values.from} to ${values.to}`}`
        : kind === 'configRollback'
          ? 'config rollback'
          : kind;
  const summary = `${system}: ${dryRun ? 'dry run of ' : ''}${what} requested by ${by}: ${reason}`;

  return withTemporal(async (temporal) => {
    const handle = await temporal.client.workflow
      .start(kind, {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [input],
        // The workflow sets its own search attributes: one set here would outlive a workflow that never
        // runs (no worker for the type) and block every later rollback of the system in preflight.
        staticSummary: summary,
        staticDetails: JSON.stringify(input, null, 2),
      })
      .catch((err: unknown) => {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          throw new Error(`a workflow with ID ${workflowId} is already running in namespace ${temporal.namespace}; see it with: rollback status ${workflowId}`);
        }
        throw err;
      });
    console.log(`Started ${kind} ${workflowId}`);
    console.log(`  ${summary}`);
    console.log(`  Web UI:  ${uiLink(temporal.namespace, workflowId)}`);
    console.log('');
    console.log(`  Follow it:        rollback status ${workflowId}`);
    if (!dryRun) {
      console.log(`  Approve a gate:   rollback approve ${workflowId} --by <approver>`);
      console.log(`  After a failure:  rollback decide ${workflowId} --by <you> --action retry|skip|compensate|abort`);
      console.log(`  Stop it:          rollback abort ${workflowId} --by <you> --reason "<why>"`);
    }
    if (!values.wait) return 0;
    console.log('');
    console.log(`Waiting for the result (Ctrl-C stops waiting; the rollback goes on)...`);
    return printOutcome(handle, kind);
  });
}
