/**
 * Runs a runbook's preflight checks (src/runbook/preflight-schema.ts) before a rollback changes
 * anything: read-only SQL on a runbook database, HTTP and command checks as health checks run them
 * (src/activities/health-checks.ts), and the release a rollback would go to, which must exist and be
 * ready. Every check answers: one that cannot be made (a variable not set, a server down) fails,
 * saying why; none of them passes on what it could not see.
 */
import pg from 'pg';
import type { PreflightResult } from '../contract/index.ts';
import { judgeJson, showJson } from '../contract/json-expect.ts';
import { findNamedRelease, releaseName } from '../actions/release.ts';
import { parseConnection } from '../providers/database/pg-tools.ts';
import type { Release } from '../providers/types.ts';
import { preflightDatabase, type ReleasePreflightSpec, type SqlPreflightSpec } from '../runbook/preflight-schema.ts';
import type { Runbook } from '../runbook/schema.ts';
import type { ActivityDeps } from './deps.ts';
import { createCheckRunner } from './health-checks.ts';
import { withHeartbeats } from './heartbeat.ts';
import { providerRef, runbookFor } from './runbook.ts';

/** The first row as JSON sees it (dates as ISO strings), or null when the query returned none. */
const firstRow = (rows: readonly unknown[]): unknown => (rows.length === 0 ? null : (JSON.parse(JSON.stringify(rows[0])) as unknown));

async function sqlCheck(deps: ActivityDeps, runbook: Runbook, check: SqlPreflightSpec): Promise<PreflightResult> {
  const result = (passed: boolean, detail: string): PreflightResult => ({ name: check.name, kind: 'sql', passed, detail });
  const found = preflightDatabase(check, Object.keys(runbook.databases));
  if ('problem' in found) return result(false, found.problem); // refused at load; kept for runbooks built in code
  const { urlEnv } = runbook.databases[found.database]!;
  const url = deps.env[urlEnv];
  if (!url) return result(false, `environment variable ${urlEnv} is not set (databases.${found.database}.urlEnv), so the query could not run`);
  const conn = parseConnection(url);
  const timeoutMs = Math.round(check.sql.timeoutSeconds * 1000);
  const client = new pg.Client({ ...conn, connectionTimeoutMillis: timeoutMs, statement_timeout: timeoutMs, application_name: 'rollback-preflight' });
  try {
    await client.connect();
    // READ ONLY: a check cannot change the database it reads, whatever its query says.
    await client.query('BEGIN READ ONLY');
    const { rows } = await client.query(check.sql.query);
    await client.query('ROLLBACK');
    const row = firstRow(rows);
    const expectations = Array.isArray(check.sql.expect) ? check.sql.expect : [check.sql.expect];
    const problems = expectations.map((e) => judgeJson(row, e)).filter((p): p is string => p !== null);
    return problems.length > 0 ? result(false, problems.join('; ')) : result(true, `first row ${showJson(row)}`);
  } catch (err) {
    return result(false, `query on ${found.database} failed: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function releaseCheck(deps: ActivityDeps, runbook: Runbook, check: ReleasePreflightSpec): Promise<PreflightResult> {
  const result = (passed: boolean, detail: string): PreflightResult => ({ name: check.name, kind: 'release', passed, detail });
  const { target, to, provider } = check.release;
  const ref = provider !== undefined ? providerRef(runbook, provider) : runbook.release;
  if (!ref) return result(false, 'no releases provider: name one under providers: (provider: ...) or add a release section');
  const releases = deps.clients.get('releases', ref);
  let release: Release;
  if (to === 'previous') {
    const state = await releases.readRelease(target);
    if (state.blocked) return result(false, `${target} cannot be rolled back now: ${state.blocked}`);
    if (!state.previous) return result(false, `${target} has no release before ${state.current ? releaseName(state.current) : 'the current one'}: nothing to roll back to`);
    release = state.previous;
  } else {
    const named = await findNamedRelease(releases, target, to, ` on ${ref.provider}`);
    if ('problem' in named) return result(false, named.problem);
    release = named.release;
  }
  // Cloud Run's label already starts with the revision's name: said once.
  const named = release.label.startsWith(release.id) ? release.label : releaseName(release);
  const shown = `${to === 'previous' ? 'previous release ' : ''}${named} of ${target}`;
  if (release.fresh) return result(true, `${shown} is an image no release runs yet: a rollback deploys it, so there is nothing to be ready`);
  // Where the platform cannot say, the result says so instead of calling the release ready.
  if (!releases.releaseReadiness) return result(true, `${shown} exists; ${ref.provider} cannot say whether a release is ready, so only that it exists was checked`);
  const { ready, detail } = await releases.releaseReadiness(target, release);
  return result(ready, `${shown} ${ready ? 'is ready' : 'is not ready'}${detail ? `: ${detail}` : ''}`);
}

export const createPreflightCheckActivities = (deps: ActivityDeps) => ({
  /**
   * Runs every preflight check of the runbook at once and returns each with its live result, in the
   * runbook's order; the workflow refuses (or, in a dry run, lists blockers). Safe to retry: the
   * checks only read (SQL in a READ ONLY transaction, GETs and commands the runbook says only read).
   */
  async runPreflightChecks(input: { system: string }): Promise<PreflightResult[]> {
    const runbook = runbookFor(deps, input.system);
    const runChecks = createCheckRunner(deps, runbook);
    const now = Date.now();
    const one = async (check: Runbook['preflight'][number]): Promise<PreflightResult> => {
      try {
        if ('sql' in check) return await sqlCheck(deps, runbook, check);
        if ('release' in check) return await releaseCheck(deps, runbook, check);
        const [outcome] = await runChecks([check], { sinceMs: now, untilMs: now });
        return { name: check.name, kind: 'url' in check ? 'http' : 'command', passed: outcome!.passed, detail: outcome!.detail };
      } catch (err) {
        // A provider that cannot answer: the check could not be made, which fails it.
        return { name: check.name, kind: 'sql' in check ? 'sql' : 'release' in check ? 'release' : 'url' in check ? 'http' : 'command', passed: false, detail: (err as Error).message };
      }
    };
    return withHeartbeats(Promise.all(runbook.preflight.map(one)));
  },
});
