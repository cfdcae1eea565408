/**
 * secp256k1 through @noble/curves (audited): points are validated where they enter, scalars are
 * reduced modulo q. On the wire a point is 33-byte compressed SEC1, a scalar 32-byte big-endian < q.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from 'node:crypto';

export const Point = secp256k1.Point;
export type Point = InstanceType<typeof secp256k1.Point>;

/** q: the group order. */
export const q: bigint = Point.CURVE().n;
/** G: the generator. */
export const G: Point = Point.BASE;

/** x mod q in [0, q). */
export function modq(x: bigint): bigint {
  const r = x % q;
  return r < 0n ? r + q : r;
}

/** Uniform scalar in [1, q) from node:crypto. */
export function randomScalar(): bigint {
  for (;;) {
    const x = BigInt('0x' + randomBytes(32).toString('hex'));
    if (x > 0n && x < q) return x;
  }
}

/** x·G for a scalar in [0, q) (x = 0 gives the identity). */
export function mulG(x: bigint): Point {
  const s = modq(x);
  return s === 0n ? Point.ZERO : G.multiply(s);
}

/** P·x for a scalar (x ≡ 0 gives the identity). Constant time: for secret scalars. */
export function mul(P: Point, x: bigint): Point {
  const s = modq(x);
  return s === 0n ? Point.ZERO : P.multiply(s);
}

/** P·x when both are public (verifiers, commitments): variable time, several times faster. */
export function mulPublic(P: Point, x: bigint): Point {
  const s = modq(x);
  return s === 0n ? Point.ZERO : P.multiplyUnsafe(s);
}

/** 33-byte compressed encoding; the identity has none (it never goes on the wire). */
export function pointToBytes(P: Point): Uint8Array {
  if (P.is0()) throw new RangeError('the point at infinity has no encoding');
  return P.toBytes(true);
}

/** Decode and validate a 33-byte compressed point (on the curve, not the identity). */
export function pointFromBytes(b: Uint8Array, name = 'point'): Point {
  if (!(b instanceof Uint8Array) || b.length !== 33) throw new RangeError(`${name} must be 33 bytes (compressed SEC1)`);
  let P: Point;
  try {
    P = Point.fromBytes(b);
  } catch {
    throw new RangeError(`${name} is not a valid secp256k1 point`);
  }
  P.assertValidity();
  return P;
}

/** 32-byte big-endian encoding of a scalar in [0, q). */
export function scalarToBytes(x: bigint): Uint8Array {
  if (x < 0n || x >= q) throw new RangeError('scalar out of range');
  return Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'));
}

/** Decode a 32-byte big-endian scalar, rejecting values ≥ q (one encoding per scalar). */
export function scalarFromBytes(b: Uint8Array, name = 'scalar'): bigint {
  if (!(b instanceof Uint8Array) || b.length !== 32) throw new RangeError(`${name} must be 32 bytes`);
  const x = BigInt('0x' + Buffer.from(b).toString('hex'));
  if (x >= q) throw new RangeError(`${name} must be below the group order`);
  return x;
}
