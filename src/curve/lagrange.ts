/**
 * Lagrange coefficients over Z_q for Shamir shares at evaluation points I(j) = j + 1:
 *   λ_j(x) = ∏_{k ∈ T, k ≠ j} (x − I(k)) / (I(j) − I(k))  (mod q)
 * @module
 */
import { modq, q, type Point, Point as P, mulPublic } from './secp256k1.js';
import { modInv } from '../wasm/index.js';

/** λ_j(x) for party j in the index set T (distinct indices, j ∈ T). */
export function lagrange(T: readonly number[], j: number, x = 0n): bigint {
  if (!T.includes(j)) throw new RangeError('j must be in the signer set');
  if (new Set(T).size !== T.length) throw new RangeError('signer set has duplicates');
  const Ij = BigInt(j + 1);
  let num = 1n;
  let den = 1n;
  for (const k of T) {
    if (k === j) continue;
    const Ik = BigInt(k + 1);
    num = modq(num * (x - Ik));
    den = modq(den * (Ij - Ik));
  }
  return modq(num * modInv(den, q));
}

/** Σ_{j ∈ T} λ_j(x)·X_j: the committed polynomial evaluated at x, from the points of T. */
export function interpolatePoints(T: readonly number[], X: readonly Point[], x = 0n): Point {
  let acc = P.ZERO;
  for (const j of T) acc = acc.add(mulPublic(X[j] as Point, lagrange(T, j, x)));
  return acc;
}
