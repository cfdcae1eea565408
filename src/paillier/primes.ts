/**
 * Safe primes for Paillier and ring-Pedersen moduli, from OpenSSL through node:crypto.
 * A safe prime p = 2p′ + 1 (p′ prime, odd) is ≡ 3 (mod 4), so N = p·q is a Blum integer as Πmod requires.
 * @module
 */
import { generatePrime, checkPrimeSync } from 'node:crypto';
import { bitLength } from '../wasm/instance.js';

/** Prime size for the 3072-bit moduli of 128-bit security (docs/security.md, "Decisions"). */
export const SAFE_PRIME_BITS = 1536;

/** A fresh safe prime of exactly `bits` bits (seconds each at 1536 bits; runs in libuv's pool). */
export function generateSafePrime(bits: number = SAFE_PRIME_BITS): Promise<bigint> {
  if (!Number.isSafeInteger(bits) || bits < 16) throw new RangeError('bits must be an integer ≥ 16');
  return new Promise((resolve, reject) => {
    generatePrime(bits, { safe: true, bigint: true }, (err, prime) => (err ? reject(err) : resolve(prime)));
  });
}

/**
 * Throws a RangeError naming `name` unless p is a safe prime of `bits` bits (Miller–Rabin through
 * OpenSSL on p and (p − 1)/2).
 */
export function assertSafePrime(name: string, p: bigint, bits?: number): void {
  if (typeof p !== 'bigint') throw new TypeError(`${name} must be a bigint`);
  if (bits !== undefined && bitLength(p) !== bits) throw new RangeError(`${name} must have ${bits} bits`);
  if (p < 7n || (p & 3n) !== 3n) throw new RangeError(`${name} must be ≡ 3 (mod 4)`);
  if (!checkPrimeSync(p, { checks: 40 }) || !checkPrimeSync((p - 1n) / 2n, { checks: 40 })) {
    throw new RangeError(`${name} must be a safe prime`);
  }
}
