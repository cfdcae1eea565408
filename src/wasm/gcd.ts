/**
 * Modular inverse and Jacobi symbol through the core's binary GCD.
 * LEAK: running time depends on the operands (binary GCD); use on public values or blind first.
 * @module
 */
import { core, allocLimbs, writeLimbs, readLimbs, limbsFor, bitLength } from './instance.js';
import { assertBigint } from './checks.js';

function withBuffers<T>(count: number, n: number, f: (ptrs: number[]) => T): T {
  const ptrs: number[] = [];
  try {
    for (let i = 0; i < count; i++) ptrs.push(allocLimbs(n + 1));
    return f(ptrs);
  } finally {
    for (const p of ptrs) core.free(p);
  }
}

function checkModulus(m: unknown): asserts m is bigint {
  assertBigint('m', m);
  if (m < 2n) throw new RangeError('m must be at least 2');
  if (bitLength(m) > 16384) throw new RangeError('m must have at most 16384 bits');
}

function oddInverse(a: bigint, m: bigint): bigint | undefined {
  const n = limbsFor(bitLength(m)) + 1;
  return withBuffers(3, n, ([r, ap, mp]) => {
    writeLimbs(ap as number, n, a);
    writeLimbs(mp as number, n, m);
    return core.invMod(r as number, ap as number, mp as number, n) ? readLimbs(r as number, n) : undefined;
  });
}

/**
 * a⁻¹ mod m for any m ≥ 2 (a may be negative or ≥ m; it is reduced first).
 * @throws {RangeError} when gcd(a, m) ≠ 1
 */
export function modInv(a: bigint, m: bigint): bigint {
  assertBigint('a', a);
  checkModulus(m);
  const x = ((a % m) + m) % m;
  if (m === 1n) return 0n;
  let inv: bigint | undefined;
  if (m & 1n) {
    inv = oddInverse(x, m);
  } else if (x & 1n) {
    // even m, odd x: with y = m⁻¹ mod x, m·y = 1 + x·k, so x⁻¹ ≡ −k = (1 − m·y)/x (mod m)
    const y = x === 1n ? 0n : oddInverse(m % x, x);
    if (y !== undefined) inv = ((((1n - m * y) / x) % m) + m) % m;
  }
  if (inv === undefined) throw new RangeError('a is not invertible modulo m');
  return inv;
}

/** Jacobi symbol (a | m) for odd m ≥ 3 (a is reduced mod m first). */
export function jacobi(a: bigint, m: bigint): -1 | 0 | 1 {
  assertBigint('a', a);
  checkModulus(m);
  if ((m & 1n) === 0n) throw new RangeError('m must be odd');
  const x = ((a % m) + m) % m;
  const n = limbsFor(bitLength(m)) + 1;
  return withBuffers(2, n, ([ap, mp]) => {
    writeLimbs(ap as number, n, x);
    writeLimbs(mp as number, n, m);
    return core.jacobi(ap as number, mp as number, n) as -1 | 0 | 1;
  });
}
