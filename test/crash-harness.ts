/**
 * For the tests that SIGKILL a worker mid-rollback (worker-crash*.test.ts): worker processes started
 * exactly as production starts them, and the sandbox's runbook written where those workers read
 * runbooks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { sandboxRunbookFor, type Sandbox } from '../sandbox/sandbox.ts';
import { workerCommand } from '../src/build/worker-command.ts';
import { kill9 } from './harness.ts';

export interface WorkerSettings {
  /** The dev server's address. */
  address: string;
  /** Where the worker loads runbooks from; its reports go to `reports` inside it. */
  runbooksDir: string;
  /** Secrets and settings the runbooks name, over the test's own environment. */
  env?: Record<string, string>;
}

export interface WorkerProcesses {
  /** A worker exactly as production runs it: its own process, src/build/worker-command.ts, configured by environment. */
  start(): Promise<ChildProcess>;
  /** SIGKILL for every worker process still running. */
  killAll(): Promise<void>;
}

/** Worker processes configured by `settings()`, read as each one starts. */
export function workerProcesses(settings: () => WorkerSettings): WorkerProcesses {
  const children: ChildProcess[] = [];
  return {
    async start() {
      const worker = await workerCommand();
      const { address, runbooksDir, env } = settings();
      const child = spawn(process.execPath, worker.args, {
        env: {
          ...worker.env,
          ...process.env,
          TEMPORAL_ADDRESS: address,
          RUNBOOKS_DIR: runbooksDir,
          REPORTS_DIR: join(runbooksDir, 'reports'),
          WORKER_METRICS_ADDRESS: 'off',
          LOG_LEVEL: 'warn',
          LOG_FORMAT: 'json',
          ...env,
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(child);
      return child;
    },
    async killAll() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) await kill9(child);
    },
  };
}

/**
 * Writes `runbooksDir/sandbox.yaml` for `sandbox`: health judged over `windowSeconds` from 5 requests,
 * database backups under `runbooksDir`, then `edit` applied. Returns the runbook's text.
 */
export function writeSandboxRunbook(runbooksDir: string, sandbox: Sandbox, windowSeconds: number, edit?: (doc: Record<string, any>) => void): string {
  const doc = parseDocument(sandboxRunbookFor(sandbox)).toJS() as Record<string, any>;
  doc.health.windowSeconds = windowSeconds;
  doc.health.minRequests = 5;
  doc.databases.main.backupDir = join(runbooksDir, 'backups');
  edit?.(doc);
  const text = stringify(doc);
  writeFileSync(join(runbooksDir, 'sandbox.yaml'), text);
  return text;
}
