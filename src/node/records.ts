/**
 * What a node stores per record kind, as (public part, secret part) pairs in one encrypted record
 * (the store encrypts the whole record under the node's KMS):
 *   keyshare/<walletId>   committed key share (storage-format) ‖ its epoch ‖ the aux-info epoch it
 *                         was made or refreshed under (a share older than the committed aux-info
 *                         may not presign: see lifecycle.ts)
 *   aux/current           the node group's committed aux-info ‖ its epoch
 *   pending/<scope>       a successor state stored before its confirmation left (lifecycle.ts)
 *   evidence/<scope>      every party's signed confirmation of the last committed epoch
 *   presig/<id>           presignature (public ‖ secret) with its wallet and the epochs it was made in
 * Records written before epochs existed lack the trailing epoch parts and read as the first epochs.
 * @module
 */
import { Reader, Writer } from '../protocol/codec.js';

export const AUX_RECORD = 'current';
const MAX_PART = 1 << 20;

export function pack(...parts: Uint8Array[]): Uint8Array {
  const w = new Writer().u8(1);
  for (const p of parts) w.bytes(p);
  return w.finish();
}

export function unpack(b: Uint8Array, count: number, what: string): Uint8Array[] {
  const r = new Reader(b);
  if (r.u8('version') !== 1) throw new Error(`${what}: unknown record version`);
  const out = Array.from({ length: count }, () => Uint8Array.from(r.bytes(MAX_PART, what)));
  r.end(what);
  return out;
}

/** unpack() for a record that gained trailing parts: `min`..`count` parts (default: `count` or `count − 1`, the older form). */
export function unpackVersioned(b: Uint8Array, count: number, what: string, min = count - 1): Uint8Array[] {
  const r = new Reader(b);
  if (r.u8('version') !== 1) throw new Error(`${what}: unknown record version`);
  const out: Uint8Array[] = [];
  while (out.length < count && r.remaining > 0) out.push(Uint8Array.from(r.bytes(MAX_PART, what)));
  r.end(what);
  if (out.length < min) throw new Error(`${what}: truncated record`);
  return out;
}

/** An epoch as a record part (u32). */
export function encodeEpoch(epoch: number): Uint8Array {
  return new Writer().u32(epoch).finish();
}

export function decodeEpoch(b: Uint8Array | undefined, legacy: number, what: string): number {
  if (b === undefined) return legacy;
  const r = new Reader(b);
  const e = r.u32(`${what} epoch`);
  r.end(what);
  return e;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
