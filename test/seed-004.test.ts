/**
 * Seed 004's runbook (runbooks/seeds/seed-004-entity-migration.yaml) as written, run by the real worker
 * on a Temporal dev server against real git (a bare remote standing for the team's, the worker's own
 * clone), the local Redis, a flagd flag file and a local HTTP server standing for the service's health
 * endpoint. Only where things are on this machine changes for the test (the clone's path, the flag
 * file's, the backup folder, the health URL, a key prefix of the test's own so no other Redis user's
 * keys match); every phase and action runs as the file has it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { createClient } from 'redis';
import { parse, stringify } from 'yaml';
import type { ChangeRollbackResult } from '../src/contract/index.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { approveSignal, decideSignal, statusQuery } from '../src/contract/messages.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import { deleteRedisKeys, failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';

const root = join(import.meta.dirname, '..');
const FILE = 'runbooks/seeds/seed-004-entity-migration.yaml';
const SYSTEM = 'seed-004-entity-migration';
const text = readFileSync(join(root, FILE), 'utf8');
const PREFIX = `seed004-${process.pid}`;

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=dev', '-c', 'user.email=dev@example.invalid', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The migration as the team made it: migration-start, then each stage's commit tagged entity-stage-<n>. */
const STAGES: [number, string, string][] = [
  [2, 'src/patient_ai_service/models/entity_delta.py', 'class EntityDelta: ...\n'],
  [3, 'tests/llm/test_entities.py', 'def test_extraction(): ...\n'],
  [4, 'src/patient_ai_service/core/state_manager.py', 'ENTITIES = "delta"\n'],
  [6, 'src/patient_ai_service/core/prompt_cache.py', 'PROMPT = "entities v2"\n'],
  [8, 'src/patient_ai_service/agents/base_agent.py', 'CONTEXT = "scoped"\n'],
  [9, 'src/patient_ai_service/core/state_manager.py', 'ENTITIES = "delta"\nCONTINUATION = "migrated"\n'],
  [10, 'src/patient_ai_service/core/validation.py', 'PARALLEL = True\n'],
  [11, 'src/patient_ai_service/core/cutover.py', 'CUTOVER = True\n'],
];

let t: RollbackTestEnv;
let dir: string;
let redis: ReturnType<typeof createClient>;
let service: Server;
/** How many times the service's /health was asked. */
let healthRequests = 0;
let n = 0;

interface Setup {
  remote: string;
  flagFile: string;
  key: (session: string) => string;
  /** The remote's main: a file there, and its commit subjects newest first. */
  atRemote: (file: string) => string | null;
  log: () => string[];
}

const flag = (on: boolean) => ({ state: on ? 'ENABLED' : 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' });
const flagsNow = (file: string) => {
  const flags = (JSON.parse(readFileSync(file, 'utf8')) as { flags: Record<string, { state: string }> }).flags;
  return Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, f.state]));
};

/**
 * A repository with the migration's stages (and, with `hotfix`, a later commit changing what stage 9
 * changed, so its revert conflicts), the flags as after the cutover (both off: the flags were retired),
 * conversation state in Redis backed up as `before-stage-9` and then migrated; and the seed's runbook
 * pointed at them.
 */
async function setUp(options: { hotfix?: boolean } = {}): Promise<Setup> {
  n += 1;
  const base = join(dir, `t${n}`);
  const remote = join(base, 'remote.git');
  mkdirSync(base, { recursive: true });
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', remote]);
  const work = join(base, 'work');
  execFileSync('git', ['clone', '-q', remote, work]);
  const write = (file: string, content: string) => {
    mkdirSync(join(work, file, '..'), { recursive: true });
    writeFileSync(join(work, file), content);
    git(work, 'add', '.');
  };
  write('src/patient_ai_service/core/state_manager.py', 'ENTITIES = "legacy"\n');
  git(work, 'commit', '-q', '-m', 'before the entity migration');
  git(work, 'tag', 'migration-start');
  for (const [stage, file, content] of STAGES) {
    write(file, content);
    git(work, 'commit', '-q', '-m', `entity migration stage ${stage}`);
    git(work, 'tag', `entity-stage-${stage}`);
  }
  if (options.hotfix) {
    write('src/patient_ai_service/core/state_manager.py', 'ENTITIES = "delta"\nCONTINUATION = "migrated, hotfixed"\n');
    git(work, 'commit', '-q', '-m', 'hotfix: continuation state');
  }
  git(work, 'push', '-q', '--tags', 'origin', 'main');
  const clone = join(base, 'clone');
  execFileSync('git', ['clone', '-q', remote, clone]);

  const flagFile = join(base, 'flags.flagd.json');
  writeFileSync(flagFile, JSON.stringify({ flags: { USE_DELTA_ENTITIES: flag(false), USE_AGENT_SCOPED_DERIVED: flag(false) } }, null, 2));

  const pattern = `${PREFIX}-${n}:session:*:agentic_state`;
  const key = (session: string) => `${PREFIX}-${n}:session:${session}:agentic_state`;
  const doc = parse(text) as Record<string, any>;
  doc.providers.code.settings.repoDir = clone;
  doc.providers.flags.settings.path = flagFile;
  doc.keyspaces.continuation.pattern = pattern;
  doc.keyspaces.continuation.backupDir = join(base, 'continuation-backups');
  doc.health.checks[0].url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/health`;
  t.runbooks.set(SYSTEM, parseRunbook(stringify(doc), FILE));

  // The conversations before stage 9, backed up as the runbook says (line 87 of the seed), then migrated.
  for (const session of ['s1', 's2', 's3']) await redis.set(key(session), JSON.stringify({ entities: { patient: session }, format: 'legacy' }));
  await redis.expire(key('s3'), 3600);
  const backup: { keyCount: number } = await t.env.client.workflow.execute('keyspaceBackup', { taskQueue: TASK_QUEUE, workflowId: `kb-seed004-${n}`, args: [{ system: SYSTEM, keyspace: 'continuation', backupId: 'before-stage-9' }] });
  assert.equal(backup.keyCount, 3);
  for (const session of ['s1', 's2']) await redis.set(key(session), JSON.stringify({ entities: { patient: session }, format: 'delta' }));
  await redis.del(key('s3'));
  await redis.set(key('s4'), JSON.stringify({ entities: {}, format: 'delta' })); // a conversation begun after the migration

  const atRemote = (file: string) => {
    try {
      return execFileSync('git', ['--git-dir', remote, 'show', `main:${file}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return null;
    }
  };
  const log = () => execFileSync('git', ['--git-dir', remote, 'log', '--format=%s', 'main'], { encoding: 'utf8' }).trim().split('\n');
  return { remote, flagFile, key, atRemote, log };
}

/** The continuation keys of a setup and their values, by session. */
async function sessions(s: Setup): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const session of ['s1', 's2', 's3', 's4']) out[session] = await redis.get(s.key(session));
  return out;
}

const phaseRollback = (phases: unknown, extra: Record<string, unknown> = {}) =>
  startRollback(t, { system: SYSTEM, phases, reason: 'seed 004: conversations lose their entities after the cutover', requestedBy: 'oncall-alice', baselineSeconds: 0, ...extra }, undefined, 'phaseRollback');

describe("seed 004's runbook as written", () => {
  test('loads with the worker loader, passes the JSON Schema, and every phase cites the seed lines it does', () => {
    const runbook = parseRunbook(text, FILE);
    assert.equal(runbook.system, SYSTEM);
    assert.deepEqual(runbook.phases.map((p) => p.id), [2, 4, 6, 8, 9, 10, 11], 'stages 1-11 as phases; stage 3 needs no rollback');
    for (const phase of runbook.phases) assert.match(phase.description ?? '', /^seed lines \d+-\d+ - /, `phase ${phase.id}`);
    const schema = JSON.parse(readFileSync(join(root, 'schemas', 'runbook.schema.json'), 'utf8')) as Record<string, unknown>;
    const check = new Ajv2020({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
    assert.equal(check(parse(text)), true, JSON.stringify(check.errors));
    assert.doesNotMatch(text.split('\n').filter((line) => !line.trimStart().startsWith('#')).join('\n'), /reset|--force|FLUSHDB/i, 'no reset, force push or FLUSHDB anywhere but in comments');
  });
});

describe("seed 004's stages rolled back on real git, Redis and a flagd file", { timeout: 300_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
    dir = mkdtempSync(join(tmpdir(), 'rr-seed-004-'));
    redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
    service = createServer((req, res) => {
      if (req.url === '/health') healthRequests += 1;
      res.writeHead(req.url === '/health' ? 200 : 404).end();
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    Object.assign(t.secrets, { CONTINUATION_REDIS_URL: 'redis://127.0.0.1:6379', GIT_SSH_COMMAND_FOR_ROLLBACK: 'ssh -o BatchMode=yes' });
  });
  after(async () => {
    await deleteRedisKeys(`${PREFIX}-*`);
    await redis?.close();
    await new Promise((resolve) => service?.close(resolve));
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a dry run of stages 11 to 2 plans every action newest first from live state and changes nothing', async () => {
    const s = await setUp();
    const before = [s.log(), flagsNow(s.flagFile), await sessions(s)];
    const result = (await (await phaseRollback({ from: 11, to: 2 }, { dryRun: true })).result()) as ChangeRollbackResult;
    assert.deepEqual(result.blockers, []);
    assert.deepEqual(
      result.plan.sets.flatMap((set) => set.changes.map((c) => c.name)),
      [
        'phase-11/git revert entity-stage-10..entity-stage-11',
        'phase-11/flag USE_DELTA_ENTITIES',
        'phase-11/flag USE_AGENT_SCOPED_DERIVED',
        'phase-10/flag USE_DELTA_ENTITIES',
        'phase-9/restore keyspace continuation',
        'phase-9/git revert entity-stage-8..entity-stage-9',
        'phase-8/git revert entity-stage-6..entity-stage-8',
        'phase-6/git revert entity-stage-4..entity-stage-6',
        'phase-4/git revert entity-stage-3..entity-stage-4',
        'phase-2/git revert migration-start..entity-stage-2',
      ],
    );
    const restore = result.plan.sets.flatMap((set) => set.changes).find((c) => c.name === 'phase-9/restore keyspace continuation')!;
    assert.deepEqual([restore.from, restore.to], ['3 keys now', 'backup before-stage-9 (what is there now saved first)']);
    assert.deepEqual([s.log(), flagsNow(s.flagFile), await sessions(s)], before, 'nothing changed');
  });

  test("the seed's Feature Flag Rollback as a configRollback: both flags off in the flag file, nothing else touched", async () => {
    const s = await setUp();
    writeFileSync(s.flagFile, JSON.stringify({ flags: { USE_DELTA_ENTITIES: flag(true), USE_AGENT_SCOPED_DERIVED: flag(true) } }, null, 2));
    const before = s.log();
    const asked = healthRequests;
    const handle = await startRollback(
      t,
      { system: SYSTEM, flags: { USE_DELTA_ENTITIES: false, USE_AGENT_SCOPED_DERIVED: false }, reason: 'seed 004: issues during the migration', requestedBy: 'oncall-alice', baselineSeconds: 0 },
      undefined,
      'configRollback',
    );
    await handle.result();
    assert.deepEqual(flagsNow(s.flagFile), { USE_DELTA_ENTITIES: 'DISABLED', USE_AGENT_SCOPED_DERIVED: 'DISABLED' });
    assert.deepEqual(s.log(), before, 'no code change (seed line 31: "without code changes")');
    assert.ok(healthRequests > asked, 'the service health verified afterwards');
    assert.equal(await redis.get(s.key('s4')), JSON.stringify({ entities: {}, format: 'delta' }), 'the continuation state untouched');
  });

  test('stage 9 at its gate, approved by the migration lead: the continuation state is the backup again, key for key, and stage 9 is reverted as a new commit', async () => {
    const s = await setUp();
    const before = s.log();
    const handle = await phaseRollback([9]);
    const waiting = await waitForStatus(handle, (st) => st.pendingGate !== null, 120_000);
    assert.equal(waiting.pendingGate?.gate, 'before-phase-9');
    assert.deepEqual(waiting.pendingGate?.approvers, ['lead-carol']);
    assert.equal(await redis.get(s.key('s3')), null, 'nothing restored before the approval');
    await handle.signal(approveSignal, { by: 'lead-carol' });
    await handle.result();

    assert.deepEqual(await sessions(s), {
      s1: JSON.stringify({ entities: { patient: 's1' }, format: 'legacy' }),
      s2: JSON.stringify({ entities: { patient: 's2' }, format: 'legacy' }),
      s3: JSON.stringify({ entities: { patient: 's3' }, format: 'legacy' }),
      s4: JSON.stringify({ entities: {}, format: 'delta' }), // begun after the backup: not in it, so kept, not deleted
    });
    const ttl = await redis.ttl(s.key('s3'));
    assert.ok(ttl > 3500 && ttl <= 3600, `s3 keeps its expiry (${ttl} s)`);
    assert.equal(s.atRemote('src/patient_ai_service/core/state_manager.py'), 'ENTITIES = "delta"\n', 'state_manager.py as after stage 8');
    assert.deepEqual(s.log(), ['Revert "entity migration stage 9"', ...before], 'one new commit; nothing rewritten');
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'completed');
    assert.match(status.report ?? '', /- keyspace continuation: 3 keys restored from backup before-stage-9; the 2 keys there before saved as save-/);
  });

  test('stages 11 to 9, stage 9 revert conflicting with a later hotfix: compensation puts the flags, the cutover commit and the continuation state back as found', async () => {
    const s = await setUp({ hotfix: true });
    const before = { log: s.log(), flags: flagsNow(s.flagFile), sessions: await sessions(s) };
    const handle = await phaseRollback({ from: 11, to: 9 });
    await waitForStatus(handle, (st) => st.pendingGate?.gate === 'before-phase-11', 120_000);
    await handle.signal(approveSignal, { by: 'lead-carol' });
    await waitForStatus(handle, (st) => st.pendingGate?.gate === 'before-phase-9', 120_000);
    assert.equal(s.atRemote('src/patient_ai_service/core/cutover.py'), null, 'stage 11 reverted');
    assert.deepEqual(flagsNow(s.flagFile), { USE_DELTA_ENTITIES: 'DISABLED', USE_AGENT_SCOPED_DERIVED: 'ENABLED' }, 'stage 11 turned both on, stage 10 the delta entities off again');
    await handle.signal(approveSignal, { by: 'lead-carol' });

    const waiting = await waitForStatus(handle, (st) => st.pendingDecision !== null, 120_000);
    assert.equal(waiting.pendingDecision?.step, 'phase-9/git revert entity-stage-8..entity-stage-9');
    assert.match(waiting.pendingDecision?.error ?? '', /conflict/);
    assert.equal(await redis.get(s.key('s3')), JSON.stringify({ entities: { patient: 's3' }, format: 'legacy' }), 'the continuation state was restored before the revert failed');
    await handle.signal(decideSignal, { by: 'oncall-bob', action: 'compensate' });
    assert.equal((await failureOf(handle.result())).type, 'RollbackFailed');

    assert.deepEqual(flagsNow(s.flagFile), before.flags);
    assert.deepEqual(await sessions(s), before.sessions, 'the keys as they were before the restore: s1 and s2 migrated, s3 absent again');
    assert.equal(s.atRemote('src/patient_ai_service/core/cutover.py'), 'CUTOVER = True\n', 'the cutover is back');
    const after = s.log();
    assert.deepEqual(after.slice(2), before.log, 'the revert and its undo are new commits on top; nothing rewritten');
    assert.match(after[0]!, /^Revert "Revert "entity migration stage 11""$/);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.deepEqual(
      status.steps.filter((st) => st.name.startsWith('phase-')).map((st) => `${st.name}:${st.outcome}`),
      [
        'phase-11/git revert entity-stage-10..entity-stage-11:compensated',
        'phase-11/flag USE_DELTA_ENTITIES:compensated',
        'phase-11/flag USE_AGENT_SCOPED_DERIVED:compensated',
        'phase-10/flag USE_DELTA_ENTITIES:compensated',
        'phase-9/restore keyspace continuation:compensated',
        'phase-9/git revert entity-stage-8..entity-stage-9:failed',
      ],
    );
  });
});
