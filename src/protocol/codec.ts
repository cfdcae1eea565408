/**
 * Binary codec for protocol messages: big-endian, every variable-length field length-prefixed,
 * every read bounds-checked, integers canonical (sign byte + minimal magnitude), points validated
 * on decode. A Reader that is not fully consumed is an error, so each message has one encoding.
 * @module
 */
import { encodeInt, decodeInt } from '../zk/transcript.js';
import { type Point, pointFromBytes, pointToBytes, scalarFromBytes, scalarToBytes } from '../curve/secp256k1.js';

/** A malformed message; the protocol layer turns it into an abort blaming the sender. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

export class Writer {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  u8(v: number): this {
    return this.push(Uint8Array.of(v & 0xff));
  }

  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    return this.push(b);
  }

  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): this {
    return this.u32(b.length).push(b);
  }

  /** Bytes of a length both sides know (hashes, nonces). */
  fixed(b: Uint8Array): this {
    return this.push(b);
  }

  /** Signed big integer: length-prefixed canonical encoding. */
  int(x: bigint): this {
    return this.bytes(encodeInt(x));
  }

  point(P: Point): this {
    return this.push(pointToBytes(P));
  }

  scalar(x: bigint): this {
    return this.push(scalarToBytes(x));
  }

  list<T>(items: readonly T[], f: (w: Writer, item: T) => void): this {
    this.u32(items.length);
    for (const item of items) f(this, item);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

export class Reader {
  private offset = 0;

  constructor(private readonly buf: Uint8Array) {}

  private take(n: number, what: string): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || this.offset + n > this.buf.length) throw new DecodeError(`truncated ${what}`);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.buf.length - this.offset;
  }

  u8(what = 'u8'): number {
    return this.take(1, what)[0] as number;
  }

  u32(what = 'u32'): number {
    const b = this.take(4, what);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  /** Length-prefixed bytes of at most maxLen bytes. */
  bytes(maxLen: number, what = 'bytes'): Uint8Array {
    const len = this.u32(`${what} length`);
    if (len > maxLen) throw new DecodeError(`${what} longer than ${maxLen} bytes`);
    return this.take(len, what);
  }

  fixed(len: number, what = 'bytes'): Uint8Array {
    return this.take(len, what);
  }

  /** Canonical signed integer of at most maxBits bits. */
  int(maxBits: number, what = 'integer'): bigint {
    const b = this.bytes(Math.ceil(maxBits / 8) + 1, what);
    let x: bigint;
    try {
      x = decodeInt(b);
    } catch (e) {
      throw new DecodeError(`${what}: ${(e as Error).message}`);
    }
    const abs = x < 0n ? -x : x;
    if (abs >> BigInt(maxBits) !== 0n) throw new DecodeError(`${what} exceeds ${maxBits} bits`);
    return x;
  }

  point(what = 'point'): Point {
    const b = this.take(33, what);
    try {
      return pointFromBytes(b, what);
    } catch (e) {
      throw new DecodeError((e as Error).message);
    }
  }

  scalar(what = 'scalar'): bigint {
    const b = this.take(32, what);
    try {
      return scalarFromBytes(b, what);
    } catch (e) {
      throw new DecodeError((e as Error).message);
    }
  }

  /** A list of exactly `count` items when count is given, else of at most maxCount. */
  list<T>(f: (r: Reader) => T, opts: { count?: number; maxCount?: number }, what = 'list'): T[] {
    const n = this.u32(`${what} count`);
    if (opts.count !== undefined && n !== opts.count)
      throw new DecodeError(`${what} must have exactly ${opts.count} entries, has ${n}`);
    if (opts.maxCount !== undefined && n > opts.maxCount)
      throw new DecodeError(`${what} has more than ${opts.maxCount} entries`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(f(this));
    return out;
  }

  /** Throws unless every byte was consumed. */
  end(what = 'message'): void {
    if (this.offset !== this.buf.length)
      throw new DecodeError(`${what} has ${this.buf.length - this.offset} trailing bytes`);
  }
}
