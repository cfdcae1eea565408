/**
 * Πaff-g: Paillier affine operation with group commitment in range (CGGMP'24 presigning round 2).
 * P_i proves to P_j that D = (x ⊙ C) ⊕ Enc_Nj(y; ρ), Y = Enc_Ni(y; ρ_y) and X = x·G with
 * x ∈ ±2^(ℓ+ε), y ∈ ±2^(ℓ′+ε) (docs/security.md A2), against P_j's ring-Pedersen (N̂, s, t).
 *
 * Commitment: A = C^α·Enc_Nj(β; r), B_x = α·G, B_y = Enc_Ni(β; r_y), E = s^α·t^γ, S = s^x·t^m,
 * F = s^β·t^δ, T = s^y·t^μ (mod N̂). Challenge e ∈ ±q. Responses: z1 = α + e·x, z2 = β + e·y,
 * z3 = γ + e·m, z4 = δ + e·μ, w = r·ρ^e mod N_j, w_y = r_y·ρ_y^e mod N_i.
 * Verifier: A·D^e = C^z1·Enc_Nj(z2; w), z1·G = B_x + e·X, B_y·Y^e = Enc_Ni(z2; w_y),
 * s^z1·t^z3 = E·S^e, s^z2·t^z4 = F·T^e, |z1| ≤ 2^(ℓ+ε), |z2| ≤ 2^(ℓ′+ε).
 * @module
 */
import { Modulus, bitLength } from '../wasm/index.js';
import type { RingPedersenParams } from '../paillier/ring-pedersen.js';
import { PaillierPublicKey } from '../paillier/public-key.js';
import type { PaillierSecretKey } from '../paillier/secret-key.js';
import { takeNonce } from '../paillier/nonce-pool.js';
import { randomSigned } from '../util/random.js';
import { gcd } from '../util/gcd.js';
import { type Point, mulG, mulPublic, pointToBytes, q } from '../curve/secp256k1.js';
import { proofTranscript, type ProofBinding } from './binding.js';
import { check } from './errors.js';
import { inverseBlinded, isUnit, pedersenEquationHolds, powSignedSecret } from './common.js';
import type { SecurityParams } from './params.js';

export const AFF_G_TAG = 'mpc-engine/v1/presign/aff-g';
const PROOF = 'Πaff-g';

export interface AffGStatement {
  /** N_j: the verifier's Paillier modulus (C, D are under it) */
  readonly Nj: bigint;
  /** N_i: the prover's Paillier modulus (Y is under it) */
  readonly Ni: bigint;
  /** C = K_j ∈ Z*_{N_j²} */
  readonly C: bigint;
  /** D = (x ⊙ C) ⊕ Enc_Nj(y; ρ) */
  readonly D: bigint;
  /** Y = Enc_Ni(y; ρ_y) */
  readonly Y: bigint;
  /** X = x·G */
  readonly X: Point;
  /** (N̂, s, t): the verifier's ring-Pedersen parameters */
  readonly aux: RingPedersenParams;
}

export interface AffGWitness {
  /** x ∈ ±2^ℓ */
  readonly x: bigint;
  /** y ∈ ±2^ℓ′ */
  readonly y: bigint;
  /** ρ ∈ Z*_{N_j} */
  readonly rho: bigint;
  /** ρ_y ∈ Z*_{N_i} */
  readonly rhoY: bigint;
}

export interface AffGProof {
  readonly A: bigint;
  readonly Bx: Point;
  readonly By: bigint;
  readonly E: bigint;
  readonly S: bigint;
  readonly F: bigint;
  readonly T: bigint;
  /** z1 = α + e·x */
  readonly z1: bigint;
  /** z2 = β + e·y */
  readonly z2: bigint;
  /** z3 = γ + e·m */
  readonly z3: bigint;
  /** z4 = δ + e·μ */
  readonly z4: bigint;
  /** w = r·ρ^e mod N_j */
  readonly w: bigint;
  /** w_y = r_y·ρ_y^e mod N_i */
  readonly wY: bigint;
}

function challenge(
  binding: ProofBinding,
  L: SecurityParams,
  st: AffGStatement,
  p: Pick<AffGProof, 'A' | 'Bx' | 'By' | 'E' | 'S' | 'F' | 'T'>,
): bigint {
  return proofTranscript(AFF_G_TAG, binding, L)
    .ints('statement', [st.Nj, st.Ni, st.C, st.D, st.Y, st.aux.N, st.aux.s, st.aux.t])
    .bytes('X', pointToBytes(st.X))
    .ints('commitment', [p.A, p.By, p.E, p.S, p.F, p.T])
    .bytes('Bx', pointToBytes(p.Bx))
    .challenge('e')
    .signed(q);
}

/** x^e mod N for a secret unit x and a public signed e with |e| < 2^256 (blinded inverse when e < 0). */
function powPublicSigned(m: Modulus, x: bigint, e: bigint): bigint {
  const base = e < 0n ? inverseBlinded(m, x) : x;
  return m.pow(base, e < 0n ? -e : e, 257);
}

/**
 * The prover knows its own Paillier key sk_i (for B_y by CRT); ψ for D_{j,i} uses N_j's public key.
 * Secret exponents run in constant time; their public bounds are all the timing shows.
 */
export function proveAffG(
  binding: ProofBinding,
  L: SecurityParams,
  st: AffGStatement,
  w: AffGWitness,
  sk: PaillierSecretKey,
): AffGProof {
  if (sk.N !== st.Ni) throw new RangeError('Πaff-g: the secret key does not match N_i');
  const pkJ = new PaillierPublicKey(st.Nj, { minBits: L.minModulusBits, maxBits: L.maxModulusBits });
  const { N: Nhat, s, t } = st.aux;
  const modHat = new Modulus(Nhat);
  const modNj = new Modulus(st.Nj);
  const modNj2 = new Modulus(st.Nj * st.Nj);
  const modNi = new Modulus(st.Ni);
  try {
    const hatBits = bitLength(Nhat);
    const aBits = L.ell + L.epsilon;
    const bBits = L.ellPrime + L.epsilon;
    const alpha = randomSigned(1n << BigInt(aBits));
    const beta = randomSigned(1n << BigInt(bBits));
    const gamma = randomSigned((1n << BigInt(aBits)) * Nhat);
    const delta = randomSigned((1n << BigInt(aBits)) * Nhat);
    const m = randomSigned((1n << BigInt(L.ell)) * Nhat);
    const mu = randomSigned((1n << BigInt(L.ell)) * Nhat);
    const { rho: r, factor: rN } = takeNonce(pkJ);
    const { rho: rY, factor: rYN } = takeNonce(sk);
    const commit = (k: bigint, kBits: number, l: bigint, lBits: number) =>
      modHat.mul(powSignedSecret(modHat, s, k, kBits, true), powSignedSecret(modHat, t, l, lBits, true));
    // an honest x, y is in range; a larger one (a cheating prover, in tests) widens only its own bound
    const xBits = Math.max(L.ell, bitLength(w.x)) + 1;
    const yBits = Math.max(L.ellPrime, bitLength(w.y)) + 1;
    const A = modNj2.mul(powSignedSecret(modNj2, st.C, alpha, aBits + 1), pkJ.encryptWithFactor(beta, rN));
    const Bx = mulG(alpha);
    const By = sk.publicKey.encryptWithFactor(beta, rYN);
    const E = commit(alpha, aBits + 1, gamma, aBits + hatBits + 1);
    const S = commit(w.x, xBits, m, L.ell + hatBits + 1);
    const F = commit(beta, bBits + 1, delta, aBits + hatBits + 1);
    const T = commit(w.y, yBits, mu, L.ell + hatBits + 1);
    const e = challenge(binding, L, st, { A, Bx, By, E, S, F, T });
    return {
      A,
      Bx,
      By,
      E,
      S,
      F,
      T,
      z1: alpha + e * w.x,
      z2: beta + e * w.y,
      z3: gamma + e * m,
      z4: delta + e * mu,
      w: modNj.mul(r, powPublicSigned(modNj, w.rho, e)),
      wY: modNi.mul(rY, powPublicSigned(modNi, w.rhoY, e)),
    };
  } finally {
    for (const x of [modHat, modNj, modNj2, modNi]) x.dispose();
  }
}

function inZStarSquared(c: unknown, N: bigint): c is bigint {
  return typeof c === 'bigint' && c > 0n && c < N * N && gcd(c, N) === 1n;
}

/**
 * Verifies with the statement rebuilt from the verifier's own state (its own K_j as C, its own
 * (N̂, s, t), the prover's X from the key share or round-1 data). Throws InvalidProof:
 * "aff-g/statement", "aff-g/size", "aff-g/range-z1", "aff-g/range-z2", "aff-g/commitment-range",
 * "aff-g/paillier-j", "aff-g/group", "aff-g/paillier-i", "aff-g/pedersen-1", "aff-g/pedersen-2".
 * The verifier's own Paillier key, when given, computes the check under N_j by CRT.
 */
export function verifyAffG(
  binding: ProofBinding,
  L: SecurityParams,
  st: AffGStatement,
  p: AffGProof,
  verifierKey?: PaillierSecretKey,
): void {
  const { Nj, Ni, C, D, Y } = st;
  const Nhat = st.aux.N;
  const sizeOk = (N: bigint) => (N & 1n) === 1n && bitLength(N) >= L.minModulusBits && bitLength(N) <= L.maxModulusBits;
  check(sizeOk(Nj) && sizeOk(Ni), PROOF, 'aff-g/statement');
  check(inZStarSquared(C, Nj) && inZStarSquared(D, Nj) && inZStarSquared(Y, Ni), PROOF, 'aff-g/statement');
  // sizes before any arithmetic (docs/security.md A16): z3, z4 ≤ 2^(ℓ+ε)·N̂ + q·2^ℓ·N̂
  const zBits = L.ell + L.epsilon + bitLength(Nhat) + 2;
  check(
    [p.z1, p.z2, p.z3, p.z4].every((z) => typeof z === 'bigint') &&
      bitLength(p.z3) <= zBits &&
      bitLength(p.z4) <= zBits,
    PROOF,
    'aff-g/size',
  );
  const r1 = 1n << BigInt(L.ell + L.epsilon);
  const r2 = 1n << BigInt(L.ellPrime + L.epsilon);
  check(-r1 <= p.z1 && p.z1 <= r1, PROOF, 'aff-g/range-z1');
  check(-r2 <= p.z2 && p.z2 <= r2, PROOF, 'aff-g/range-z2');
  check(inZStarSquared(p.A, Nj) && inZStarSquared(p.By, Ni), PROOF, 'aff-g/commitment-range');
  check(isUnit(p.w, Nj) && isUnit(p.wY, Ni), PROOF, 'aff-g/commitment-range');
  check(
    [p.E, p.S, p.F, p.T].every((v) => isUnit(v, Nhat)),
    PROOF,
    'aff-g/commitment-range',
  );
  const e = challenge(binding, L, st, p);
  const modNj2 = new Modulus(Nj * Nj);
  const modNi2 = new Modulus(Ni * Ni);
  try {
    // A·D^e = C^z1·(1 + z2·N_j)·w^N_j  ⇔  C^z1·w^N_j·D^(−e)·(1 + z2·N_j) = A  (mod N_j²)
    const z2j = ((p.z2 % Nj) + Nj) % Nj;
    const terms: [bigint, bigint][] = [
      [C, p.z1],
      [D, -e],
    ];
    const prod =
      verifierKey?.N === Nj ? verifierKey.multiPowN2(p.w, terms) : modNj2.multiPowPublic([...terms, [p.w, Nj]]);
    check(modNj2.mul(1n + z2j * Nj, prod) === p.A, PROOF, 'aff-g/paillier-j');
    check(mulG(p.z1).equals(p.Bx.add(mulPublic(st.X, e))), PROOF, 'aff-g/group');
    // B_y·Y^e = (1 + z2·N_i)·w_y^N_i  ⇔  w_y^N_i·Y^(−e)·(1 + z2·N_i) = B_y  (mod N_i²)
    const z2i = ((p.z2 % Ni) + Ni) % Ni;
    check(
      modNi2.mul(
        1n + z2i * Ni,
        modNi2.multiPowPublic([
          [p.wY, Ni],
          [Y, -e],
        ]),
      ) === p.By,
      PROOF,
      'aff-g/paillier-i',
    );
    // s^z1·t^z3 = E·S^e, s^z2·t^z4 = F·T^e (mod N̂); |z3|, |z4| < 2^zBits and the z1, z2 ranges checked above
    check(
      pedersenEquationHolds(st.aux, p.z1, L.ell + L.epsilon + 1, p.z3, zBits, p.S, e, p.E),
      PROOF,
      'aff-g/pedersen-1',
    );
    check(
      pedersenEquationHolds(st.aux, p.z2, L.ellPrime + L.epsilon + 1, p.z4, zBits, p.T, e, p.F),
      PROOF,
      'aff-g/pedersen-2',
    );
  } finally {
    for (const x of [modNj2, modNi2]) x.dispose();
  }
}
