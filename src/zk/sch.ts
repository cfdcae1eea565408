/**
 * Πsch: Schnorr proof of knowledge of x with X = x·G (CGGMP'24, used in key generation).
 * The commitment A = τ·G is sent (hash-committed) before the challenge is known; the proof is
 * z = τ + e·x mod q with e derived from the transcript; the verifier checks z·G = A + e·X.
 * @module
 */
import { type Point, modq, mulG, mulPublic, pointToBytes, q, randomScalar } from '../curve/secp256k1.js';
import { check } from './errors.js';
import { Transcript } from './transcript.js';

export const SCH_TAG = 'mpc-engine/v1/keygen/sch';

/** The prover's secret commitment nonce τ and public A = τ·G. */
export interface SchCommitment {
  /** A = τ·G */
  readonly A: Point;
}

export interface SchNonce {
  /** τ ∈ Z_q (secret, single use) */
  readonly tau: bigint;
}

/** Fresh commitment (A; τ). */
export function commitSch(): { commitment: SchCommitment; nonce: SchNonce } {
  const tau = randomScalar();
  return { commitment: { A: mulG(tau) }, nonce: { tau } };
}

/** e = H(sid, i, rid, X, A) ∈ Z_q: the challenge, bound to the session, prover and joint rid. */
export function challengeSch(sid: Uint8Array, prover: number, rid: Uint8Array, X: Point, A: Point): bigint {
  return new Transcript(SCH_TAG)
    .bytes('sid', sid)
    .uint('prover', prover)
    .bytes('rid', rid)
    .bytes('X', pointToBytes(X))
    .bytes('A', pointToBytes(A))
    .challenge('e')
    .below(q);
}

/** z = τ + e·x mod q. */
export function proveSch(e: bigint, nonce: SchNonce, x: bigint): bigint {
  return modq(nonce.tau + e * x);
}

/** Throws InvalidProof unless z is a canonical scalar and z·G = A + e·X. */
export function verifySch(X: Point, A: Point, e: bigint, z: bigint): void {
  check(typeof z === 'bigint' && z >= 0n && z < q, 'Πsch', 'sch/z-range');
  check(mulG(z).equals(A.add(mulPublic(X, e))), 'Πsch', 'sch/equation');
}
