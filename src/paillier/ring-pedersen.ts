/**
 * Ring-Pedersen parameters (N̂, s, t): t a random square in Z*_N̂, s = t^λ for a secret λ.
 * Commitments s^x·t^y hide x; the verifier of a range proof uses its own (N̂, s, t), which it
 * proved well formed with Πprm. N̂ is a product of two safe primes, separate from the Paillier N.
 * @module
 */
import { CrtModulus, Modulus } from '../wasm/index.js';
import { randomBelow } from '../util/random.js';
import { gcd } from '../util/gcd.js';
import { assertSafePrime } from './primes.js';

/** Public ring-Pedersen parameters. */
export interface RingPedersenParams {
  /** N̂ */
  readonly N: bigint;
  /** s = t^λ mod N̂ */
  readonly s: bigint;
  /** t = r² mod N̂ */
  readonly t: bigint;
}

/** The secret side: factorisation and λ. */
export interface RingPedersenSecret {
  readonly p: bigint;
  readonly q: bigint;
  /** φ(N̂) = (p − 1)(q − 1) */
  readonly phi: bigint;
  /** λ ∈ Z_φ(N̂) with s = t^λ */
  readonly lambda: bigint;
}

/** Fresh parameters from two safe primes (checked unless checkPrimes is false). */
export function ringPedersenFromPrimes(
  p: bigint,
  q: bigint,
  options: { checkPrimes?: boolean } = {},
): { params: RingPedersenParams; secret: RingPedersenSecret } {
  if (p === q) throw new RangeError('p and q must differ');
  if (options.checkPrimes ?? true) {
    assertSafePrime('p', p);
    assertSafePrime('q', q);
  }
  const N = p * q;
  const phi = (p - 1n) * (q - 1n);
  const crt = new CrtModulus([
    [p, 1],
    [q, 1],
  ]);
  let r: bigint;
  do r = randomBelow(N);
  while (r === 0n || gcd(r, N) !== 1n);
  const modN = new Modulus(N);
  const t = modN.mul(r, r);
  modN.dispose();
  const lambda = randomBelow(phi);
  const s = crt.pow(t, lambda);
  crt.dispose();
  return { params: { N, s, t }, secret: { p, q, phi, lambda } };
}
