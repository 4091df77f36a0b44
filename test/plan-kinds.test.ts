/**
 * Pure workflow logic: the plans of this round's action kinds and of traffic moved by instance
 * counts, built from captured values as a workflow builds them (no activity, no provider). What the
 * providers and workflows do to real targets is tested end to end against the emulators and the
 * Docker engine (fly-rollbacks, release-action, cloudsql-clone, secret-manager-rollback tests).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseDocument, stringify } from 'yaml';
import type { ResolvedAction } from '../src/actions/index.ts';
import type { CapturedValue, Release } from '../src/contract/index.ts';
import { planChanges } from '../src/plan/change-plan.ts';
import { planFullRollback, planReleaseRollback, plannedGate } from '../src/plan/plan.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { sharesOf } from '../src/activities/snapshot.ts';

const sandbox = readFileSync(new URL('../runbooks/sandbox.yaml', import.meta.url), 'utf8');

function runbookWith(edit: (doc: Record<string, any>) => void): Runbook {
  const doc = parseDocument(sandbox).toJS() as Record<string, any>;
  doc.system = 'x';
  edit(doc);
  return parseRunbook(stringify(doc), 'runbooks/x.yaml');
}

function loadError(edit: (doc: Record<string, any>) => void): string {
  try {
    runbookWith(edit);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the runbook was accepted');
}

/** A phase release action on Render, with its provider under providers:. */
function withRelease(doc: Record<string, any>): void {
  doc.providers.render = { provider: 'render', settings: { tokenEnv: 'RENDER_API_KEY', services: { api: 'srv-a1' } } };
  doc.phases[0].rollback.push({ release: { target: 'api', to: 'dep-1' } });
}

const release = (id: string, extra: Partial<Release> = {}): Release => ({ id, label: id, ...extra });

describe('release plans (pure workflow logic)', () => {
  const values = (): CapturedValue[] => [
    { kind: 'release', provider: 'render', target: 'api', current: release('dep-3'), previous: release('dep-2'), named: { 'dep-1': release('dep-1', { label: 'fix login' }) } },
  ];
  const gates = (runbook: Runbook) => (name: string) => plannedGate(runbook, name);
  const act = (to: string): ResolvedAction => ({ release: { target: 'api', to }, provider: 'render' }) as ResolvedAction;

  test('a named release: from what serves to the one named, undone to what served; previous goes to the one before', () => {
    const { changes, problems } = planChanges([act('dep-1'), act('previous')], values(), { phase: 4, prefix: 'phase-4/' });
    assert.deepEqual(problems, []);
    assert.deepEqual(
      changes.map((c) => [c.name, c.from, c.to, c.changes, (c.change as { release: Release }).release.id, (c.undo as { release: Release }).release.id]),
      [
        ['phase-4/release api', 'dep-3', 'dep-1 (fix login)', true, 'dep-1', 'dep-3'],
        // The second change finds what the first set: its undo goes back to dep-1.
        ['phase-4/release api #2', 'dep-1 (fix login)', 'dep-2', true, 'dep-2', 'dep-1'],
      ],
    );
  });

  test('a release action waits at before-release-<target>, else before-release; with neither it has no gate of its own', () => {
    const both = runbookWith((doc) => {
      withRelease(doc);
      doc.gates['before-release'] = { role: 'oncall', required: 1 };
      doc.gates['before-release-api'] = { role: 'platform-lead', required: 1 };
    });
    const general = runbookWith((doc) => {
      withRelease(doc);
      doc.gates['before-release'] = { role: 'oncall', required: 1 };
    });
    const plan = (runbook: Runbook) => planChanges([act('dep-1')], values(), { phase: 1, prefix: '', gates: gates(runbook) }).changes[0]!.gate;
    assert.equal(plan(both)?.gate, 'before-release-api');
    assert.deepEqual(plan(both)?.approvers, ['erin']);
    assert.equal(plan(general)?.gate, 'before-release');
    assert.equal(planChanges([act('dep-1')], values(), { phase: 1, prefix: '' }).changes[0]!.gate, undefined);
  });

  test('a gate for a target no release rolls is refused when the runbook loads, naming the targets', () => {
    const message = loadError((doc) => {
      withRelease(doc);
      doc.gates['before-release-apj'] = { role: 'oncall', required: 1 };
    });
    assert.match(message, /gate before-release-apj names release target 'apj', which no release action or release section of this runbook rolls \(did you mean 'api'\?\) \(its release targets: api\)/);
  });

  test("the release section: a named release takes previous' place, a refused name blocks the whole rollback, and each step has its gate", () => {
    const runbook = runbookWith((doc) => {
      delete doc.traffic;
      delete doc.watch;
      doc.databases = {};
      doc.drills = {};
      doc.gates = { 'before-release-web': { role: 'oncall', required: 1 } };
      doc.release = { provider: 'render', settings: { tokenEnv: 'RENDER_API_KEY', services: { web: 'srv-a1', worker: 'srv-a2' } }, targets: [{ target: 'web', to: 'dep-1' }, 'worker'] };
    }) as Runbook & { release: NonNullable<Runbook['release']> };
    const plan = planReleaseRollback(runbook, [
      { target: 'web', current: release('dep-3'), previous: release('dep-1') },
      { target: 'worker', current: release('dep-9'), previous: release('dep-8') },
    ]);
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.steps.map((s) => [s.name, s.to.id, s.gate?.gate ?? null]), [
      ['roll-back-web', 'dep-1', 'before-release-web'],
      ['roll-back-worker', 'dep-8', null],
    ]);
    const refused = planReleaseRollback(runbook, [
      { target: 'web', current: release('dep-3'), previous: null, blocked: "release 'dep-1' of web not found; the last 10 it has: dep-3, dep-2" },
      { target: 'worker', current: release('dep-9'), previous: release('dep-8') },
    ]);
    assert.deepEqual(refused.problems, ["web: release 'dep-1' of web not found; the last 10 it has: dep-3, dep-2"]);
  });
});

describe('app secret plans (pure workflow logic)', () => {
  const captured = (digest: string | null): CapturedValue[] => [{ kind: 'app-secret', provider: 'fly', target: 'app-stable', name: 'OPENAI_API_KEY', digest }];
  const plan = (secret: Record<string, unknown>, digest: string | null) =>
    planChanges([{ secret: { target: 'app-stable', name: 'OPENAI_API_KEY', ...secret }, provider: 'fly' } as ResolvedAction], captured(digest), { phase: 1, prefix: '' }).changes[0]!;

  test('set from a variable: the change and its undo name variables, never values', () => {
    const change = plan({ value: { env: 'NEW_OPENAI_KEY' }, previous: { env: 'OLD_OPENAI_KEY' } }, 'a1b2c3d4e5f60718');
    assert.deepEqual(change.change, { provider: 'fly', target: 'app-stable', name: 'OPENAI_API_KEY', fromEnv: 'NEW_OPENAI_KEY' });
    assert.deepEqual(change.undo, { provider: 'fly', target: 'app-stable', name: 'OPENAI_API_KEY', fromEnv: 'OLD_OPENAI_KEY' });
    assert.equal(change.from, 'set (digest a1b2c3d4e5f6)');
    assert.equal(change.to, 'set from $NEW_OPENAI_KEY');
  });

  test('a secret that was absent is undone by unsetting it; one that existed, with no previous value named, has no undo and says what to do', () => {
    assert.deepEqual(plan({ value: { env: 'NEW_OPENAI_KEY' } }, null).undo, { provider: 'fly', target: 'app-stable', name: 'OPENAI_API_KEY', fromEnv: null });
    const noWayBack = plan({ unset: true }, 'a1b2c3d4e5f60718');
    assert.equal(noWayBack.undo, null);
    assert.equal(noWayBack.noUndo, 'fly keeps no earlier values of secret OPENAI_API_KEY, and the runbook names none (previous: {env: VAR}); set it again by hand (fly secrets set OPENAI_API_KEY=... -a app-stable)');
  });

  test('a value written where the variable name belongs is refused when the runbook loads, and not echoed', () => {
    const message = loadError((doc) => doc.phases[0].rollback.push({ secret: { target: 'app-stable', name: 'OPENAI_API_KEY', value: { env: 'sk-live-abc123' } } }));
    assert.doesNotMatch(message, /sk-live-abc123/);
    assert.match(message, /phases\[0\]\.rollback\[\d+\]/);
  });
});

describe('cloudsql-clone plans (pure workflow logic)', () => {
  test("the clone's connection name replaces the instance part; the undo puts the service's value back", () => {
    const values: CapturedValue[] = [
      {
        kind: 'cloudsql-clone',
        provider: 'cloudsql',
        instance: 'prod-db',
        connectionName: 'acme:us-central1:prod-db',
        clone: 'prod-db-pitr-202612060300',
        pointInTime: '2026-12-06T03:00:00.000Z',
        service: { provider: 'run', key: 'INSTANCE_CONNECTION_NAME', value: 'acme:us-central1:prod-db' },
      },
    ];
    const action = { 'cloudsql-clone': { instance: 'prod-db', pointInTime: '2026-12-06T03:00:00Z', database: 'clone', pointService: { provider: 'run', key: 'INSTANCE_CONNECTION_NAME' } }, provider: 'cloudsql' } as ResolvedAction;
    const [change] = planChanges([action], values, { phase: 3, prefix: 'phase-3/' }).changes;
    assert.equal(change!.to, 'clone prod-db-pitr-202612060300 at 2026-12-06T03:00:00.000Z, INSTANCE_CONNECTION_NAME=acme:us-central1:prod-db-pitr-202612060300');
    assert.deepEqual((change!.change as { config: unknown }).config, { provider: 'run', key: 'INSTANCE_CONNECTION_NAME', value: 'acme:us-central1:prod-db-pitr-202612060300' });
    assert.deepEqual((change!.undo as { direction: string; config: unknown }).config, { provider: 'run', key: 'INSTANCE_CONNECTION_NAME', value: 'acme:us-central1:prod-db' });
    assert.equal((change!.undo as { direction: string }).direction, 'back');
  });

  test('a clone checked on a database the runbook does not have is refused when it loads', () => {
    const message = loadError((doc) =>
      doc.phases[0].rollback.push({ 'cloudsql-clone': { instance: 'prod-db', pointInTime: { minutesAgo: 30 }, database: 'clnoe', pointService: { provider: 'flags', key: 'DB' } } }),
    );
    assert.match(message, /unknown database 'clnoe' \(the one that reaches the clone, for its smoke queries\); must be one of: main/);
  });
});

describe('traffic moved by instance counts, where the platform splits none (pure workflow logic)', () => {
  const fly = runbookWith((doc) => {
    doc.traffic = { provider: 'fly-machines', settings: { apps: { stable: 'app-stable', canary: 'app-canary' }, tokenEnv: 'FLY_API_TOKEN' }, stableInstances: 3, gradualSteps: [50, 25, 0] };
    delete doc.watch;
    doc.drills = {};
    doc.databases.main.stopWriters = { method: 'terminate-connections' };
  }) as Runbook & { traffic: NonNullable<Runbook['traffic']> };

  test("weights are each version's share of the instances, summing to 100", () => {
    assert.deepEqual(sharesOf({ stable: 1, canary: 2 }), { stable: 33, canary: 67 });
    assert.deepEqual(sharesOf({ stable: 0, canary: 0 }), { stable: 0, canary: 0 });
  });

  test("immediate: seed 000's fly scale count 3 -a app-stable, then 0 -a app-canary, the canary's step a verified shift behind before-cleanup", () => {
    const plan = planFullRollback(fly, { weights: { stable: 25, canary: 75 }, instances: { stable: 1, canary: 3 }, splits: false }, { mode: 'immediate' });
    assert.deepEqual(plan.steps.map((s) => [s.name, s.phase, s.action, s.version, s.from, s.to, s.gate ?? null]), [
      ['scale-stable', 'capacity', 'scale', 'stable', 1, 3, null],
      ['shift-traffic', 'shift', 'scale', 'canary', 3, 0, 'before-cleanup'],
    ]);
    assert.deepEqual(plan.gates.map((g) => g.gate), ['before-cleanup']);
  });

  test('gradual: each canary weight becomes a count beside stable, a step already met is left out', () => {
    const plan = planFullRollback(fly, { weights: {}, instances: { stable: 3, canary: 4 }, splits: false }, { mode: 'gradual' });
    // 50% beside 3 stable is 3 canaries; 25% is 1; then 0.
    assert.deepEqual(plan.steps.map((s) => [s.name, s.from, s.to]), [
      ['shift-traffic-1', 4, 3],
      ['shift-traffic-2', 3, 1],
      ['shift-traffic-3', 1, 0],
    ]);
    const fewer = planFullRollback(fly, { weights: {}, instances: { stable: 3, canary: 1 }, splits: false }, { mode: 'gradual' });
    assert.deepEqual(fewer.steps.map((s) => [s.name, s.from, s.to]), [['shift-traffic-3', 1, 0]]);
  });
});
