/**
 * The public names UI users, scripts and runbooks depend on. Changing one breaks them: don't.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TASK_QUEUE = 'rollbacks';

export const searchAttributes = {
  system: defineSearchAttributeKey('RollbackSystem', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('RollbackKind', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('RollbackState', SearchAttributeType.KEYWORD),
} as const;

export const ALL_SEARCH_ATTRIBUTES = Object.values(searchAttributes);
