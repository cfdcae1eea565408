/**
 * Resharing messages: dealers (old holders) deal their Lagrange-weighted shares to the new group
 * with Feldman VSS; receivers prove they hold their new shares; everyone confirms. Positions p are
 * session positions (src/protocol/reshare/params.ts); d a dealer, k a receiver's new index.
 *
 *  reshare/commit    bcast  V_p = H(setup, p, rid_p, S_p, A_p, u_p)
 *  reshare/echo      bcast  h_p = H(sid, V_0 … V_{m−1})
 *  reshare/decommit  bcast  (rid_p, S_p = (a_{p,k}·G)_{k<t'} for a dealer, else empty; A_p for a receiver, u_p)
 *  reshare/share     p2p    σ_{d,k} = f_d(k + 1), dealer d → receiver k   (f_d(0) = λ_d·x_d)
 *  reshare/proof     bcast  ψ_p = z_p of Πsch for X'_k, by receivers
 *  reshare/confirm   bcast  c_p = H(sid, setup, every ψ, Y, X'_0 … X'_{n'−1}): all parties, dealers and receivers
 * @module
 */
import { DecodeError, Reader, Writer } from '../codec.js';
import { MESSAGE_VERSION, readVersion } from '../common.js';
import { Schedule } from '../machine.js';
import type { Point } from '../../curve/secp256k1.js';

export { encodeHash } from '../common.js';
export { encodeScalar, decodeScalar } from '../keygen/messages.js';

export const ROUND = {
  commit: 'reshare/commit',
  echo: 'reshare/echo',
  decommit: 'reshare/decommit',
  share: 'reshare/share',
  proof: 'reshare/proof',
  confirm: 'reshare/confirm',
} as const;

/** The rounds in order with their kinds; shares and proofs come only from the parties with that role. */
export const SCHEDULE = new Schedule([
  [ROUND.commit, 'broadcast'],
  [ROUND.echo, 'broadcast'],
  [ROUND.decommit, 'broadcast'],
  [ROUND.share, 'p2p'],
  [ROUND.proof, 'broadcast'],
  [ROUND.confirm, 'confirmation'],
]);

export interface Decommit {
  /** rid_p: 32 random bytes; rid = ⊕ rid_p seeds the Schnorr challenges */
  readonly rid: Uint8Array;
  /** S_p = (a_{p,0}·G, …, a_{p,t'−1}·G) for a dealer (a_{p,0} = λ_p·x_p), empty otherwise */
  readonly S: readonly Point[];
  /** A_p = τ_p·G for a receiver (its Schnorr commitment), absent otherwise */
  readonly A: Point | undefined;
  /** u_p: 32-byte opening nonce of V_p */
  readonly u: Uint8Array;
}

export function encodeDecommit(d: Decommit): Uint8Array {
  const w = new Writer()
    .u8(MESSAGE_VERSION)
    .fixed(d.rid)
    .list(d.S, (x, P) => x.point(P));
  if (d.A) w.u8(1).point(d.A);
  else w.u8(0);
  return w.fixed(d.u).finish();
}

/**
 * Decodes and validates a decommitment of a party whose role is known: S has exactly t' points for a
 * dealer and none otherwise; A is there exactly for a receiver.
 */
export function decodeDecommit(b: Uint8Array, role: { dealer: boolean; receiver: boolean; t: number }): Decommit {
  const r = new Reader(b);
  readVersion(r);
  const rid = Uint8Array.from(r.fixed(32, 'rid'));
  const S = r.list((x) => x.point('S_k'), { count: role.dealer ? role.t : 0 }, 'S');
  const hasA = r.u8('A present');
  if (hasA !== (role.receiver ? 1 : 0))
    throw new DecodeError(role.receiver ? 'a receiver must send A' : 'A from a non-receiver');
  const A = hasA ? r.point('A') : undefined;
  const u = Uint8Array.from(r.fixed(32, 'u'));
  r.end();
  return { rid, S, A, u };
}
