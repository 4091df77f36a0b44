/**
 * Preflight checks (seed 002: "check for pending migrations, ensure dependent services are healthy,
 * verify the revision is ready" before touching anything). Each kind passing and failing with its
 * exact message: read-only SQL on a real Postgres database (a write and a slow query refused by the
 * server), HTTP against a real local server, real programs, releases on the Cloud Run Admin API
 * emulator (a revision's Ready condition) and the Render API emulator (which cannot say "ready").
 * Then on a dev server and the real sandbox: a fullRollback refused by a blocker with nothing changed
 * (router weights and instances, flags, no snapshot, the lock released for the next rollback), and a
 * dry run listing every check with its live result.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { stringify } from 'yaml';
import type { ActivityDeps } from '../src/activities/deps.ts';
import { createPreflightCheckActivities } from '../src/activities/preflight-checks.ts';
import type { PreflightResult } from '../src/contract/index.ts';
import { rejectSignal, statusQuery } from '../src/contract/messages.ts';
import { ProviderClients } from '../src/providers/index.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { CloudRunEmulator } from './emulators/cloud-run.ts';
import { RenderEmulator } from './emulators/render.ts';
import { dropTestDatabase, POSTGRES, quietLogger, sql } from './harness.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const node = process.execPath;
const basics = {
  approvers: { oncall: ['alice', 'bob'] },
  rto: { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 },
  notify: [{ provider: 'log' }],
};

function runbookText(system: string, sections: Record<string, unknown>): string {
  return stringify({ system, ...basics, providers: { scripts: { provider: 'command', settings: {} } }, databases: { main: { urlEnv: 'PREFLIGHT_DB', backupDir: '/tmp/preflight-backups' } }, ...sections });
}

function loadProblems(sections: Record<string, unknown>): string {
  try {
    parseRunbook(runbookText('x', sections), 'runbooks/x.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the runbook was accepted');
}

describe('preflight checks in the runbook, refused at load when wrong', () => {
  test('the four forms load, with their defaults', () => {
    const runbook = parseRunbook(
      runbookText('x', {
        release: { provider: 'docker-compose', settings: { projectDir: '/srv/api' }, targets: ['api'] },
        preflight: [
          { name: 'no-pending-migrations', sql: { query: 'select 0 as pending', expect: { path: '$.pending', equals: 0 } } },
          { name: 'dependents-healthy', url: 'https://payments.example/health', json: [{ path: '$.status', equals: 'ok' }] },
          { name: 'no-deploy-in-progress', command: ['true'] },
          { name: 'previous-revision-ready', release: { target: 'api' } },
        ],
      }),
      'runbooks/x.yaml',
    );
    assert.deepEqual(runbook.preflight[0], { name: 'no-pending-migrations', sql: { query: 'select 0 as pending', expect: { path: '$.pending', equals: 0 }, timeoutSeconds: 10 } });
    assert.equal((runbook.preflight[2] as { provider?: string }).provider, 'scripts', "the runbook's only commands provider");
    assert.deepEqual(runbook.preflight[3], { name: 'previous-revision-ready', release: { target: 'api', to: 'previous' } });
  });

  test('a malformed entry is refused naming its path; so are an unknown database, a name given twice and a release check with no provider', () => {
    assert.equal(loadProblems({ preflight: [{ name: 'ok', command: ['true'] }, { name: 'pending', sql: { query: 'select 1', expect: { path: '$.pending' } } }] }), 'runbooks/x.yaml: preflight[1].sql.expect: needs one of: equals, in, matches, above, below');
    assert.equal(loadProblems({ preflight: [{ name: 'pending', sql: { query: 'select 1 as n' } }] }), 'runbooks/x.yaml: preflight[0]: sql.expect: Invalid input');
    assert.equal(
      loadProblems({ preflight: [{ name: 'deps', curl: 'https://x.example/health' }] }),
      'runbooks/x.yaml: preflight[0]: a preflight check needs sql (a read-only query), url (an HTTP request), command (a command to run) or release (a release that must exist and be ready)',
    );
    assert.equal(loadProblems({ preflight: [{ name: 'pending', sql: { database: 'orders', query: 'select 1 as n', expect: { path: 'n', equals: 1 } } }] }), "runbooks/x.yaml: preflight[0].sql.database: unknown database 'orders'; must be one of: main");
    assert.equal(loadProblems({ preflight: [{ name: 'up', command: ['true'] }, { name: 'up', url: 'https://x.example/health' }] }), 'runbooks/x.yaml: preflight[1].name: duplicate preflight check name up');
    assert.equal(loadProblems({ preflight: [{ name: 'ready', release: { target: 'api' } }] }), 'runbooks/x.yaml: preflight[0].release: needs a provider of release rollbacks, and none is under providers: (one of: fly-machines, railway, render, cloud-run, kubernetes, docker-compose)');
  });
});

describe('each kind of check, against real servers and programs', () => {
  const database = `sandbox_test_preflight_${process.pid}`;
  const runbooks = new Map<string, Runbook>();
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, PREFLIGHT_DB: `${POSTGRES}/${database}`, CLOUD_RUN_TOKEN: 'ya29.emulator-preflight', RENDER_API_KEY: 'rnd_emulator_preflight' };
  const deps = { runbooks, env, logger: quietLogger, clients: new ProviderClients({ env, logger: quietLogger }), temporal: undefined as never, reportsDir: '/tmp' } satisfies ActivityDeps;
  const { runPreflightChecks } = createPreflightCheckActivities(deps);
  const servers: Server[] = [];
  let base = '';
  let cloudRun: CloudRunEmulator;
  let render: RenderEmulator;
  let renderService = '';
  let counter = 0;

  /** The results of `preflight` on a runbook of its own. */
  async function run(preflight: unknown[], sections: Record<string, unknown> = {}): Promise<PreflightResult[]> {
    const name = `api-${++counter}`;
    runbooks.set(name, parseRunbook(runbookText(name, { ...sections, preflight }), `runbooks/${name}.yaml`));
    return new MockActivityEnvironment().run(runPreflightChecks, { system: name });
  }

  before(async () => {
    await sql('postgres', `CREATE DATABASE ${database}`);
    await sql(database, 'CREATE TABLE schema_migrations (version text PRIMARY KEY, applied boolean NOT NULL)');
    await sql(database, "INSERT INTO schema_migrations VALUES ('001_init', true), ('002_orders', true)");
    const server = createServer((req, res) => {
      const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.url === '/payments/health') return json(200, { status: 'ok' });
      if (req.url === '/search/health') return json(200, { status: 'degraded', checks: { index: 'rebuilding' } });
      json(503, { status: 'down' });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cloudRun = await new CloudRunEmulator(env.CLOUD_RUN_TOKEN!).start();
    const repo = 'us-docker.pkg.dev/acme/api/api';
    cloudRun.addService('api', [{ image: `${repo}:v1.4.0` }, { image: `${repo}:v1.4.1` }]);
    render = await new RenderEmulator(env.RENDER_API_KEY!).start();
    renderService = render.addService({ name: 'web', autoDeploy: 'no' }).id;
    render.addDeploy(renderService, { status: 'deactivated', minutesAgo: 120, commit: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', message: 'Add retries' });
    render.addDeploy(renderService, { status: 'live', minutesAgo: 30, commit: 'b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', message: 'Switch provider' });
  });
  after(async () => {
    for (const server of servers) server.close();
    await Promise.all([cloudRun?.stop(), render?.stop(), deps.clients.close()]);
    await dropTestDatabase(database);
  });

  test('sql: the first row, as JSON, meets every expectation; or the message names the path, the value seen and what was expected', async () => {
    const pending = "select count(*)::int as pending, max(version) as newest from schema_migrations where applied is false";
    assert.deepEqual(await run([{ name: 'no-pending-migrations', sql: { query: pending, expect: { path: '$.pending', equals: 0 } } }]), [
      { name: 'no-pending-migrations', kind: 'sql', passed: true, detail: 'first row {"pending":0,"newest":null}' },
    ]);
    await sql(database, "INSERT INTO schema_migrations VALUES ('003_refunds', false), ('004_ledger', false)");
    try {
      assert.deepEqual(await run([{ name: 'no-pending-migrations', sql: { query: pending, expect: [{ path: '$.pending', equals: 0 }, { path: 'newest', equals: null }] } }]), [
        { name: 'no-pending-migrations', kind: 'sql', passed: false, detail: '$.pending is 2, expected 0; newest is "004_ledger", expected null' },
      ]);
    } finally {
      await sql(database, "DELETE FROM schema_migrations WHERE applied IS false");
    }
  });

  test('sql: runs READ ONLY with its statement timeout, so a write and a slow query are refused by the server and nothing changes; a connection variable not set fails the check', async () => {
    const results = await run([
      { name: 'sneaky-write', sql: { query: "insert into schema_migrations values ('999_sneaky', true) returning version", expect: { path: 'version', equals: '999_sneaky' } } },
      { name: 'slow', sql: { query: 'select pg_sleep(3) is null as slept', expect: { path: 'slept', equals: false }, timeoutSeconds: 0.5 } },
    ]);
    assert.deepEqual(results, [
      { name: 'sneaky-write', kind: 'sql', passed: false, detail: 'query on main failed: cannot execute INSERT in a read-only transaction' },
      { name: 'slow', kind: 'sql', passed: false, detail: 'query on main failed: canceling statement due to statement timeout' },
    ]);
    assert.deepEqual(await sql(database, 'select version from schema_migrations order by 1'), [{ version: '001_init' }, { version: '002_orders' }]);

    const unset = await run([{ name: 'pending', sql: { query: 'select 0 as pending', expect: { path: 'pending', equals: 0 } } }], { databases: { main: { urlEnv: 'PREFLIGHT_DB_NOT_SET', backupDir: '/tmp/x' } } });
    assert.deepEqual(unset, [{ name: 'pending', kind: 'sql', passed: false, detail: 'environment variable PREFLIGHT_DB_NOT_SET is not set (databases.main.urlEnv), so the query could not run' }]);
  });

  test('http and command: the health checks\' forms, judged the same way', async () => {
    const results = await run([
      { name: 'payments-healthy', url: `${base}/payments/health`, json: [{ path: '$.status', equals: 'ok' }] },
      { name: 'search-healthy', url: `${base}/search/health`, json: [{ path: '$.status', equals: 'ok' }] },
      { name: 'billing-up', url: `${base}/billing/health` },
      { name: 'no-deploy-running', command: [node, '-e', 'console.log("no deploy running")'], outputMatches: '^no deploy' },
      { name: 'no-deploy-in-progress', command: [node, '-e', 'console.log("deploy 42 in progress"); process.exit(1)'] },
    ]);
    assert.deepEqual(results, [
      { name: 'payments-healthy', kind: 'http', passed: true, detail: 'ok' },
      { name: 'search-healthy', kind: 'http', passed: false, detail: '$.status is "degraded", expected "ok"' },
      { name: 'billing-up', kind: 'http', passed: false, detail: 'expected 200, got 503' },
      { name: 'no-deploy-running', kind: 'command', passed: true, detail: 'ok' },
      { name: 'no-deploy-in-progress', kind: 'command', passed: false, detail: 'exited with 1, expected 0 (last output: deploy 42 in progress)' },
    ]);
  });

  test('release on Cloud Run: the previous revision exists and its Ready condition holds; a revision still reconciling and an unknown name fail, naming why', async () => {
    const providers = {
      scripts: { provider: 'command', settings: {} },
      run: { provider: 'cloud-run', settings: { project: 'medicalcor-prod', location: 'europe-west3', service: 'api', baseUrl: cloudRun.url, tokenEnv: 'CLOUD_RUN_TOKEN', pollIntervalMs: 5, timeoutMs: 5000 } },
    };
    const stuck = cloudRun.deploy('api', { image: 'us-docker.pkg.dev/acme/api/api:v1.4.2', ready: false });
    const results = await run(
      [
        { name: 'previous-revision-ready', release: { target: 'api', provider: 'run' } },
        { name: 'candidate-ready', release: { target: 'api', to: stuck, provider: 'run' } },
        { name: 'pinned-ready', release: { target: 'api', to: 'v9', provider: 'run' } },
      ],
      { providers },
    );
    assert.deepEqual(results.map((r) => [r.name, r.passed]), [
      ['previous-revision-ready', true],
      ['candidate-ready', false],
      ['pinned-ready', false],
    ]);
    const image = (v: string) => `us-docker.pkg.dev/acme/api/api:${v}`;
    assert.equal(results[0]!.detail, `previous release api-00001-abc (${image('v1.4.0')}, created 2024-12-05T12:01:00.000Z) of api is ready: its Ready condition is CONDITION_SUCCEEDED`);
    assert.equal(results[1]!.detail, `api-00003-ghi (${image('v1.4.2')}, created 2024-12-05T12:03:00.000Z, not ready) of api is not ready: its Ready condition is CONDITION_RECONCILING`);
    assert.equal(
      results[2]!.detail,
      `release 'v9' of api not found on cloud-run; the last 10 it has: api-00002-def (api-00002-def (${image('v1.4.1')}, created 2024-12-05T12:02:00.000Z)), api-00001-abc (api-00001-abc (${image('v1.4.0')}, created 2024-12-05T12:01:00.000Z))`,
    );
    assert.equal(cloudRun.calls('PATCH', /\/services\/api$/).length, 0, 'a check only reads');
  });

  test('release on Render, which cannot say whether a deploy is ready: the result says only existence was checked', async () => {
    const providers = {
      scripts: { provider: 'command', settings: {} },
      web: { provider: 'render', settings: { services: { web: renderService }, baseUrl: `${render.url}/v1`, tokenEnv: 'RENDER_API_KEY' } },
    };
    const [result] = await run([{ name: 'previous-deploy', release: { target: 'web', provider: 'web' } }], { providers });
    assert.equal(result!.passed, true);
    assert.match(result!.detail, /^previous release dep-\w+ \(a1b2c3d Add retries\) of web exists; render cannot say whether a release is ready, so only that it exists was checked$/);
    assert.equal(render.writes().length, 0, 'a check only reads');
  });
});

describe('fullRollback with preflight checks, on a dev server and the real sandbox', { timeout: 180_000 }, () => {
  let t: RollbackTestEnv;
  const base = { reason: 'canary error rate 14%', requestedBy: 'alice', baselineSeconds: 0 };

  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
  });

  /** Preflight of the sandbox: its flags table is reachable, the router healthy, and two checks that fail. */
  const withBlockers = (doc: Record<string, any>) => {
    const routerHealth = doc.health.checks[0].url as string;
    doc.preflight = [
      { name: 'flags-table-reachable', sql: { query: 'select count(*)::int as flags from feature_flags', expect: { path: '$.flags', above: 0 } } },
      { name: 'router-healthy', url: routerHealth, json: [{ path: '$.status', equals: 'ok' }] },
      { name: 'canary-drained', url: routerHealth, json: [{ path: '$.weights.canary', equals: 0 }] },
      { name: 'no-deploy-in-progress', command: [node, '-e', 'console.log("deploy 42 in progress"); process.exit(1)'] },
    ];
  };
  const refusal = [
    'preflight refused the rollback of NAME; nothing was changed. 2 of 4 check(s) failed:',
    '- canary-drained (http): $.weights.canary is 25, expected 0',
    '- no-deploy-in-progress (command): exited with 1, expected 0 (last output: deploy 42 in progress)',
  ].join('\n');

  test('a preflight blocker refuses the rollback naming every failed check, with nothing changed: weights, instances and flags as they were, no snapshot, the lock released', async () => {
    const { name, sandbox, runbook } = await t.newSystem(withBlockers, { database: true });
    const flagsDatabase = decodeURIComponent(new URL(t.secrets[runbook.databases.main!.urlEnv]!).pathname.slice(1));
    const flags = () => sql(flagsDatabase, 'select name, enabled from feature_flags order by name');
    const [routerBefore, flagsBefore] = [sandbox.router.state(), await flags()];

    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'PreflightBlocked');
    assert.equal(failure.message, refusal.replace('NAME', name));

    assert.deepEqual(sandbox.router.state(), routerBefore);
    assert.deepEqual(sandbox.router.changes, [], 'the router was asked to change nothing');
    assert.deepEqual(await flags(), flagsBefore);
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'failed');
    assert.equal(status.details, refusal.replace('NAME', name));
    assert.equal(status.snapshot, null, 'no snapshot taken');
    assert.deepEqual(status.steps.map((s) => [s.name, s.outcome]), [
      ['preflight', 'succeeded'],
      ['preflight-checks', 'failed'],
    ]);
    assert.deepEqual(status.preflight?.map((r) => [r.name, r.passed]), [
      ['flags-table-reachable', true],
      ['router-healthy', true],
      ['canary-drained', false],
      ['no-deploy-in-progress', false],
    ]);

    // The lock went with the refusal: the next rollback, its blockers cleared, starts at once and goes on past the snapshot.
    t.runbooks.set(name, { ...runbook, preflight: runbook.preflight.slice(0, 2) });
    const next = await startRollback(t, { ...base, system: name, mode: 'immediate' });
    const waiting = await waitForStatus(next, (s) => s.state === 'awaiting_approval');
    assert.deepEqual(waiting.steps.slice(0, 3).map((s) => [s.name, s.outcome]), [
      ['preflight', 'succeeded'],
      ['preflight-checks', 'succeeded'],
      ['capture-snapshot', 'succeeded'],
    ]);
    await next.signal(rejectSignal, { by: 'bob', reason: 'the test only needed the lock' });
    assert.equal((await failureOf(next.result())).type, 'RollbackAborted');
  });

  test('a dry run runs every check and shows each with its live result in status, result, report and its outcome, the failed ones as blockers', async () => {
    const { name, sandbox } = await t.newSystem(withBlockers, { database: true });
    const routerBefore = sandbox.router.state();
    const handle = await startRollback(t, { ...base, system: name, mode: 'immediate', dryRun: true });
    const result = await handle.result();
    assert.deepEqual(sandbox.router.state(), routerBefore);
    assert.deepEqual(sandbox.router.changes, []);

    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'completed');
    assert.deepEqual(result.preflight, status.preflight);
    assert.deepEqual(
      status.preflight?.map((r) => [r.name, r.kind, r.passed, r.name === 'flags-table-reachable' ? r.detail.replace(/\d+/, 'N') : r.detail]),
      [
        ['flags-table-reachable', 'sql', true, 'first row {"flags":N}'],
        ['router-healthy', 'http', true, 'ok'],
        ['canary-drained', 'http', false, '$.weights.canary is 25, expected 0'],
        ['no-deploy-in-progress', 'command', false, 'exited with 1, expected 0 (last output: deploy 42 in progress)'],
      ],
    );
    assert.deepEqual(status.blockers, [
      { problem: 'preflight check canary-drained (http): $.weights.canary is 25, expected 0', fix: null },
      { problem: 'preflight check no-deploy-in-progress (command): exited with 1, expected 0 (last output: deploy 42 in progress)', fix: null },
    ]);
    assert.equal(
      status.details,
      [
        'dry run completed: nothing changed; a real run would be refused until these 2 blocker(s) are cleared:',
        '- preflight check canary-drained (http): $.weights.canary is 25, expected 0',
        '- preflight check no-deploy-in-progress (command): exited with 1, expected 0 (last output: deploy 42 in progress)',
      ].join('\n'),
    );
    assert.ok(status.snapshot, 'a dry run reads live state after its checks');
    assert.match(result.report ?? '', /## Preflight checks \(before any change\)\n\n- passed: flags-table-reachable \(sql\): first row \{"flags":\d+\}\n- passed: router-healthy \(http\): ok\n- \*\*FAILED\*\*: canary-drained \(http\): \$\.weights\.canary is 25, expected 0\n/);
  });
});
