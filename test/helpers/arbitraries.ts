/**
 * fast-check arbitraries for big-integer tests: odd moduli of a chosen bit-size range, values below
 * a modulus, and numbers built from "structured" 28-bit limbs (all zeros, all ones, single bits)
 * that stress carries in the core.
 */
import fc from 'fast-check';

export const LIMB = 28;
export const LIMB_MASK = (1n << 28n) - 1n;

/** Random bigint of exactly `bits` bits (top bit set), bits ≥ 1. */
export function exactBits(bits: number): fc.Arbitrary<bigint> {
  const top = 1n << BigInt(bits - 1);
  return fc.bigInt({ min: top, max: 2n * top - 1n });
}

/** Number whose 28-bit limbs are each 0, all ones, one bit or random; `limbs` limbs. */
export function structured(limbs: number): fc.Arbitrary<bigint> {
  const limb = fc.oneof(
    fc.constant(0n),
    fc.constant(LIMB_MASK),
    fc.integer({ min: 0, max: 27 }).map((i) => 1n << BigInt(i)),
    fc.bigInt({ min: 0n, max: LIMB_MASK }),
  );
  return fc
    .array(limb, { minLength: limbs, maxLength: limbs })
    .map((ls) => ls.reduce((acc, l, i) => acc | (l << BigInt(LIMB * i)), 0n));
}

/** Odd modulus of a bit length in [minBits, maxBits] (minBits ≥ 2), random or structured. */
export function oddModulus(minBits: number, maxBits: number): fc.Arbitrary<bigint> {
  return fc.integer({ min: Math.max(2, minBits), max: maxBits }).chain((bits) => {
    const top = 1n << BigInt(bits - 1);
    const mask = 2n * top - 1n;
    return fc
      .oneof(
        { weight: 3, arbitrary: fc.bigInt({ min: top, max: mask }) },
        { weight: 1, arbitrary: structured(Math.ceil(bits / LIMB)).map((x) => (x & mask) | top) },
      )
      .map((n) => n | 1n);
  });
}

/** Value in [0, N). */
export function below(N: bigint): fc.Arbitrary<bigint> {
  const limbs = Math.ceil(N.toString(2).length / LIMB);
  return fc.oneof(
    { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: N - 1n }) },
    { weight: 1, arbitrary: structured(limbs).map((x) => x % N) },
    { weight: 1, arbitrary: fc.constantFrom(0n, 1n, N - 1n, N - 2n < 0n ? 0n : N - 2n, N >> 1n) },
  );
}

/** Non-negative exponent of at most maxBits bits, biased towards short and full-length ones. */
export function exponent(maxBits: number): fc.Arbitrary<bigint> {
  const max = (1n << BigInt(maxBits)) - 1n;
  return fc.oneof(
    fc.bigInt({ min: 0n, max }),
    fc.integer({ min: 1, max: maxBits }).chain((b) => exactBits(b)),
    fc.constantFrom(0n, 1n, 2n, 3n, max),
  );
}

/**
 * fast-check run parameters. fast-check prints the seed and path of a failing run; to replay it,
 * set FC_SEED (and optionally FC_PATH) in the environment.
 */
export function runs(numRuns: number): { numRuns: number; seed?: number; path?: string } {
  const params: { numRuns: number; seed?: number; path?: string } = { numRuns };
  if (process.env.FC_SEED !== undefined) params.seed = Number(process.env.FC_SEED);
  if (process.env.FC_PATH !== undefined) params.path = process.env.FC_PATH;
  return params;
}

/** Throw a descriptive error (caught by fast-check and shrunk) unless actual === expected. */
export function expectEq(actual: bigint | number, expected: bigint | number, what: string): void {
  if (actual !== expected) {
    const hex = (v: bigint | number) => (typeof v === 'bigint' ? '0x' + v.toString(16) : String(v));
    throw new Error(`${what}: got ${hex(actual)}, expected ${hex(expected)}`);
  }
}
