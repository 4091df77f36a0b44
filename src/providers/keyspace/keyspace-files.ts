/**
 * The files of a keyspace backup: `<dir>/<id>/keys.jsonl`, one JSON line per key, and `manifest.json`
 * describing it. Both are written into a partial directory that is renamed to `<dir>/<id>` once the
 * manifest is in it, so `<dir>/<id>` either holds a manifest that describes its keys.jsonl or is not
 * a backup at all; a backup without a manifest is never offered for restore.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** One line of keys.jsonl. */
export interface KeyspaceEntry {
  /** The key's bytes, base64 (keys need not be UTF-8). */
  key: string;
  /** Milliseconds the key had left to live at the manifest's `takenAt`; null: no expiry. */
  pttl: number | null;
  /** The key's DUMP payload, base64; null only in a save, for a key that did not exist then. */
  dump: string | null;
}

export interface KeyspaceManifest {
  id: string;
  /** A backup of a pattern, or the save a restore takes of what it is about to overwrite. */
  kind: 'backup' | 'save';
  system: string | null;
  pattern: string;
  /** For a save: the id of the backup whose restore it was taken before. */
  savedBefore: string | null;
  /** The Redis server's clock when reading began; every entry's pttl counts from it. */
  takenAt: string;
  /** Lines in keys.jsonl. */
  keyCount: number;
  /** Lines for keys that did not exist (a save's null dumps); 0 in a backup. */
  absentCount: number;
  /** Size of keys.jsonl. */
  bytes: number;
  /** sha256 of keys.jsonl, hex. */
  sha256: string;
  redisVersion: string;
}

export type ManifestHeader = Omit<KeyspaceManifest, 'id' | 'keyCount' | 'absentCount' | 'bytes' | 'sha256'>;

const MANIFEST = 'manifest.json';
const KEYS = 'keys.jsonl';
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function backupDir(dir: string, id: string): string {
  // The id becomes a directory name: nothing that climbs out of `dir` or looks like a partial.
  if (!PLAIN_NAME.test(id) || id.includes('.partial')) {
    throw new Error(`backup id ${JSON.stringify(id)} must be letters, digits, '.', '_' and '-', start with a letter or digit, and not contain ".partial"`);
  }
  return join(dir, id);
}

/** The manifest of backup `id`, or null if there is no complete backup of that id. */
export async function readKeyspaceManifest(dir: string, id: string): Promise<KeyspaceManifest | null> {
  const text = await readFile(join(backupDir(dir, id), MANIFEST), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  return text === null ? null : (JSON.parse(text) as KeyspaceManifest);
}

/** Complete backups and saves in `dir` (those with a manifest), oldest first. */
export async function listKeyspaceBackups(dir: string): Promise<KeyspaceManifest[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const manifests: KeyspaceManifest[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !PLAIN_NAME.test(entry.name) || entry.name.includes('.partial')) continue;
    const manifest = await readKeyspaceManifest(dir, entry.name).catch(() => null);
    if (manifest) manifests.push(manifest);
  }
  return manifests.sort((a, b) => a.takenAt.localeCompare(b.takenAt));
}

/** Checks keys.jsonl against the manifest (present, sha256, one line per key); returns the problems found. */
export async function verifyKeyspaceBackup(dir: string, id: string): Promise<string[]> {
  let manifest: KeyspaceManifest | null;
  try {
    manifest = await readKeyspaceManifest(dir, id);
  } catch (err) {
    return [`${MANIFEST}: unreadable (${(err as Error).message})`];
  }
  if (manifest === null) return [`${MANIFEST}: missing, so ${id} is not a complete backup`];
  const hash = createHash('sha256');
  let lines = 0;
  try {
    for await (const chunk of createReadStream(join(dir, id, KEYS)) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines += 1;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [`${KEYS}: missing`];
    throw err;
  }
  const problems: string[] = [];
  if (hash.digest('hex') !== manifest.sha256) problems.push(`${KEYS}: sha256 differs from the manifest`);
  if (lines !== manifest.keyCount) problems.push(`${KEYS}: ${lines} lines, the manifest says ${manifest.keyCount} keys`);
  return problems;
}

/** The entries of a backup in batches of up to `size`, in file order. */
export async function* readEntries(dir: string, id: string, size: number): AsyncGenerator<KeyspaceEntry[]> {
  let batch: KeyspaceEntry[] = [];
  for await (const line of createInterface({ input: createReadStream(join(backupDir(dir, id), KEYS)), crlfDelay: Infinity })) {
    if (line === '') continue;
    batch.push(JSON.parse(line) as KeyspaceEntry);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Writes backup `id` from `batches` and returns its manifest. Leftover partials of `id` are removed
 * first; a `<dir>/<id>` without a manifest (an interrupted backup) is replaced. If another attempt
 * completed `<dir>/<id>` meanwhile, its manifest is returned and this attempt's files are dropped.
 */
export async function writeKeyspaceBackup(
  dir: string,
  id: string,
  header: ManifestHeader,
  batches: AsyncIterable<KeyspaceEntry[]>,
  onProgress?: (done: number) => void,
): Promise<KeyspaceManifest> {
  const target = backupDir(dir, id);
  await mkdir(dir, { recursive: true });
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${id}.partial-`)) await rm(join(dir, name), { recursive: true, force: true });
  }
  const partial = join(dir, `${id}.partial-${randomUUID()}`);
  await mkdir(partial);
  const hash = createHash('sha256');
  const counts = { keyCount: 0, absentCount: 0, bytes: 0 };
  const file = await open(join(partial, KEYS), 'w');
  try {
    for await (const batch of batches) {
      if (batch.length === 0) continue;
      const text = Buffer.from(batch.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      await file.write(text);
      hash.update(text);
      counts.bytes += text.length;
      counts.keyCount += batch.length;
      counts.absentCount += batch.filter((entry) => entry.dump === null).length;
      onProgress?.(counts.keyCount);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  const manifest: KeyspaceManifest = { id, ...header, ...counts, sha256: hash.digest('hex') };
  await writeFile(join(partial, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  // keys.jsonl of an interrupted backup is ours to replace; anything else there stops the rename.
  if ((await readKeyspaceManifest(dir, id)) === null) await rm(join(target, KEYS), { force: true });
  try {
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    const winner = await readKeyspaceManifest(dir, id);
    if (winner) return winner;
    throw new Error(`${target} exists and is not a keyspace backup; remove it or choose another id`, { cause: err });
  }
  return manifest;
}
