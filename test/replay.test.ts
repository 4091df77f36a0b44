/**
 * Recorded histories (test/fixtures/histories, kept from real runs of the workflow tests) replayed
 * against the current workflow code: a change that would break rollbacks already running in
 * production fails here as a determinism error. After an intended change guarded by `patched()`,
 * record new histories with `RECORD_HISTORIES=<dir> npm test -- test/full-rollback.test.ts
 * test/data-restore.test.ts` and add them beside the old ones, which must keep replaying: the
 * dataRestore-v2-* histories were recorded after the safety-dump-before-restore and
 * verify-live-by-identity patches, the other dataRestore ones before them; phaseRollback-* and
 * configRollback-* come from test/phase-rollback.test.ts. fullRollback-v3-* were recorded after the
 * release-system-lock patch (test/rollback-lock.test.ts: the winner of a race and one it refused);
 * rollbackWatchdog-* and rollbackDrill-* come from test/rollback-watchdog.test.ts and
 * test/rollback-drill.test.ts (a watchdog that started and followed a rollback, then was stopped; a
 * drill end to end and a dry-run drill). phaseRollback-v4-* come from the action-kind registry: a
 * scale action (a dry run; carried out and compensated), volume-restore (compensated), sqlite-restore (compensated; a corrupt backup
 * aborted) and a dry run listing its blockers; dataRestore-v3-dump-* restores a team's own dump and is
 * compensated; rollbackWatchdog-v2-* are watchdogs started under another ID and refused (the
 * one-watchdog-per-system patch). This round's kinds: fullRollback-v4-scaled-* move traffic by instance
 * counts on Fly (immediate, gradual with its gate, compensated), configRollback-v4-scale-* scale
 * (completed, compensated), phaseRollback-v5-secret-* set a Fly app secret (undone; no way back),
 * phaseRollback-v5-release-* roll to named releases (gated, compensated, an unknown name refused, on Fly
 * and Render), phaseRollback-v5-clone-* clone a Cloud SQL instance (completed, compensated, a failed
 * smoke query), fullRollback-v4-release-named-* roll a release section's named targets (and refuse an
 * unknown one), rollbackWatchdog-v3-* scale through a rule's own provider; recorded from
 * test/fly-rollbacks.test.ts, test/release-action.test.ts and test/cloudsql-clone.test.ts.
 * phaseRollback-v5-health-checks-* (test/health-checks.test.ts) fails a phase's own verify check on a
 * wrong JSON field, its secret header masked, and is compensated. fullRollback-v5-preflight-*
 * (test/preflight.test.ts, after the preflight-checks patch) are refused by failed preflight checks
 * with nothing changed, pass them and are rejected at the gate, and list them in a dry run. Each
 * replays under the workflow ID it ran with.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { ROLLBACK_WORKFLOWS, WATCH_WORKFLOWS } from '../src/contract/index.ts';
import { workerWorkflowBundle } from '../src/build/workflow-bundle.ts';
import { quietLogger } from './harness.ts';

const dir = new URL('./fixtures/histories/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('replay of recorded histories', () => {
  test('the fixtures cover completed and failed (or aborted) runs of every rollback workflow, the watchdog and the drill', () => {
    assert.ok(files.length >= 10, `expected at least 10 recorded histories, found ${files.length}`);
    for (const type of ROLLBACK_WORKFLOWS) {
      for (const outcome of ['completed', 'failed']) assert.ok(files.some((f) => f.startsWith(`${type}-`) && f.endsWith(`-${outcome}.json`)), `a ${outcome} ${type} history`);
    }
    for (const type of WATCH_WORKFLOWS) assert.ok(files.some((f) => f.startsWith(`${type}-`)), `a ${type} history`);
    assert.ok(files.some((f) => f.startsWith('fullRollback-v3-')), 'a fullRollback history with the lock released (patched)');
  });

  test('every recorded history replays against the current workflow code without a determinism error', async () => {
    // Replayed under the workflow ID they ran with (recorded in their first event), as a worker would.
    const histories = files.map((file) => {
      const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { events: { workflowExecutionStartedEventAttributes?: { workflowId?: string } }[] };
      return { file, workflowId: json.events[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? file, history: historyFromJSON(json) };
    });
    const filesOf = (workflowId: string) => histories.filter((h) => h.workflowId === workflowId).map((h) => h.file).join(' or ');
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workerWorkflowBundle(quietLogger), replayName: 'fixtures' }, histories)) {
      if (result.error) failures.push(`${filesOf(result.workflowId)} (${result.workflowId}): ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });
});
