/**
 * The worker's source map cut down to line level (src/build/line-level-map.ts): a mapping where the
 * original line changes, none for the other tokens of that line.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineLevelMappings, lineLevelSourceMap } from '../src/build/line-level-map.ts';

test('keeps the first segment of each original line on a generated line, with its deltas written anew', () => {
  // Generated line 1: columns 0 and 2 from original line 1, column 6 from original line 2.
  // Generated line 2: column 5 mapped to no source, columns 9 and 11 from original line 3.
  const mappings = 'AAAA,EAAE,IACA;K,IACA,EAAC';
  assert.equal(lineLevelMappings(mappings), 'AAAA,MACE;SACA');
});

test('a map already at line level is left as it is; names are dropped', () => {
  const once = lineLevelMappings('AAAA,EAAE,IACA;K,IACA,EAAC;;AAAAA');
  assert.equal(lineLevelMappings(once), once);
  assert.deepEqual(JSON.parse(lineLevelSourceMap(JSON.stringify({ version: 3, sources: ['a.ts'], names: ['restoreToSide'], mappings: 'AAAAA,EAAE' }))), {
    version: 3,
    sources: ['a.ts'],
    names: [],
    mappings: 'AAAA',
  });
});
