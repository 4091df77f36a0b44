/**
 * dataRestore's plan, from what the restore's preflight found (the backup or dump, the live, side and
 * kept names, each check passed): the steps a restore takes, in order. Pure, so the workflow and
 * `rollback plan` say the same thing.
 */
import type { DataRestorePlan } from '../contract/index.ts';

/** What the restore's preflight found, as far as the plan needs it. */
export interface CheckedRestore {
  id: string;
  takenAt: string;
  manifest: { rowCounts: Record<string, number> };
  live: string;
  side: string;
  old: string;
  checks: string[];
  dump?: { path: string; format: string };
}

export function dataRestoreSteps(checked: CheckedRestore, jobs: number): DataRestorePlan {
  return {
    backup: { id: checked.id, takenAt: checked.takenAt, rowCounts: checked.manifest.rowCounts },
    live: checked.live,
    side: checked.side,
    keptAs: checked.old,
    checks: checked.checks,
    steps: [
      `safety dump of ${checked.live} (verified against its manifest)`,
      checked.dump?.format === 'plain'
        ? `dump ${checked.dump.path} loaded into ${checked.side} (psql, one transaction, stopping at the first error)`
        : `${checked.dump ? `dump ${checked.dump.path}` : `backup ${checked.id}`} restored into ${checked.side} (pg_restore -j ${jobs})`,
      `verify ${checked.side}: row counts against the manifest, smoke queries`,
      'approval (gate before-swap)',
      'stop writers',
      `swap: ${checked.live} -> ${checked.old}, ${checked.side} -> ${checked.live}`,
      `verify ${checked.live}: the restored database answers to the name, smoke queries pass`,
      'resume writers',
    ],
  };
}
