/**
 * Binary frames on a coordinator↔node connection:
 *
 *     version u8 (= 1) ‖ type u8 ‖ length u32 big-endian ‖ payload (length bytes)
 *
 * The decoder is incremental and checks each header field as soon as its byte arrives, so a bad
 * version or type fails at once and an oversized length fails before any payload is buffered.
 * Control frames have fixed shapes (READY empty, PING/PONG a 4-byte sequence number, REQUEST /
 * RESPONSE / ERROR a 4-byte correlation id first), also checked on the header alone.
 * @module
 */
import { FrameError } from './errors.js';

export const FRAME_VERSION = 1;
export const HEADER_BYTES = 6;
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Longest reason an ERROR frame carries (after its correlation id). */
export const MAX_ERROR_REASON_BYTES = 256;

export const FrameType = {
  /** server → client once the server accepted the client's identity; nothing else comes first */
  Ready: 0x01,
  Ping: 0x02,
  Pong: 0x03,
  /** one-way application message */
  Message: 0x10,
  /** id u32 ‖ body: expects one Response or Error with the same id */
  Request: 0x11,
  Response: 0x12,
  /** id u32 ‖ UTF-8 reason: the request was refused */
  Error: 0x13,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export interface Frame {
  readonly type: FrameType;
  readonly payload: Buffer;
}

/** Payload length bounds of each type: [min, max], max undefined = the connection's cap. */
function lengthBounds(type: FrameType): readonly [number, number | undefined] {
  switch (type) {
    case FrameType.Ready:
      return [0, 0];
    case FrameType.Ping:
    case FrameType.Pong:
      return [4, 4];
    case FrameType.Error:
      return [4, 4 + MAX_ERROR_REASON_BYTES];
    case FrameType.Request:
    case FrameType.Response:
      return [4, undefined];
    case FrameType.Message:
      return [0, undefined];
  }
}

export function typeName(type: number): string {
  const entry = Object.entries(FrameType).find(([, v]) => v === type);
  return entry ? entry[0] : `0x${type.toString(16).padStart(2, '0')}`;
}

/**
 * Checks a frame about to be sent (the peer would close the connection on the same violation).
 * @throws RangeError if the payload does not fit the type or the cap
 */
export function checkOutgoing(type: FrameType, length: number, maxFrameBytes: number): void {
  const [min, max] = lengthBounds(type);
  const cap = max ?? maxFrameBytes;
  if (length < min || length > cap)
    throw new RangeError(`${typeName(type)} frame payload of ${length} bytes, allowed ${min}…${cap}`);
}

export function encodeHeader(type: FrameType, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h[0] = FRAME_VERSION;
  h[1] = type;
  h.writeUInt32BE(length, 2);
  return h;
}

/** One frame as one buffer (the connection writes header and payload separately instead). */
export function encodeFrame(type: FrameType, payload: Uint8Array, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  checkOutgoing(type, payload.length, maxFrameBytes);
  return Buffer.concat([encodeHeader(type, payload.length), payload]);
}

/** A payload starting with a u32 correlation id. */
export function withId(id: number, body: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + body.length);
  b.writeUInt32BE(id, 0);
  b.set(body, 4);
  return b;
}

/**
 * Incremental decoder. `push` returns the frames a chunk completes; after it throws, the decoder
 * stays failed (the connection is closed, never resynchronised: there is no way to find the next
 * frame boundary in garbage).
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private header: { type: FrameType; length: number } | undefined;
  private failed = false;

  constructor(readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > 0xffffffff) {
      throw new RangeError('maxFrameBytes must be an integer in [1, 2^32 − 1]');
    }
  }

  /** Whether part of a frame is buffered (the connection times such a partial frame out). */
  get partial(): boolean {
    return this.header !== undefined || this.size > 0;
  }

  /** @throws FrameError on a bad version, unknown type, or a length the type or the cap forbids */
  push(chunk: Buffer): Frame[] {
    if (this.failed) throw new FrameError('decoder already failed');
    try {
      return this.drain(chunk);
    } catch (e) {
      this.failed = true;
      this.chunks.length = 0;
      this.size = 0;
      throw e;
    }
  }

  private drain(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.header === undefined) {
        this.checkHeaderPrefix();
        if (this.size < HEADER_BYTES) break;
        const h = this.take(HEADER_BYTES);
        this.header = { type: h[1] as FrameType, length: h.readUInt32BE(2) };
        this.checkLength(this.header.type, this.header.length);
      }
      if (this.size < this.header.length) break;
      frames.push({ type: this.header.type, payload: this.take(this.header.length) });
      this.header = undefined;
    }
    return frames;
  }

  /** Version and type are checked as soon as their bytes are here, before the rest of the header. */
  private checkHeaderPrefix(): void {
    const first = this.chunks[0];
    if (first === undefined || first.length === 0) return;
    if (first[0] !== FRAME_VERSION) throw new FrameError(`unsupported frame version ${first[0]}`);
    const type = first.length > 1 ? first[1] : this.size > 1 ? this.chunks[1]?.[0] : undefined;
    if (type !== undefined && !KNOWN_TYPES.has(type)) throw new FrameError(`unknown frame type ${typeName(type)}`);
  }

  private checkLength(type: FrameType, length: number): void {
    if (length > this.maxFrameBytes)
      throw new FrameError(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
    const [min, max] = lengthBounds(type);
    if (length < min || (max !== undefined && length > max)) {
      throw new FrameError(
        `${typeName(type)} frame payload of ${length} bytes, allowed ${min}…${max ?? this.maxFrameBytes}`,
      );
    }
  }

  /** Removes and returns the first n buffered bytes (n ≤ size); copies only across chunks. */
  private take(n: number): Buffer {
    this.size -= n;
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
