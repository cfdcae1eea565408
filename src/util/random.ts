/**
 * Randomness for the host: every random value the crypto core uses comes from here
 * (node:crypto's CSPRNG), never from inside WebAssembly.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { bitLength } from './bits.js';

/** Uniform integer in [0, 2^bits). */
export function randomBits(bits: number): bigint {
  if (!Number.isSafeInteger(bits) || bits < 0) throw new RangeError('bits must be a non-negative integer');
  if (bits === 0) return 0n;
  const bytes = randomBytes(Math.ceil(bits / 8));
  const extra = bytes.length * 8 - bits;
  bytes[0] = (bytes[0] as number) & (0xff >> extra);
  return BigInt('0x' + bytes.toString('hex'));
}

/** Uniform integer in [0, n) by rejection sampling (no modulo bias). */
export function randomBelow(n: bigint): bigint {
  if (typeof n !== 'bigint') throw new TypeError('n must be a bigint');
  if (n <= 0n) throw new RangeError('n must be positive');
  const bits = bitLength(n - 1n);
  for (;;) {
    const x = randomBits(bits);
    if (x < n) return x;
  }
}

/** Uniform integer in [−bound, bound]. */
export function randomSigned(bound: bigint): bigint {
  return randomBelow(2n * bound + 1n) - bound;
}
