/**
 * The plan of a phase or config rollback: each action with the value it finds (read from live state
 * just before) and the value it sets, and how compensation puts the found value back. Pure, so the
 * workflow builds it deterministically, the worker uses it to refuse a bad request before anything
 * changes, and tests read it directly.
 */
import type { CapturedValue } from '../contract/index.ts';
import { actionKind, type ActionKind } from './action-kinds.ts';
import type { Action } from './actions.ts';
import { fillArgs, showArgv } from './templates.ts';

type VersionStates = Record<number, 'ENABLED' | 'DISABLED'>;

/** What one activity call changes (or, for `undo`, puts back). */
export type Change =
  | { kind: 'flag'; provider: string; flag: string; enabled: boolean }
  | { kind: 'config'; provider: string; values: Record<string, string | null> }
  | { kind: 'secret-version'; provider: string; secret: string; states: VersionStates }
  | { kind: 'kill-switch'; provider: string; feature: string; on: boolean }
  | { kind: 'restart'; provider: string; target: string }
  | { kind: 'command'; provider: string; argv: string[]; env: Record<string, string>; timeoutSeconds: number; successPattern?: string; repeatable: boolean }
  | { kind: 'down-sql'; database: string; phase: number }
  | { kind: 'redis-restore'; keyspace: string; backup: string }
  | { kind: 'redis-restore-undo'; keyspace: string }
  | { kind: 'git-revert'; provider: string; range: string }
  /** Reverts the commits the forward revert made (found again by its idempotency key): new commits again. */
  | { kind: 'git-revert-undo'; provider: string; range: string };

export interface PlannedChange {
  /** Unique in the plan; the step's name and its idempotency key, e.g. "phase-5/flag grok_integration". */
  name: string;
  phase: number | null;
  kind: ActionKind;
  /** The target in words, e.g. "flag grok_integration (flags)". */
  target: string;
  /** The value found before the change (from live state) and the one set, in words for status and dry runs. */
  from: string;
  to: string;
  /** False when the target already has the value: the step is kept, and changes nothing. */
  changes: boolean;
  change: Change;
  /** What compensation runs; null when there is no way back here (the report says what to do). */
  undo: Change | null;
  /** Why there is no undo, when undo is null. */
  noUndo?: string;
}

const sameArgv = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((arg, i) => arg === b[i]);

/** A captured output in a few words for the plan's "found" column. */
const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, ' ');
  return flat === '' ? 'nothing' : flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
};

const show = (value: unknown) => (value === null || value === undefined ? 'unset' : typeof value === 'string' ? value : JSON.stringify(value));

function findValue<K extends CapturedValue['kind']>(values: CapturedValue[], kind: K, match: (v: Extract<CapturedValue, { kind: K }>) => boolean): Extract<CapturedValue, { kind: K }> | undefined {
  return values.find((v): v is Extract<CapturedValue, { kind: K }> => v.kind === kind && match(v as Extract<CapturedValue, { kind: K }>));
}

/**
 * The version states that make `to` the version services load: "previous" is the newest version
 * before the current one. Returns the states to set, or why it cannot be done.
 */
export function secretVersionTarget(secret: Extract<CapturedValue, { kind: 'secret-version' }>, to: 'previous' | number): { states: VersionStates; version: number } | { problem: string } {
  const numbers = secret.versions.map((v) => v.version).sort((a, b) => a - b);
  let target: number;
  if (to === 'previous') {
    if (secret.current === null) return { problem: `secret ${secret.secret} has no enabled version, so no previous one` };
    const earlier = numbers.filter((n) => n < secret.current!);
    if (earlier.length === 0) return { problem: `secret ${secret.secret} has no version before ${secret.current} (versions: ${numbers.join(', ')})` };
    target = earlier.at(-1)!;
  } else {
    if (!numbers.includes(to)) return { problem: `secret ${secret.secret} has no version ${to} (versions: ${numbers.join(', ')})` };
    target = to;
  }
  const states: VersionStates = {};
  for (const { version, state } of secret.versions) {
    if (version === target && state !== 'ENABLED') states[version] = 'ENABLED';
    if (version > target && state === 'ENABLED') states[version] = 'DISABLED';
  }
  return { states, version: target };
}

/** What fills a command's `{{system}}`, `{{workflowId}}` and `{{requestedBy}}` (templates.ts). */
export interface PlanContext {
  system: string;
  workflowId: string;
  requestedBy: string;
}

/**
 * `action` with its capture's placeholders filled, for the snapshot to run before any plan exists
 * (`{{captured}}` cannot appear there). Other actions are returned as they are.
 */
export function withCaptureFilled(action: Action, context: PlanContext & { phase: number | null }): { action: Action; problems: string[] } {
  if (!('command' in action) || !action.capture) return { action, problems: [] };
  const { argv, problems } = fillArgs(action.capture, context);
  return { action: { ...action, capture: argv }, problems: problems.map((p) => `command ${showArgv(action.command)}: capture ${p}`) };
}

/**
 * The plan of `actions` (providers resolved) against the `values` captured from live state; problems
 * name what cannot be done, and `unread` the targets with no captured value (left out of the plan). Changes are planned in order against a running view of the values, so a
 * later change to the same target finds what the earlier one set (and its undo puts that back);
 * pass the same `live` to plan several phases in a row. With `context`, a command's placeholders are
 * filled (a placeholder with no value is a problem naming it, and the command is not planned).
 */
export function planChanges(
  actions: readonly Action[],
  captured: readonly CapturedValue[],
  options: { phase: number | null; prefix: string; live?: CapturedValue[]; context?: PlanContext },
): { changes: PlannedChange[]; problems: string[]; unread: string[] } {
  const values = options.live ?? (JSON.parse(JSON.stringify(captured)) as CapturedValue[]);
  const changes: PlannedChange[] = [];
  const problems: string[] = [];
  // Targets the snapshot has no value of: the inspection refused them already (a dry run lists them as blockers).
  const unread: string[] = [];
  const seen = new Map<string, number>();
  const named = (base: string) => {
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return `${options.prefix}${base}${n > 1 ? ` #${n}` : ''}`;
  };
  const { phase } = options;
  for (const action of actions) {
    const kind = actionKind(action);
    if ('flag' in action) {
      const provider = action.provider!;
      const found = findValue(values, 'flag', (v) => v.provider === provider && v.flag === action.flag);
      if (!found) {
        unread.push(`flag ${action.flag} was not read from ${provider}`);
        continue;
      }
      changes.push({
        name: named(`flag ${action.flag}`),
        phase,
        kind,
        target: `flag ${action.flag} (${provider})`,
        from: show(found.enabled),
        to: show(action.enabled),
        changes: found.enabled !== action.enabled,
        change: { kind: 'flag', provider, flag: action.flag, enabled: action.enabled },
        undo: { kind: 'flag', provider, flag: action.flag, enabled: found.enabled },
      });
      found.enabled = action.enabled;
    } else if ('config' in action) {
      const provider = action.provider!;
      const found = findValue(values, 'config', (v) => v.provider === provider);
      if (!found) {
        unread.push(`config was not read from ${provider}`);
        continue;
      }
      const keys = Object.keys(action.config);
      const before = Object.fromEntries(keys.map((k) => [k, found.values[k] ?? null]));
      changes.push({
        name: named(`config ${keys.join(', ')}`),
        phase,
        kind,
        target: `config ${keys.join(', ')} (${provider})`,
        from: keys.map((k) => `${k}=${show(before[k])}`).join(', '),
        to: keys.map((k) => `${k}=${show(action.config[k])}`).join(', '),
        changes: keys.some((k) => before[k] !== action.config[k]),
        change: { kind: 'config', provider, values: action.config },
        undo: { kind: 'config', provider, values: before },
      });
      Object.assign(found.values, action.config);
    } else if ('secret-version' in action) {
      const provider = action.provider!;
      const name = action['secret-version'];
      const found = findValue(values, 'secret-version', (v) => v.provider === provider && v.secret === name);
      if (!found) {
        unread.push(`secret ${name} was not read from ${provider}`);
        continue;
      }
      const target = secretVersionTarget(found, action.to);
      if ('problem' in target) {
        problems.push(target.problem);
        continue;
      }
      const before = Object.fromEntries(Object.keys(target.states).map((v) => [Number(v), found.versions.find((x) => x.version === Number(v))!.state])) as VersionStates;
      changes.push({
        name: named(`secret ${name}`),
        phase,
        kind,
        target: `secret ${name} (${provider})`,
        from: `version ${show(found.current)}`,
        to: `version ${target.version}`,
        changes: Object.keys(target.states).length > 0,
        change: { kind: 'secret-version', provider, secret: name, states: target.states },
        undo: { kind: 'secret-version', provider, secret: name, states: before },
      });
      for (const version of found.versions) version.state = target.states[version.version] ?? version.state;
      found.current = target.version;
    } else if ('kill-switch' in action) {
      const provider = action.provider!;
      const feature = action['kill-switch'];
      const found = findValue(values, 'kill-switch', (v) => v.provider === provider && v.feature === feature);
      if (!found) {
        unread.push(`kill switch ${feature} was not read from ${provider}`);
        continue;
      }
      const word = (on: boolean) => (on ? 'on (feature off)' : 'off');
      changes.push({
        name: named(`kill switch ${feature}`),
        phase,
        kind,
        target: `kill switch ${feature} (${provider})`,
        from: word(found.on),
        to: word(action.on),
        changes: found.on !== action.on,
        change: { kind: 'kill-switch', provider, feature, on: action.on },
        undo: { kind: 'kill-switch', provider, feature, on: found.on },
      });
      found.on = action.on;
    } else if ('restart' in action) {
      const provider = action.provider!;
      const found = values.filter((v): v is Extract<CapturedValue, { kind: 'restart' }> => v.kind === 'restart' && v.provider === provider && (action.restart === 'all' || v.target === action.restart));
      if (found.length === 0) {
        unread.push(`restart target ${action.restart} was not read from ${provider}`);
        continue;
      }
      for (const { target, replicas } of found) {
        changes.push({
          name: named(`restart ${target}`),
          phase,
          kind,
          target: `restart ${target} (${provider})`,
          from: `${replicas.length} replica(s) started ${replicas.map((r) => r.startedAt).sort()[0] ?? 'never'}`,
          to: 'restarted, loading the config and secrets then current',
          changes: true,
          change: { kind: 'restart', provider, target },
          // Compensation restarts again, after the phase's other undos, so replicas load the restored values.
          undo: { kind: 'restart', provider, target },
        });
      }
    } else if ('command' in action) {
      const provider = action.provider!;
      const { env, timeoutSeconds, successPattern, repeatable } = action;
      const capture = action.capture;
      const captured = capture ? findValue(values, 'command-output', (v) => v.provider === provider && sameArgv(v.argv, capture)) : undefined;
      // Without a context (the inspection's early check) templates are left as written: they are filled when the plan is built.
      const fill = (args: string[] | undefined) =>
        args && options.context ? fillArgs(args, { ...options.context, phase, captured }) : { argv: args ?? [], problems: [] };
      const command = fill(action.command);
      const undo = fill(action.undo);
      const name = named(`command ${command.argv[0]}`);
      if (command.problems.length + undo.problems.length > 0) {
        problems.push(...command.problems.map((p) => `${name}: command ${p}`), ...undo.problems.map((p) => `${name}: undo ${p}`));
        continue;
      }
      const argv = command.argv;
      changes.push({
        name,
        phase,
        kind,
        target: `command (${provider})`,
        from: captured ? `\`${showArgv(captured.argv)}\` printed ${oneLine(captured.output)}` : '',
        to: showArgv(argv),
        changes: true,
        change: { kind: 'command', provider, argv, env, timeoutSeconds, successPattern, repeatable },
        undo: action.undo ? { kind: 'command', provider, argv: undo.argv, env, timeoutSeconds, successPattern, repeatable } : null,
        noUndo: action.undo ? undefined : `command ${showArgv(argv)} has no undo in the runbook`,
      });
    } else if ('down-sql' in action) {
      const { database } = action['down-sql'];
      changes.push({
        name: named(`down SQL on ${database}`),
        phase,
        kind,
        target: `database ${database}`,
        from: 'schema as it is',
        to: `down SQL of phase ${phase ?? '?'} (one transaction, after a verified safety dump)`,
        changes: true,
        change: { kind: 'down-sql', database, phase: phase ?? 0 },
        undo: null,
        noUndo: `down SQL on ${database} is not undone automatically; restore the safety dump with dataRestore`,
      });
    } else if ('git-revert' in action) {
      const provider = action.provider!;
      const range = action['git-revert'];
      const head = findValue(values, 'git-head', (v) => v.provider === provider);
      if (!head) {
        unread.push(`the branch of ${provider} was not read from ${provider}`);
        continue;
      }
      changes.push({
        name: named(`git revert ${range}`),
        phase,
        kind,
        target: `git ${head.branch} (${provider})`,
        from: `head ${head.head.slice(0, 12)}`,
        to: `${range} reverted as new commits, pushed`,
        changes: true,
        change: { kind: 'git-revert', provider, range },
        undo: { kind: 'git-revert-undo', provider, range },
      });
    } else {
      const keyspace = action['redis-restore'];
      const found = findValue(values, 'keyspace', (v) => v.keyspace === keyspace);
      changes.push({
        name: named(`restore keyspace ${keyspace}`),
        phase,
        kind,
        target: `keyspace ${keyspace}${found ? ` (${found.pattern})` : ''}`,
        from: found ? `${found.keys} keys now` : 'unknown',
        to: `backup ${action.backup} (what is there now saved first)`,
        changes: true,
        change: { kind: 'redis-restore', keyspace, backup: action.backup },
        undo: { kind: 'redis-restore-undo', keyspace },
      });
    }
  }
  return { changes, problems, unread };
}
