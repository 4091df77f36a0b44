/**
 * Every kind of runbook action, one module each (kind.ts says what a module declares), registered
 * here by one line. The runbook schema, the snapshot, the plans and the workflows all go through this
 * map, so a kind is added by writing its module and its line, and a module missing a part, or a line
 * naming the wrong kind, does not compile.
 */
import type { ActionKindModule, PlannedChange, Resolved } from './kind.ts';
import { cloudSqlClone } from './cloudsql-clone.ts';
import { command } from './command.ts';
import { config } from './config.ts';
import { downSql } from './down-sql.ts';
import { flag } from './flag.ts';
import { gitRevert } from './git-revert.ts';
import { killSwitch } from './kill-switch.ts';
import { redisRestore } from './redis-restore.ts';
import { release } from './release.ts';
import { restart } from './restart.ts';
import { scale } from './scale.ts';
import { secret } from './secret.ts';
import { secretVersion } from './secret-version.ts';
import { sqliteRestore } from './sqlite-restore.ts';
import { volumeRestore } from './volume-restore.ts';

/** In the order a runbook's schema tries them (and the reference lists them). */
export const ACTIONS = {
  flag,
  config,
  'secret-version': secretVersion,
  'kill-switch': killSwitch,
  restart,
  command,
  'down-sql': downSql,
  'redis-restore': redisRestore,
  'git-revert': gitRevert,
  scale,
  'sqlite-restore': sqliteRestore,
  'volume-restore': volumeRestore,
  release,
  secret,
  'cloudsql-clone': cloudSqlClone,
} as const;

export type ActionKind = keyof typeof ACTIONS;

// Each module is typed as an ActionKindModule where it is written (a missing part fails there), and
// is registered under its own kind: `{scale: restart}` fails here.
ACTIONS satisfies { [K in ActionKind]: { kind: K } };

type ModuleOf<K extends ActionKind> = (typeof ACTIONS)[K];
type ActionOfModule<M> = M extends ActionKindModule<string, infer A, unknown, unknown> ? A : never;
type ChangeOfModule<M> = M extends ActionKindModule<string, unknown, infer C, unknown> ? C : never;
type ActivitiesOfModule<M> = M extends ActionKindModule<string, unknown, unknown, infer P> ? P : never;
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** A runbook action of any kind, as the runbook schema parses it. */
export type Action = { [K in ActionKind]: ActionOfModule<ModuleOf<K>> }[ActionKind];
/** An action whose provider is resolved (named, or the runbook's only one that can). */
export type ResolvedAction = { [K in ActionKind]: Resolved<ActionOfModule<ModuleOf<K>>> }[ActionKind];
/** A planned change of any kind, carrying that kind's change and undo. */
export type KindChange = { [K in ActionKind]: PlannedChange<ChangeOfModule<ModuleOf<K>>> & { kind: K } }[ActionKind];
/** Every activity the kinds' carry-outs call: the worker's activities must provide them all. */
export type ChangeActivities = Intersection<{ [K in ActionKind]: ActivitiesOfModule<ModuleOf<K>> }[ActionKind]>;

export const ACTION_KINDS = Object.keys(ACTIONS) as ActionKind[];

/** What kind an action is: the first kind key it carries. */
export function actionKind(action: object): ActionKind {
  const kind = ACTION_KINDS.find((k) => k in action);
  if (!kind) throw new Error(`not a runbook action: it has none of the keys ${ACTION_KINDS.join(', ')}`);
  return kind;
}

/**
 * The module of `action`'s kind, typed for that action. One cast, here: TypeScript cannot see that
 * the kind read from an action picks the module of that action's own type.
 */
export function kindOf<A extends Action | ResolvedAction>(action: A): ActionKindModule<ActionKind, A, unknown, ChangeActivities> {
  return ACTIONS[actionKind(action)] as unknown as ActionKindModule<ActionKind, A, unknown, ChangeActivities>;
}

/** The module that carries out `change` (planned by its kind), typed for that change. */
export function moduleOfChange(change: KindChange): ActionKindModule<ActionKind, unknown, KindChange['change'], ChangeActivities> {
  return ACTIONS[change.kind as ActionKind] as unknown as ActionKindModule<ActionKind, unknown, KindChange['change'], ChangeActivities>;
}

export type { ActionKindModule, CaptureContext, CarryOutContext, PlanContext, PlannedChange, Resolved } from './kind.ts';
