/**
 * What a node stores per record kind, as (public part, secret part) pairs in one encrypted record
 * (the store encrypts the whole record under the node's KMS):
 *   keyshare/<walletId>   key share (storage-format)
 *   aux/current           the node group's aux-info
 *   presig/<id>           presignature (public ‖ secret) with the wallet it belongs to
 * @module
 */
import { Reader, Writer } from '../protocol/codec.js';
import { Transcript } from '../zk/transcript.js';
import type { AuxInfo } from '../protocol/aux-info.js';

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

/** auxId = H(every party's N_j, N̂_j, s_j, t_j): the same at every node of the group. */
export function auxId(aux: AuxInfo): Uint8Array {
  const t = new Transcript('mpc-engine/v1/aux-id');
  aux.parties.forEach((p, j) => t.ints(`party-${j}`, [p.N, p.rp.N, p.rp.s, p.rp.t]));
  return t.digest('aux-id');
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
