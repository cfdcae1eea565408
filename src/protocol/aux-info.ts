/**
 * Aux-info: every party's Paillier modulus N_j and ring-Pedersen parameters (N̂_j, s_j, t_j), all
 * proven well formed (Πmod, Πfac, Πprm), plus this party's own Paillier primes. It does not depend
 * on any key share: made once per node group, reused by every wallet, renewed by key refresh.
 * @module
 */
import type { RingPedersenParams } from '../paillier/ring-pedersen.js';

export interface PartyAux {
  /** N_j: Paillier modulus */
  readonly N: bigint;
  /** (N̂_j, s_j, t_j): ring-Pedersen parameters, used when j verifies range proofs */
  readonly rp: RingPedersenParams;
}

export interface AuxInfo {
  /** own index */
  readonly i: number;
  /** every party's public aux data, indexed by party */
  readonly parties: readonly PartyAux[];
  /** own Paillier primes (secret) */
  readonly secret: { readonly p: bigint; readonly q: bigint };
}

/** Throws unless the aux-info is internally consistent (N_i = p·q, distinct moduli, s, t in range). */
export function assertAuxInfo(a: AuxInfo): void {
  const own = a.parties[a.i];
  if (!own) throw new RangeError('aux-info: own index out of range');
  if (own.N !== a.secret.p * a.secret.q) throw new RangeError('aux-info: N_i ≠ p·q');
  const moduli = new Set<bigint>();
  for (const pa of a.parties) {
    for (const N of [pa.N, pa.rp.N]) {
      if (moduli.has(N)) throw new RangeError('aux-info: a modulus appears twice');
      moduli.add(N);
    }
    const { N, s, t } = pa.rp;
    if (s <= 1n || s >= N || t <= 1n || t >= N) throw new RangeError('aux-info: s, t out of range');
  }
}
