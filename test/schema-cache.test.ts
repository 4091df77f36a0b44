/**
 * The schemas workflows parse with are made once per worker (src/contract/schema-cache.ts), and the
 * cache is one of the workflow bundle's shared modules, so every workflow of a worker reads the same map.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { approvalPayload, fullRollbackInput } from '../src/contract/index.ts';
import { oncePerWorker } from '../src/contract/schema-cache.ts';

const root = join(import.meta.dirname, '..');

test('oncePerWorker makes its value the first time it is asked for, once, and gives the same one after', () => {
  let made = 0;
  const get = oncePerWorker('test.once', () => ({ made: ++made }));
  assert.equal(made, 0, 'nothing is made before it is needed');
  const first = get();
  assert.equal(get(), first);
  assert.equal(made, 1);
  assert.equal(oncePerWorker('test.once', () => ({ made: ++made }))(), first, 'the same name is the same value');
});

test('the contract parses as before through the cache: twice alike, errors naming the problem', () => {
  const input = { system: 'sandbox', reason: 'bad deploy', requestedBy: 'alice', mode: 'immediate' };
  assert.deepEqual(fullRollbackInput.parse(input), { ...input, dryRun: false, baselineSeconds: 5 });
  assert.deepEqual(fullRollbackInput.parse(input), { ...input, dryRun: false, baselineSeconds: 5 });
  assert.equal(approvalPayload.safeParse({ by: ' ' }).error?.issues[0]?.message, 'must name a person');
});

test('the cache is preloaded into the workflow bundle with zod, so workflows share it instead of each making its own', () => {
  const shared = readFileSync(join(root, 'src/workflows/shared-modules.ts'), 'utf8');
  assert.match(shared, /^import \{ oncePerWorker \} from '\.\.\/contract\/schema-cache\.ts';$/m);
  for (const file of ['inputs.ts', 'payloads.ts', 'signing.ts']) {
    const source = readFileSync(join(root, 'src/contract', file), 'utf8');
    assert.equal(source.match(/z\.lazy\((?!oncePerWorker\()/g), null, `every z.lazy in src/contract/${file} goes through oncePerWorker`);
  }
});
