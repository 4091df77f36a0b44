/**
 * Worker Deployment Versioning on the dev server (src/worker/deployment.ts): a rollback finishes on
 * the build that started it while a build whose code no longer replays it is current; a new rollback
 * runs on the new build; the old one drains. The scenario is test/versioning-scenario.ts (workflow
 * logic with STUBBED ACTIVITIES); the cluster suite runs it too.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { deploymentBuilds } from '../src/worker/deployment.ts';
import { startTemporal } from './harness.ts';
import { DRAINAGE_IN_SECONDS_ARGS, pinnedUpgrade } from './versioning-scenario.ts';

describe('worker versioning on the dev server', { timeout: 300_000 }, () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startTemporal({ dynamicConfig: DRAINAGE_IN_SECONDS_ARGS });
  });
  after(async () => {
    await env?.teardown();
  });

  test('build A keeps its waiting rollback after build B is made current; B takes new ones; A drains', async () => {
    await pinnedUpgrade({ client: env.client, nativeConnection: env.nativeConnection, address: env.address });
  });

  test('rollback workers promote refuses a build the deployment has never seen, naming the known ones', async () => {
    const failure = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'workers', 'promote', 'nosuchbuild'], {
      env: { ...process.env, TEMPORAL_ADDRESS: env.address },
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    }).then(
      () => assert.fail('promote of an unknown build succeeded'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(failure.code, 2);
    const known = (await deploymentBuilds(env.client)).map((x) => x.buildId);
    assert.ok(known.length === 2, `the first test left builds A and B: ${known.join(', ')}`);
    assert.match(failure.stderr, new RegExp(`no build nosuchbuild in deployment rollbacks; known builds: ${known.join(', ')}`));
  });
});
