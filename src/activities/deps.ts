import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { ProviderClients } from '../providers/index.ts';
import type { Runbook } from '../runbook/schema.ts';

/** What activities need from the worker, built once at start-up and injected. */
export interface ActivityDeps {
  runbooks: ReadonlyMap<string, Runbook>;
  /** Where `*Env` names in runbooks are looked up (secrets never travel through workflow inputs). */
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** One live client per provider the runbooks name, made on first use; the worker closes them at shutdown. */
  clients: ProviderClients;
  /** Used by preflight to find other running rollbacks of the same system. */
  temporal: { client: Client; namespace: string };
  /** Incident reports are written here, one file per rollback. */
  reportsDir: string;
}
