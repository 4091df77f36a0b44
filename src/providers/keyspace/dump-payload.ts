/**
 * Comparing DUMP payloads. Equal bytes mean equal values, but not the other way round: a hash or set
 * big enough to be stored as a hashtable is dumped in table order, and a RESTOREd copy of it dumps
 * its elements in another order (measured on Redis 7.0). For those two types the elements are
 * compared as a multiset instead, read from the payload without decoding them.
 */

const RDB_TYPE_SET = 2;
const RDB_TYPE_HASH = 4;
const TRAILER = 10; // every payload ends with a 2-byte RDB version and an 8-byte CRC64

/** True if two DUMP payloads hold the same value. */
export function sameValue(a: Buffer, b: Buffer): boolean {
  if (a.equals(b)) return true;
  const left = unorderedElements(a);
  const right = unorderedElements(b);
  if (left === null || right === null || left.length !== right.length) return false;
  return left.every((element, i) => element === right[i]);
}

/**
 * The elements (a hash's field-value pairs) of a hashtable-encoded set or hash payload, each as its
 * encoded bytes, sorted; null for any other type or a payload that does not parse.
 */
function unorderedElements(payload: Buffer): string[] | null {
  const type = payload[0];
  if (type !== RDB_TYPE_SET && type !== RDB_TYPE_HASH) return null;
  const body = payload.subarray(0, payload.length - TRAILER);
  try {
    let at = 1;
    const length = (): number => {
      const first = body.readUInt8(at);
      const kind = first >> 6;
      at += kind === 0 ? 1 : kind === 1 ? 2 : first === 0x80 ? 5 : first === 0x81 ? 9 : NaN;
      if (kind === 0) return first & 0x3f;
      if (kind === 1) return ((first & 0x3f) << 8) | body.readUInt8(at - 1);
      if (first === 0x80) return body.readUInt32BE(at - 4);
      if (first === 0x81) return Number(body.readBigUInt64BE(at - 8));
      throw new Error('not a plain length');
    };
    // An RDB string: a length and that many bytes, an 8/16/32-bit integer, or LZF-compressed bytes.
    const string = (): string => {
      const start = at;
      const first = body.readUInt8(at);
      if (first >> 6 !== 3) {
        const bytes = length(); // before `at +=`, which would read `at` ahead of length() moving it
        at += bytes;
      }
      else if ((first & 0x3f) <= 2) at += 1 + (1 << (first & 0x3f));
      else if ((first & 0x3f) === 3) {
        at += 1;
        const compressed = length();
        length(); // uncompressed length
        at += compressed;
      } else throw new Error('unknown string encoding');
      if (at > body.length) throw new Error('past the end');
      return body.toString('latin1', start, at);
    };
    const count = length();
    const elements: string[] = [];
    for (let i = 0; i < count; i += 1) elements.push(type === RDB_TYPE_HASH ? `${string()}\0${string()}` : string());
    return at === body.length ? elements.sort() : null;
  } catch {
    return null;
  }
}
