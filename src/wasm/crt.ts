/**
 * Exponentiation modulo M = ∏ p_i^k_i by the Chinese remainder theorem, for the holder of the
 * factorisation (a Paillier key's N or N², a ring-Pedersen modulus). Each component runs in the
 * core modulo p_i^k_i with the exponent reduced modulo φ(p_i^k_i); Garner's formula recombines.
 * About (number of factors)² × faster than one exponentiation modulo M.
 * @module
 */
import { Modulus } from './modulus.js';
import { assertBigint, assertBelow, assertInt } from './checks.js';
import { bitLength, LIMB_BITS } from './instance.js';

interface Component {
  /** p */
  p: bigint;
  /** k */
  k: number;
  /** p^k */
  m: Modulus;
  /** φ(p^k) = p^(k−1)(p − 1) */
  phi: bigint;
  /** (∏_{j<i} m_j)⁻¹ mod m_i, for Garner */
  coeff: bigint;
  /** ∏_{j<i} m_j */
  prefix: bigint;
}

/** CRT context for M = ∏ p_i^k_i with distinct odd primes p_i (primality is the caller's duty). */
/** Array.isArray without its type guard (which would widen a typed tuple list to any[]). */
function isList(x: unknown): boolean {
  return Array.isArray(x);
}

export class CrtModulus {
  /** M */
  readonly value: bigint;
  readonly bits: number;
  private readonly parts: Component[];

  constructor(factors: ReadonlyArray<readonly [bigint, number]>) {
    if (!Array.isArray(factors)) throw new TypeError('factors must be an array of [prime, power] pairs');
    if (factors.length < 2) throw new RangeError('factors must list at least two prime powers');
    let prefix = 1n;
    this.parts = factors.map(([p, k], i) => {
      assertBigint(`factors[${i}] prime`, p);
      assertInt(`factors[${i}] power`, k, 1, 8);
      if (p < 3n || (p & 1n) === 0n) throw new RangeError(`factors[${i}] prime must be odd and at least 3`);
      const m = new Modulus(p ** BigInt(k));
      const coeff = i === 0 ? 0n : m.inverse(prefix % m.value);
      const part = { p, k, m, phi: p ** BigInt(k - 1) * (p - 1n), coeff, prefix };
      prefix *= m.value;
      return part;
    });
    this.value = prefix;
    this.bits = bitLength(prefix);
  }

  /** The component modulus p_i^k_i. */
  component(i: number): Modulus {
    const part = this.parts[i];
    if (!part) throw new RangeError('no such component');
    return part.m;
  }

  /** Garner: the x mod M with x ≡ y_i (mod m_i). */
  combine(ys: readonly bigint[]): bigint {
    let x = 0n;
    this.parts.forEach((part, i) => {
      const y = ys[i] as bigint;
      if (i === 0) {
        x = y;
        return;
      }
      // x += prefix · ((y − x)·coeff mod m_i)
      const d = (((y - x) % part.m.value) + part.m.value) % part.m.value;
      x += part.prefix * part.m.mul(d, part.coeff);
    });
    return x;
  }

  private run(x: unknown, e: unknown, secret: boolean): bigint {
    assertBelow('x', x, this.value, 'the modulus');
    assertBigint('e', e);
    if (e < 0n) throw new RangeError('e must not be negative');
    const ys = this.parts.map((part) => {
      // the core reduces values up to about (p_i^k_i)²; larger ones (three or unbalanced factors)
      // take a bigint division first
      const xi = bitLength(x) <= 2 * LIMB_BITS * part.m.limbs ? part.m.reduce(x) : x % part.m.value;
      if (xi % part.p === 0n) {
        // not a unit: x_i = p·u, so x_i^e ≡ 0 once e ≥ k; the exponent cannot be reduced mod φ
        return e >= BigInt(part.k) ? 0n : part.m.powPublic(xi, e);
      }
      const ei = e % part.phi;
      return secret ? part.m.pow(xi, ei, bitLength(part.phi)) : part.m.powPublic(xi, ei);
    });
    return this.combine(ys);
  }

  /** x^e mod M. LEAK: e. */
  powPublic(x: bigint, e: bigint): bigint {
    return this.run(x, e, false);
  }

  /**
   * x^e mod M with each component exponentiation constant-time over bitlen(φ(p_i^k_i)) bits.
   * LEAK: the reduction e mod φ uses bigint division (timing by operand length).
   */
  pow(x: bigint, e: bigint): bigint {
    return this.run(x, e, true);
  }

  /**
   * ∏ x_j^e_j mod M for public units x_j and public signed exponents (a verifier's product under
   * its own key): each component runs Straus's method with exponents reduced into [0, φ(p_i^k_i)),
   * which also turns a negative exponent into a positive one. LEAK: the exponents.
   */
  multiPowPublic(terms: ReadonlyArray<readonly [bigint, bigint]>): bigint {
    if (!isList(terms) || terms.length === 0)
      throw new TypeError('terms must be a non-empty array of [base, exponent] pairs');
    for (const [j, t] of terms.entries()) {
      if (!isList(t) || t.length !== 2) throw new TypeError(`terms[${j}] must be a [base, exponent] pair`);
      assertBelow(`terms[${j}] base`, t[0], this.value, 'the modulus');
      assertBigint(`terms[${j}] exponent`, t[1]);
    }
    const ys = this.parts.map((part) =>
      part.m.multiPowPublic(
        terms.map(([x, e]) => {
          const xi = bitLength(x) <= 2 * LIMB_BITS * part.m.limbs ? part.m.reduce(x) : x % part.m.value;
          if (xi % part.p === 0n) throw new RangeError('multiPow bases must be units');
          return [xi, ((e % part.phi) + part.phi) % part.phi] as const;
        }),
      ),
    );
    return this.combine(ys);
  }

  /** Free the WASM memory of every component now. */
  dispose(): void {
    for (const part of this.parts) part.m.dispose();
  }
}
