/**
 * The workflow bundle the worker runs (src/build/workflow-bundle.ts): built in a child process into
 * a cache, used again while every file it was built from is unchanged, built again when one changes,
 * and holding neither the runbook schemas nor the action schemas (they are the worker's, not the
 * workflows': each workflow would evaluate its own copy of them, see src/actions/index.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { sha256, type BuildManifest } from '../src/build/build-cache.ts';
import { MANIFEST_FORMAT, sharedModulesPath, workflowBundlePath, workflowsPath } from '../src/build/workflow-bundle.ts';

const root = join(import.meta.dirname, '..');
const logger = pino({ level: 'silent' });
const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BuildManifest;

describe('workflow bundle cache', () => {
  let dir: string;
  let first: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bundle-test-'));
    first = await workflowBundlePath({ cacheDir: dir, logger });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the manifest lists the workflow sources, the action kinds and the shared modules, and no runbook schema or worker code', () => {
    const files = Object.keys(manifestOf(dir).files);
    assert.ok(files.includes(workflowsPath));
    assert.ok(files.includes(sharedModulesPath));
    assert.ok(files.some((file) => file.includes('/node_modules/zod/')), 'zod is in the bundle, preloaded once');
    assert.ok(files.includes(join(root, 'src/actions/index.ts')), 'the action kinds carry out their changes in the workflow');
    for (const kept of ['src/runbook/schema.ts', 'src/runbook/load.ts', 'src/runbook/provider-check.ts', 'src/activities/inspect.ts', 'src/providers/index.ts']) {
      assert.ok(!files.includes(join(root, kept)), `${kept} must stay out of the workflow bundle`);
    }
    assert.equal(first, join(dir, manifestOf(dir).bundle));
  });

  test('the manifest also lists what shapes the bundle besides the sources: the builder and the SDK version', () => {
    const files = Object.keys(manifestOf(dir).files);
    assert.ok(files.includes(join(root, 'src/build/workflow-bundle-builder.ts')));
    assert.ok(files.includes(join(root, 'node_modules/@temporalio/worker/package.json')));
  });

  test("the inline source map maps lines and carries no copy of the sources (the worker keeps it in memory; the SDK sends no sources)", () => {
    const code = readFileSync(first, 'utf8');
    const base64 = /\/\/# sourceMappingURL=data:application\/json;charset=utf-8;base64,(\S+)\s*$/.exec(code)?.[1];
    assert.ok(base64, 'an inline source map (the SDK requires one)');
    const map = JSON.parse(Buffer.from(base64, 'base64').toString()) as { sources: string[]; sourcesContent?: unknown; mappings: string };
    assert.equal(map.sourcesContent, undefined);
    assert.ok(map.sources.some((source) => source.endsWith('src/workflows/gates.ts')), 'our sources are named');
    assert.ok(map.mappings.length > 1000);
    assert.ok(code.length < 3_000_000, `the bundle is ${code.length} bytes`);
  });

  test("one byte per character: no character above U+00FF, and of zod's languages English only", () => {
    const code = readFileSync(first, 'utf8');
    assert.equal(/[^\u0000-\u00ff]/.exec(code)?.[0], undefined);
    assert.ok(code.includes('\\u2014'), 'the em dashes of our comments are there, escaped');
    const locales = new Set(code.match(/zod\/v4\/locales\/[\w-]+\.js/g));
    assert.deepEqual([...locales], ['zod/v4/locales/en.js']);
    assert.ok(Object.keys(manifestOf(dir).files).includes(join(root, 'src/workflows/zod-locales.ts')));
  });

  test('our TypeScript is compiled for ES2022: object spread and class fields as they are, no helper copied into each module', () => {
    const code = readFileSync(first, 'utf8');
    assert.doesNotMatch(code, /function _object_spread\b|function _define_property\b/);
    assert.match(code, /\.\.\.commonInput\(\)/, "the inputs' spread is native");
  });

  test('a manifest of an older format is not trusted: the bundle is built again', async () => {
    const manifest = manifestOf(dir);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, format: 1 }));
    assert.equal(await workflowBundlePath({ cacheDir: dir, logger }), first);
    assert.equal(manifestOf(dir).format, MANIFEST_FORMAT, 'written anew by the build');
  });

  test('an unchanged source tree reuses the bundle without building', async () => {
    // Using a cached bundle touches its mtime (see build-cache.ts): a rebuild would write a new file.
    const before = statSync(first).ino;
    const again = await workflowBundlePath({ cacheDir: dir, logger });
    assert.equal(again, first);
    assert.equal(statSync(again).ino, before);
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
