/**
 * The plan of a phase or config rollback's actions: each with the value it finds (read from live
 * state just before) and the value it sets, and how compensation puts the found value back. Each
 * kind plans its own (src/actions/); this walks them in order against a running view of the values,
 * so a later change to the same target finds what the earlier one set (and its undo puts that back).
 * Pure, so the workflow builds it deterministically, the worker uses it to refuse a bad request before
 * anything changes, and tests read it directly.
 */
import type { CapturedValue, PlannedGate } from '../contract/index.ts';
import { kindOf, type KindChange, type ResolvedAction } from '../actions/index.ts';
import type { FillContext } from '../actions/kind.ts';

export { withCaptureFilled } from '../actions/command.ts';
export type { FillContext } from '../actions/kind.ts';

/**
 * The plan of `actions` (providers resolved) against the `values` captured from live state: the
 * changes, the problems that refuse it (a secret with no previous version, a placeholder with no
 * value) and the targets with no captured value (`unread`: left out of the plan). Pass the same
 * `live` to plan several phases in a row. With `fill`, a command's placeholders are filled.
 */
export function planChanges(
  actions: readonly ResolvedAction[],
  captured: readonly CapturedValue[],
  options: { phase: number | null; prefix: string; live?: CapturedValue[]; fill?: FillContext; gates?: (name: string) => PlannedGate | undefined },
): { changes: KindChange[]; problems: string[]; unread: string[] } {
  const live = options.live ?? (JSON.parse(JSON.stringify(captured)) as CapturedValue[]);
  const problems: string[] = [];
  const unread: string[] = [];
  const seen = new Map<string, number>();
  const named = (base: string) => {
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return `${options.prefix}${base}${n > 1 ? ` #${n}` : ''}`;
  };
  const gate = (...names: string[]) => names.map((name) => options.gates?.(name)).find((g) => g !== undefined);
  const context = { phase: options.phase, live, named, fill: options.fill, problem: (m: string) => problems.push(m), unread: (m: string) => unread.push(m), gate };
  const changes = actions.flatMap((action) => kindOf(action).plan(action, context) as KindChange[]);
  return { changes, problems, unread };
}
