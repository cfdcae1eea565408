/**
 * Public big-integer API of the WASM crypto core. All values are bigint; the WASM memory stays
 * private to src/wasm/. One instance per process, created at import.
 * @module
 */
import { Modulus } from './modulus.js';
import { assertBigint } from './checks.js';

export { Modulus, FixedBase, MAX_MODULUS_BITS, MAX_EXPONENT_BITS, MAX_MULTIPOW_BASES } from './modulus.js';
export { CrtModulus } from './crt.js';
export { modInv, jacobi } from './gcd.js';
export { bitLength, coreMemoryBytes } from './instance.js';

/** Contexts for the top-level functions, most recently used last; evicted ones are freed. */
const cache = new Map<bigint, Modulus>();
const CACHE_SIZE = 32;

/** A cached context for N, valid until evicted (kept private so no caller holds one). */
function modulus(N: bigint): Modulus {
  assertBigint('modulus', N);
  let m = cache.get(N);
  if (m) {
    cache.delete(N);
  } else {
    m = new Modulus(N);
    if (cache.size >= CACHE_SIZE) {
      const [oldest, ctx] = cache.entries().next().value as [bigint, Modulus];
      cache.delete(oldest);
      ctx.dispose();
    }
  }
  cache.set(N, m);
  return m;
}

/** x^e mod N (public exponent). */
export function modPowPublic(x: bigint, e: bigint, N: bigint): bigint {
  return modulus(N).powPublic(x, e);
}

/** x^e mod N in constant time for a secret exponent below 2^ebits. */
export function modPow(x: bigint, e: bigint, N: bigint, ebits?: number): bigint {
  const m = modulus(N);
  return ebits === undefined ? m.pow(x, e) : m.pow(x, e, ebits);
}

/** a·b mod N. */
export function modMul(a: bigint, b: bigint, N: bigint): bigint {
  return modulus(N).mul(a, b);
}

/** ∏ x_j^e_j mod N. */
export function multiPowPublic(terms: ReadonlyArray<readonly [bigint, bigint]>, N: bigint): bigint {
  return modulus(N).multiPowPublic(terms);
}
