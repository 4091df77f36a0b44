/**
 * Recorded histories (test/fixtures/histories, kept from real runs of the workflow tests) replayed
 * against the current workflow code: a change that would break rollbacks already running in
 * production fails here as a determinism error. After an intended change guarded by `patched()`,
 * record new histories with `RECORD_HISTORIES=<dir> npm test -- test/full-rollback.test.ts
 * test/data-restore.test.ts` and add them beside the old ones, which must keep replaying: the
 * dataRestore-v2-* histories were recorded after the safety-dump-before-restore and
 * verify-live-by-identity patches, the other dataRestore ones before them; phaseRollback-* and
 * configRollback-* come from test/phase-rollback.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { ROLLBACK_WORKFLOWS } from '../src/contract/index.ts';
import { workerWorkflowBundle } from '../src/worker/workflow-bundle.ts';
import { quietLogger } from './harness.ts';

const dir = new URL('./fixtures/histories/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('replay of recorded histories', () => {
  test('the fixtures cover completed and failed (or aborted) runs of every rollback workflow', () => {
    assert.ok(files.length >= 10, `expected at least 10 recorded histories, found ${files.length}`);
    for (const type of ROLLBACK_WORKFLOWS) {
      for (const outcome of ['completed', 'failed']) assert.ok(files.some((f) => f.startsWith(`${type}-`) && f.endsWith(`-${outcome}.json`)), `a ${outcome} ${type} history`);
    }
  });

  test('every recorded history replays against the current workflow code without a determinism error', async () => {
    const histories = files.map((file) => ({ workflowId: file, history: historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8'))) }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workerWorkflowBundle(quietLogger), replayName: 'fixtures' }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });
});
