/**
 * Threshold key generation messages (CGGMP'24 with Feldman VSS, as in cggmp21's threshold keygen).
 *
 *  keygen/commit    bcast  V_i = H(sid, n, t, i, rid_i, S_i, A_i, u_i)
 *  keygen/echo      bcast  h_i = H(sid, V_0 … V_{n−1})
 *  keygen/decommit  bcast  (rid_i, S_i = (s_{i,k}·G)_{k<t}, A_i, u_i)
 *  keygen/share     p2p    σ_{i,j} = f_i(j + 1)   (secret: end-to-end encrypted by the transport)
 *  keygen/proof     bcast  ψ_i = z_i of Πsch for X_i
 *  keygen/confirm   bcast  c_i = H(sid, every ψ_j, Y, X_0 … X_{n−1}): all must agree before output
 * @module
 */
import { Reader, Writer } from '../codec.js';
import { MESSAGE_VERSION, readVersion } from '../common.js';
import { Schedule } from '../machine.js';

export { encodeHash, decodeHash } from '../common.js';
import type { Point } from '../../curve/secp256k1.js';

export const ROUND = {
  commit: 'keygen/commit',
  echo: 'keygen/echo',
  decommit: 'keygen/decommit',
  share: 'keygen/share',
  proof: 'keygen/proof',
  confirm: 'keygen/confirm',
} as const;

/** The rounds in order with their kinds (also refresh's): the rounds and the envelope layer read them here. */
export const SCHEDULE = new Schedule([
  [ROUND.commit, 'broadcast'],
  [ROUND.echo, 'broadcast'],
  [ROUND.decommit, 'broadcast'],
  [ROUND.share, 'p2p'],
  [ROUND.proof, 'broadcast'],
  [ROUND.confirm, 'confirmation'],
]);

export interface Decommit {
  /** rid_i: 32 random bytes; rid = ⊕ rid_j seeds the Schnorr challenges */
  readonly rid: Uint8Array;
  /** S_i = (s_{i,0}·G, …, s_{i,t−1}·G): Feldman commitments to f_i's coefficients */
  readonly S: readonly Point[];
  /** A_i = τ_i·G: Schnorr commitment */
  readonly A: Point;
  /** u_i: 32-byte opening nonce of V_i */
  readonly u: Uint8Array;
}

export function encodeDecommit(d: Decommit): Uint8Array {
  return new Writer()
    .u8(MESSAGE_VERSION)
    .fixed(d.rid)
    .list(d.S, (w, P) => w.point(P))
    .point(d.A)
    .fixed(d.u)
    .finish();
}

/** Decodes and validates a decommitment; S must have exactly t entries (docs/security.md A12). */
export function decodeDecommit(b: Uint8Array, t: number): Decommit {
  const r = new Reader(b);
  readVersion(r);
  const rid = Uint8Array.from(r.fixed(32, 'rid'));
  const S = r.list((x) => x.point('S_k'), { count: t }, 'S');
  const A = r.point('A');
  const u = Uint8Array.from(r.fixed(32, 'u'));
  r.end();
  return { rid, S, A, u };
}

export function encodeScalar(x: bigint): Uint8Array {
  return new Writer().u8(MESSAGE_VERSION).scalar(x).finish();
}

export function decodeScalar(b: Uint8Array, what: string): bigint {
  const r = new Reader(b);
  readVersion(r);
  const x = r.scalar(what);
  r.end();
  return x;
}
