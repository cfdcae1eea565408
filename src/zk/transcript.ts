/**
 * The one Fiat–Shamir transcript of the project (docs/security.md, "Transcript rules").
 *
 * Encoding, injective by construction: every field is
 *   kind (1 byte) ‖ label length (u32 BE) ‖ label (UTF-8) ‖ value length (u32 BE) ‖ value
 * Integers are a sign byte (0 = non-negative, 1 = negative) followed by the minimal big-endian
 * magnitude (zero has an empty magnitude and sign 0), so each integer has exactly one encoding and
 * a signed response cannot collide with its absolute value. Lists are a count followed by their
 * encoded items, nested as one length-prefixed value, so ["12","3"] ≠ ["1","23"] and [x,[],y] ≠ [x,y].
 * The first field is a hierarchical domain tag such as "mpc-engine/v1/aux/r3/mod".
 *
 * Challenges come from SHAKE256 over the encoding, read as a stream and sampled by rejection
 * (no modulo bias).
 * @module
 */
import { concatBytes } from '@noble/hashes/utils.js';
import { shake256 } from '@noble/hashes/sha3.js';
import { bitLength } from '../wasm/instance.js';

/** Field kinds (the first byte of every field). */
export const Kind = {
  tag: 1,
  bytes: 2,
  uint: 3,
  int: 4,
  list: 5,
  text: 6,
} as const;

const encoder = new TextEncoder();

function u32(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('length out of range');
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** Minimal big-endian magnitude of |x| (empty for 0). */
export function magnitudeBytes(x: bigint): Uint8Array {
  const abs = x < 0n ? -x : x;
  if (abs === 0n) return new Uint8Array(0);
  let hex = abs.toString(16);
  if (hex.length & 1) hex = '0' + hex;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Canonical signed-integer value: sign byte ‖ minimal magnitude. */
export function encodeInt(x: bigint): Uint8Array {
  if (typeof x !== 'bigint') throw new TypeError('integer field must be a bigint');
  const mag = magnitudeBytes(x);
  const out = new Uint8Array(1 + mag.length);
  out[0] = x < 0n ? 1 : 0;
  out.set(mag, 1);
  return out;
}

/**
 * Inverse of encodeInt; rejects every non-canonical form (unknown sign byte, leading zero byte,
 * negative zero).
 */
export function decodeInt(b: Uint8Array): bigint {
  if (b.length < 1) throw new RangeError('integer encoding is empty');
  const sign = b[0];
  if (sign !== 0 && sign !== 1) throw new RangeError('integer sign byte must be 0 or 1');
  if (b.length > 1 && b[1] === 0) throw new RangeError('integer magnitude has a leading zero');
  if (b.length === 1 && sign === 1) throw new RangeError('negative zero is not canonical');
  const mag = b.length === 1 ? 0n : BigInt('0x' + Buffer.from(b.subarray(1)).toString('hex'));
  return sign === 1 ? -mag : mag;
}

/** One encoded field. */
export function field(kind: number, label: string, value: Uint8Array): Uint8Array {
  const l = encoder.encode(label);
  return concatBytes(Uint8Array.of(kind), u32(l.length), l, u32(value.length), value);
}

/** A list value: count ‖ items (each already a complete encoded field). */
export function listValue(items: readonly Uint8Array[]): Uint8Array {
  return concatBytes(u32(items.length), ...items);
}

type Hasher = ReturnType<typeof shake256.create>;

/** Rejection sampler over a SHAKE256 output stream. */
export class ChallengeStream {
  constructor(private readonly xof: Hasher) {}

  /** Uniform in [0, 2^bits). */
  bits(bits: number): bigint {
    if (!Number.isInteger(bits) || bits < 1) throw new RangeError('bits must be a positive integer');
    const bytes = this.xof.xof(Math.ceil(bits / 8));
    const extra = bytes.length * 8 - bits;
    bytes[0] = (bytes[0] as number) & (0xff >> extra);
    return BigInt('0x' + Buffer.from(bytes).toString('hex'));
  }

  /** Uniform in [0, n), by rejection. */
  below(n: bigint): bigint {
    if (n <= 0n) throw new RangeError('bound must be positive');
    const bits = Math.max(1, bitLength(n - 1n));
    for (;;) {
      const x = this.bits(bits);
      if (x < n) return x;
    }
  }

  /** Uniform in [−bound, bound], by rejection. */
  signed(bound: bigint): bigint {
    return this.below(2n * bound + 1n) - bound;
  }

  /** m independent challenge bits (Πprm takes the first m bits of the stream). */
  bitArray(m: number): boolean[] {
    const bytes = this.xof.xof(Math.ceil(m / 8));
    const out: boolean[] = [];
    for (let i = 0; i < m; i++) out.push((((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1) === 1);
    return out;
  }
}

/** An append-only transcript; challenges derive from everything appended so far. */
export class Transcript {
  private readonly h: Hasher;

  /** @param tag hierarchical domain tag, e.g. "mpc-engine/v1/presign/r2/aff-g" */
  constructor(tag: string) {
    if (typeof tag !== 'string' || tag.length === 0) throw new TypeError('transcript tag must be a non-empty string');
    this.h = shake256.create();
    this.h.update(field(Kind.tag, 'domain', encoder.encode(tag)));
  }

  private put(kind: number, label: string, value: Uint8Array): this {
    this.h.update(field(kind, label, value));
    return this;
  }

  bytes(label: string, b: Uint8Array): this {
    if (!(b instanceof Uint8Array)) throw new TypeError(`${label} must be a Uint8Array`);
    return this.put(Kind.bytes, label, b);
  }

  text(label: string, s: string): this {
    return this.put(Kind.text, label, encoder.encode(s));
  }

  /** A non-negative safe integer (indices, counts, parameters), as u64 big-endian. */
  uint(label: string, n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${label} must be a non-negative safe integer`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n));
    return this.put(Kind.uint, label, b);
  }

  /** A signed big integer (sign byte ‖ minimal magnitude). */
  int(label: string, x: bigint): this {
    return this.put(Kind.int, label, encodeInt(x));
  }

  /** A list of signed big integers. */
  ints(label: string, xs: readonly bigint[]): this {
    return this.put(Kind.list, label, listValue(xs.map((x, i) => field(Kind.int, String(i), encodeInt(x)))));
  }

  /** A list of byte strings (e.g. compressed points). */
  byteList(label: string, xs: readonly Uint8Array[]): this {
    return this.put(Kind.list, label, listValue(xs.map((x, i) => field(Kind.bytes, String(i), x))));
  }

  /** A 32-byte digest of everything so far and `label` (hash commitments, echo hashes). */
  digest(label: string): Uint8Array {
    const x = this.h.clone();
    x.update(field(Kind.tag, 'digest', encoder.encode(label)));
    return x.xof(32);
  }

  /**
   * A challenge stream bound to everything so far and to `label`. The transcript itself is not
   * changed, so the same label gives the same stream.
   */
  challenge(label: string): ChallengeStream {
    const x = this.h.clone();
    x.update(field(Kind.tag, 'challenge', encoder.encode(label)));
    return new ChallengeStream(x);
  }
}
