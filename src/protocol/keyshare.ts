/**
 * A party's share of a t-of-n secp256k1 key: Shamir share x_i of the secret key at evaluation
 * point I(i) = i + 1, with the public data every party agrees on. The secret part is kept apart
 * so storage can encrypt it; nothing here ever holds the whole secret key.
 * @module
 */
import { type Point, mulG, q } from '../curve/secp256k1.js';
import { interpolatePoints } from '../curve/lagrange.js';

export interface PublicKeyShare {
  /** n: number of parties */
  readonly n: number;
  /** t: parties needed to sign */
  readonly t: number;
  /** i: this party's index (evaluation point i + 1) */
  readonly i: number;
  /** Y = Σ_j S_{j,0}: the public key */
  readonly Y: Point;
  /** X_j = F(j + 1) = x_j·G for every party */
  readonly X: readonly Point[];
}

export interface SecretKeyShare {
  /** x_i = Σ_j f_j(i + 1) mod q */
  readonly x: bigint;
}

export interface KeyShare {
  readonly public: PublicKeyShare;
  readonly secret: SecretKeyShare;
}

/**
 * Throws unless the share is consistent: sizes, 0 < x_i < q, x_i·G = X_i, no identity points,
 * and the X_j on one polynomial of degree t − 1 through Y.
 */
export function assertKeyShare(k: KeyShare): void {
  const { n, i, X } = k.public;
  assertSharedKey(k.public);
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError('key share: bad index');
  const x = k.secret.x;
  if (x <= 0n || x >= q) throw new RangeError('key share: x_i out of range');
  if (!mulG(x).equals(X[i] as Point)) throw new RangeError('key share: x_i·G ≠ X_i');
}

/**
 * Throws unless the public data of a t-of-n key is consistent: sizes, no identity points, and the
 * X_j on one polynomial of degree t − 1 through Y.
 */
export function assertSharedKey(k: Pick<PublicKeyShare, 'n' | 't' | 'Y' | 'X'>): void {
  const { n, t, Y, X } = k;
  if (!Number.isInteger(n) || !Number.isInteger(t) || t < 1 || t > n) throw new RangeError('key share: bad (t, n)');
  if (X.length !== n) throw new RangeError('key share: X must have n entries');
  if (Y.is0() || X.some((P) => P.is0())) throw new RangeError('key share: identity point');
  // the X_j lie on one polynomial of degree t − 1 whose value at 0 is Y
  const T = [...Array(t).keys()];
  if (!interpolatePoints(T, X, 0n).equals(Y)) throw new RangeError('key share: X does not interpolate to Y');
  for (let j = t; j < n; j++) {
    if (!interpolatePoints(T, X, BigInt(j + 1)).equals(X[j] as Point))
      throw new RangeError('key share: X is not of degree t − 1');
  }
}
