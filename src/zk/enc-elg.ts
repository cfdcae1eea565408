/**
 * Πenc-elg: Paillier encryption in range with an El-Gamal commitment (CGGMP'24 presigning round 1).
 * Statement: the prover's Paillier N0, ciphertext C, points A, B, X and the VERIFIER's ring-Pedersen
 * (N̂, s, t); witness (x, ρ, a, b) with C = Enc_N0(x; ρ), A = a·G, B = b·G, X = (a·b + x)·G and
 * x ∈ ±2^ℓ. The verifier learns x ∈ ±2^(ℓ+ε) (docs/security.md A2).
 *
 * Commitment: S = s^x·t^μ, T = s^α·t^γ (mod N̂), D = Enc_N0(α; r), Y = β·A + α·G, Z = β·G.
 * Challenge e ∈ ±q. Responses: z1 = α + e·x, z2 = r·ρ^e mod N0, z3 = γ + e·μ, w = β + e·b mod q.
 * Verifier: Enc(z1; z2) = D·C^e (mod N0²), w·A + z1·G = Y + e·X, w·G = Z + e·B,
 * s^z1·t^z3 = T·S^e (mod N̂), |z1| ≤ 2^(ℓ+ε).
 * @module
 */
import { Modulus, bitLength } from '../wasm/index.js';
import type { RingPedersenParams } from '../paillier/ring-pedersen.js';
import type { PaillierSecretKey } from '../paillier/secret-key.js';
import { takeNonce } from '../paillier/nonce-pool.js';
import { randomSigned } from '../util/random.js';
import { gcd } from '../util/gcd.js';
import { type Point, modq, mul, mulG, mulPublic, pointToBytes, q, randomScalar } from '../curve/secp256k1.js';
import { proofTranscript, type ProofBinding } from './binding.js';
import { check } from './errors.js';
import { inverseBlinded, isUnit, pedersenEquationHolds, powSignedSecret } from './common.js';
import type { SecurityParams } from './params.js';

export const ENC_ELG_TAG = 'mpc-engine/v1/presign/enc-elg';
const PROOF = 'Πenc-elg';

export interface EncElgStatement {
  /** N0: the prover's Paillier modulus */
  readonly N0: bigint;
  /** C = Enc_N0(x; ρ) */
  readonly C: bigint;
  /** A = a·G */
  readonly A: Point;
  /** B = b·G */
  readonly B: Point;
  /** X = (a·b + x)·G */
  readonly X: Point;
  /** (N̂, s, t): the verifier's ring-Pedersen parameters */
  readonly aux: RingPedersenParams;
}

export interface EncElgWitness {
  /** x ∈ ±2^ℓ */
  readonly x: bigint;
  /** ρ ∈ Z*_N0 */
  readonly rho: bigint;
  /** b ∈ Z_q */
  readonly b: bigint;
}

export interface EncElgProof {
  /** S = s^x·t^μ mod N̂ */
  readonly S: bigint;
  /** T = s^α·t^γ mod N̂ */
  readonly T: bigint;
  /** D = Enc_N0(α; r) */
  readonly D: bigint;
  /** Y = β·A + α·G */
  readonly Y: Point;
  /** Z = β·G */
  readonly Z: Point;
  /** z1 = α + e·x */
  readonly z1: bigint;
  /** z2 = r·ρ^e mod N0 */
  readonly z2: bigint;
  /** z3 = γ + e·μ */
  readonly z3: bigint;
  /** w = β + e·b mod q */
  readonly w: bigint;
}

function challenge(
  binding: ProofBinding,
  L: SecurityParams,
  st: EncElgStatement,
  p: Pick<EncElgProof, 'S' | 'T' | 'D' | 'Y' | 'Z'>,
): bigint {
  return proofTranscript(ENC_ELG_TAG, binding, L)
    .int('N0', st.N0)
    .int('C', st.C)
    .byteList(
      'points',
      [st.A, st.B, st.X].map((P) => pointToBytes(P)),
    )
    .int('aux-N', st.aux.N)
    .int('aux-s', st.aux.s)
    .int('aux-t', st.aux.t)
    .ints('commitment', [p.S, p.T, p.D])
    .byteList(
      'commitment-points',
      [p.Y, p.Z].map((P) => pointToBytes(P)),
    )
    .challenge('e')
    .signed(q);
}

/** Largest |z3|: γ + e·μ with |γ| ≤ 2^(ℓ+ε)·N̂, |e| ≤ q, |μ| ≤ 2^ℓ·N̂. */
function z3Bits(L: SecurityParams, Nhat: bigint): number {
  return Math.max(L.ell + L.epsilon, L.ell + 256) + bitLength(Nhat) + 2;
}

/** The prover knows its own Paillier key (for the CRT encryption of α). */
export function proveEncElg(
  binding: ProofBinding,
  L: SecurityParams,
  st: EncElgStatement,
  w: EncElgWitness,
  sk: PaillierSecretKey,
): EncElgProof {
  if (sk.N !== st.N0) throw new RangeError('Πenc-elg: the secret key does not match N0');
  const { N: Nhat, s, t } = st.aux;
  const modHat = new Modulus(Nhat);
  const modN0 = new Modulus(st.N0);
  try {
    const bAE = L.ell + L.epsilon;
    const alpha = randomSigned(1n << BigInt(bAE));
    const mu = randomSigned((1n << BigInt(L.ell)) * Nhat);
    const gamma = randomSigned((1n << BigInt(bAE)) * Nhat);
    const beta = randomScalar();
    const { rho: r, factor: rN } = takeNonce(sk);
    const hatBits = bitLength(Nhat);
    // s^k·t^l with secret signed exponents, constant time in k and l (bounds are public)
    const commit = (k: bigint, kBits: number, l: bigint, lBits: number) =>
      modHat.mul(powSignedSecret(modHat, s, k, kBits, true), powSignedSecret(modHat, t, l, lBits, true));
    // an honest x is in ±2^ℓ; a larger one (a cheating prover, in tests) only widens its own bound
    const S = commit(w.x, Math.max(L.ell, bitLength(w.x)) + 1, mu, L.ell + hatBits + 1);
    const T = commit(alpha, bAE + 1, gamma, bAE + hatBits + 1);
    const D = sk.publicKey.encryptWithFactor(alpha, rN);
    const Y = mul(st.A, beta).add(mulG(modq(alpha)));
    const Z = mulG(beta);
    const e = challenge(binding, L, st, { S, T, D, Y, Z });
    // ρ^e for a public signed e: invert ρ (blinded) when e < 0
    const base = e < 0n ? inverseBlinded(modN0, w.rho) : w.rho;
    const z2 = modN0.mul(r, modN0.pow(base, e < 0n ? -e : e, 257));
    return { S, T, D, Y, Z, z1: alpha + e * w.x, z2, z3: gamma + e * mu, w: modq(beta + e * w.b) };
  } finally {
    modHat.dispose();
    modN0.dispose();
  }
}

/**
 * Verifies with the statement rebuilt from the verifier's own state. Throws InvalidProof:
 * "enc-elg/statement" (C not in Z*_N0², sizes), "enc-elg/size", "enc-elg/range-z1",
 * "enc-elg/commitment-range", "enc-elg/paillier", "enc-elg/elgamal-1", "enc-elg/elgamal-2",
 * "enc-elg/pedersen".
 */
export function verifyEncElg(binding: ProofBinding, L: SecurityParams, st: EncElgStatement, p: EncElgProof): void {
  const { N0, C } = st;
  const Nhat = st.aux.N;
  const N02 = N0 * N0;
  check(
    (N0 & 1n) === 1n && bitLength(N0) >= L.minModulusBits && bitLength(N0) <= L.maxModulusBits,
    PROOF,
    'enc-elg/statement',
  );
  check(C > 0n && C < N02 && gcd(C, N0) === 1n, PROOF, 'enc-elg/statement');
  // sizes before any arithmetic (docs/security.md A16); z1's range is the proof's point (docs/security.md A2)
  check(
    typeof p.z1 === 'bigint' && typeof p.z3 === 'bigint' && bitLength(p.z3) <= z3Bits(L, Nhat),
    PROOF,
    'enc-elg/size',
  );
  const bound = 1n << BigInt(L.ell + L.epsilon);
  check(-bound <= p.z1 && p.z1 <= bound, PROOF, 'enc-elg/range-z1');
  check(typeof p.w === 'bigint' && p.w >= 0n && p.w < q, PROOF, 'enc-elg/size');
  check(isUnit(p.S, Nhat) && isUnit(p.T, Nhat), PROOF, 'enc-elg/commitment-range');
  check(typeof p.D === 'bigint' && p.D > 0n && p.D < N02 && gcd(p.D, N0) === 1n, PROOF, 'enc-elg/commitment-range');
  check(isUnit(p.z2, N0), PROOF, 'enc-elg/commitment-range');
  const e = challenge(binding, L, st, p);
  // Enc(z1; z2) = D·C^e  ⇔  (1 + z1·N0)·z2^N0·C^(−e) = D (mod N0²)
  const modN02 = new Modulus(N02);
  try {
    const z1r = ((p.z1 % N0) + N0) % N0;
    const lhs = modN02.mul(
      1n + z1r * N0,
      modN02.multiPowPublic([
        [p.z2, N0],
        [C, -e],
      ]),
    );
    check(lhs === p.D, PROOF, 'enc-elg/paillier');
    check(
      mulPublic(st.A, p.w)
        .add(mulG(modq(p.z1)))
        .equals(p.Y.add(mulPublic(st.X, e))),
      PROOF,
      'enc-elg/elgamal-1',
    );
    check(mulG(p.w).equals(p.Z.add(mulPublic(st.B, e))), PROOF, 'enc-elg/elgamal-2');
    // s^z1·t^z3 = T·S^e (mod N̂), |z1| ≤ 2^(ℓ+ε) and |z3| < 2^z3Bits checked above
    check(
      pedersenEquationHolds(st.aux, p.z1, L.ell + L.epsilon + 1, p.z3, z3Bits(L, Nhat), p.S, e, p.T),
      PROOF,
      'enc-elg/pedersen',
    );
  } finally {
    modN02.dispose();
  }
}
