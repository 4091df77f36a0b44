/**
 * mapStackTracesOf (src/worker/stack-traces.ts): the worker's own build is mapped through its source
 * map, and nothing else is touched. A small module is built here the way worker-build.ts builds the
 * worker (esbuild, line-level map beside it, named by its last line) and loaded into this process;
 * Error.prepareStackTrace is put back after each test. The worker process itself is tested end to end
 * in worker-stack-traces.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildWorker } from '../src/build/worker-build.ts';
import { mapStackTracesOf } from '../src/worker/stack-traces.ts';

const root = join(import.meta.dirname, '..');
const original = Error.prepareStackTrace;

describe('mapStackTracesOf', () => {
  let dir: string;
  let source: string;
  let built: string;
  let throwLine: number;

  before(async () => {
    // In the checkout (.cache), where the worker's own build lives.
    mkdirSync(join(root, '.cache'), { recursive: true });
    dir = mkdtempSync(join(root, '.cache', 'stack-traces-test-'));
    source = join(dir, 'refuse.ts');
    const lines = ['// a module of ours', 'export function refuse(what: string): never {', '  const reason = `${what} refused`;', '  throw new Error(reason);', '}', 'export const deep = (n: number): never => (n > 0 ? deep(n - 1) : refuse("setting"));', ''];
    throwLine = lines.findIndex((line) => line.includes('throw new Error')) + 1;
    writeFileSync(source, lines.join('\n'));
    built = join(dir, 'built.mjs');
    const { code, sourceMap } = await buildWorker({ entry: source, outfile: built, sourceMap: 'lines' });
    writeFileSync(`${built}.map`, sourceMap!);
    writeFileSync(built, `${code}//# sourceMappingURL=${basename(built)}.map\n`);
  });
  afterEach(() => {
    Error.prepareStackTrace = original;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const stackOf = async (file: string) => {
    const { deep } = (await import(pathToFileURL(file).href)) as { deep: (n: number) => never };
    try {
      deep(3);
    } catch (err) {
      return (err as Error).stack!;
    }
    throw new Error('deep did not throw');
  };

  test("the built file's frames name the source file and line, with node's own names; other frames stay as they were", async () => {
    assert.equal(mapStackTracesOf(built), true);
    const stack = await stackOf(built);
    const lines = stack.split('\n');
    assert.equal(lines[0], 'Error: setting refused');
    assert.equal(lines[1], `    at refuse (${source}:${throwLine}:3)`);
    assert.match(lines[2]!, new RegExp(`^ {4}at deep \\(${source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6:\\d+\\)$`));
    assert.ok(!stack.includes('built.mjs'), stack);
    // This test file's own frame: not the built file, left as node writes it.
    assert.match(stack, /\n {4}at stackOf \(.*stack-traces\.test\.ts:\d+:\d+\)/);
  });

  test('a file that names no map changes nothing and says so', async () => {
    const bare = join(dir, 'bare.mjs');
    writeFileSync(bare, readFileSync(built, 'utf8').replace(/\/\/# sourceMappingURL=.*\n$/, ''));
    assert.equal(mapStackTracesOf(bare), false);
    assert.equal(Error.prepareStackTrace, original);
    assert.match(await stackOf(bare), /\n {4}at refuse \(.*bare\.mjs:\d+:\d+\)/);
  });

  test('a map that is missing or not JSON changes nothing', () => {
    const orphan = join(dir, 'orphan.mjs');
    writeFileSync(orphan, 'export {};\n//# sourceMappingURL=nowhere.mjs.map\n');
    assert.equal(mapStackTracesOf(orphan), false);
    const broken = join(dir, 'broken.mjs');
    writeFileSync(`${broken}.map`, '{ not json');
    writeFileSync(broken, 'export {};\n//# sourceMappingURL=broken.mjs.map\n');
    assert.equal(mapStackTracesOf(broken), false);
    assert.equal(mapStackTracesOf(join(dir, 'absent.mjs')), false);
    assert.equal(Error.prepareStackTrace, original);
  });
});
