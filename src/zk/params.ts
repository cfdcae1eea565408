/**
 * Security parameters L = (ℓ, ℓ′, ε, m, Q) of CGGMP'24 for secp256k1 at 128-bit security
 * (docs/security.md, "Decisions"): ℓ = λ = 256, ℓ′ = 5λ = 1280, ε = 2λ = 512, m = 128, Q = 2^m.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';

export interface SecurityParams {
  /** ℓ: bit bound of honest plaintexts such as k, γ, x (2^(ℓ+1) ≥ q) */
  readonly ell: number;
  /** ℓ′: bit bound of the additive masks β */
  readonly ellPrime: number;
  /** ε: slack of the range proofs */
  readonly epsilon: number;
  /** m: repetitions of Πmod and Πprm (soundness 2^−m) */
  readonly m: number;
  /** smallest Paillier / ring-Pedersen modulus accepted from a peer, in bits */
  readonly minModulusBits: number;
  /** largest modulus accepted from a peer, in bits */
  readonly maxModulusBits: number;
}

export const SECURITY_128: SecurityParams = Object.freeze({
  ell: 256,
  ellPrime: 1280,
  epsilon: 512,
  m: 128,
  minModulusBits: 3071,
  maxModulusBits: 4096,
});

/** q: order of the secp256k1 group. */
export const CURVE_ORDER: bigint = secp256k1.Point.CURVE().n;
