/**
 * Backup and restore of the Redis keys matching a pattern (the seeds' `session:*:agentic_state`): the
 * safe form of `redis-cli --scan | xargs redis-cli MGET > backup.json` and `redis-cli --pipe`. Keys
 * are found with SCAN (never KEYS) and kept as DUMP payloads, so every type and binary value comes
 * back exactly, with its TTL. A restore first saves what it is about to overwrite, so it can be undone.
 *
 * TTLs: every entry records the time its key had left at its manifest's `takenAt` (server clock).
 * A restore gives each key back that time, counted from the start of the restore (its save's
 * `takenAt`), so a session that had 5 minutes left when backed up gets 5 minutes again, even if it
 * expired in the meantime. An undo gives each key back the expiry it had before the restore (to
 * within the few ms between the TIME and PTTL reads; PEXPIRETIME would need Redis 7).
 * Both set absolute expiries (RESTORE ... ABSTTL) from that one fixed instant, so a retry sets the
 * same expiry, and a key whose expiry has passed by the time it is written is left absent, as it
 * would have been had the restore run without a pause.
 *
 * Keys matching the pattern that a backup does not hold are never touched. Redis Cluster is not
 * supported: SCAN covers one node. Writers should be stopped while restoring, or they may overwrite.
 */
import { RESP_TYPES, type RedisClientType, type RespVersions } from 'redis';
import { sameValue } from './dump-payload.ts';
import { readEntries, readKeyspaceManifest, verifyKeyspaceBackup, writeKeyspaceBackup, type KeyspaceEntry, type KeyspaceManifest } from './keyspace-files.ts';

export { listKeyspaceBackups, readKeyspaceManifest, verifyKeyspaceBackup, type KeyspaceEntry, type KeyspaceManifest } from './keyspace-files.ts';

type None = Record<never, never>;
/** A connected node-redis client (RESP 2 or 3) without a keyPrefix; the caller owns and closes it. */
export type KeyspaceClientLike = Pick<RedisClientType<None, None, None, RespVersions>, 'withTypeMapping' | 'options'>;

export interface BackupKeyspace {
  /** A SCAN MATCH glob, e.g. `session:*:agentic_state`. */
  pattern: string;
  /** The directory holding backups, each in `<dir>/<id>`. */
  dir: string;
  id: string;
  system?: string;
  /** Called with the number of keys written so far, after each batch. */
  onProgress?: (done: number) => void;
}

export interface RestoreKeyspace {
  dir: string;
  /** The backup to restore. */
  id: string;
  /** Where to save what the restore overwrites (`<dir>/<saveId>`); fixed by the caller so a retry finds it. */
  saveId: string;
  /** Called after each batch: first while saving, then while restoring. */
  onProgress?: (done: number, phase: 'save' | 'restore') => void;
}

export interface RestoreResult {
  /** Keys of the backup now holding their backed-up value. */
  restored: number;
  /** Of those, keys that existed before the restore (the rest did not, and undo deletes them). */
  existedBefore: number;
  savedAs: string;
}

const BATCH = 500;
const MAX_PROBLEMS = 100;

function binary(client: KeyspaceClientLike) {
  // SCAN returns whole key names, which a keyPrefix client would prefix a second time.
  if (client.options?.keyPrefix !== undefined) throw new Error('the Redis client has a keyPrefix; use one without, since patterns and keys here are whole Redis key names');
  // Buffers, not strings: DUMP payloads are binary and keys need not be UTF-8.
  return client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}
type Binary = ReturnType<typeof binary>;

async function serverMs(c: Binary): Promise<number> {
  const [seconds, micros] = await c.time();
  return Number(String(seconds)) * 1000 + Math.floor(Number(String(micros)) / 1000);
}

async function redisVersion(c: Binary): Promise<string> {
  return /redis_version:(\S+)/.exec(String(await c.info('server')))?.[1] ?? 'unknown';
}

interface KeyRead {
  key: Buffer;
  /** null: the key does not exist. */
  dump: Buffer | null;
  /** PTTL as Redis gives it: -1 no expiry, -2 no key. */
  pttl: number;
  /** Server time of the batch read, ms. */
  at: number;
}

/** DUMP and PTTL of each key, pipelined side by side after a TIME, so each PTTL can be dated. */
async function readKeys(c: Binary, keys: Buffer[]): Promise<KeyRead[]> {
  const [at, reads] = await Promise.all([serverMs(c), Promise.all(keys.map((key) => Promise.all([c.dump(key) as Promise<Buffer | null>, c.pTTL(key)])))]);
  return reads.map(([dump, pttl], i) => ({ key: keys[i]!, dump: pttl === -2 ? null : dump, pttl, at }));
}

/** The entry for a key as read, its pttl counted from `anchor` (a manifest's takenAt). */
function toEntry(read: KeyRead, anchor: number): KeyspaceEntry {
  const key = read.key.toString('base64');
  if (read.dump === null) return { key, pttl: null, dump: null };
  return { key, pttl: read.pttl === -1 ? null : read.pttl + (read.at - anchor), dump: read.dump.toString('base64') };
}

async function* scanOnce(c: Binary, pattern: string): AsyncGenerator<Buffer[]> {
  const seen = new Set<string>();
  for await (const keys of c.scanIterator({ MATCH: pattern, COUNT: BATCH })) {
    const fresh: Buffer[] = [];
    for (const key of keys) {
      // SCAN may return a key more than once.
      if (!seen.has(key.toString('latin1'))) fresh.push(key);
      seen.add(key.toString('latin1'));
    }
    if (fresh.length > 0) yield fresh;
  }
}

/** Writes entries back: RESTORE ... REPLACE with an absolute expiry from `anchor`, or DEL for a key that did not exist. */
async function putBack(c: Binary, entries: KeyspaceEntry[], anchor: number): Promise<void> {
  await Promise.all(
    entries.map(async (entry) => {
      const key = Buffer.from(entry.key, 'base64');
      if (entry.dump === null) await c.del(key);
      else await c.restore(key, entry.pttl === null ? 0 : anchor + entry.pttl, Buffer.from(entry.dump, 'base64'), { REPLACE: true, ABSTTL: true });
    }),
  );
}

async function verified(dir: string, id: string, refusal: string): Promise<KeyspaceManifest> {
  const problems = await verifyKeyspaceBackup(dir, id);
  if (problems.length > 0) throw new Error(`${refusal}: ${problems.join('; ')}`);
  return (await readKeyspaceManifest(dir, id))!;
}

/**
 * Safe to retry: an existing manifest for `id` is returned as it is (nothing is read or written), and
 * a backup interrupted before its manifest was written is taken again from the start.
 * Backs up every key matching `pattern` to `<dir>/<id>`: DUMP payload and TTL per key, manifest last.
 * Keys that expire or are deleted between SCAN and DUMP are left out. Refuses an existing `id` that
 * is not a backup of the same pattern.
 */
export async function backupKeyspace(client: KeyspaceClientLike, options: BackupKeyspace): Promise<KeyspaceManifest> {
  const { pattern, dir, id } = options;
  const existing = await readKeyspaceManifest(dir, id);
  if (existing) {
    if (existing.kind === 'backup' && existing.pattern === pattern) return existing;
    throw new Error(`${id} in ${dir} is already a ${existing.kind} of ${existing.pattern}, not a backup of ${pattern}; choose another id`);
  }
  const c = binary(client);
  const anchor = await serverMs(c);
  const header = { kind: 'backup' as const, system: options.system ?? null, pattern, savedBefore: null, takenAt: new Date(anchor).toISOString(), redisVersion: await redisVersion(c) };
  async function* entries() {
    for await (const keys of scanOnce(c, pattern)) yield (await readKeys(c, keys)).filter((read) => read.dump !== null).map((read) => toEntry(read, anchor));
  }
  return writeKeyspaceBackup(dir, id, header, entries(), options.onProgress);
}

/** Saves the current DUMP and TTL of every key backup `id` holds, and which of them do not exist. */
async function takeSave(c: Binary, backup: KeyspaceManifest, options: RestoreKeyspace): Promise<KeyspaceManifest> {
  const anchor = await serverMs(c);
  const header = { kind: 'save' as const, system: backup.system, pattern: backup.pattern, savedBefore: backup.id, takenAt: new Date(anchor).toISOString(), redisVersion: await redisVersion(c) };
  async function* entries() {
    for await (const batch of readEntries(options.dir, options.id, BATCH)) {
      yield (await readKeys(c, batch.map((entry) => Buffer.from(entry.key, 'base64')))).map((read) => toEntry(read, anchor));
    }
  }
  return writeKeyspaceBackup(options.dir, options.saveId, header, entries(), (done) => options.onProgress?.(done, 'save'));
}

/**
 * Safe to retry with the same `saveId`: a save already taken is kept, not taken again (it would
 * capture the restored values as what was there), and writing the same payloads with the same
 * absolute expiry again changes nothing.
 * Restores backup `id`: verifies it (a corrupt backup is refused with its problems, and nothing is
 * changed), saves what is there now for every key it holds to `<dir>/<saveId>`, manifest last, and
 * only then RESTOREs each key with REPLACE and the TTL it had at backup time (see the top of the file).
 */
export async function restoreKeyspace(client: KeyspaceClientLike, options: RestoreKeyspace): Promise<RestoreResult> {
  const { dir, id, saveId } = options;
  const backup = await verified(dir, id, `keyspace backup ${id} cannot be restored, nothing was changed`);
  if (backup.kind !== 'backup') throw new Error(`${id} is the save taken before restoring ${backup.savedBefore}; put it back with undoKeyspaceRestore`);
  const c = binary(client);
  const earlier = await readKeyspaceManifest(dir, saveId);
  if (earlier && (earlier.kind !== 'save' || earlier.savedBefore !== id)) {
    throw new Error(`${saveId} in ${dir} is not the save taken before restoring ${id}; choose another saveId`);
  }
  const save = earlier ? await verified(dir, saveId, `the save ${saveId} taken by an earlier attempt is damaged, nothing was changed`) : await takeSave(c, backup, options);
  const anchor = Date.parse(save.takenAt);
  let done = 0;
  for await (const batch of readEntries(dir, id, BATCH)) {
    await putBack(c, batch, anchor);
    options.onProgress?.((done += batch.length), 'restore');
  }
  return { restored: backup.keyCount, existedBefore: save.keyCount - save.absentCount, savedAs: saveId };
}

/**
 * Safe to retry: it writes the same payloads with the same absolute expiries and deletes the same
 * keys; the counts it returns describe the state it leaves, so they are the same on a retry.
 * Puts back what was there before the restore that took save `saveId`: keys that existed are
 * RESTOREd with REPLACE and their own expiry, keys that did not are deleted. Other keys are untouched.
 */
export async function undoKeyspaceRestore(
  client: KeyspaceClientLike,
  options: { dir: string; saveId: string; onProgress?: (done: number) => void },
): Promise<{ putBack: number; removed: number }> {
  const save = await verified(options.dir, options.saveId, `save ${options.saveId} cannot be put back, nothing was changed`);
  if (save.kind !== 'save') throw new Error(`${options.saveId} is a backup, not the save a restore took; undo needs the restore's saveId`);
  const c = binary(client);
  let done = 0;
  for await (const batch of readEntries(options.dir, options.saveId, BATCH)) {
    await putBack(c, batch, Date.parse(save.takenAt));
    options.onProgress?.((done += batch.length));
  }
  return { putBack: save.keyCount - save.absentCount, removed: save.absentCount };
}

/** Why a key as read differs from its entry, or null if it does not. */
function difference(entry: KeyspaceEntry, read: KeyRead): string | null {
  const name = `key ${JSON.stringify(read.key.toString())}`;
  if (entry.dump === null) return read.dump === null ? null : `${name} exists; it did not before the restore`;
  if (read.dump === null) return `${name} is missing`;
  if (!sameValue(read.dump, Buffer.from(entry.dump, 'base64'))) return `${name} holds a different value than the backup`;
  if (entry.pttl === null && read.pttl !== -1) return `${name} expires in ${read.pttl} ms; it had no expiry in the backup`;
  if (entry.pttl !== null && read.pttl === -1) return `${name} has no expiry; it had one in the backup`;
  return null;
}

/**
 * Safe to retry: it only reads.
 * Checks that every key of backup `id` exists with its backed-up value (DUMP payloads compared) and
 * with an expiry if and only if it had one; for a save, that the keys absent then are absent now, so
 * it also checks an undo. Returns the problems found (the backup's own first, if it is damaged),
 * listing at most 100 keys.
 */
export async function verifyKeyspaceRestore(client: KeyspaceClientLike, options: { dir: string; id: string }): Promise<string[]> {
  const problems = await verifyKeyspaceBackup(options.dir, options.id);
  if (problems.length > 0) return problems;
  const c = binary(client);
  let more = 0;
  for await (const batch of readEntries(options.dir, options.id, BATCH)) {
    const reads = await readKeys(c, batch.map((entry) => Buffer.from(entry.key, 'base64')));
    for (const [i, entry] of batch.entries()) {
      const problem = difference(entry, reads[i]!);
      if (problem !== null && problems.length < MAX_PROBLEMS) problems.push(problem);
      else if (problem !== null) more += 1;
    }
  }
  if (more > 0) problems.push(`and ${more} more keys differ`);
  return problems;
}

/**
 * Safe to retry: it only reads.
 * How many keys match `pattern` now (SCAN, each key counted once), for status and dry runs.
 */
export async function countKeys(client: KeyspaceClientLike, pattern: string): Promise<number> {
  let count = 0;
  for await (const keys of scanOnce(binary(client), pattern)) count += keys.length;
  return count;
}
