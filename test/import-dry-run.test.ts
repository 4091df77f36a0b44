/**
 * An imported draft dry-run by the real worker: seed 004's markdown (test/fixtures/import/seeds/) through
 * `rollback import`, its <FILL: ...> placeholders filled from test/fixtures/import/fill-local.json so they
 * point at targets on this machine (a clone of a local bare git remote, the local Redis), loaded by the
 * real loader, then the phaseRollback its `phases:` give run with dryRun on a Temporal dev server: the plan
 * names the draft's steps and nothing changes on the targets. The dev server runs with its Web UI, and the
 * completed dry run is opened there in Chromium (playwright-core) for the README's screenshot
 * (test-results/browser/import-dry-run.png; UPDATE_DOCS_SCREENSHOTS=1 also writes docs/ui-import-dry-run.png).
 *
 * Seed 004 is the seed whose draft can dry-run here: every action it emits (git-revert, a command, a
 * redis-restore) has a provider with a local target. The drafts of seeds 000-003 name Fly, Railway,
 * Render, Cloud Run, Statuspage and Docker hosts by their real apps and project ids; the emulators in
 * test/emulators/ stand behind provider settings these drafts do not emit (base URLs), so dry-running
 * them would mean editing the draft, not filling it.
 *
 * Two things of the draft are changed after filling, both for where the targets are on this machine and
 * not placeholders: the keyspace's pattern gets a prefix of the test's own (the local Redis is shared, and
 * the draft's `session:*:agentic_state` would count other users' keys) and its backupDir (`.` in the
 * draft, the folder the seed's `cat continuation_backup.json` runs in) is a temporary folder.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser } from 'playwright-core';
import { createClient } from 'redis';
import { parse, parseDocument, stringify, visit } from 'yaml';
import { TASK_QUEUE, type ChangeRollbackResult } from '../src/contract/index.ts';
import { importMarkdown } from '../src/import/index.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { createRollbackWorker, type RollbackWorker } from '../src/worker/worker.ts';
import { launchChromium, SHOTS, TemporalUi } from './browser/ui-driver.ts';
import { freePort, quietLogger, startTemporal, testWorkerEnv } from './harness.ts';
import { deleteRedisKeys } from './rollback-harness.ts';

const fixtures = new URL('./fixtures/import/', import.meta.url);
const SYSTEM = 'entity-migration';
const PREFIX = `import-dry-run-${process.pid}`;
const WORKFLOW_ID = 'rollback-entity-migration-dry-run';

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=dev', '-c', 'user.email=dev@example.invalid', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The draft with each placeholder filled as a reviewer would, from fill-local.json; `{clone}` is the clone's path. */
function fillLocal(yaml: string, clone: string): string {
  const fixture = JSON.parse(readFileSync(new URL('fill-local.json', fixtures), 'utf8')) as { values: Record<string, unknown> };
  const valueFor = (placeholder: string): unknown => {
    const what = placeholder.slice('<FILL: '.length, -1);
    const key = Object.keys(fixture.values).find((k) => what.startsWith(k));
    if (key === undefined) throw new Error(`test/fixtures/import/fill-local.json has no value for ${placeholder}`);
    const value = fixture.values[key];
    return typeof value === 'string' ? value.replace('{clone}', clone) : value;
  };
  const doc = parseDocument(yaml);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('<FILL:')) return;
      node.value = /^<FILL: [^>]*>$/.test(node.value) ? valueFor(node.value) : node.value.replace(/<FILL: [^>]*>/g, (p) => String(valueFor(p)));
    },
  });
  return doc.toString();
}

let env: TestWorkflowEnvironment | undefined;
let worker: RollbackWorker | undefined;
let running: Promise<void> | undefined;
let browser: Browser | undefined;
let ui: TemporalUi;
let dir: string;
let redis: ReturnType<typeof createClient>;

describe("seed 004 imported, filled, loaded and dry-run by a real worker", { timeout: 180_000 }, () => {
  const runbooks = new Map<string, Runbook>();
  let remote: string;
  let clone: string;
  const key = (session: string) => `${PREFIX}:session:${session}:agentic_state`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rr-import-dry-run-'));
    // The team's repository: the tag migration-start, then the migration's commits, pushed to a bare remote.
    remote = join(dir, 'remote.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', remote]);
    const work = join(dir, 'work');
    execFileSync('git', ['clone', '-q', remote, work]);
    const write = (file: string, content: string) => {
      mkdirSync(join(work, file, '..'), { recursive: true });
      writeFileSync(join(work, file), content);
      git(work, 'add', '.');
    };
    write('src/patient_ai_service/models/conversation_entities.py', 'ENTITIES = "legacy"\n');
    git(work, 'commit', '-q', '-m', 'before the entity migration');
    git(work, 'tag', 'migration-start');
    write('src/patient_ai_service/models/entity_delta.py', 'class EntityDelta: ...\n');
    git(work, 'commit', '-q', '-m', 'entity migration stage 2');
    write('src/patient_ai_service/models/conversation_entities.py', 'ENTITIES = "delta"\n');
    git(work, 'commit', '-q', '-m', 'entity migration stage 4');
    git(work, 'push', '-q', '--tags', 'origin', 'main');
    clone = join(dir, 'clone');
    execFileSync('git', ['clone', '-q', remote, clone]);

    redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();

    const uiPort = await freePort();
    env = await startTemporal({ uiPort });
    worker = await createRollbackWorker({
      connection: env.nativeConnection,
      client: env.client,
      namespace: 'default',
      env: testWorkerEnv,
      runbooks,
      // The draft's env var names; the remote is a local path, so the push token is never sent anywhere.
      secrets: { REDIS_URL: 'redis://127.0.0.1:6379', GIT_PUSH_TOKEN: 'not-used-by-a-local-remote' },
      logger: quietLogger,
      reportsDir: join(dir, 'reports'),
    });
    running = worker.run();
    const launched = await launchChromium();
    browser = launched.browser;
    ui = new TemporalUi(launched.page, `http://127.0.0.1:${uiPort}`);
  });

  after(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await env?.teardown();
    await deleteRedisKeys(`${PREFIX}:*`);
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the draft's phases dry-run as phaseRollback: every step planned from live state, nothing changed; shown in the Web UI", async () => {
    const { yaml, report } = importMarkdown(readFileSync(new URL('seeds/seed-004.md', fixtures), 'utf8'), { file: 'seed-004.md', system: SYSTEM });
    const filled = fillLocal(yaml, clone);
    assert.doesNotMatch(filled.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n'), /<FILL:/);
    assert.equal(report.placeholders.length, 8);
    const doc = parse(filled) as Record<string, any>;
    const keyspace = Object.keys(doc.keyspaces as object)[0]!;
    doc.keyspaces[keyspace].pattern = `${PREFIX}:${doc.keyspaces[keyspace].pattern as string}`;
    doc.keyspaces[keyspace].backupDir = join(dir, 'keyspace-backups');
    const runbook = parseRunbook(stringify(doc), `runbooks/${SYSTEM}.yaml`);
    runbooks.set(SYSTEM, runbook);
    assert.deepEqual(runbook.phases.map((p) => [p.id, p.name]), [[1, 'Quick Rollback (Git Tag)'], [2, 'Stage 1-2: Foundation'], [3, 'Restore from Backup']]);

    // Conversation state as the seed has it: backed up before the migration (line 87), then migrated.
    for (const session of ['s1', 's2']) await redis.set(key(session), JSON.stringify({ format: 'legacy' }));
    const backup: { keyCount: number } = await env!.client.workflow.execute('keyspaceBackup', { taskQueue: TASK_QUEUE, workflowId: 'kb-import-dry-run', args: [{ system: SYSTEM, keyspace, backupId: 'before-migration' }] });
    assert.equal(backup.keyCount, 2);
    await redis.set(key('s1'), JSON.stringify({ format: 'delta' }));
    await redis.set(key('s3'), JSON.stringify({ format: 'delta' }));

    const targets = async () => [
      execFileSync('git', ['--git-dir', remote, 'log', '--format=%s', 'main'], { encoding: 'utf8' }),
      git(clone, 'status', '--porcelain'),
      git(clone, 'rev-parse', 'HEAD'),
      await redis.get(key('s1')),
      await redis.get(key('s2')),
      await redis.get(key('s3')),
      readdirSync(join(dir, 'keyspace-backups')).sort(),
    ];
    const before = await targets();

    const handle = await env!.client.workflow.start('phaseRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: WORKFLOW_ID,
      args: [{ system: SYSTEM, phases: { from: 3, to: 1 }, reason: 'imported draft: dry run before review', requestedBy: 'alice', baselineSeconds: 0, dryRun: true }],
    });
    const result = (await handle.result()) as ChangeRollbackResult;
    assert.deepEqual(result.blockers, []);
    // Newest phase first, each step as the draft has it, its "from" read from the live targets.
    assert.deepEqual(
      result.plan.sets.flatMap((set) => set.changes.map((c) => [c.name, c.from, c.to])),
      [
        ['phase-3/restore keyspace session-agentic-state', '3 keys now', 'backup latest (what is there now saved first)'],
        ['phase-2/command git', '', 'git checkout migration-start -- src/patient_ai_service/models/conversation_entities.py src/patient_ai_service/models/agent_scoped_derived.py src/patient_ai_service/models/entity_delta.py'],
        ['phase-1/git revert migration-start..HEAD', `head ${git(clone, 'rev-parse', 'HEAD').slice(0, 12)}`, 'migration-start..HEAD reverted as new commits, pushed'],
      ],
    );
    assert.deepEqual(await targets(), before, 'nothing changed on the targets');

    // The completed dry run in the Web UI, as the README shows it.
    await ui.page.goto(`${ui.uiUrl}/namespaces/default/workflows/${encodeURIComponent(WORKFLOW_ID)}`);
    await ui.header().getByText('Completed', { exact: true }).waitFor();
    // The Result panel opens on the plan's first set: the draft's newest phase, its name from the seed's heading.
    await ui.page.getByRole('heading', { name: 'Result' }).waitFor();
    await ui.page.getByText('phase 3: Restore from Backup').first().waitFor();
    const shot = join(SHOTS, 'import-dry-run.png');
    await ui.page.screenshot({ path: shot });
    if (process.env.UPDATE_DOCS_SCREENSHOTS === '1') copyFileSync(shot, new URL('../docs/ui-import-dry-run.png', import.meta.url));
  });
});
