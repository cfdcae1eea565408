/**
 * Πelog: discrete log with an El-Gamal commitment (CGGMP'24, used in presigning to tie Γ_i and
 * Δ_i to the round-1 El-Gamal commitments). Statement (L, M, X, Y, H) ∈ E⁵ with witness (y, λ):
 *   L = λ·G,  M = y·G + λ·X,  Y = y·H
 * Commitment A = α·G, N = m·G + α·X, B = m·H; challenge e ∈ Z_q; responses
 *   z = α + e·λ,  u = m + e·y  (mod q)
 * Verifier: z·G = A + e·L, u·G + z·X = N + e·M, u·H = B + e·Y.
 * @module
 */
import { type Point, modq, mul, mulG, mulPublic, pointToBytes, q, randomScalar } from '../curve/secp256k1.js';
import { proofTranscript, type ProofBinding } from './binding.js';
import { check } from './errors.js';
import type { SecurityParams } from './params.js';

export const ELOG_TAG = 'mpc-engine/v1/presign/elog';
const PROOF = 'Πelog';

export interface ElogStatement {
  /** L = λ·G */
  readonly L: Point;
  /** M = y·G + λ·X */
  readonly M: Point;
  /** X: El-Gamal public key */
  readonly X: Point;
  /** Y = y·H */
  readonly Y: Point;
  /** H: base of Y */
  readonly H: Point;
}

export interface ElogWitness {
  /** y ∈ Z_q */
  readonly y: bigint;
  /** λ ∈ Z_q */
  readonly lambda: bigint;
}

export interface ElogProof {
  /** A = α·G */
  readonly A: Point;
  /** N = m·G + α·X */
  readonly N: Point;
  /** B = m·H */
  readonly B: Point;
  /** z = α + e·λ mod q */
  readonly z: bigint;
  /** u = m + e·y mod q */
  readonly u: bigint;
}

/** e ∈ Z_q bound to the binding, the whole statement and the commitment (docs/security.md A8). */
function challenge(binding: ProofBinding, L: SecurityParams, st: ElogStatement, A: Point, N: Point, B: Point): bigint {
  return proofTranscript(ELOG_TAG, binding, L)
    .byteList(
      'statement',
      [st.L, st.M, st.X, st.Y, st.H].map((P) => pointToBytes(P)),
    )
    .byteList(
      'commitment',
      [A, N, B].map((P) => pointToBytes(P)),
    )
    .challenge('e')
    .below(q);
}

/** Secret scalar multiples use the constant-time multiplication. */
export function proveElog(binding: ProofBinding, L: SecurityParams, st: ElogStatement, w: ElogWitness): ElogProof {
  const alpha = randomScalar();
  const m = randomScalar();
  const A = mulG(alpha);
  const N = mulG(m).add(mul(st.X, alpha));
  const B = mul(st.H, m);
  const e = challenge(binding, L, st, A, N, B);
  return { A, N, B, z: modq(alpha + e * w.lambda), u: modq(m + e * w.y) };
}

/** Throws InvalidProof ("elog/scalar-range", "elog/equation-1" … "elog/equation-3") unless valid. */
export function verifyElog(binding: ProofBinding, L: SecurityParams, st: ElogStatement, p: ElogProof): void {
  check(
    typeof p.z === 'bigint' && p.z >= 0n && p.z < q && typeof p.u === 'bigint' && p.u >= 0n && p.u < q,
    PROOF,
    'elog/scalar-range',
  );
  // points were validated (on the curve, not the identity) when the message was decoded
  const e = challenge(binding, L, st, p.A, p.N, p.B);
  check(mulG(p.z).equals(p.A.add(mulPublic(st.L, e))), PROOF, 'elog/equation-1');
  check(
    mulG(p.u)
      .add(mulPublic(st.X, p.z))
      .equals(p.N.add(mulPublic(st.M, e))),
    PROOF,
    'elog/equation-2',
  );
  check(mulPublic(st.H, p.u).equals(p.B.add(mulPublic(st.Y, e))), PROOF, 'elog/equation-3');
}
