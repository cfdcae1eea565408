/**
 * Arithmetic modulo an odd N in the WASM core: a Montgomery context per modulus.
 *
 * Timing: `mul`, `pow` and `FixedBase.pow` are constant-time in their operands (schedule and
 * addresses depend on sizes only). `powPublic`, `multiPowPublic` and `FixedBase.powPublic` branch
 * on exponent bits (LEAK: exponent) and are for public exponents; their bases may be secret. The
 * plain name is the safe one (docs/style.md, "Names").
 * `inverse` and `jacobi` use binary GCD (LEAK: operands).
 * @module
 */
import { core, mem, allocLimbs, writeLimbs, readLimbs, limbsFor, bitLength, LIMB_BITS, Scratch } from './instance.js';
import { assertBigint, assertBelow, assertInt } from './checks.js';
import { modInv, jacobi } from './gcd.js';

/** Largest modulus the core accepts. */
export const MAX_MODULUS_BITS = 8192;
/** Largest exponent accepted (twice the largest modulus, enough for λ(N²)-sized exponents). */
export const MAX_EXPONENT_BITS = 16384;
/** Most bases in one multi-exponentiation. */
export const MAX_MULTIPOW_BASES = 16;

const exponentScratch = new Scratch();

interface Owned {
  ptrs: number[];
  ctx: number;
}

const released = new FinalizationRegistry<Owned>((o) => release(o));

function release(o: Owned): void {
  for (const p of o.ptrs) core.free(p);
  o.ptrs.length = 0;
  if (o.ctx) core.ctxFree(o.ctx);
  o.ctx = 0;
}

/** Write exponent e (≥ 0, at most MAX_EXPONENT_BITS bits) into the shared scratch; returns [ptr, limbs]. */
function putExponent(e: bigint, buf = exponentScratch): [number, number] {
  const en = limbsFor(Math.max(1, bitLength(e)));
  const ptr = buf.get(en);
  writeLimbs(ptr, en, e);
  return [ptr, en];
}

function checkExponent(name: string, e: unknown): asserts e is bigint {
  assertBigint(name, e);
  if (bitLength(e < 0n ? -e : e) > MAX_EXPONENT_BITS)
    throw new RangeError(`${name} must have at most ${MAX_EXPONENT_BITS} bits`);
}

/** A Montgomery context for an odd modulus N (3 ≤ N < 2^8192). */
export class Modulus {
  /** N */
  readonly value: bigint;
  /** bit length of N */
  readonly bits: number;
  /** limbs per value (LIMB_BITS = 25 bits each, a multiple of 4, 2^(25·limbs) > 4N) */
  readonly limbs: number;
  private readonly owned: Owned;
  private readonly ctx: number;
  private readonly r: number;
  private readonly a: number;
  private readonly b: number;

  /**
   * @throws {TypeError} when N is not a bigint
   * @throws {RangeError} when N is even, below 3 or above 8192 bits
   */
  constructor(N: bigint) {
    assertBigint('modulus', N);
    if (N < 3n) throw new RangeError('modulus must be at least 3');
    if ((N & 1n) === 0n) throw new RangeError('modulus must be odd');
    const bits = bitLength(N);
    if (bits > MAX_MODULUS_BITS) throw new RangeError(`modulus must have at most ${MAX_MODULUS_BITS} bits`);
    this.value = N;
    this.bits = bits;
    this.limbs = Math.ceil((bits + 2) / LIMB_BITS / 4) * 4;
    const n = this.limbs;
    const ctx = core.ctxNew(n);
    const R = 1n << BigInt(LIMB_BITS * n);
    writeLimbs(core.ctxN(ctx), n, N);
    writeLimbs(core.ctxR2(ctx), n, (R * R) % N);
    writeLimbs(core.ctxR3(ctx), n, (R * R * R) % N);
    core.ctxInit(ctx);
    this.ctx = ctx;
    this.r = allocLimbs(2 * n);
    this.a = allocLimbs(2 * n);
    this.b = allocLimbs(n);
    this.owned = { ctx, ptrs: [this.r, this.a, this.b] };
    released.register(this, this.owned, this);
  }

  /** Free the WASM memory now instead of at garbage collection. The object is unusable after. */
  dispose(): void {
    released.unregister(this);
    release(this.owned);
  }

  /** @internal the context pointer; throws after dispose() */
  live(): number {
    if (!this.owned.ctx) throw new Error('Modulus used after dispose()');
    return this.ctx;
  }

  private put(ptr: number, name: string, x: unknown): void {
    assertBelow(name, x, this.value, 'the modulus');
    writeLimbs(ptr, this.limbs, x);
  }

  /** a·b mod N, for 0 ≤ a, b < N. Constant time. */
  mul(a: bigint, b: bigint): bigint {
    const ctx = this.live();
    this.put(this.a, 'a', a);
    this.put(this.b, 'b', b);
    core.mulMod(ctx, this.r, this.a, this.b);
    return readLimbs(this.r, this.limbs);
  }

  /** x^e mod N for a public exponent e (negative e uses x⁻¹). LEAK: e. */
  powPublic(x: bigint, e: bigint): bigint {
    const ctx = this.live();
    checkExponent('e', e);
    if (e < 0n) {
      x = this.inverse(x);
      e = -e;
    }
    this.put(this.a, 'x', x);
    const [ep, en] = putExponent(e);
    core.powMod(ctx, this.r, this.a, ep, en, bitLength(e));
    return readLimbs(this.r, this.limbs);
  }

  /**
   * x^e mod N in constant time for a secret 0 ≤ e < 2^ebits; ebits is a public bound
   * (default: the modulus size) and is all the timing reveals.
   */
  pow(x: bigint, e: bigint, ebits: number = this.bits): bigint {
    const ctx = this.live();
    assertInt('ebits', ebits, 1, MAX_EXPONENT_BITS);
    assertBigint('e', e);
    if (e < 0n) throw new RangeError('e must not be negative');
    if (bitLength(e) > ebits) throw new RangeError('e must be below 2^ebits');
    this.put(this.a, 'x', x);
    const [ep, en] = putExponent(e);
    core.powModCT(ctx, this.r, this.a, ep, en, ebits);
    return readLimbs(this.r, this.limbs);
  }

  /** ∏ x_j^e_j mod N with shared squarings (Straus). Public exponents; negative ones use x_j⁻¹. */
  multiPowPublic(terms: ReadonlyArray<readonly [bigint, bigint]>): bigint {
    const ctx = this.live();
    if (!Array.isArray(terms)) throw new TypeError('terms must be an array of [base, exponent] pairs');
    assertInt('terms.length', terms.length, 1, MAX_MULTIPOW_BASES);
    const n = this.limbs;
    const count = terms.length;
    const ptrs: number[] = [];
    try {
      const xs = core.alloc(count * 4);
      const es = core.alloc(count * 4);
      const meta = core.alloc(count * 8);
      ptrs.push(xs, es, meta);
      terms.forEach((term, j) => {
        if (!Array.isArray(term) || term.length !== 2)
          throw new TypeError(`terms[${j}] must be a [base, exponent] pair`);
        const [x0, e0] = term as unknown as readonly [unknown, unknown];
        checkExponent(`terms[${j}] exponent`, e0);
        assertBelow(`terms[${j}] base`, x0, this.value, 'the modulus');
        let x = x0;
        let e = e0;
        if (e < 0n) {
          x = this.inverse(x, `terms[${j}] base`);
          e = -e;
        }
        const xp = allocLimbs(n);
        ptrs.push(xp);
        this.put(xp, `terms[${j}] base`, x);
        const en = limbsFor(Math.max(1, bitLength(e)));
        const ep = allocLimbs(en);
        ptrs.push(ep);
        writeLimbs(ep, en, e);
        const m = mem();
        m[(xs >>> 2) + j] = xp;
        m[(es >>> 2) + j] = ep;
        m[(meta >>> 2) + j] = en;
        m[(meta >>> 2) + count + j] = bitLength(e);
      });
      core.multiPowMod(ctx, this.r, xs, es, meta, meta + count * 4, count);
      return readLimbs(this.r, n);
    } finally {
      for (const p of ptrs) core.free(p);
    }
  }

  /** x mod N for 0 ≤ x < 2^(2·LIMB_BITS·limbs) (at least N², e.g. a Paillier ciphertext modulo p²). */
  reduce(x: bigint): bigint {
    const ctx = this.live();
    assertBigint('x', x);
    if (x < 0n) throw new RangeError('x must not be negative');
    if (bitLength(x) > 2 * LIMB_BITS * this.limbs) throw new RangeError('x is too large to reduce by this modulus');
    writeLimbs(this.a, 2 * this.limbs, x);
    core.reduceWide(ctx, this.r, this.a);
    return readLimbs(this.r, this.limbs);
  }

  /** x⁻¹ mod N. @throws {RangeError} when gcd(x, N) ≠ 1. LEAK: x. */
  inverse(x: bigint, name = 'x'): bigint {
    assertBelow(name, x, this.value, 'the modulus');
    try {
      return modInv(x, this.value);
    } catch (e) {
      if (e instanceof RangeError) throw new RangeError(`${name} is not invertible modulo the modulus`, { cause: e });
      throw e;
    }
  }

  /** Jacobi symbol (x | N). LEAK: x. */
  jacobi(x: bigint): -1 | 0 | 1 {
    assertBelow('x', x, this.value, 'the modulus');
    return jacobi(x, this.value);
  }

  /**
   * Precomputed comb table for a base used with many exponents of up to maxBits bits
   * (ring-Pedersen s and t, a Paillier key's 1 + N): ⌈maxBits/teeth⌉ squarings and
   * multiplications per exponentiation instead of maxBits squarings.
   */
  fixedBase(x: bigint, maxBits: number, teeth = 6): FixedBase {
    return new FixedBase(this, this.live(), x, maxBits, teeth);
  }

  /** @internal buffers for FixedBase */
  get buffers(): { r: number; a: number } {
    return { r: this.r, a: this.a };
  }

  /** @internal */
  check(name: string, x: unknown): void {
    assertBelow(name, x, this.value, 'the modulus');
  }
}

/** A comb table of one base modulo N (see Modulus.fixedBase). */
export class FixedBase {
  readonly maxBits: number;
  private readonly owned: Owned;
  private readonly table: number;

  constructor(
    private readonly modulus: Modulus,
    ctx: number,
    x: bigint,
    maxBits: number,
    teeth: number,
  ) {
    assertInt('maxBits', maxBits, 1, MAX_EXPONENT_BITS);
    assertInt('teeth', teeth, 1, 10);
    modulus.check('x', x);
    const { a } = modulus.buffers;
    writeLimbs(a, modulus.limbs, x);
    this.table = core.combCreate(ctx, a, maxBits, teeth);
    this.maxBits = core.combMaxBits(this.table);
    this.owned = { ctx: 0, ptrs: [this.table] };
    released.register(this, this.owned, this);
  }

  dispose(): void {
    released.unregister(this);
    release(this.owned);
  }

  private run(e: unknown, ct: boolean): bigint {
    if (this.owned.ptrs.length === 0) throw new Error('FixedBase used after dispose()');
    assertBigint('e', e);
    if (e < 0n) throw new RangeError('e must not be negative');
    if (bitLength(e) > this.maxBits) throw new RangeError(`e must have at most ${this.maxBits} bits for this table`);
    const { r } = this.modulus.buffers;
    const [ep, en] = putExponent(e);
    core.combPowMod(this.modulus.live(), this.table, r, ep, en, ct ? 1 : 0);
    return readLimbs(r, this.modulus.limbs);
  }

  /** base^e for a public exponent. LEAK: e. */
  powPublic(e: bigint): bigint {
    return this.run(e, false);
  }

  /** base^e in constant time for a secret e below 2^maxBits. */
  pow(e: bigint): bigint {
    return this.run(e, true);
  }
}
