/**
 * The build cache (src/build/build-cache.ts) that holds the worker's JavaScript and the workflow bundle:
 * saving a build prunes older ones, keeping the current build and the most recently used others, and
 * removes what a crashed writer left.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cachedBuild, KEPT_BUILDS, saveBuild, sha256, STALE_PARTIAL_MS } from '../src/build/build-cache.ts';

const FORMAT = 1;
const MINUTE = 60_000;

describe('build cache', () => {
  // In the checkout, as the real caches are (.cache/ is ignored by git).
  const root = join(import.meta.dirname, '..', '.cache', `build-cache-test-${process.pid}`);
  const input = join(root, 'source.ts');
  let dirs = 0;
  const freshDir = () => join(root, `builds-${++dirs}`);
  /** An hour ago plus `minutes`: builds saved "earlier" without waiting for it. */
  const anHourAgo = Date.now() - 60 * MINUTE;
  const lastUsed = (path: string, minutes: number) => {
    const at = new Date(anHourAgo + minutes * MINUTE);
    utimesSync(path, at, at);
  };
  const save = (dir: string, code: string, sourceMap?: string) => saveBuild(dir, { format: FORMAT, code, extension: '.mjs', inputs: [input], ...(sourceMap === undefined ? {} : { sourceMap }) });
  const nameOf = (code: string) => `${sha256(code)}.mjs`;
  const filesIn = (dir: string) => readdirSync(dir).sort();

  before(() => {
    mkdirSync(root, { recursive: true });
    writeFileSync(input, 'export {};\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test(`builds accumulate up to ${KEPT_BUILDS}: saving another removes the least recently used`, () => {
    const dir = freshDir();
    for (let n = 1; n <= KEPT_BUILDS; n++) lastUsed(save(dir, `build ${n}\n`), n);
    assert.deepEqual(filesIn(dir), [...[1, 2, 3, 4].map((n) => nameOf(`build ${n}\n`)), 'manifest.json'].sort());

    const current = save(dir, 'build 5\n');
    lastUsed(current, 5);
    save(dir, 'build 6\n');
    assert.deepEqual(filesIn(dir), [...[4, 5, 6].map((n) => nameOf(`build ${n}\n`)), nameOf('build 3\n'), 'manifest.json'].sort(), 'builds 1 and 2 pruned, 3 to 6 kept');
    assert.equal(cachedBuild(dir, FORMAT), join(dir, nameOf('build 6\n')), 'the manifest names the newest');
  });

  test('a build used from the cache counts as recently used, however old it is', () => {
    const dir = freshDir();
    const first = save(dir, 'build 1\n');
    lastUsed(first, 0);
    // A worker resolves the first build (and, say, starts a moment later) while newer ones are saved.
    assert.equal(cachedBuild(dir, FORMAT), first);
    assert.ok(Date.now() - statSync(first).mtimeMs < MINUTE, 'using it touched its mtime');
    for (let n = 2; n <= KEPT_BUILDS + 1; n++) lastUsed(save(dir, `build ${n}\n`), n);
    assert.deepEqual(filesIn(dir), [nameOf('build 1\n'), ...[3, 4, 5].map((n) => nameOf(`build ${n}\n`)), 'manifest.json'].sort(), 'build 2 pruned, build 1 kept');
  });

  test('a build with a source map: the code names its map, and the two are pruned together', () => {
    const dir = freshDir();
    const code = 'throw new Error("from the bundle");\n';
    const output = save(dir, code, '{"version":3,"sources":["../source.ts"],"mappings":"AAAA"}');
    assert.equal(output, join(dir, nameOf(code)), 'named by the code without its last line');
    assert.equal(readFileSync(output, 'utf8'), `${code}//# sourceMappingURL=${nameOf(code)}.map\n`);
    assert.equal(readFileSync(`${output}.map`, 'utf8'), '{"version":3,"sources":["../source.ts"],"mappings":"AAAA"}');
    lastUsed(output, 0);
    lastUsed(`${output}.map`, 0);
    for (let n = 2; n <= KEPT_BUILDS + 1; n++) lastUsed(save(dir, `build ${n}\n`, '{}'), n);
    assert.deepEqual(filesIn(dir), [...[2, 3, 4, 5].flatMap((n) => [nameOf(`build ${n}\n`), `${nameOf(`build ${n}\n`)}.map`]), 'manifest.json'].sort());
  });

  test('partial files a crashed writer left are removed; one being written is left alone', () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const crashed = join(dir, `${nameOf('crashed\n')}.4242.partial`);
    const crashedManifest = join(dir, 'manifest.json.4242.partial');
    const writing = join(dir, `${nameOf('writing\n')}.4343.partial`);
    for (const file of [crashed, crashedManifest, writing]) writeFileSync(file, 'half');
    const stale = new Date(Date.now() - STALE_PARTIAL_MS - MINUTE);
    utimesSync(crashed, stale, stale);
    utimesSync(crashedManifest, stale, stale);
    save(dir, 'build 1\n');
    assert.deepEqual(filesIn(dir), [nameOf('build 1\n'), `${nameOf('writing\n')}.4343.partial`, 'manifest.json'].sort());
  });
});
