/**
 * Inputs of a presigning session and the signer set's view of the key: the Lagrange conversion of
 * the Shamir shares of the signers S to additive shares,
 *   x'_i = λ_i·x_i,  X'_j = λ_j·X_j,  Σ_{j∈S} X'_j = Y  (checked),
 * and the session hash every proof and echo is bound to.
 * @module
 */
import { type Point, Point as P, modq, mulPublic, pointToBytes } from '../../curve/secp256k1.js';
import { lagrange } from '../../curve/lagrange.js';
import { Transcript } from '../../zk/transcript.js';
import type { SecurityParams } from '../../zk/params.js';
import { assertKeyShare, type KeyShare } from '../keyshare.js';
import { assertAuxInfo, type AuxInfo } from '../aux-info.js';
import { bitLength } from '../../wasm/index.js';

export const SESSION_TAG = 'mpc-engine/v1/presign/session';

export interface PresignParams {
  /** sid: unique per execution (a fresh nonce from every node; never repeated) */
  readonly sid: Uint8Array;
  /** S: the signers' party indices (keygen indices), at least t of them */
  readonly signers: readonly number[];
  /** own key share (its index is ours) */
  readonly key: KeyShare;
  /** the node group's aux-info (every party's N_j and (N̂_j, s_j, t_j); own p, q) */
  readonly aux: AuxInfo;
  /** L: security parameters */
  readonly L: SecurityParams;
}

/** What every signer derives from the parameters before round 1. */
export interface SignerView {
  /** own index */
  readonly i: number;
  /** S, sorted */
  readonly S: readonly number[];
  /** ssid = H(sid, n, t, S, Y, X, every N_j and (N̂_j, s_j, t_j) of S): binds every proof to this key and signer set */
  readonly ssid: Uint8Array;
  /** x'_i = λ_i·x_i mod q (secret) */
  readonly xPrime: bigint;
  /** X'_j = λ_j·X_j for j ∈ S */
  readonly XPrime: ReadonlyMap<number, Point>;
}

/** Validates the parameters (signer set against the key share, moduli sizes: docs/security.md A3) and derives the view. */
export function signerView(p: PresignParams): SignerView {
  if (!(p.sid instanceof Uint8Array) || p.sid.length < 16) throw new RangeError('sid must be at least 16 bytes');
  assertKeyShare(p.key);
  assertAuxInfo(p.aux);
  const { n, t, i, Y, X } = p.key.public;
  if (p.aux.i !== i) throw new RangeError('aux-info and key share belong to different parties');
  if (p.aux.parties.length !== n) throw new RangeError('aux-info and key share have different party counts');
  const S = [...p.signers].sort((a, b) => a - b);
  if (S.some((j) => !Number.isInteger(j) || j < 0 || j >= n)) throw new RangeError('signer index out of range');
  if (new Set(S).size !== S.length) throw new RangeError('signer set has duplicates');
  if (S.length < t) throw new RangeError(`need at least t = ${t} signers`);
  if (!S.includes(i)) throw new RangeError('own index is not in the signer set');
  // every modulus is checked each time it is used, not only when aux-info was made (docs/security.md A3)
  for (const j of S) {
    const pa = p.aux.parties[j] as AuxInfo['parties'][number];
    for (const N of [pa.N, pa.rp.N]) {
      const bits = bitLength(N);
      if ((N & 1n) !== 1n || bits < p.L.minModulusBits || bits > p.L.maxModulusBits)
        throw new RangeError(`aux-info: party ${j} has a modulus of a bad size`);
    }
  }
  const XPrime = new Map<number, Point>();
  for (const j of S) XPrime.set(j, mulPublic(X[j] as Point, lagrange(S, j)));
  const sum = [...XPrime.values()].reduce((acc, Xj) => acc.add(Xj), P.ZERO);
  if (!sum.equals(Y)) throw new RangeError("key share: the signers' public shares do not add up to Y");
  const xPrime = modq(lagrange(S, i) * p.key.secret.x);
  const tr = new Transcript(SESSION_TAG).bytes('sid', p.sid).uint('n', n).uint('t', t).ints('S', S.map(BigInt));
  tr.bytes('Y', pointToBytes(Y)).byteList(
    'X',
    X.map((Xj) => pointToBytes(Xj)),
  );
  for (const j of S) {
    const pa = p.aux.parties[j] as AuxInfo['parties'][number];
    tr.ints(`aux-${j}`, [pa.N, pa.rp.N, pa.rp.s, pa.rp.t]);
  }
  return { i, S, ssid: tr.digest('ssid'), xPrime, XPrime };
}

/** Party j's public aux-info (N_j, ring-Pedersen); j is a checked signer index. */
export function partyAux(aux: AuxInfo, j: number): AuxInfo['parties'][number] {
  return aux.parties[j] as AuxInfo['parties'][number];
}
