/**
 * Runbook files written for the earlier format are refused with exactly what to write instead, made
 * from the file's own content: the top-level `flags:` store (now a named provider) and a phase's
 * `rollback:` as a map of flags, config, restart and downSql (now an ordered list of actions).
 */
import { stringify } from 'yaml';
import type { Problem } from '../contract/index.ts';

type Raw = Record<string, unknown>;

const isMap = (value: unknown): value is Raw => typeof value === 'object' && value !== null && !Array.isArray(value);

/** YAML for a message: indented under the key it replaces. */
function yamlBlock(value: unknown, indent: string): string {
  return stringify(value, { lineWidth: 0 })
    .trimEnd()
    .split('\n')
    .map((line) => `${indent}${line}`)
    .join('\n');
}

/** The earlier phase form `{flags, config, restart, downSql}` as the ordered actions it meant. */
function actionsOf(old: Raw): unknown[] {
  const actions: unknown[] = [];
  for (const [flag, enabled] of Object.entries(isMap(old.flags) ? old.flags : {})) actions.push({ flag, enabled });
  if (isMap(old.config) && Object.keys(old.config).length > 0) actions.push({ config: old.config });
  if (old.restart === true) actions.push({ restart: 'all' });
  if (isMap(old.downSql)) actions.push({ 'down-sql': old.downSql });
  return actions;
}

/** Problems for every part of `raw` in the earlier format, each with its replacement. */
export function earlierFormatProblems(raw: unknown): Problem[] {
  if (!isMap(raw)) return [];
  const problems: Problem[] = [];
  if (isMap(raw.flags) && 'provider' in raw.flags) {
    problems.push({
      path: 'flags',
      message: `flag stores are named under providers: now (actions and stopWriters refer to them by name). Replace this section with:\nproviders:\n  flags:\n${yamlBlock(raw.flags, '    ')}`,
    });
  }
  if (Array.isArray(raw.phases)) {
    raw.phases.forEach((phase: unknown, i) => {
      if (!isMap(phase) || !isMap(phase.rollback)) return;
      problems.push({
        path: `phases[${i}].rollback`,
        message: `a phase now lists its rollback actions in order. Replace it with:\nrollback:\n${yamlBlock(actionsOf(phase.rollback), '  ')}`,
      });
    });
  }
  return problems;
}
