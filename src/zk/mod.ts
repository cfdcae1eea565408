/**
 * Πmod: proof that N is a Paillier–Blum modulus, N = p·q with primes p ≡ q ≡ 3 (mod 4) and
 * gcd(N, φ(N)) = 1. CGGMP'24, ePrint 2021/060, the Paillier–Blum modulus proof (Figure "Πmod");
 * the implementer's description is §"Πmod: Paillier-Blum Modulus" of the cggmp21 specification
 * (spec/main.tex).
 *
 * Non-interactive, m parallel repetitions (soundness 2^−m):
 *   prover:    w ∈ Z*_N with Jacobi symbol (w | N) = −1
 *   challenge: y_1..y_m ∈ Z*_N sampled by rejection from H(tag, binding, N, w)
 *   prover:    for each i, bits a_i, b_i with y′_i = (−1)^(a_i)·w^(b_i)·y_i a square mod N,
 *              x_i = a 4th root of y′_i, z_i = y_i^(N⁻¹ mod φ(N)) mod N
 *   verifier:  z_i^N = y_i and x_i^4 = (−1)^(a_i)·w^(b_i)·y_i (mod N)
 * The N-th roots show gcd(N, φ(N)) = 1 (so N is square-free); the 4th roots with only four
 * classes (−1)^a·w^b show that the squares have index 4 in Z*_N, i.e. N has exactly two prime
 * factors, both ≡ 3 (mod 4). That the factors are large is Πfac's job, not this proof's.
 *
 * The verifier also checks what CGGMP'24 and the later fixes require (docs/security.md A1): N odd, not
 * prime, within the size bounds; w, x_i, z_i ∈ Z*_N; and, as defence in depth, (w | N) = −1.
 * @module
 */
import { checkPrimeSync } from 'node:crypto';
import { CrtModulus, Modulus, bitLength, modInv } from '../wasm/index.js';
import { gcd } from '../util/gcd.js';
import { randomBelow } from '../util/random.js';
import { proofTranscript, type ProofBinding } from './binding.js';
import { check } from './errors.js';
import { assertRepetitionParams, isUnit } from './common.js';
import type { SecurityParams } from './params.js';

/** Domain tag of the Πmod transcript. */
export const MOD_TAG = 'mpc-engine/v1/aux/mod';

/** Proof name used in InvalidProof. */
const PROOF = 'Πmod';

/** The statement: the modulus. */
export interface ModStatement {
  /** N = p·q */
  readonly N: bigint;
}

/** The witness (secret): the factorisation. */
export interface ModWitness {
  /** p, prime, ≡ 3 (mod 4) */
  readonly p: bigint;
  /** q, prime, ≡ 3 (mod 4), q ≠ p */
  readonly q: bigint;
}

/** One repetition. */
export interface ModItem {
  /** x_i with x_i^4 = (−1)^(a_i)·w^(b_i)·y_i mod N */
  readonly x: bigint;
  /** a_i: multiply y_i by −1 */
  readonly a: boolean;
  /** b_i: multiply y_i by w */
  readonly b: boolean;
  /** z_i = y_i^(N⁻¹ mod φ(N)) mod N */
  readonly z: bigint;
}

export interface ModProof {
  /** w ∈ Z*_N with (w | N) = −1 */
  readonly w: bigint;
  /** (x_i, a_i, b_i, z_i), i = 1..m */
  readonly items: ModItem[];
}

function assertStatementTypes(st: ModStatement): void {
  if (typeof st !== 'object' || st === null || typeof st.N !== 'bigint')
    throw new TypeError('Πmod statement N must be a bigint');
}

/**
 * y_1..y_m ∈ Z*_N: uniform in [0, N) from the transcript stream, rejecting non-units (a real
 * Paillier–Blum N rejects with probability about 2^−1535; an N with small factors more often).
 */
function challengeYs(binding: ProofBinding, L: SecurityParams, N: bigint, w: bigint): bigint[] {
  const stream = proofTranscript(MOD_TAG, binding, L).int('N', N).int('w', w).challenge('y');
  const ys: bigint[] = [];
  while (ys.length < L.m) {
    const y = stream.below(N);
    if (isUnit(y, N)) ys.push(y);
  }
  return ys;
}

/** Per-prime constants of the prover, for P ∈ {p, q}. */
interface PrimeSide {
  /** P */
  readonly P: bigint;
  /** arithmetic modulo P (a component of the CRT context) */
  readonly mod: Modulus;
  /** κ = k² mod (P − 1) with k = (P + 1)/4: for a square v, v^κ = (v^k)^k is its principal 4th root */
  readonly kappa: bigint;
  /** bit length of P (the public bound of every exponent below) */
  readonly bits: number;
  /** N⁻¹ mod (P − 1): z_i mod P = y_i^(that) */
  readonly nInv: bigint;
  /** ((−1)^a·w^b)^κ mod P for (a, b) = (0,0), (1,0), (0,1), (1,1) */
  readonly adj: readonly [bigint, bigint, bigint, bigint];
  /** Legendre symbol (w | P) */
  readonly legW: 1 | -1;
}

/**
 * x mod P for a public 0 ≤ x < N: the core's constant-time reduction when x < P² (balanced
 * primes, the normal case), bigint division otherwise (LEAK: operand lengths).
 */
function reduce(mod: Modulus, P: bigint, x: bigint): bigint {
  return bitLength(x) <= 2 * bitLength(P) ? mod.reduce(x) : x % P;
}

function primeSide(mod: Modulus, P: bigint, N: bigint, w: bigint): PrimeSide {
  const k = (P + 1n) >> 2n;
  const kappa = (k * k) % (P - 1n);
  const bits = bitLength(P);
  // LEAK: binary-GCD inverse with the secret modulus P − 1 (once per proof)
  const nInv = modInv(N, P - 1n);
  const wP = reduce(mod, P, w);
  // Legendre symbol of w: w^((P−1)/2) = ±1
  const legW = mod.pow(wP, (P - 1n) >> 1n, bits) === 1n ? 1 : -1;
  const negOne = (kappa & 1n) === 1n ? P - 1n : 1n; // (−1)^κ
  const wKappa = mod.pow(wP, kappa, bits);
  return { P, mod, kappa, bits, nInv, adj: [1n, negOne, wKappa, mod.mul(negOne, wKappa)], legW };
}

/**
 * Proves that N is a Paillier–Blum modulus.
 *
 * Per repetition and prime P: r = y^k mod P (k = (P + 1)/4) is a square root of y when y is a
 * square mod P and of −y otherwise, so one exponentiation gives both the Legendre symbol (r² = y?)
 * and, after multiplying by ((−1)^a·w^b)^k, the square root s of y′ mod P; s is itself a square,
 * so x = s^k is the principal 4th root. Exponentiations with secret exponents are constant-time.
 * @throws {TypeError | RangeError} on malformed inputs or a witness that does not factor N as required
 */
export function proveMod(
  binding: ProofBinding,
  L: SecurityParams,
  statement: ModStatement,
  witness: ModWitness,
): ModProof {
  assertRepetitionParams(L);
  assertStatementTypes(statement);
  const { N } = statement;
  if (typeof witness !== 'object' || witness === null) throw new TypeError('Πmod witness must be an object');
  const { p, q } = witness;
  if (typeof p !== 'bigint' || typeof q !== 'bigint') throw new TypeError('Πmod witness p and q must be bigints');
  if (p < 3n || q < 3n || p === q || p * q !== N)
    throw new RangeError('Πmod witness must be two distinct factors of N');
  if ((p & 3n) !== 3n || (q & 3n) !== 3n) throw new RangeError('Πmod witness primes must be ≡ 3 (mod 4)');
  if (gcd(N, (p - 1n) * (q - 1n)) !== 1n) throw new RangeError('Πmod witness must have gcd(N, φ(N)) = 1');

  const modN = new Modulus(N);
  const crt = new CrtModulus([
    [p, 1],
    [q, 1],
  ]);
  try {
    // w: a random unit with (w | N) = −1, i.e. a square modulo exactly one of p, q (w is public)
    let w: bigint;
    do w = randomBelow(N);
    while (w === 0n || modN.jacobi(w) !== -1);
    const ys = challengeYs(binding, L, N, w);
    const sp = primeSide(crt.component(0), p, N, w);
    const sq = primeSide(crt.component(1), q, N, w);

    const items = ys.map((y): ModItem => {
      // Per prime: t = y^κ, and t⁴ = y^((P+1)²/4) = y·(y | P), so t gives the Legendre symbol too;
      // the 4th root of y′ = (−1)^a·w^b·y is then t·((−1)^a·w^b)^κ. Two constant-time
      // exponentiations per prime (t and z), with secret exponents κ and N⁻¹ mod (P − 1).
      const side = (s: PrimeSide) => {
        const yP = reduce(s.mod, s.P, y);
        const t = s.mod.pow(yP, s.kappa, s.bits);
        const t2 = s.mod.mul(t, t);
        const leg: 1 | -1 = s.mod.mul(t2, t2) === yP ? 1 : -1;
        return { t, leg, z: s.mod.pow(yP, s.nInv, s.bits) };
      };
      const P = side(sp);
      const Q = side(sq);
      // −1 is a non-square mod both primes and w mod exactly one, so one of the four classes
      // (−1)^a·w^b·y is a square mod both: b fixes the primes' disagreement, a the common sign
      const b = P.leg !== Q.leg;
      const a = (b ? P.leg * sp.legW : P.leg) === -1;
      const pick = (a ? 1 : 0) + (b ? 2 : 0);
      const xP = sp.mod.mul(P.t, sp.adj[pick] as bigint);
      const xQ = sq.mod.mul(Q.t, sq.adj[pick] as bigint);
      return { x: crt.combine([xP, xQ]), a, b, z: crt.combine([P.z, Q.z]) };
    });
    return { w, items };
  } finally {
    crt.dispose();
    modN.dispose();
  }
}

/**
 * Verifies Πmod for the modulus N the verifier holds (its stored copy of the peer's N).
 * Checks, cheapest first: exactly m items; N odd, within the size bounds, not prime; w ∈ Z*_N
 * and (w | N) = −1; every a_i, b_i a boolean and x_i, z_i ∈ Z*_N; every x_i^4 = (−1)^a·w^b·y_i
 * (two squarings each); every z_i^N = y_i (a full-size exponentiation each, the bulk of the cost).
 * @throws {InvalidProof} with reason "mod/length", "mod/even", "mod/modulus-size", "mod/prime",
 *   "mod/w-not-unit", "mod/w-jacobi", "mod/bits", "mod/x-range", "mod/z-range", "mod/fourth-root"
 *   or "mod/z-power"
 * @throws {TypeError | RangeError} on a statement that is not a bigint or bad local parameters
 */
export function verifyMod(binding: ProofBinding, L: SecurityParams, statement: ModStatement, proof: ModProof): void {
  assertRepetitionParams(L);
  assertStatementTypes(statement);
  const { N } = statement;

  // An empty or short list would make the loops below pass vacuously (docs/security.md A5).
  check(
    typeof proof === 'object' && proof !== null && Array.isArray(proof.items) && proof.items.length === L.m,
    PROOF,
    'mod/length',
  );
  check(N > 0n && (N & 1n) === 1n, PROOF, 'mod/even');
  const bits = bitLength(N);
  // before the primality test, so a huge N cannot make us work
  check(bits >= L.minModulusBits && bits <= L.maxModulusBits, PROOF, 'mod/modulus-size');
  check(!checkPrimeSync(N), PROOF, 'mod/prime');
  const { w } = proof;
  // without this a prover picks w | N and forges (cggmp21 PR #143, docs/security.md A1)
  check(isUnit(w, N), PROOF, 'mod/w-not-unit');

  const modN = new Modulus(N);
  try {
    check(modN.jacobi(w) === -1, PROOF, 'mod/w-jacobi');
    for (const item of proof.items) {
      check(
        typeof item === 'object' && item !== null && typeof item.a === 'boolean' && typeof item.b === 'boolean',
        PROOF,
        'mod/bits',
      );
      check(isUnit(item.x, N), PROOF, 'mod/x-range');
      check(isUnit(item.z, N), PROOF, 'mod/z-range');
    }

    const ys = challengeYs(binding, L, N, w);
    proof.items.forEach(({ x, a, b }, i) => {
      const y = ys[i] as bigint;
      let rhs = a ? N - y : y;
      if (b) rhs = modN.mul(rhs, w);
      const x2 = modN.mul(x, x);
      check(modN.mul(x2, x2) === rhs, PROOF, 'mod/fourth-root');
    });
    proof.items.forEach(({ z }, i) => {
      check(modN.powPublic(z, N) === ys[i], PROOF, 'mod/z-power');
    });
  } finally {
    modN.dispose();
  }
}
