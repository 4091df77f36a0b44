import type { Logger } from 'pino';
import type { Runbook } from '../runbook/schema.ts';

/** What activities need from the worker: the loaded runbooks, the environment for secrets by name, a logger. */
export interface ActivityDeps {
  runbooks: ReadonlyMap<string, Runbook>;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}
