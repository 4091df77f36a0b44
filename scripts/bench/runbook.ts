/**
 * The runbook every benchmark runs against: runbooks/sandbox.yaml pointed at this sandbox, with the
 * variations a benchmark needs given as options.
 */
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, type Sandbox } from '../../sandbox/sandbox.ts';

export interface BenchRunbookOptions {
  /** The runbook's `system`: one runbook per system, so rollbacks on distinct systems do not queue for one lock. */
  system: string;
  /** The runbook's gates, replacing the sandbox's; `{}` for none (human time is not what is measured). */
  gates: Record<string, { role: string; timeoutSeconds: number }>;
  /**
   * bench:restore's: database `main` (and the flags table, which its stop-writers step sets) at the URL
   * in the environment variable `urlEnv`, its backups under `backupDir`. Without it, the sandbox's.
   */
  database?: { urlEnv: string; backupDir: string };
  /** How long a failed step waits for a decision, and what then; without it, the runbook's default. */
  decisions?: { timeoutSeconds: number; onTimeout: 'abort' | 'compensate' };
}

/**
 * runbooks/sandbox.yaml for `sandbox`, with no waiting anywhere (a zero health window, HTTP checks
 * only), no watchdog or drills, notifications to the log and the sandbox's webhook, and `options`.
 */
export function benchRunbook(sandbox: Sandbox, options: BenchRunbookOptions): string {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed YAML document, edited freely
  const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
  doc.system = options.system;
  delete doc.health.metrics; // a zero-length window measures nothing; checks still verify
  delete doc.watch; // its rules read those metrics; no benchmark runs a watchdog on these systems
  delete doc.drills; // they approve gates a bench runbook may not have, and drill that watchdog
  doc.health.windowSeconds = 0;
  doc.gates = options.gates;
  if (options.database) {
    doc.databases.main.urlEnv = options.database.urlEnv;
    doc.databases.main.backupDir = options.database.backupDir;
    doc.providers.flags.settings.databaseUrlEnv = options.database.urlEnv;
  }
  if (options.decisions) doc.decisions = options.decisions;
  doc.notify = [{ provider: 'log' }, { provider: 'webhook', settings: { urlEnv: 'SANDBOX_WEBHOOK_URL' } }];
  return stringify(doc);
}
