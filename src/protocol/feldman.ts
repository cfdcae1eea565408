/**
 * Feldman verifiable secret sharing over secp256k1, as key generation, refresh and resharing deal
 * it: a dealer's polynomial f(x) = Σ_k a_k·x^k, its share for the party at evaluation point x, and
 * the public commitments S = (a_k·G)_k against which every receiver checks its share
 * (σ·G = F(x) = Σ_k x^k·S_k).
 * @module
 */
import { type Point, Point as P, modq, mulPublic } from '../curve/secp256k1.js';

/** f(x) = Σ_k c_k·x^k mod q by Horner's rule. */
export function evaluate(coeffs: readonly bigint[], x: bigint): bigint {
  let acc = 0n;
  for (let k = coeffs.length - 1; k >= 0; k--) acc = modq(acc * x + (coeffs[k] as bigint));
  return acc;
}

/** F(x) = Σ_k x^k·S_k: the committed polynomial at x (public values only). */
export function evalCommitment(S: readonly Point[], x: bigint): Point {
  let acc = P.ZERO;
  let pow = 1n;
  for (const Sk of S) {
    acc = acc.add(mulPublic(Sk, pow));
    pow = modq(pow * x);
  }
  return acc;
}

/** Σ_d S_d coefficient-wise: the commitments of the sum of the dealers' polynomials (each of `length` terms). */
export function sumCommitments(all: readonly (readonly Point[])[], length: number): Point[] {
  return Array.from({ length }, (_, k) => all.reduce((acc, S) => acc.add(S[k] as Point), P.ZERO));
}
