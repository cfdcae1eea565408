/**
 * Helpers every proof module uses: unit checks, integer square root, and the guard on local
 * parameters for the m-repetition proofs (Πprm, Πmod).
 * @module
 */
import { bitLength, type Modulus } from '../wasm/index.js';
import { randomBelow } from '../util/random.js';
import { gcd } from '../util/gcd.js';
import type { SecurityParams } from './params.js';
import { cachedModulus, fixedPowPublic, fixedPowSecret } from './fixed-bases.js';
import type { RingPedersenParams } from '../paillier/ring-pedersen.js';

/**
 * Fewest repetitions accepted from the local parameters (soundness 2^−m). m never comes from the
 * wire; this guards against a misconfigured SecurityParams (docs/security.md A5).
 */
export const MIN_REPETITIONS = 128;

/** x ∈ Z*_N: a bigint with 0 < x < N and gcd(x, N) = 1. LEAK: x, N (public values only). */
export function isUnit(x: unknown, N: bigint): x is bigint {
  return typeof x === 'bigint' && x > 0n && x < N && gcd(x, N) === 1n;
}

/** ⌊√n⌋ for n ≥ 0, by Newton's iteration from above. */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('isqrt of a negative number');
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Rejects local parameters that would weaken an m-repetition proof (a bug, not a peer's fault). */
export function assertRepetitionParams(L: SecurityParams): void {
  if (!Number.isSafeInteger(L.m) || L.m < MIN_REPETITIONS) {
    throw new RangeError(`security parameter m must be an integer ≥ ${MIN_REPETITIONS}`);
  }
  if (
    !Number.isSafeInteger(L.minModulusBits) ||
    !Number.isSafeInteger(L.maxModulusBits) ||
    L.minModulusBits < 16 ||
    L.maxModulusBits < L.minModulusBits
  ) {
    throw new RangeError('security parameters must give 16 ≤ minModulusBits ≤ maxModulusBits');
  }
}

/**
 * x^k mod N for a secret signed k with |k| ≤ 2^bound, in constant time: x^(k + 2^bound) · x^(−2^bound).
 * Only the public bound shows in the timing; x must be a unit mod N. A base that recurs across
 * sessions (ring-Pedersen s, t) is marked `recurring` and uses a cached comb table.
 */
export function powSignedSecret(m: Modulus, x: bigint, k: bigint, bound: number, recurring = false): bigint {
  const shift = 1n << BigInt(bound);
  const pos = recurring ? fixedPowSecret(m.value, x, k + shift, bound + 1) : m.pow(x, k + shift, bound + 1);
  return m.mul(pos, negativeShift(m, x, bound));
}

/** x^(−2^bound) mod N depends only on public values; bases such as ring-Pedersen s, t recur, so keep a few. */
const shiftCache = new Map<string, bigint>();
const SHIFT_CACHE_SIZE = 64;

function negativeShift(m: Modulus, x: bigint, bound: number): bigint {
  const key = `${m.value.toString(36)}:${x.toString(36)}:${bound}`;
  let v = shiftCache.get(key);
  if (v === undefined) {
    v = m.powPublic(m.inverse(x), 1n << BigInt(bound));
    if (shiftCache.size >= SHIFT_CACHE_SIZE) shiftCache.delete(shiftCache.keys().next().value as string);
    shiftCache.set(key, v);
  }
  return v;
}

/** x⁻¹ mod N for a secret unit x, blinded: (x·κ)⁻¹·κ for a fresh random unit κ, so the variable-time GCD sees only x·κ. */
export function inverseBlinded(m: Modulus, x: bigint): bigint {
  for (;;) {
    const kappa = randomBelow(m.value);
    if (kappa === 0n || gcd(kappa, m.value) !== 1n) continue;
    return m.mul(m.inverse(m.mul(x, kappa)), kappa);
  }
}

/**
 * The verifier's ring-Pedersen equation s^z·t^z′ = T·S^e (mod N̂) for public signed z, z′ with
 * |z| < 2^zBound, |z′| < 2^z2Bound and a public signed e, with s and t from cached comb tables
 * (a verifier's own s, t recur in every session): each signed exponent is shifted into
 * [0, 2^(bound+1)) and the constant factor s^(−2^bound) comes from a cache. No inversion: S^|e|
 * goes on the side that makes its exponent positive. The caller checks the bounds and that S, T
 * are units. LEAK: the exponents, the bases (public values only).
 */
export function pedersenEquationHolds(
  aux: RingPedersenParams,
  z: bigint,
  zBound: number,
  z2: bigint,
  z2Bound: number,
  S: bigint,
  e: bigint,
  T: bigint,
): boolean {
  const { N, s, t } = aux;
  const m = cachedModulus(N);
  const signedPow = (x: bigint, k: bigint, bound: number) =>
    m.mul(fixedPowPublic(N, x, k + (1n << BigInt(bound)), bound + 1), negativeShift(m, x, bound));
  const lhs = m.mul(signedPow(s, z, zBound), signedPow(t, z2, z2Bound));
  if (e >= 0n) return lhs === m.mul(T, m.powPublic(S, e));
  return m.mul(lhs, m.powPublic(S, -e)) === T;
}
