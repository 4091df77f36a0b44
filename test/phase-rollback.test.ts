/**
 * phaseRollback and configRollback end to end on a real dev server and worker, the real sandbox
 * (replica processes that load config and secret versions at start), the real PostgreSQL (the
 * feature_flags table), the real Redis (kill switches, the session keyspace) and the flagd file. After
 * each run the targets themselves are read back: flags, config, secret versions, what every replica
 * loaded, the platform's change log.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { createClient as createRedisClient } from 'redis';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { TASK_QUEUE } from '../src/contract/index.ts';
import { sql } from './harness.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv, type TestSystem } from './rollback-harness.ts';
import { approveSignal, approveUpdate, decideSignal, statusQuery } from '../src/contract/messages.ts';

let t: RollbackTestEnv;
const base = { reason: 'grok answers in the wrong language', requestedBy: 'alice', baselineSeconds: 0, verifyWindowSeconds: 1 };


const plainRedis = () => createRedisClient();

/** What the system holds now, read from its real components. */
async function stateOf(system: TestSystem) {
  const admin = (path: string) => fetch(`${system.sandbox.urls.router}/admin/${path}`).then((r) => r.json() as Promise<any>);
  const database = decodeURIComponent(new URL(system.sandbox.databaseUrl!).pathname.slice(1));
  const flags = Object.fromEntries((await sql<{ name: string; enabled: boolean }>(database, 'SELECT name, enabled FROM feature_flags ORDER BY name')).map((r) => [r.name, r.enabled]));
  const secrets = (await admin('secrets')).secrets as Record<string, { versions: { version: number; state: string }[]; latest: number }>;
  const replicas = (await admin('replicas')).replicas as Record<string, { pid: number; config: Record<string, string>; secretVersions: Record<string, number> }[]>;
  return { flags, config: (await admin('config')).config as Record<string, string>, secrets, replicas };
}

const flagdOf = (sandbox: Sandbox) => JSON.parse(readFileSync(sandbox.flagdFile!, 'utf8')).flags as Record<string, { state: string; defaultVariant: string }>;
const phase = (system: TestSystem, extra: Record<string, unknown>) => startRollback(t, { ...base, system: system.name, ...extra }, undefined, 'phaseRollback');
const configRollback = (system: TestSystem, extra: Record<string, unknown>) => startRollback(t, { ...base, system: system.name, ...extra }, undefined, 'configRollback');

/** A plain Redis client for reading the targets back (the test's own connection, not the worker's). */
async function withRedis<T>(work: (redis: ReturnType<typeof plainRedis>) => Promise<T>): Promise<T> {
  const redis = plainRedis();
  await redis.connect();
  try {
    return await work(redis);
  } finally {
    await redis.close();
  }
}

describe('phaseRollback and configRollback', { timeout: 300_000 }, () => {
  before(async () => {
    t = await startRollbackTestEnv();
  });
  after(async () => {
    await t?.stop();
  });

  test('phases 5 to 3 are undone highest first: flags, config, the xAI key back to version 1, the RAG cache cleared, and every replica restarted onto them', async (tc) => {
    const system = await t.newSystem(undefined, { database: true });
    await withRedis(async (redis) => {
      for (let i = 0; i < 3; i++) await redis.set(`${system.name}:rag:cache:doc-${i}`, 'stale embedding');
    });
    const before = await stateOf(system);
    assert.equal(before.secrets.XAI_API_KEY!.latest, 2);
    const started = Date.now();
    const handle = await phase(system, { phases: { from: 5, to: 3 }, verifyWindowSeconds: 10 });
    const result = await handle.result();
    tc.diagnostic(`3 phases with 10 s health windows: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const after = await stateOf(system);
    assert.deepEqual(
      ['grok_integration', 'rag_memory_enabled', 'dual_lane_routing', 'langgraph_enabled'].map((f) => [f, after.flags[f]]),
      [['grok_integration', false], ['rag_memory_enabled', false], ['dual_lane_routing', false], ['langgraph_enabled', true]],
      'phases 5, 4, 3 turned off; phase 2 untouched',
    );
    assert.deepEqual(
      Object.fromEntries(['GROK_ENABLED', 'LLM_PROVIDER', 'ENABLE_RAG', 'ENABLE_MEMORY', 'DUAL_LANE_ROUTING_ENABLED', 'ROUTING_MODE', 'USE_LANGGRAPH'].map((k) => [k, after.config[k]])),
      { GROK_ENABLED: 'false', LLM_PROVIDER: 'openai', ENABLE_RAG: 'false', ENABLE_MEMORY: 'false', DUAL_LANE_ROUTING_ENABLED: 'false', ROUTING_MODE: 'single', USE_LANGGRAPH: 'true' },
    );
    assert.deepEqual(after.secrets.XAI_API_KEY!.versions.map((v) => [v.version, v.state]), [[1, 'ENABLED'], [2, 'DISABLED']]);
    for (const [version, replicas] of Object.entries(after.replicas)) {
      for (const replica of replicas) {
        assert.ok(!before.replicas[version]!.some((b) => b.pid === replica.pid), `${version} replica ${replica.pid} is a new process`);
        assert.equal(replica.secretVersions.XAI_API_KEY, 1, `${version} replica loaded the xAI key's version 1`);
        assert.equal(replica.config.LLM_PROVIDER, 'openai');
        assert.equal(replica.config.ROUTING_MODE, 'single');
      }
    }
    assert.equal(await withRedis((redis) => redis.keys(`${system.name}:rag:cache:*`).then((k) => k.length)), 0, 'the RAG cache was cleared');
    const status = await handle.query(statusQuery);
    assert.deepEqual(
      status.steps.filter((s) => s.kind === 'change' || s.kind === 'verify').map((s) => s.name),
      [
        'phase-5/flag grok_integration',
        'phase-5/config GROK_ENABLED, LLM_PROVIDER',
        'phase-5/secret XAI_API_KEY',
        'phase-5/restart stable',
        'phase-5/restart canary',
        'verify:phase-5',
        'phase-4/flag rag_memory_enabled',
        'phase-4/config ENABLE_RAG, ENABLE_MEMORY',
        'phase-4/command node',
        'phase-4/restart stable',
        'phase-4/restart canary',
        'verify:phase-4',
        'phase-3/flag dual_lane_routing',
        'phase-3/config DUAL_LANE_ROUTING_ENABLED, ROUTING_MODE',
        'phase-3/restart stable',
        'phase-3/restart canary',
        'verify:phase-3',
      ],
    );
    assert.equal(result.healthAfter?.passed, true);
    assert.match(result.report!, /ran `node sandbox\/scripts\/clear-rag-cache\.mjs --pattern sys-\d+-\d+:rag:cache:\*` \(exit 0, [\d.]+ s\): cleared 3 RAG cache key\(s\)/);
    // Each change once: the platform's change log holds one entry per config change, secret change and restart.
    const { changes } = (await (await fetch(`${system.sandbox.urls.router}/admin/changes`)).json()) as { changes: { kind: string }[] };
    assert.deepEqual(
      changes.map((c) => c.kind),
      ['config', 'secret', 'restart', 'restart', 'config', 'restart', 'restart', 'config', 'restart', 'restart'],
    );
  });

  test('a dry run shows every action with the value it finds now and the value it would set, and changes nothing', async () => {
    const system = await t.newSystem(undefined, { database: true });
    const before = await stateOf(system);
    const result = await (await phase(system, { phases: [11, 10], dryRun: true })).result();
    assert.equal(result.dryRun, true);
    assert.deepEqual(
      result.plan.sets.map((s: any) => [s.title, s.gate?.gate ?? null, s.changes.map((c: any) => [c.name, c.from, c.to])]),
      [
        ['phase 11: Cutover', 'before-phase-11', [
          ['phase-11/flag legacy_entity_paths', 'false', 'true'],
          ['phase-11/config ENTITY_SYSTEM', 'ENTITY_SYSTEM=delta', 'ENTITY_SYSTEM=legacy'],
          ['phase-11/restart stable', result.plan.sets[0].changes[2].from, 'restarted, loading the config and secrets then current'],
          ['phase-11/restart canary', result.plan.sets[0].changes[3].from, 'restarted, loading the config and secrets then current'],
        ]],
        ['phase 10: Validation', null, [
          ['phase-10/flag delta_entities', 'true', 'false'],
          ['phase-10/config USE_DELTA_ENTITIES', 'USE_DELTA_ENTITIES=true', 'USE_DELTA_ENTITIES=false'],
          ['phase-10/restart stable', result.plan.sets[1].changes[2].from, 'restarted, loading the config and secrets then current'],
          ['phase-10/restart canary', result.plan.sets[1].changes[3].from, 'restarted, loading the config and secrets then current'],
        ]],
      ],
    );
    assert.deepEqual(await stateOf(system), before, 'nothing changed');
    assert.equal(flagdOf(system.sandbox).legacy_entity_paths?.defaultVariant, 'off');
  });

  test('a gated phase waits for its approver; an Update answers the sender at once, and a refused one never enters history', async () => {
    const system = await t.newSystem(undefined, { database: true });
    const handle = await phase(system, { phases: [11] });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ by: 'dave' }] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowUpdateFailedError);
      assert.equal(err.cause?.message, 'refused: dave is not an approver for role oncall (alice, bob, carol)');
      return true;
    });
    assert.equal(await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'cutover broke continuity' }] }), 'approved by bob at gate before-phase-11 (1 of 1)');
    await handle.result();
    const history = JSON.stringify((await handle.fetchHistory()).events);
    assert.ok(!history.includes('dave'), 'the refused update left no trace in history');
    assert.equal(flagdOf(system.sandbox).legacy_entity_paths?.state, 'ENABLED');
    assert.equal(flagdOf(system.sandbox).legacy_entity_paths?.defaultVariant, 'on', 'the flag file now turns the legacy paths on');
    const served = await (await fetch(`${system.sandbox.urls.router}/api/flags`)).json();
    assert.equal((served as { flags: Record<string, boolean> }).flags.legacy_entity_paths, true, 'a replica reading the file sees the flag on');
  });

  test('a failure in phase 3 then decide compensate puts every value of phases 5, 4 and 3 back exactly, and restarts the replicas onto them', async () => {
    const system = await t.newSystem(
      (doc) => {
        // Phase 3 gets a command that fails: the rollback stops there and waits for a decision.
        doc.phases.find((p: any) => p.id === 3).rollback.splice(2, 0, { command: ['node', '-e', 'process.exit(3)'], repeatable: true });
      },
      { database: true },
    );
    const before = await stateOf(system);
    const handle = await phase(system, { phases: [5, 4, 3] });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 120_000);
    assert.equal(waiting.pendingDecision?.step, 'phase-3/command node');
    assert.match(waiting.pendingDecision!.error, /^node -e process\.exit\(3\) exited with 3/);
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'RollbackFailed');
    const after = await stateOf(system);
    assert.deepEqual(after.flags, before.flags, 'every flag as it was');
    assert.deepEqual(after.config, before.config, 'every config value as it was');
    assert.deepEqual(
      Object.fromEntries(Object.entries(after.secrets).map(([n, s]) => [n, s.versions.map((v) => [v.version, v.state])])),
      Object.fromEntries(Object.entries(before.secrets).map(([n, s]) => [n, s.versions.map((v) => [v.version, v.state])])),
      'every secret version in its state',
    );
    for (const replicas of Object.values(after.replicas)) {
      for (const replica of replicas) {
        assert.equal(replica.secretVersions.XAI_API_KEY, 2, 'restarted onto the key as it was');
        assert.equal(replica.config.LLM_PROVIDER, 'grok');
        assert.equal(replica.config.ROUTING_MODE, 'dual-lane');
      }
    }
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, ['phase-4/command node: not undone: command node sandbox/scripts/clear-rag-cache.mjs --pattern ' + `${system.name}:rag:cache:* has no undo in the runbook`]);
  });

  test('a kill switch flips with no gate and the very next request sees the feature off; configRollback puts a secret back to its previous version', async (tc) => {
    const system = await t.newSystem((doc) => {
      doc.gates['before-config-change'] = { role: 'oncall', required: 1, timeoutSeconds: 60 };
    });
    const feature = `${system.sandbox.urls.router}/api/features/grok`;
    assert.deepEqual(await (await fetch(feature)).json(), { version: 'stable', feature: 'grok', enabled: true }, 'before: grok on');
    const started = Date.now();
    const handle = await configRollback(system, { killSwitches: { grok: true }, secrets: { XAI_API_KEY: 'previous' }, restart: ['all'], verifyWindowSeconds: 1 });
    // The kill switch comes before the gate: poll the service until it answers with the feature off.
    let seenOffAt = 0;
    for (let deadline = Date.now() + 30_000; Date.now() < deadline && !seenOffAt; ) {
      const answer = (await (await fetch(feature)).json()) as { enabled: boolean };
      if (!answer.enabled) seenOffAt = Date.now();
    }
    assert.ok(seenOffAt, 'the service turned grok off');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    tc.diagnostic(`kill switch: configRollback start to the service answering "off": ${seenOffAt - started} ms`);
    assert.deepEqual(waiting.pendingGate?.gate, 'before-config-change', 'the secret waits for its gate; the kill switch did not');
    const secretsNow = (await (await fetch(`${system.sandbox.urls.router}/admin/secrets`)).json()) as { secrets: Record<string, { latest: number }> };
    assert.equal(secretsNow.secrets.XAI_API_KEY?.latest, 2, 'the secret has not changed before its approval');
    await handle.signal(approveSignal, { by: 'bob' });
    await handle.result();
    const { replicas } = (await (await fetch(`${system.sandbox.urls.router}/admin/replicas`)).json()) as { replicas: Record<string, { secretVersions: Record<string, number> }[]> };
    for (const list of Object.values(replicas)) for (const r of list) assert.equal(r.secretVersions.XAI_API_KEY, 1);
    const keyNow = await withRedis((redis) => redis.get(`${system.name}:kill_switch:grok`));
    assert.equal(keyNow, 'true');
  });

  test('bad requests are refused with their own message before anything changes', async () => {
    const system = await t.newSystem(undefined, { database: true });
    const before = await stateOf(system);
    const cases: [string, Record<string, unknown>, string][] = [
      ['phaseRollback', { phases: [7] }, "phases: phase 7 is not in the runbook; the sys-"],
      ['phaseRollback', { phases: { from: 12, to: 9 } }, 'phases: phases from 12 to 9 are out of range: 12 is not a phase;'],
      ['phaseRollback', { phases: [5, 5] }, 'phases: phase 5 is listed twice'],
      ['phaseRollback', { phases: 'all' }, 'phases: must be a list of phase ids like [5, 4, 3] or a range like {"from": 5, "to": 3}'],
      ['configRollback', { flags: { grok_integration: false } }, 'flag grok_integration: required: flags and flagd both offer feature flags; name one (in a configRollback input: "providers": {"flags": "<name>"})'],
      ['configRollback', { flags: { grok_integraton: false }, providers: { flags: 'flags' } }, "unknown flag 'grok_integraton' in flags (did you mean 'grok_integration'?); it has: "],
      ['configRollback', { flags: { delta_entitys: false }, providers: { flags: 'flagd' } }, "unknown flag 'delta_entitys' in flagd (did you mean 'delta_entities'?); it has: "],
      // Redis reads an absent key as "off": only the kill switches the runbook lists may be engaged.
      ['configRollback', { killSwitches: { grk: true } }, "unknown kill switch 'grk' in redis (did you mean 'grok'?); it has: ai_scoring, grok (listed under providers.redis.settings.killSwitches)"],
      ['configRollback', { killSwitches: { nosuchfeature: true } }, "unknown kill switch 'nosuchfeature' in redis; it has: ai_scoring, grok (listed under providers.redis.settings.killSwitches)"],
      ['configRollback', { killSwitches: { '*': true } }, 'killSwitches.*: must be one feature name: no spaces, control characters or glob characters (* ? [ ] { } \\)'],
      ['configRollback', { killSwitches: { 'grok\r\nkill_switch:ai_scoring': true } }, 'must be one feature name: no spaces, control characters or glob characters'],
      ['configRollback', { flags: { 'grok_*': false }, providers: { flags: 'flags' } }, 'flags.grok_*: must be one feature name'],
      ['configRollback', { secrets: { XAI_API_KEEY: 'previous' } }, "unknown secret 'XAI_API_KEEY' in app (did you mean 'XAI_API_KEY'?); it has: OPENAI_API_KEY, WEBHOOK_HMAC_SECRET, XAI_API_KEY"],
      ['configRollback', { secrets: { XAI_API_KEY: 7 } }, 'secret XAI_API_KEY has no version 7 (versions: 1, 2)'],
      ['configRollback', { secrets: { OPENAI_API_KEY: 'previous' } }, 'secret OPENAI_API_KEY has no version before 1 (versions: 1)'],
      ['configRollback', { secrets: { XAI_API_KEY: 'xai-3f9a8c7d1e2b4a5f' } }, `secrets.XAI_API_KEY: must be "previous" or a version number; a secret's value never goes into a rollback input`],
      ['configRollback', { config: { ROUTNG_MODE: 'single' } }, "unknown config key 'ROUTNG_MODE' in app (did you mean 'ROUTING_MODE'?)"],
      ['configRollback', { restart: ['blue'] }, "unknown restart target 'blue' in app; it has: all, canary, stable"],
      ['configRollback', {}, 'nothing to roll back: give at least one of killSwitches, flags, config, secrets, scale, restart'],
    ];
    for (const [type, input, problem] of cases) {
      const failure = await failureOf((await startRollback(t, { ...base, system: system.name, ...input }, undefined, type)).result());
      assert.equal(failure.type, 'InvalidInput', `${type} ${JSON.stringify(input)}`);
      assert.ok(failure.message.includes(problem), `${JSON.stringify(input)}: expected "${problem}" in:\n${failure.message}`);
      assert.ok(!failure.message.includes('3f9a8c7d'), 'a secret value typed by mistake is never echoed');
    }
    assert.deepEqual(await stateOf(system), before, 'nothing changed');
    assert.deepEqual(await withRedis((redis) => redis.keys(`${system.name}:kill_switch:*`)), [], 'no kill switch was written');
  });

  test('a dry run of phases 11 to 9 with no keyspace backup yet returns the whole plan and every blocker, each with the command that clears it; a real run is refused the same', async () => {
    const system = await t.newSystem();
    const dry = await phase(system, { phases: { from: 11, to: 9 }, dryRun: true });
    const result = (await dry.result()) as { plan: { sets: { name: string; changes: { name: string }[] }[] }; blockers: { problem: string; fix: string | null }[] };
    assert.deepEqual(
      result.plan.sets.map((set) => [set.name, set.changes.map((c) => c.name)]),
      [
        ['phase 11', ['phase-11/flag legacy_entity_paths', 'phase-11/config ENTITY_SYSTEM', 'phase-11/restart stable', 'phase-11/restart canary']],
        ['phase 10', ['phase-10/flag delta_entities', 'phase-10/config USE_DELTA_ENTITIES', 'phase-10/restart stable', 'phase-10/restart canary']],
        ['phase 9', ['phase-9/restore keyspace sessions', 'phase-9/restart stable', 'phase-9/restart canary']],
      ],
      'the whole plan, the blocked phase included',
    );
    const backups = join(t.reportsDir, system.name, 'redis-backups', 'sessions');
    const blocker = { problem: `no backup 'latest' of keyspace sessions in ${backups}; backups: none`, fix: `rollback backup --system ${system.name} --keyspace sessions` };
    assert.deepEqual(result.blockers, [blocker]);
    const status = await dry.query(statusQuery);
    assert.equal(status.state, 'completed');
    assert.deepEqual(status.blockers, [blocker]);
    assert.equal(status.details, `dry run completed: nothing changed; a real run would be refused until these 1 blocker(s) are cleared:\n- ${blocker.problem}\n  clear it: \`${blocker.fix}\``);
    assert.match(status.report!, /## Blockers \(a real run would be refused\)\n\n- no backup 'latest' of keyspace sessions .*; clear it: `rollback backup --system sys-\d+-\d+ --keyspace sessions`/);

    const real = await failureOf((await phase(system, { phases: { from: 11, to: 9 } })).result());
    assert.equal(real.message, `cannot roll back:\n  ${blocker.problem} (clear it: ${blocker.fix})`);
    assert.deepEqual(system.sandbox.router.changes, [], 'neither run changed anything');
  });

  test('a scale action (one module and one registry line) is read into the snapshot, carried out through its provider, and undone to the counts found', async () => {
    const system = await t.newSystem((doc) => {
      doc.providers.router = { provider: 'http-router', settings: { ...doc.traffic.settings } }; // the sandbox router scales versions
      doc.phases.push({
        id: 6,
        name: 'Canary capacity',
        rollback: [
          { scale: { target: 'canary', instances: 0 } },
          { scale: { target: 'stable', instances: 4 } },
          { command: [process.execPath, '-e', 'process.exit(3)'], repeatable: true }, // fails, so a person decides
        ],
      });
      doc.phases.push({ id: 7, name: 'Typo', rollback: [{ scale: { target: 'canery', instances: 0 } }] });
    });
    const instances = () => system.sandbox.router.state().instances;
    assert.deepEqual(instances(), { stable: 2, canary: 1 });
    const dry = (await (await phase(system, { phases: [6], dryRun: true })).result()) as { plan: { sets: { changes: { name: string; from: string; to: string }[] }[] } };
    assert.deepEqual(
      dry.plan.sets[0]!.changes.map((c) => [c.name, c.from, c.to]),
      [
        ['phase-6/scale canary', '1', '0'],
        ['phase-6/scale stable', '2', '4'],
        ['phase-6/command ' + process.execPath, '', `${process.execPath} -e process.exit(3)`],
      ],
    );
    const handle = await phase(system, { phases: [6] });
    await waitForStatus(handle, (s) => s.state === 'awaiting_decision');
    assert.deepEqual(instances(), { stable: 4, canary: 0 }, 'both scaled before the command failed');
    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    await failureOf(handle.result());
    assert.deepEqual(instances(), { stable: 2, canary: 1 }, 'undone to the counts found');
    assert.deepEqual(
      system.sandbox.router.changes.map((c) => [c.kind, c.after, (c.idempotencyKey ?? '').replace(/^.*:/, '')]),
      [
        ['instances', { version: 'canary', count: 0 }, 'phase-6/scale canary'],
        ['instances', { version: 'stable', count: 4 }, 'phase-6/scale stable'],
        ['instances', { version: 'stable', count: 2 }, 'undo'],
        ['instances', { version: 'canary', count: 1 }, 'undo'],
      ],
      'one change per step, undone newest first, each under its own key',
    );
    const before = system.sandbox.router.changes.length;
    const misspelt = await failureOf((await phase(system, { phases: [7] })).result());
    assert.equal(misspelt.message, "cannot roll back:\n  unknown scale target 'canery' in router (did you mean 'canary'?); it has: canary, stable");
    assert.equal(system.sandbox.router.changes.length, before, 'nothing changed');
  });

  test('stage 9 restores the session keyspace from its backup, saving what was there, and compensation puts that back', async () => {
    const system = await t.newSystem(undefined, { database: true });
    const key = (n: number) => `${system.name}:session:${n}:agentic_state`;
    await withRedis(async (redis) => {
      for (let n = 1; n <= 5; n++) await redis.set(key(n), `state ${n} before migration`, { PX: n === 1 ? 600_000 : undefined });
    });
    // The backup seed 004 takes before stage 9, through the worker's own activity.
    const backup: { keyCount: number } = await t.env.client.workflow.execute('keyspaceBackup', { taskQueue: TASK_QUEUE, workflowId: `kb-${system.name}`, args: [{ system: system.name, keyspace: 'sessions', backupId: 'before-stage-9' }] });
    assert.equal(backup.keyCount, 5);
    await withRedis(async (redis) => {
      await redis.set(key(1), 'migrated (broken)');
      await redis.del(key(2));
      await redis.set(key(6), 'created after the migration');
    });
    const handle = await phase(system, { phases: [9] });
    await waitForStatus(handle, (s) => s.state === 'awaiting_approval');
    await handle.signal(approveSignal, { by: 'bob' });
    await waitForStatus(handle, (s) => s.currentStep === 'verify:phase-9');
    await withRedis(async (redis) => {
      assert.equal(await redis.get(key(1)), 'state 1 before migration');
      assert.ok((await redis.pTTL(key(1))) > 500_000, 'its TTL kept');
      assert.equal(await redis.get(key(2)), 'state 2 before migration');
      assert.equal(await redis.get(key(6)), 'created after the migration', 'keys not in the backup are left alone');
    });
    const status = await handle.query(statusQuery);
    assert.match(status.notes.join('\n'), /keyspace sessions: 5 keys restored from backup before-stage-9; the 4 keys there before saved as save-/);
    // Health then fails (the canary answers 500s), and the on-call engineer decides to compensate.
    system.sandbox.deployments.get('stable')!.fault = { errorRatePct: 100, addedLatencyMs: 0 };
    await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 60_000);
    await handle.signal(decideSignal, { by: 'carol', action: 'compensate' });
    await failureOf(handle.result());
    await withRedis(async (redis) => {
      assert.equal(await redis.get(key(1)), 'migrated (broken)', 'what was there before the restore is back');
      assert.equal(await redis.get(key(2)), null, 'a key the restore created is gone again');
      assert.equal(await redis.get(key(6)), 'created after the migration');
    });
  });
});
