/**
 * The kinds of runbook action and the provider capability each needs. Kept apart from the action
 * schemas (actions.ts) on purpose: the workflows need the kinds, and importing zod schemas into the
 * workflow bundle would build them again for every workflow the worker holds in memory.
 */
import type { Capability } from '../providers/types.ts';
import type { Action } from './actions.ts';

/** Every action kind, by the key that names it. */
export const ACTION_KINDS = ['flag', 'config', 'secret-version', 'kill-switch', 'restart', 'command', 'down-sql', 'redis-restore', 'git-revert'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

/** What kind an action is: the first action key it carries. */
export function actionKind(action: Action): ActionKind {
  return ACTION_KINDS.find((kind) => kind in action)!;
}

/** The capability a provider needs to carry out each kind (down-sql uses the runbook's database instead). */
export const ACTION_CAPABILITY: Record<ActionKind, Capability | null> = {
  flag: 'flags',
  config: 'config',
  'secret-version': 'secrets',
  'kill-switch': 'killSwitches',
  restart: 'restarts',
  command: 'commands',
  'down-sql': null,
  'redis-restore': 'keyspace',
  'git-revert': 'reverts',
};
