/**
 * Πfac: no small factor proof. The prover shows that its Paillier modulus N0 = p·q has no factor
 * below about 2^ℓ, by committing to p and q with the VERIFIER's ring-Pedersen parameters
 * (N̂, s, t), whose trapdoor only the verifier knows. This is what stops BitForge (docs/security.md A1):
 * Πmod accepts N0 = p·q with a 256-bit p, Πfac does not.
 *
 * CGGMP'24, ePrint 2021/060, "No small factor proof"; the implementer's description is §"Πfac: No
 * Small Factor Proof" of the cggmp21 specification (spec/main.tex). All commitments are mod N̂:
 *   prover:    α, β ← ±2^(ℓ+ε)·√N0;  μ, ν ← ±2^ℓ·N̂;  σ ← ±2^ℓ·N0·N̂;  r ← ±2^(ℓ+ε)·N0·N̂;
 *              x, y ← ±2^(ℓ+ε)·N̂
 *              P = s^p t^μ,  Q = s^q t^ν,  A = s^α t^x,  B = s^β t^y,  T = Q^α t^r,  and σ
 *   challenge: e ∈ ±q (q the secp256k1 order) from the transcript, by rejection
 *   prover:    z1 = α + e·p,  z2 = β + e·q,  w1 = x + e·μ,  w2 = y + e·ν,  v = r + e·(σ − ν·p)
 *   verifier:  R = s^N0 t^σ;  s^z1 t^w1 = A·P^e;  s^z2 t^w2 = B·Q^e;  Q^z1 t^v = T·R^e;
 *              z1, z2 ∈ ±2^(ℓ+ε)·√N0
 *
 * Where this pins down or departs from the paper and the spec:
 * - √N0 is the integer square root ⌊√N0⌋, for the prover's sampling and the verifier's range
 *   alike, so both use the same bound 2^(ℓ+ε)·⌊√N0⌋. It is below the real 2^(ℓ+ε)·√N0 by less
 *   than 2^(ℓ+ε) (relatively about 2^−1535 at 3072 bits): the check is never looser than the paper's.
 * - ±x means the closed interval [−x, x], for sampling and for the range checks.
 * - σ and R = s^N0 t^σ are as in the paper and paillier-zk; the cggmp21 spec text omits σ (σ = 0).
 * - e ∈ ±q as in the paper; the cggmp21 spec draws e ∈ ±2^ℓ (the same size for secp256k1).
 * - ⌊√N0⌋ is not part of the statement: both sides compute it from N0 (never from the wire).
 * - N0 and N̂ are size-checked before any arithmetic (including the spec's N0 > 2^(4ℓ)), and every
 *   commitment element and response is bounded before it is hashed or used as an exponent
 *   (docs/security.md A1, A16; synedrion PR #160).
 * What it proves here: extraction gives |p|, |q| ≤ 2^(ℓ+ε+1)·√N0, so both factors exceed
 * √N0 / 2^(ℓ+ε+1), about 2^767 for a 3072-bit N0 — far more than the 2^ℓ the paper states.
 *
 * Timing: the prover's exponents p, q and the nonces are secret; it uses constant-time comb tables
 * of s and t (FixedBase.pow) and Modulus.pow for Q^α. Signed secret exponents k ∈ ±M
 * are raised as base^(k + D) · base^(−D) with a public offset D ≥ M, so only the public bound
 * shows. LEAK: the responses (z1 = α + e·p, …) are computed with bigint arithmetic, whose timing
 * depends on operand lengths; they are published right after. The verifier works on public values
 * only and uses variable-time multi-exponentiation.
 * @module
 */
import { Modulus, bitLength, type FixedBase } from '../wasm/index.js';
import type { RingPedersenParams } from '../paillier/ring-pedersen.js';
import { randomSigned } from '../util/random.js';
import { proofTranscript, type ProofBinding } from './binding.js';
import { check } from './errors.js';
import { isUnit, isqrt } from './common.js';

export { isqrt } from './common.js';
import { CURVE_ORDER, type SecurityParams } from './params.js';

/** Domain tag of the Πfac transcript. */
export const FAC_TAG = 'mpc-engine/v1/aux/fac';

/** Proof name used in InvalidProof. */
const PROOF = 'Πfac';

/** The statement: the prover's Paillier modulus and the verifier's ring-Pedersen parameters. */
export interface FacStatement {
  /** N0 = p·q, the prover's Paillier modulus */
  readonly N0: bigint;
  /** (N̂, s, t), the VERIFIER's ring-Pedersen parameters (from its own state, never the wire) */
  readonly aux: RingPedersenParams;
}

/** The witness (secret). */
export interface FacWitness {
  /** p, with N0 = p·q */
  readonly p: bigint;
  /** q, with N0 = p·q */
  readonly q: bigint;
}

/** The prover's first message. */
export interface FacCommitment {
  /** P = s^p t^μ mod N̂ */
  readonly P: bigint;
  /** Q = s^q t^ν mod N̂ */
  readonly Q: bigint;
  /** A = s^α t^x mod N̂ */
  readonly A: bigint;
  /** B = s^β t^y mod N̂ */
  readonly B: bigint;
  /** T = Q^α t^r mod N̂ */
  readonly T: bigint;
  /** σ ∈ ±2^ℓ·N0·N̂, the exponent of t in R = s^N0 t^σ */
  readonly sigma: bigint;
}

/** The non-interactive proof: commitment and responses. */
export interface FacProof {
  readonly commitment: FacCommitment;
  /** z1 = α + e·p */
  readonly z1: bigint;
  /** z2 = β + e·q */
  readonly z2: bigint;
  /** w1 = x + e·μ */
  readonly w1: bigint;
  /** w2 = y + e·ν */
  readonly w2: bigint;
  /** v = r + e·(σ − ν·p) */
  readonly v: bigint;
}

/**
 * Largest bit length |value| may have, per field, before the verifier does any arithmetic with it
 * ("fac/size"). Each limit is what the honest prover can reach for ANY factorisation of N0 (not
 * only a balanced one), so the size check never hides a range-check failure: a BitForge modulus
 * gets through it and fails "fac/range-z1"/"fac/range-z2" as the paper intends. With a, b bounds
 * |a| < 2^A, |b| < 2^B we use |a + b| < 2^(max(A, B) + 1).
 */
export interface FacSizeLimits {
  /** P, Q, A, B, T: bit length of N̂ (their range is checked exactly afterwards) */
  readonly commitment: number;
  /** σ: ℓ + n0 + n̂ */
  readonly sigma: number;
  /** z1, z2: max(ℓ + ε + ⌈n0/2⌉, bits(q) + n0) + 1 */
  readonly z: number;
  /** w1, w2: max(ℓ + ε, bits(q) + ℓ) + n̂ + 1 */
  readonly w: number;
  /** v: max(ℓ + ε, bits(q) + ℓ + 1) + n0 + n̂ + 1 */
  readonly v: number;
}

/** Size limits for an n0-bit N0 and an n̂-bit N̂ (see FacSizeLimits). */
export function facSizeLimits(n0Bits: number, nHatBits: number, L: SecurityParams): FacSizeLimits {
  const { ell, epsilon } = L;
  const eBits = bitLength(CURVE_ORDER);
  return {
    commitment: nHatBits,
    sigma: ell + n0Bits + nHatBits,
    // α < 2^(ℓ+ε)·2^⌈n0/2⌉; e·p < 2^bits(q) · 2^n0 (p < N0)
    z: Math.max(ell + epsilon + Math.ceil(n0Bits / 2), eBits + n0Bits) + 1,
    // x < 2^(ℓ+ε)·N̂; e·μ < 2^bits(q) · 2^ℓ·N̂
    w: Math.max(ell + epsilon, eBits + ell) + nHatBits + 1,
    // r < 2^(ℓ+ε)·N0·N̂; |σ − ν·p| < 2^(ℓ+1)·N0·N̂, times e
    v: Math.max(ell + epsilon, eBits + ell + 1) + n0Bits + nHatBits + 1,
  };
}

/** The range of z1, z2 and of the nonces α, β: 2^(ℓ+ε)·⌊√N0⌋ (closed interval ±bound). */
export function facRangeBound(N0: bigint, L: SecurityParams): bigint {
  return isqrt(N0) << BigInt(L.ell + L.epsilon);
}

/**
 * The paper's last two checks: z1, z2 ∈ [−bound, bound] with bound = facRangeBound(N0, L).
 * This is the check that rejects a small factor: an honest z2 = β + e·q with a large q (small p)
 * lands far outside.
 * @throws {InvalidProof} "fac/range-z1" or "fac/range-z2"
 */
export function checkFacRanges(z1: bigint, z2: bigint, bound: bigint): void {
  check(-bound <= z1 && z1 <= bound, PROOF, 'fac/range-z1');
  check(-bound <= z2 && z2 <= bound, PROOF, 'fac/range-z2');
}

/** |x| < 2^bits, i.e. bit length of |x| at most `bits`; compares without converting x. */
function fitsBits(x: unknown, bits: number): x is bigint {
  if (typeof x !== 'bigint') return false;
  const lim = 1n << BigInt(bits);
  return -lim < x && x < lim;
}

/** Rejects local parameters that would make the proof meaningless (a bug, not a peer's fault). */
function assertParams(L: SecurityParams): void {
  for (const k of ['ell', 'epsilon', 'minModulusBits', 'maxModulusBits'] as const) {
    if (!Number.isSafeInteger(L[k]) || L[k] < 1)
      throw new RangeError(`security parameter ${k} must be a positive integer`);
  }
  if (L.maxModulusBits < L.minModulusBits)
    throw new RangeError('security parameters must give minModulusBits ≤ maxModulusBits');
}

function assertStatementTypes(st: FacStatement): void {
  if (typeof st !== 'object' || st === null || typeof st.aux !== 'object' || st.aux === null) {
    throw new TypeError('Πfac statement must be an object with aux');
  }
  if (typeof st.N0 !== 'bigint') throw new TypeError('Πfac statement N0 must be a bigint');
  for (const k of ['N', 's', 't'] as const) {
    if (typeof st.aux[k] !== 'bigint') throw new TypeError(`Πfac statement aux.${k} must be a bigint`);
  }
}

/**
 * e ∈ [−q, q]: the challenge, bound to the binding (sid, prover, verifier, ρ, L), the statement
 * (N0, N̂, s, t) and the whole commitment (P, Q, A, B, T, σ).
 */
export function facChallenge(
  binding: ProofBinding,
  L: SecurityParams,
  statement: FacStatement,
  commitment: FacCommitment,
): bigint {
  const { N0, aux } = statement;
  const c = commitment;
  return proofTranscript(FAC_TAG, binding, L)
    .int('N0', N0)
    .int('Nhat', aux.N)
    .int('s', aux.s)
    .int('t', aux.t)
    .int('P', c.P)
    .int('Q', c.Q)
    .int('A', c.A)
    .int('B', c.B)
    .int('T', c.T)
    .int('sigma', c.sigma)
    .challenge('e')
    .signed(CURVE_ORDER);
}

/**
 * Proves that N0 = p·q has no small factor, against the verifier's (N̂, s, t).
 *
 * The only check on the witness is N0 = p·q with p, q > 1: the prover does not refuse an
 * unbalanced factorisation, it produces a proof that every verifier rejects (the BitForge test
 * runs exactly this). Error messages never include p or q.
 * @throws {TypeError | RangeError} on malformed inputs or a witness that does not factor N0
 */
export function proveFac(
  binding: ProofBinding,
  L: SecurityParams,
  statement: FacStatement,
  witness: FacWitness,
): FacProof {
  assertParams(L);
  assertStatementTypes(statement);
  const { N0, aux } = statement;
  const { N: Nhat, s, t } = aux;
  if (typeof witness !== 'object' || witness === null) throw new TypeError('Πfac witness must be an object');
  const { p, q } = witness;
  if (typeof p !== 'bigint' || typeof q !== 'bigint') throw new TypeError('Πfac witness p and q must be bigints');
  if (p <= 1n || q <= 1n || p * q !== N0) throw new RangeError('Πfac witness does not factor N0');
  if (!isUnit(s, Nhat) || !isUnit(t, Nhat)) throw new RangeError('Πfac aux s and t must lie in Z*_N̂');

  const n0Bits = bitLength(N0);
  const ellEps = BigInt(L.ell + L.epsilon);
  const ell = BigInt(L.ell);
  /** bound of α, β: 2^(ℓ+ε)·⌊√N0⌋ */
  const mAlpha = facRangeBound(N0, L);
  /** bound of μ, ν: 2^ℓ·N̂ */
  const mMu = Nhat << ell;
  /** bound of σ: 2^ℓ·N0·N̂ */
  const mSigma = (N0 * Nhat) << ell;
  /** bound of r: 2^(ℓ+ε)·N0·N̂ */
  const mR = (N0 * Nhat) << ellEps;
  /** bound of x, y: 2^(ℓ+ε)·N̂ */
  const mX = Nhat << ellEps;

  const alpha = randomSigned(mAlpha);
  const beta = randomSigned(mAlpha);
  const mu = randomSigned(mMu);
  const nu = randomSigned(mMu);
  const sigma = randomSigned(mSigma);
  const r = randomSigned(mR);
  const x = randomSigned(mX);
  const y = randomSigned(mX);

  // Offsets that make the signed nonces non-negative: D_t ≥ every t-nonce bound, D_s ≥ |α|, |β|.
  // One offset per base, so base^(−D) is computed once; with a comb table the constant-time cost
  // depends on the table size only, not on the exponent, so a common large D_t costs nothing.
  const dT = mR;
  const dS = mAlpha;
  const mod = new Modulus(Nhat);
  const tables: FixedBase[] = [];
  try {
    const sTab = mod.fixedBase(s, Math.max(n0Bits, bitLength(2n * dS)));
    tables.push(sTab);
    const tTab = mod.fixedBase(t, bitLength(2n * dT));
    tables.push(tTab);
    // t^(−D_t), s^(−D_s): public exponents, variable time is fine
    const tOff = mod.inverse(tTab.powPublic(dT));
    const sOff = mod.inverse(sTab.powPublic(dS));
    /** s^a·t^b mod N̂ for secret a ≥ 0 (a < 2^sTab.maxBits) and b ∈ ±D_t, in constant time */
    const st = (a: bigint, b: bigint): bigint => mod.mul(mod.mul(sTab.pow(a), tTab.pow(b + dT)), tOff);

    const P = st(p, mu);
    const Q = st(q, nu);
    const A = mod.mul(st(alpha + dS, x), sOff);
    const B = mod.mul(st(beta + dS, y), sOff);
    // T = Q^α t^r = Q^(α + D_s) · Q^(−D_s) · t^(r + D_t) · t^(−D_t); Q is a new base, no table
    const qAlpha = mod.mul(mod.pow(Q, alpha + dS, bitLength(2n * dS)), mod.powPublic(Q, -dS));
    const T = mod.mul(mod.mul(qAlpha, tTab.pow(r + dT)), tOff);

    const commitment: FacCommitment = { P, Q, A, B, T, sigma };
    const e = facChallenge(binding, L, statement, commitment);
    return {
      commitment,
      z1: alpha + e * p,
      z2: beta + e * q,
      w1: x + e * mu,
      w2: y + e * nu,
      v: r + e * (sigma - nu * p),
    };
  } finally {
    for (const tb of tables) tb.dispose();
    mod.dispose();
  }
}

/** What verification needs after the input checks. */
interface Checked {
  readonly bound: bigint;
}

/**
 * Every check that comes before the challenge, cheapest first, so no one can make us hash or
 * exponentiate oversized numbers:
 * 1. N0 odd, N0 > 2^(4ℓ) (spec) and bit length within [minModulusBits, maxModulusBits]
 *    ("fac/modulus-size", before anything else: synedrion PR #160, docs/security.md A1);
 * 2. N̂ odd with bit length within the same bounds ("fac/aux-size"), s, t ∈ Z*_N̂ ("fac/aux-range");
 * 3. every commitment element and response bounded by facSizeLimits ("fac/size");
 * 4. P, Q, A, B, T ∈ Z*_N̂ ("fac/commitment-range").
 */
function checkInputs(L: SecurityParams, statement: FacStatement, proof: FacProof): Checked {
  assertParams(L);
  assertStatementTypes(statement);
  const { N0, aux } = statement;
  const { N: Nhat, s, t } = aux;

  const minBits = Math.max(L.minModulusBits, 4 * L.ell + 1);
  const n0Bits = N0 > 0n ? bitLength(N0) : 0;
  // odd and at least 4ℓ + 1 bits: N0 > 2^(4ℓ) as the spec requires
  check((N0 & 1n) === 1n && n0Bits >= minBits && n0Bits <= L.maxModulusBits, PROOF, 'fac/modulus-size');

  const nHatBits = Nhat > 0n ? bitLength(Nhat) : 0;
  check((Nhat & 1n) === 1n && nHatBits >= L.minModulusBits && nHatBits <= L.maxModulusBits, PROOF, 'fac/aux-size');
  check(isUnit(s, Nhat) && isUnit(t, Nhat), PROOF, 'fac/aux-range');

  check(
    typeof proof === 'object' && proof !== null && typeof proof.commitment === 'object' && proof.commitment !== null,
    PROOF,
    'fac/size',
  );
  const c = proof.commitment;
  const lim = facSizeLimits(n0Bits, nHatBits, L);
  const sized: Array<[unknown, number]> = [
    [c.P, lim.commitment],
    [c.Q, lim.commitment],
    [c.A, lim.commitment],
    [c.B, lim.commitment],
    [c.T, lim.commitment],
    [c.sigma, lim.sigma],
    [proof.z1, lim.z],
    [proof.z2, lim.z],
    [proof.w1, lim.w],
    [proof.w2, lim.w],
    [proof.v, lim.v],
  ];
  for (const [value, bits] of sized) check(fitsBits(value, bits), PROOF, 'fac/size');

  for (const X of [c.P, c.Q, c.A, c.B, c.T]) check(isUnit(X, Nhat), PROOF, 'fac/commitment-range');
  return { bound: facRangeBound(N0, L) };
}

/**
 * The paper's three equations and two range checks for challenge e. The equations are checked
 * in an equivalent form with one multi-exponentiation each (P, Q, s, t are units, so moving a
 * factor to the other side is exact):
 *   s^z1 t^w1 = A·P^e        ⇔  s^z1 · t^w1 · P^(−e) = A
 *   s^z2 t^w2 = B·Q^e        ⇔  s^z2 · t^w2 · Q^(−e) = B
 *   Q^z1 t^v = T·(s^N0 t^σ)^e ⇔  Q^z1 · t^(v − e·σ) · s^(−e·N0) = T
 */
function checkEquations(statement: FacStatement, proof: FacProof, e: bigint, checked: Checked): void {
  const { N0, aux } = statement;
  const { s, t } = aux;
  const { P, Q, A, B, T, sigma } = proof.commitment;
  const { z1, z2, w1, w2, v } = proof;
  const mod = new Modulus(aux.N);
  try {
    check(
      mod.multiPowPublic([
        [s, z1],
        [t, w1],
        [P, -e],
      ]) === A,
      PROOF,
      'fac/equation-1',
    );
    check(
      mod.multiPowPublic([
        [s, z2],
        [t, w2],
        [Q, -e],
      ]) === B,
      PROOF,
      'fac/equation-2',
    );
    check(
      mod.multiPowPublic([
        [Q, z1],
        [t, v - e * sigma],
        [s, -e * N0],
      ]) === T,
      PROOF,
      'fac/equation-3',
    );
  } finally {
    mod.dispose();
  }
  checkFacRanges(z1, z2, checked.bound);
}

/**
 * The interactive verifier (the spec's Verify_fac) for a given challenge e: all checks of
 * verifyFac except the derivation of e. For tests and for the simulator's point of view; the
 * protocol uses verifyFac.
 * @throws {InvalidProof} as verifyFac
 */
export function verifyFacInteractive(L: SecurityParams, statement: FacStatement, proof: FacProof, e: bigint): void {
  const checked = checkInputs(L, statement, proof);
  checkEquations(statement, proof, e, checked);
}

/**
 * Verifies Πfac for the statement the verifier holds: N0 from its stored copy of the prover's key
 * and its OWN (N̂, s, t). Checks, in order: "fac/modulus-size", "fac/aux-size", "fac/aux-range",
 * "fac/size", "fac/commitment-range", then with e from the transcript "fac/equation-1",
 * "fac/equation-2", "fac/equation-3", "fac/range-z1", "fac/range-z2".
 * @throws {InvalidProof} with one of the reasons above
 * @throws {TypeError | RangeError} on a statement that is not bigints or bad local parameters
 */
export function verifyFac(binding: ProofBinding, L: SecurityParams, statement: FacStatement, proof: FacProof): void {
  const checked = checkInputs(L, statement, proof);
  const e = facChallenge(binding, L, statement, proof.commitment);
  checkEquations(statement, proof, e, checked);
}
