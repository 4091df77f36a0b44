/**
 * OpenSSH signatures (`ssh-keygen -Y sign`, PROTOCOL.sshsig) made and checked with node:crypto, for
 * ed25519 keys only: what is signed is "SSHSIG" || string(namespace) || string("") || string("sha512")
 * || string(sha512(message)); the armored blob carries the public key, the namespace and the
 * signature. A person may sign with `ssh-keygen -Y sign -n <namespace>` alone, and a signature made
 * here verifies with `ssh-keygen -Y verify`.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../contract/index.ts';

/** `sha256:<hex>` of the canonical JSON of a plan (as the status shows it): what a signed request names. */
export const planHash = (plan: unknown) => `sha256:${createHash('sha256').update(canonicalJson(plan ?? null)).digest('hex')}`;

const MAGIC = Buffer.from('SSHSIG');
const HASH = 'sha512';
const KEY_TYPE = 'ssh-ed25519';
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** Reads SSH wire strings and integers in order; throws on a short buffer. */
class Reader {
  private at = 0;
  constructor(private readonly data: Buffer) {}
  bytes(n: number): Buffer {
    if (this.at + n > this.data.length) throw new Error('truncated');
    const out = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    return this.bytes(4).readUInt32BE();
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  get done(): boolean {
    return this.at === this.data.length;
  }
}

/** The 32 raw bytes of an `ssh-ed25519` public key blob. */
function ed25519Raw(blob: Buffer): Buffer {
  const reader = new Reader(blob);
  const type = reader.string().toString();
  if (type !== KEY_TYPE) throw new Error(`key type ${type} is not supported (only ${KEY_TYPE})`);
  const raw = reader.string();
  if (raw.length !== 32 || !reader.done) throw new Error('malformed ssh-ed25519 key');
  return raw;
}

const publicKeyObject = (raw: Buffer): KeyObject => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
const blobOf = (raw: Buffer) => Buffer.concat([sshString(KEY_TYPE), sshString(raw)]);

/** `SHA256:<base64, unpadded>` of a public key blob, as `ssh-keygen -lf` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Parses an authorized_keys line (`ssh-ed25519 AAAA... comment`) into its blob; throws on anything else. */
export function parsePublicKeyLine(line: string): Buffer {
  const [type, base64] = line.trim().split(/\s+/);
  if (type !== KEY_TYPE || !base64) throw new Error(`not an ${KEY_TYPE} public key: ${line.slice(0, 40)}`);
  const blob = Buffer.from(base64, 'base64');
  ed25519Raw(blob);
  return blob;
}

/** The public key line (`ssh-ed25519 AAAA...`) of a blob, without a comment. */
export const publicKeyLine = (blob: Buffer) => `${KEY_TYPE} ${blob.toString('base64')}`;

function signedData(namespace: string, message: string | Buffer): Buffer {
  const digest = createHash(HASH).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(HASH), sshString(digest)]);
}

export interface SshPrivateKey {
  key: KeyObject;
  /** The public key blob. */
  blob: Buffer;
}

/**
 * Reads an unencrypted OpenSSH ed25519 private key (`-----BEGIN OPENSSH PRIVATE KEY-----`, as
 * `ssh-keygen -t ed25519 -N ''` writes it) or a PKCS#8 PEM one. A passphrase-protected key is refused:
 * sign with `ssh-keygen -Y sign` instead, which asks for the passphrase or uses ssh-agent.
 */
export function parsePrivateKey(text: string): SshPrivateKey {
  if (text.includes('BEGIN PRIVATE KEY')) {
    const key = createPrivateKey(text);
    const jwk = createPublicKey(key).export({ format: 'jwk' });
    if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('only ed25519 keys are supported');
    return { key, blob: blobOf(Buffer.from(jwk.x, 'base64url')) };
  }
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text)?.[1];
  if (!body) throw new Error('not an OpenSSH private key (expected -----BEGIN OPENSSH PRIVATE KEY-----)');
  const reader = new Reader(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
  if (!reader.bytes(15).equals(Buffer.from('openssh-key-v1\0'))) throw new Error('not an openssh-key-v1 private key');
  const cipher = reader.string().toString();
  reader.string(); // kdf name
  reader.string(); // kdf options
  if (cipher !== 'none') throw new Error('the key is protected by a passphrase; sign with `ssh-keygen -Y sign` (it asks, or uses ssh-agent) and paste the signature');
  if (reader.uint32() !== 1) throw new Error('expected exactly one key in the file');
  const blob = reader.string();
  const raw = ed25519Raw(blob);
  const secret = new Reader(reader.string());
  if (secret.uint32() !== secret.uint32()) throw new Error('corrupt private key (check bytes differ)');
  if (secret.string().toString() !== KEY_TYPE) throw new Error(`only ${KEY_TYPE} keys are supported`);
  secret.string(); // the public key again
  const seed = secret.string().subarray(0, 32);
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: raw.toString('base64url') }, format: 'jwk' });
  return { key, blob };
}

/** Signs `message` as `ssh-keygen -Y sign -n <namespace>` would; returns the armored signature. */
export function signSshsig(privateKey: SshPrivateKey, namespace: string, message: string | Buffer): string {
  const signature = sign(null, signedData(namespace, message), privateKey.key);
  const blob = Buffer.concat([MAGIC, Buffer.from([0, 0, 0, 1]), sshString(privateKey.blob), sshString(namespace), sshString(''), sshString(HASH), sshString(Buffer.concat([sshString(KEY_TYPE), sshString(signature)]))]);
  const lines = blob.toString('base64').match(/.{1,70}/g) ?? [];
  return [BEGIN, ...lines, END, ''].join('\n');
}

export type SshsigVerdict = { ok: true; key: string; fingerprint: string } | { ok: false; why: string };

/**
 * Checks an armored signature over `message` in `namespace`. Never throws: a malformed signature, a
 * wrong namespace or a signature over other bytes comes back with why.
 */
export function verifySshsig(armored: string, namespace: string, message: string | Buffer): SshsigVerdict {
  try {
    const body = armored.trim();
    if (!body.startsWith(BEGIN) || !body.endsWith(END)) return { ok: false, why: `not an SSH signature (expected ${BEGIN} ... ${END})` };
    const reader = new Reader(Buffer.from(body.slice(BEGIN.length, -END.length).replace(/\s+/g, ''), 'base64'));
    if (!reader.bytes(6).equals(MAGIC)) return { ok: false, why: 'not an SSHSIG blob' };
    const version = reader.uint32();
    if (version !== 1) return { ok: false, why: `SSHSIG version ${version} is not supported` };
    const blob = reader.string();
    const raw = ed25519Raw(blob);
    const signedIn = reader.string().toString();
    if (signedIn !== namespace) return { ok: false, why: `signed in namespace '${signedIn}', not '${namespace}'` };
    reader.string(); // reserved
    const hash = reader.string().toString();
    if (hash !== HASH && hash !== 'sha256') return { ok: false, why: `hash ${hash} is not supported` };
    const sig = new Reader(reader.string());
    if (sig.string().toString() !== KEY_TYPE) return { ok: false, why: `only ${KEY_TYPE} signatures are supported` };
    const bytes = sig.string();
    const digest = createHash(hash).update(message).digest();
    const data = Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(hash), sshString(digest)]);
    if (!verify(null, data, publicKeyObject(raw), bytes)) return { ok: false, why: 'the signature does not match the request: a field was changed after signing' };
    return { ok: true, key: publicKeyLine(blob), fingerprint: fingerprint(blob) };
  } catch (err) {
    return { ok: false, why: `malformed SSH signature (${(err as Error).message})` };
  }
}
