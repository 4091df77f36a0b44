import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActivityDeps } from './deps.ts';

export const createRecordActivities = (deps: ActivityDeps) => ({
  /**
   * Writes the incident report (markdown) to REPORTS_DIR/<system>/<workflowId>.md and returns the path.
   * Safe to retry: the same report overwrites the same file.
   */
  async publishReport(input: { system: string; workflowId: string; markdown: string }): Promise<string> {
    const dir = join(deps.reportsDir, input.system.replace(/[^a-z0-9_-]/gi, '_'));
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${input.workflowId.replace(/[^a-zA-Z0-9_.-]/g, '_')}.md`);
    await writeFile(path, input.markdown);
    return path;
  },
});
