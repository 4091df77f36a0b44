/**
 * The worker's own JavaScript (src/build/worker-build.ts): built by esbuild from src/worker/main.ts,
 * kept while every file it was built from is unchanged, built again when one changes, and run by
 * plain node (no tsx) as every worker is started (src/build/worker-command.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { sha256, type BuildManifest } from '../src/build/build-cache.ts';
import { WORKER_MALLOC_ENV, WORKER_NODE_FLAGS, workerCommand } from '../src/build/worker-command.ts';
import { lineLevelMappings } from '../src/build/line-level-map.ts';
import { WORKER_ENTRY, workerEntryPath } from '../src/build/worker-build.ts';

const root = join(import.meta.dirname, '..');
const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BuildManifest;
const execFileAsync = promisify(execFile);

describe('worker build', () => {
  let dir: string;
  let entry: string;

  before(async () => {
    // In the checkout: the build imports its npm packages from node_modules above it.
    dir = join(root, '.cache', `worker-build-test-${process.pid}`);
    entry = await workerEntryPath(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('one ES module from src/worker/main.ts; npm packages stay imports; each module keeps its own import.meta.url', () => {
    const code = readFileSync(entry, 'utf8');
    const files = Object.keys(manifestOf(dir).files);
    assert.ok(files.includes(WORKER_ENTRY));
    assert.ok(files.includes(join(root, 'src/activities/database.ts')), 'the activities are in it');
    assert.ok(!files.some((file) => file.includes('/node_modules/') && !file.endsWith('esbuild/package.json')), 'no npm package is bundled');
    assert.match(code, /from "@temporalio\/worker"/);
    assert.ok(!code.includes('import.meta.url'), 'every import.meta.url was given its own file');
    assert.ok(code.includes(JSON.stringify(`file://${join(root, 'src/build/workflow-bundle.ts')}`)), "workflow-bundle.ts finds its neighbours from its own path");
  });

  test("its source map is beside it, named by its last line, line-level, the sources' paths relative to it and their text left out", () => {
    const code = readFileSync(entry, 'utf8');
    assert.ok(code.endsWith(`\n//# sourceMappingURL=${basename(entry)}.map\n`));
    const map = JSON.parse(readFileSync(`${entry}.map`, 'utf8')) as { version: number; sources: string[]; sourcesContent?: unknown; names: string[]; mappings: string };
    assert.equal(map.version, 3);
    assert.ok(map.sources.includes(relative(dir, join(root, 'src/activities/database.ts'))), map.sources.slice(0, 3).join(', '));
    assert.equal(map.sourcesContent, undefined);
    assert.deepEqual(map.names, []);
    assert.equal(lineLevelMappings(map.mappings), map.mappings, 'one mapping per original line');
  });

  test('an unchanged source tree reuses the build; a changed file builds it again', async () => {
    // Using a cached build touches its mtime (see build-cache.ts): a rewrite would be a new file.
    const before = statSync(entry).ino;
    assert.equal(await workerEntryPath(dir), entry);
    assert.equal(statSync(entry).ino, before, 'not rewritten');

    const watched = join(dir, 'watched.txt');
    writeFileSync(watched, 'one');
    const manifest = manifestOf(dir);
    manifest.files[watched] = sha256('one');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    assert.equal(await workerEntryPath(dir), entry);
    assert.ok(watched in manifestOf(dir).files, 'unchanged: the manifest was not rewritten');
    writeFileSync(watched, 'two');
    assert.equal(await workerEntryPath(dir), entry, 'the same sources give the same file name');
    assert.ok(!(watched in manifestOf(dir).files), 'the manifest was written anew by the build');
  });

  test('plain node runs it: a bad environment is refused with the variable named, before anything connects', async () => {
    const command = await workerCommand();
    assert.deepEqual(command.args.slice(0, -1), [...WORKER_NODE_FLAGS]);
    assert.deepEqual(command.env, WORKER_MALLOC_ENV);
    const run = execFileAsync(process.execPath, [...WORKER_NODE_FLAGS, entry], { env: { ...process.env, ...command.env, LOG_LEVEL: 'loud' } });
    const failed = await run.then(
      () => assert.fail('the worker started with LOG_LEVEL=loud'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(failed.code, 1);
    assert.equal(failed.stderr, 'invalid worker environment:\n  LOG_LEVEL: must be one of: "trace", "debug", "info", "warn", "error", "fatal"; received "loud"\n');
  });
});
