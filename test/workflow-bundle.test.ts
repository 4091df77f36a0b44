/**
 * The workflow bundle the worker runs (src/worker/workflow-bundle.ts): built in a child process into
 * a cache, used again while every file it was built from is unchanged, built again when one changes,
 * and holding neither the runbook schemas nor the action schemas (they are the worker's, not the
 * workflows': each workflow would evaluate its own copy of them, see src/runbook/action-kinds.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { sha256, sharedModulesPath, workflowBundlePath, workflowsPath, type BundleManifest } from '../src/worker/workflow-bundle.ts';

const root = join(import.meta.dirname, '..');
const logger = pino({ level: 'silent' });
const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BundleManifest;

describe('workflow bundle cache', () => {
  let dir: string;
  let first: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bundle-test-'));
    first = await workflowBundlePath({ cacheDir: dir, logger });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the manifest lists the workflow sources and the shared modules, and not the runbook or action schemas', () => {
    const files = Object.keys(manifestOf(dir).files);
    assert.ok(files.includes(workflowsPath));
    assert.ok(files.includes(sharedModulesPath));
    assert.ok(files.some((file) => file.includes('/node_modules/zod/')), 'zod is in the bundle, preloaded once');
    for (const kept of ['src/runbook/schema.ts', 'src/runbook/actions.ts', 'src/runbook/load.ts']) {
      assert.ok(!files.includes(join(root, kept)), `${kept} must stay out of the workflow bundle`);
    }
    assert.equal(first, join(dir, manifestOf(dir).bundle));
  });

  test('an unchanged source tree reuses the bundle without building', async () => {
    const before = statSync(first).mtimeMs;
    const again = await workflowBundlePath({ cacheDir: dir, logger });
    assert.equal(again, first);
    assert.equal(statSync(again).mtimeMs, before);
  });

  test('a changed source file builds the bundle again', async () => {
    // Stand a file of ours in for one webpack read, then change it: the cache must notice.
    const watched = join(dir, 'watched.txt');
    writeFileSync(watched, 'one');
    const manifest = manifestOf(dir);
    manifest.files[watched] = sha256('one');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    assert.equal(await workflowBundlePath({ cacheDir: dir, logger }), first, 'unchanged: the same bundle');

    writeFileSync(watched, 'two');
    const rebuilt = await workflowBundlePath({ cacheDir: dir, logger });
    assert.equal(rebuilt, first, 'the same sources give the same bundle file name');
    assert.ok(!(watched in manifestOf(dir).files), 'the manifest was written anew by the build');
  });

  test('a cache that cannot be written builds into a temporary directory instead', async () => {
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const built = await workflowBundlePath({ cacheDir: join(blocker, 'cache'), logger });
    assert.ok(built.startsWith(join(tmpdir(), 'workflow-bundle-')), built);
    assert.equal(readFileSync(built, 'utf8'), readFileSync(first, 'utf8'));
    rmSync(join(built, '..'), { recursive: true, force: true });
  });
});
