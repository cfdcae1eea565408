/**
 * Shared test helpers: the safe-prime fixtures (test/fixtures/safe-primes.json) and a plain-bigint
 * reference oracle that shares no code with src/ or assembly/ (square-and-multiply exponentiation,
 * the classic Jacobi algorithm, extended-Euclid inverse). Tests compare the WASM core against these.
 *
 * Tests run from dist/test/..., hence the three `..` in the fixture URL.
 */
import { readFileSync } from 'node:fs';

export interface SafePrimeFixtures {
  note: string;
  /** 12 safe primes of exactly 1536 bits */
  bits1536: bigint[];
  /** 8 safe primes of exactly 512 bits */
  bits512: bigint[];
}

let loaded: SafePrimeFixtures | undefined;

/** The fixture safe primes (parsed once per process). */
export function safePrimes(): SafePrimeFixtures {
  if (loaded) return loaded;
  const url = new URL('../../../test/fixtures/safe-primes.json', import.meta.url);
  const raw = JSON.parse(readFileSync(url, 'utf8')) as { note: string; bits1536: string[]; bits512: string[] };
  const parse = (list: string[], name: string): bigint[] => {
    if (!Array.isArray(list) || list.length === 0) throw new Error(`fixture ${name} is missing or empty`);
    return list.map((s) => {
      if (typeof s !== 'string' || !/^0x[0-9a-f]+$/i.test(s))
        throw new Error(`fixture ${name} holds a malformed entry`);
      return BigInt(s);
    });
  };
  loaded = { note: raw.note, bits1536: parse(raw.bits1536, 'bits1536'), bits512: parse(raw.bits512, 'bits512') };
  return loaded;
}

/** Fixture prime `i` of the given size (throws when the fixture has fewer). */
export function fixturePrime(bits: 512 | 1536, i: number): bigint {
  const list = bits === 512 ? safePrimes().bits512 : safePrimes().bits1536;
  const p = list[i];
  if (p === undefined) throw new Error(`fixture has no ${bits}-bit prime #${i}`);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Reference oracle (plain bigint, deliberately naive)
// ---------------------------------------------------------------------------------------------

/** Bit length of a non-negative bigint, via its binary string. */
export function refBitLength(x: bigint): number {
  if (x < 0n) throw new RangeError('refBitLength: negative');
  return x === 0n ? 0 : x.toString(2).length;
}

/** Non-negative residue of a modulo m (m > 0). */
export function refMod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** Euclid's gcd of |a| and |b|. */
export function refGcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** a⁻¹ mod m by the extended Euclidean algorithm, or undefined when gcd(a, m) ≠ 1. */
export function refInverse(a: bigint, m: bigint): bigint | undefined {
  if (m < 1n) throw new RangeError('refInverse: modulus must be positive');
  if (m === 1n) return 0n;
  let [r0, r1] = [refMod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return r0 === 1n ? refMod(s0, m) : undefined;
}

/** x^e mod N by left-to-right square-and-multiply (negative e through refInverse; 0^0 = 1). */
export function refPow(x: bigint, e: bigint, N: bigint): bigint {
  if (N < 1n) throw new RangeError('refPow: modulus must be positive');
  let base = refMod(x, N);
  if (e < 0n) {
    const inv = refInverse(base, N);
    if (inv === undefined) throw new RangeError('refPow: base not invertible');
    base = inv;
    e = -e;
  }
  let r = 1n % N;
  for (const bit of e.toString(2)) {
    r = (r * r) % N;
    if (bit === '1') r = (r * base) % N;
  }
  return r;
}

/** ∏ x_j^e_j mod N with the reference pow. */
export function refMultiPow(terms: ReadonlyArray<readonly [bigint, bigint]>, N: bigint): bigint {
  let r = 1n % N;
  for (const [x, e] of terms) r = (r * refPow(x, e, N)) % N;
  return r;
}

/** Jacobi symbol (a | n) for odd n ≥ 1 by the classic reciprocity algorithm. */
export function refJacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  if (n <= 0n || (n & 1n) === 0n) throw new RangeError('refJacobi: n must be odd and positive');
  a = refMod(a, n);
  let t: 1 | -1 = 1;
  while (a !== 0n) {
    while ((a & 1n) === 0n) {
      a >>= 1n;
      const r = n % 8n;
      if (r === 3n || r === 5n) t = t === 1 ? -1 : 1;
    }
    [a, n] = [n, a];
    if (a % 4n === 3n && n % 4n === 3n) t = t === 1 ? -1 : 1;
    a %= n;
  }
  return n === 1n ? t : 0;
}

/** Brute-force Legendre/Jacobi check for tiny odd n: product of Euler's criterion over prime factors. */
export function bruteJacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  let result = 1;
  let m = n;
  for (let p = 3n; m > 1n; p += 2n) {
    while (m % p === 0n) {
      m /= p;
      const ap = refMod(a, p);
      if (ap === 0n) return 0;
      let isSquare = false;
      for (let y = 1n; y < p; y++) if ((y * y) % p === ap) isSquare = true;
      if (!isSquare) result = -result;
    }
  }
  return result as -1 | 1;
}
