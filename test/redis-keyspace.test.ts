/**
 * Keyspace backups against the real local Redis: every test works under its own key prefix and its
 * own backup directory, and asserts what is in Redis and on disk afterwards.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, RESP_TYPES } from 'redis';
import {
  backupKeyspace,
  countKeys,
  listKeyspaceBackups,
  readKeyspaceManifest,
  restoreKeyspace,
  undoKeyspaceRestore,
  verifyKeyspaceBackup,
  verifyKeyspaceRestore,
  type KeyspaceEntry,
} from '../src/providers/keyspace/redis-keyspace.ts';

const client = createClient({ url: 'redis://127.0.0.1:6379' });
const bin = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
const root = mkdtempSync(join(tmpdir(), 'redis-keyspace-'));
const testPrefix = `rk-test-${process.pid}`;
let n = 0;

/** A fresh key prefix and backup directory for one test. */
function space() {
  n += 1;
  const prefix = `${testPrefix}-${n}`;
  return {
    dir: join(root, `t${n}`),
    pattern: `${prefix}:session:*:agentic_state`,
    key: (session: string) => `${prefix}:session:${session}:agentic_state`,
    other: (name: string) => `${prefix}:${name}`,
  };
}

function lines(dir: string, id: string): KeyspaceEntry[] {
  return readFileSync(join(dir, id, 'keys.jsonl'), 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as KeyspaceEntry);
}

const keysIn = (entries: KeyspaceEntry[]) => entries.map((e) => Buffer.from(e.key, 'base64').toString()).sort();
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A key's value in a comparable form, whatever its type; null if it does not exist. */
async function valueOf(key: string | Buffer): Promise<unknown> {
  const type = await client.type(key);
  if (type === 'none') return null;
  if (type === 'string') return ['string', (await bin.get(key))!.toString('hex')];
  if (type === 'hash') return ['hash', Object.entries(await client.hGetAll(key)).sort()];
  if (type === 'list') return ['list', await client.lRange(key, 0, -1)];
  if (type === 'set') return ['set', (await client.sMembers(key)).sort()];
  if (type === 'zset') return ['zset', await client.zRangeWithScores(key, 0, -1)];
  throw new Error(`no comparison for type ${type}`);
}

/** Value and absolute expiry (ms, -1 none, -2 no key) of each key: equal snapshots mean nothing changed. */
async function snapshot(keys: string[]) {
  return Promise.all(keys.map(async (key) => ({ key, value: await valueOf(key), expiresAt: await client.pExpireTime(key) })));
}

/** 2000 fields, every seventh value long enough to be compressed in a DUMP payload. */
const bigHash = () => Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`field${i}`, `value${i}`.repeat(i % 7 === 0 ? 30 : 1)]));

/** Equal values, and absolute expiries equal to within `slackMs`. */
function assertSameState(actual: Awaited<ReturnType<typeof snapshot>>, expected: Awaited<ReturnType<typeof snapshot>>, slackMs = 5) {
  assert.deepEqual(actual.map(({ key, value }) => ({ key, value })), expected.map(({ key, value }) => ({ key, value })));
  for (const [i, { key, expiresAt }] of actual.entries()) {
    const want = expected[i]!.expiresAt;
    assert.ok(want < 0 ? expiresAt === want : Math.abs(expiresAt - want) <= slackMs, `${key} expires at ${expiresAt}, expected ${want}`);
  }
}

function assertTtl(actual: number, expected: number, slackMs = 3000) {
  assert.ok(actual <= expected && actual > expected - slackMs, `TTL ${actual} ms, expected ${expected} ms (within ${slackMs} ms below)`);
}

before(async () => {
  await client.connect();
});

after(async () => {
  const leftovers: Buffer[] = []; // Buffers: some test keys are not UTF-8
  for await (const keys of bin.scanIterator({ MATCH: `${testPrefix}-*`, COUNT: 1000 })) leftovers.push(...keys);
  if (leftovers.length > 0) await client.del(leftovers);
  await client.close();
  rmSync(root, { recursive: true, force: true });
});

describe('redis keyspace backups', () => {
  test('a backup holds exactly the keys matching the pattern, and a second call with the same id returns the same manifest without rewriting', async () => {
    const s = space();
    const sessions = Array.from({ length: 1200 }, (_, i) => `s${i}`);
    await client.mSet(sessions.map((id) => [s.key(id), `{"entities":["${id}"]}`] as [string, string]));
    await client.set(s.other('session:s1:other_state'), 'not mine');
    await client.set(s.other('user:s1:agentic_state'), 'not mine either');
    const progress: number[] = [];

    const manifest = await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b1', system: 'continuations', onProgress: (done) => progress.push(done) });

    const file = join(s.dir, 'b1', 'keys.jsonl');
    const info = await client.info('server');
    assert.deepEqual(manifest, {
      id: 'b1',
      kind: 'backup',
      system: 'continuations',
      pattern: s.pattern,
      savedBefore: null,
      takenAt: manifest.takenAt,
      keyCount: 1200,
      absentCount: 0,
      bytes: statSync(file).size,
      sha256: sha256(file),
      redisVersion: /redis_version:(\S+)/.exec(info)![1],
    });
    assert.ok(Math.abs(Date.parse(manifest.takenAt) - Date.now()) < 5000, manifest.takenAt);
    assert.deepEqual(keysIn(lines(s.dir, 'b1')), sessions.map(s.key).sort());
    assert.ok(lines(s.dir, 'b1').every((e) => e.pttl === null && e.dump !== null));
    assert.deepEqual(await readKeyspaceManifest(s.dir, 'b1'), manifest);
    assert.deepEqual(await verifyKeyspaceBackup(s.dir, 'b1'), []);
    assert.equal(progress.at(-1), 1200);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
    assert.equal(await client.get(s.other('session:s1:other_state')), 'not mine');
    assert.equal(await client.get(s.other('user:s1:agentic_state')), 'not mine either');

    const before = { mtimeMs: statSync(file).mtimeMs, ino: statSync(file).ino, sha256: sha256(file) };
    await client.set(s.key('late'), 'added after the backup');
    const again = await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b1' });
    assert.deepEqual(again, manifest);
    assert.deepEqual({ mtimeMs: statSync(file).mtimeMs, ino: statSync(file).ino, sha256: sha256(file) }, before);
    assert.equal(await countKeys(client, s.pattern), 1201);
    assert.deepEqual((await listKeyspaceBackups(s.dir)).map((m) => m.id), ['b1']);
  });

  test('binary values, binary key names, hashes, lists, sets, sorted sets and keys with and without TTL round-trip exactly', async () => {
    const s = space();
    const [head, tail] = s.key('|').split('|') as [string, string];
    const binaryKey = Buffer.concat([Buffer.from(head), Buffer.from([0xff, 0x00, 0xfe]), Buffer.from(tail)]);
    const keys = ['str', 'hash', 'bighash', 'list', 'bigset', 'zset', 'ttl'].map(s.key);
    const [str, hash, bighash, list, bigset, zset, ttl] = keys as [string, string, string, string, string, string, string];
    await bin.set(str, Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    await bin.set(binaryKey, Buffer.from([0, 1, 2, 0xff]));
    await client.hSet(hash, { a: '1', b: 'two' });
    // Big enough to be hashtables, whose DUMP lists elements in table order (another order once
    // RESTOREd); the long values are stored LZF-compressed in the payload.
    await client.hSet(bighash, bigHash());
    await client.rPush(list, ['x', 'y', 'x']);
    await client.sAdd(bigset, Array.from({ length: 2000 }, (_, i) => (i % 2 === 0 ? `member${i}` : String(i * 1000))));
    await client.zAdd(zset, [{ score: 1.5, value: 'a' }, { score: -2, value: 'b' }]);
    await client.set(ttl, 'expiring', { PX: 60_000 });
    const original = await snapshot(keys);
    const originalBinary = await valueOf(binaryKey);

    const manifest = await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    assert.equal(manifest.keyCount, 8);
    await client.del([...keys, binaryKey]);
    const result = await restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' });

    assert.deepEqual(result, { restored: 8, existedBefore: 0, savedAs: 'b-save' });
    const restored = await snapshot(keys);
    assert.deepEqual(restored.map((k) => k.value), original.map((k) => k.value));
    assert.deepEqual(await valueOf(binaryKey), originalBinary);
    assert.deepEqual(restored.filter((k) => k.key !== ttl).map((k) => k.expiresAt), [-1, -1, -1, -1, -1, -1]);
    assertTtl(await client.pTTL(ttl), 60_000);
    assert.deepEqual(await verifyKeyspaceRestore(client, { dir: s.dir, id: 'b' }), []);
  });

  test('restore after keys were changed, deleted and added brings back the backed-up values with their TTLs, and the save holds what was there', async () => {
    const s = space();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(s.key) as [string, string, string, string];
    await client.set(a, 'a-backed-up', { PX: 100_000 });
    await client.set(b, 'b-backed-up');
    await client.set(c, 'c-backed-up');
    await client.set(s.other('unrelated'), 'unrelated', { PX: 200_000 });
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    await client.set(a, 'a-changed'); // and its TTL dropped
    await client.del(b);
    await client.set(c, 'c-changed', { PX: 50_000 });
    await client.set(d, 'd-new');
    const untouched = await snapshot([d, s.other('unrelated')]);
    const phases: string[] = [];

    const result = await restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save', onProgress: (done, phase) => phases.push(`${phase}:${done}`) });

    assert.deepEqual(result, { restored: 3, existedBefore: 2, savedAs: 'b-save' });
    assert.deepEqual(phases, ['save:3', 'restore:3']);
    assert.deepEqual([await client.get(a), await client.get(b), await client.get(c)], ['a-backed-up', 'b-backed-up', 'c-backed-up']);
    assertTtl(await client.pTTL(a), 100_000);
    assert.deepEqual([await client.pTTL(b), await client.pTTL(c)], [-1, -1]);
    assert.deepEqual(await snapshot([d, s.other('unrelated')]), untouched);

    const save = (await readKeyspaceManifest(s.dir, 'b-save'))!;
    assert.deepEqual(
      { kind: save.kind, savedBefore: save.savedBefore, pattern: save.pattern, keyCount: save.keyCount, absentCount: save.absentCount },
      { kind: 'save', savedBefore: 'b', pattern: s.pattern, keyCount: 3, absentCount: 1 },
    );
    const saved = new Map(lines(s.dir, 'b-save').map((e) => [Buffer.from(e.key, 'base64').toString(), e]));
    assert.deepEqual([...saved.keys()].sort(), [a, b, c]);
    assert.deepEqual({ pttl: saved.get(b)!.pttl, dump: saved.get(b)!.dump }, { pttl: null, dump: null });
    assert.equal(saved.get(a)!.pttl, null);
    assertTtl(saved.get(c)!.pttl!, 50_000);
    await client.restore(s.other('probe'), 0, Buffer.from(saved.get(a)!.dump!, 'base64'));
    assert.equal(await client.get(s.other('probe')), 'a-changed');
  });

  test('a key whose TTL ran out after the backup is restored with the time it had left at backup time', async () => {
    const s = space();
    await client.set(s.key('short'), 'short-lived', { PX: 1500 });
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    await new Promise((resolve) => setTimeout(resolve, 1700));
    assert.equal(await client.exists(s.key('short')), 0);

    await restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' });

    assert.equal(await client.get(s.key('short')), 'short-lived');
    assertTtl(await client.pTTL(s.key('short')), 1500, 1000);
  });

  test('undo puts back exactly the pre-restore state: changed keys back, keys the restore created deleted, other keys untouched', async () => {
    const s = space();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(s.key) as [string, string, string, string];
    await client.set(a, 'a-backed-up', { PX: 100_000 });
    await client.set(b, 'b-backed-up');
    await client.set(c, 'c-backed-up');
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    await client.set(a, 'a-changed');
    await client.del(b);
    await client.set(c, 'c-changed', { PX: 50_000 });
    await client.set(d, 'd-new', { PX: 70_000 });
    const beforeRestore = await snapshot([a, b, c, d]);
    await restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' });
    await client.set(d, 'd-changed-after-restore');
    const dAfterRestore = await snapshot([d]);

    assert.deepEqual(await undoKeyspaceRestore(client, { dir: s.dir, saveId: 'b-save' }), { putBack: 2, removed: 1 });

    // Same values, and the absolute expiry c had before the restore (read by TIME then PTTL: within ms).
    assertSameState(await snapshot([a, b, c]), beforeRestore.slice(0, 3));
    assert.deepEqual(await snapshot([d]), dAfterRestore);
    assert.deepEqual(await verifyKeyspaceRestore(client, { dir: s.dir, id: 'b-save' }), []);
    const undone = await snapshot([a, b, c, d]);
    assert.deepEqual(await undoKeyspaceRestore(client, { dir: s.dir, saveId: 'b-save' }), { putBack: 2, removed: 1 });
    assert.deepEqual(await snapshot([a, b, c, d]), undone);
  });

  test('restoring twice with the same saveId does not save again and changes nothing more', async () => {
    const s = space();
    const keys = ['a', 'b'].map(s.key);
    await client.set(keys[0]!, 'a-backed-up', { PX: 100_000 });
    await client.set(keys[1]!, 'b-backed-up');
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    await client.set(keys[0]!, 'a-changed');
    await client.set(keys[1]!, 'b-changed');
    const beforeRestore = await snapshot(keys);
    const first = await restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' });
    const saveFile = join(s.dir, 'b-save', 'keys.jsonl');
    const saveState = { manifest: await readKeyspaceManifest(s.dir, 'b-save'), ino: statSync(saveFile).ino, mtimeMs: statSync(saveFile).mtimeMs };
    const restored = await snapshot(keys);
    await new Promise((resolve) => setTimeout(resolve, 50));

    const second = await restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' });

    assert.deepEqual(second, first);
    assert.deepEqual({ manifest: await readKeyspaceManifest(s.dir, 'b-save'), ino: statSync(saveFile).ino, mtimeMs: statSync(saveFile).mtimeMs }, saveState);
    assert.deepEqual(await snapshot(keys), restored);
    await undoKeyspaceRestore(client, { dir: s.dir, saveId: 'b-save' });
    assertSameState(await snapshot(keys), beforeRestore);
  });

  test('a keys.jsonl with one byte changed, a line removed, or missing is refused with its problems, and nothing in Redis changes', async () => {
    const s = space();
    const keys = ['a', 'b', 'c'].map(s.key);
    for (const key of keys) await client.set(key, `${key}-backed-up`);
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    await client.set(keys[0]!, 'changed');
    await client.del(keys[1]!);
    const state = await snapshot(keys);
    const file = join(s.dir, 'b', 'keys.jsonl');
    const good = readFileSync(file);

    const flipped = Buffer.from(good);
    const at = flipped.indexOf('"dump":"') + 12;
    flipped[at] = flipped[at] === 0x41 ? 0x42 : 0x41;
    writeFileSync(file, flipped);
    assert.deepEqual(await verifyKeyspaceBackup(s.dir, 'b'), ['keys.jsonl: sha256 differs from the manifest']);
    await assert.rejects(restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' }), {
      message: 'keyspace backup b cannot be restored, nothing was changed: keys.jsonl: sha256 differs from the manifest',
    });

    writeFileSync(file, good.toString().split('\n').slice(1).join('\n'));
    await assert.rejects(restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' }), {
      message: 'keyspace backup b cannot be restored, nothing was changed: keys.jsonl: sha256 differs from the manifest; keys.jsonl: 2 lines, the manifest says 3 keys',
    });

    rmSync(file);
    await assert.rejects(restoreKeyspace(client, { dir: s.dir, id: 'b', saveId: 'b-save' }), {
      message: 'keyspace backup b cannot be restored, nothing was changed: keys.jsonl: missing',
    });
    assert.deepEqual(await verifyKeyspaceRestore(client, { dir: s.dir, id: 'b' }), ['keys.jsonl: missing']);

    assert.deepEqual(await snapshot(keys), state);
    assert.equal(existsSync(join(s.dir, 'b-save')), false);
  });

  test('a partial backup without a manifest is redone, and is never listed', async () => {
    const s = space();
    await client.set(s.key('a'), 'a');
    await client.set(s.key('b'), 'b');
    mkdirSync(join(s.dir, 'b'), { recursive: true });
    writeFileSync(join(s.dir, 'b', 'keys.jsonl'), '{"key":"half a line');
    mkdirSync(join(s.dir, 'b.partial-left-by-a-crash'));
    assert.deepEqual(await verifyKeyspaceBackup(s.dir, 'b'), ['manifest.json: missing, so b is not a complete backup']);
    assert.deepEqual(await listKeyspaceBackups(s.dir), []);
    assert.equal(await readKeyspaceManifest(s.dir, 'b'), null);

    const manifest = await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });

    assert.equal(manifest.keyCount, 2);
    assert.deepEqual(keysIn(lines(s.dir, 'b')), [s.key('a'), s.key('b')]);
    assert.deepEqual(await verifyKeyspaceBackup(s.dir, 'b'), []);
    assert.equal(existsSync(join(s.dir, 'b.partial-left-by-a-crash')), false);
    const later = await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'c' });
    assert.deepEqual((await listKeyspaceBackups(s.dir)).map((m) => m.id), ['b', 'c']);
    assert.ok(later.takenAt >= manifest.takenAt);
  });

  test('verifyKeyspaceRestore names each key that is missing, holds another value or gained or lost its expiry', async () => {
    const s = space();
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(s.key) as [string, string, string, string, string];
    await client.set(a, 'a');
    await client.set(b, 'b');
    await client.set(c, 'c', { PX: 100_000 });
    await client.set(d, 'd');
    await client.hSet(e, bigHash());
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    await client.del(a);
    await client.set(b, 'b2');
    await client.persist(c);
    await client.pExpire(d, 100_000);
    await client.hSet(e, 'field7', 'changed');

    const problems = await verifyKeyspaceRestore(client, { dir: s.dir, id: 'b' });

    assert.equal(problems.length, 5);
    assert.deepEqual(new Set(problems), new Set([
      `key "${a}" is missing`,
      `key "${b}" holds a different value than the backup`,
      `key "${c}" has no expiry; it had one in the backup`,
      problems.find((p) => p.startsWith(`key "${d}" expires in `)),
      `key "${e}" holds a different value than the backup`,
    ]));
    assert.match(problems.find((p) => p.startsWith(`key "${d}"`))!, /^key ".*" expires in \d+ ms; it had no expiry in the backup$/);
  });

  test('countKeys counts the keys that match now, each once', async () => {
    const s = space();
    for (const id of ['1', '2', '3']) await client.set(s.key(id), id);
    await client.set(s.other('session:1:other'), 'x');
    const manifest = await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'b' });
    await client.del(s.key('3'));

    assert.deepEqual({ now: await countKeys(client, s.pattern), inBackup: manifest.keyCount }, { now: 2, inBackup: 3 });
  });

  test('mismatched ids, saves, backups and clients are refused before anything changes', async () => {
    const s = space();
    await client.set(s.key('a'), 'a');
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'one' });
    await backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: 'two' });
    await restoreKeyspace(client, { dir: s.dir, id: 'one', saveId: 'one-save' });
    await client.set(s.key('a'), 'changed');

    await assert.rejects(restoreKeyspace(client, { dir: s.dir, id: 'two', saveId: 'one-save' }), {
      message: `one-save in ${s.dir} is not the save taken before restoring two; choose another saveId`,
    });
    await assert.rejects(restoreKeyspace(client, { dir: s.dir, id: 'two', saveId: 'two' }), {
      message: `two in ${s.dir} is not the save taken before restoring two; choose another saveId`,
    });
    await assert.rejects(restoreKeyspace(client, { dir: s.dir, id: 'one-save', saveId: 'x' }), {
      message: 'one-save is the save taken before restoring one; put it back with undoKeyspaceRestore',
    });
    await assert.rejects(undoKeyspaceRestore(client, { dir: s.dir, saveId: 'one' }), {
      message: "one is a backup, not the save a restore took; undo needs the restore's saveId",
    });
    await assert.rejects(backupKeyspace(client, { pattern: `${s.pattern}x`, dir: s.dir, id: 'one' }), {
      message: `one in ${s.dir} is already a backup of ${s.pattern}, not a backup of ${s.pattern}x; choose another id`,
    });
    await assert.rejects(backupKeyspace(client, { pattern: s.pattern, dir: s.dir, id: '../escape' }), {
      message: `backup id "../escape" must be letters, digits, '.', '_' and '-', start with a letter or digit, and not contain ".partial"`,
    });
    await assert.rejects(countKeys(createClient({ keyPrefix: 'app:' }), s.pattern), {
      message: 'the Redis client has a keyPrefix; use one without, since patterns and keys here are whole Redis key names',
    });
    assert.equal(await client.get(s.key('a')), 'changed');
  });
});
