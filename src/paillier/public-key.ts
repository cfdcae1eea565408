/**
 * Paillier encryption under someone's public key N with g = 1 + N:
 *   Enc(m; ρ) = (1 + N)^m · ρ^N = (1 + m·N) · ρ^N  (mod N²)
 * Homomorphisms: Enc(a)·Enc(b) = Enc(a + b), Enc(a)^k = Enc(k·a), Enc(a)⁻¹ = Enc(−a).
 * Arithmetic modulo N² runs in the WASM core.
 * @module
 */
import { Modulus } from '../wasm/index.js';
import { bitLength } from '../wasm/instance.js';
import { gcd } from '../util/gcd.js';
import { randomBelow } from '../util/random.js';

/** Smallest modulus accepted from a peer (docs/security.md, "Decisions": 8κ − 1 bits for κ = 384-bit primes). */
export const MIN_MODULUS_BITS = 3071;
/** Largest modulus accepted from a peer, so nobody makes us exponentiate huge numbers. */
export const MAX_MODULUS_BITS = 4096;

export interface KeyBounds {
  /** reject N shorter than this (default MIN_MODULUS_BITS) */
  minBits?: number;
  /** reject N longer than this (default MAX_MODULUS_BITS) */
  maxBits?: number;
}

export class PaillierPublicKey {
  /** N */
  readonly N: bigint;
  /** N² */
  readonly N2: bigint;
  /** bit length of N */
  readonly bits: number;
  /** arithmetic modulo N² */
  protected readonly modN2: Modulus;

  /**
   * Validates N: a bigint, odd, within the size bounds. (That N is a product of two large primes
   * is what the Πmod and Πfac proofs establish; this constructor checks what is cheap.)
   * @throws {TypeError} N is not a bigint
   * @throws {RangeError} N is even or outside the bounds
   */
  constructor(N: bigint, bounds: KeyBounds = {}) {
    if (typeof N !== 'bigint') throw new TypeError('Paillier modulus N must be a bigint');
    if (N <= 0n) throw new RangeError('Paillier modulus N must be positive');
    const bits = bitLength(N);
    const minBits = bounds.minBits ?? MIN_MODULUS_BITS;
    const maxBits = bounds.maxBits ?? MAX_MODULUS_BITS;
    if (bits < minBits) throw new RangeError(`Paillier modulus N has ${bits} bits, fewer than the minimum ${minBits}`);
    if (bits > maxBits) throw new RangeError(`Paillier modulus N has ${bits} bits, more than the maximum ${maxBits}`);
    if ((N & 1n) === 0n) throw new RangeError('Paillier modulus N must be odd');
    this.N = N;
    this.N2 = N * N;
    this.bits = bits;
    this.modN2 = new Modulus(this.N2);
  }

  /**
   * Throws unless c is a valid ciphertext: 0 < c < N² and gcd(c, N) = 1.
   * @param name how the error names the value (e.g. "K_j from party 2")
   */
  assertCiphertext(c: unknown, name = 'ciphertext'): asserts c is bigint {
    if (typeof c !== 'bigint') throw new TypeError(`${name} must be a bigint`);
    if (c <= 0n || c >= this.N2) throw new RangeError(`${name} must be in (0, N²)`);
    if (gcd(c, this.N) !== 1n) throw new RangeError(`${name} must be coprime to N`);
  }

  /**
   * Cheap check for the homomorphic operations: type and range. Coprimality with N costs a gcd,
   * so it is checked once where a ciphertext enters (assertCiphertext when a message is decoded).
   */
  assertInRange(c: unknown, name = 'ciphertext'): asserts c is bigint {
    if (typeof c !== 'bigint') throw new TypeError(`${name} must be a bigint`);
    if (c <= 0n || c >= this.N2) throw new RangeError(`${name} must be in (0, N²)`);
  }

  /** True when c is a valid ciphertext (see assertCiphertext). */
  isCiphertext(c: unknown): boolean {
    try {
      this.assertCiphertext(c);
      return true;
    } catch {
      return false;
    }
  }

  /** A random encryption nonce ρ ∈ Z*_N. */
  randomNonce(): bigint {
    for (;;) {
      const r = randomBelow(this.N);
      if (r !== 0n && gcd(r, this.N) === 1n) return r;
    }
  }

  /** Plaintext m (any integer) as its residue in [0, N). */
  protected residue(m: bigint): bigint {
    if (typeof m !== 'bigint') throw new TypeError('plaintext must be a bigint');
    const r = m % this.N;
    return r < 0n ? r + this.N : r;
  }

  /** ρ^N mod N² (the costly part of encryption; independent of the message). */
  nonceFactor(rho: bigint): bigint {
    if (typeof rho !== 'bigint') throw new TypeError('nonce must be a bigint');
    if (rho <= 0n || rho >= this.N) throw new RangeError('nonce must be in (0, N)');
    return this.modN2.powPublic(rho, this.N);
  }

  /** Enc(m; ρ) = (1 + m·N)·ρ^N mod N²; m is taken modulo N (negative values allowed). */
  encrypt(m: bigint, rho: bigint = this.randomNonce()): bigint {
    return this.encryptWithFactor(m, this.nonceFactor(rho));
  }

  /** Enc(m) from a precomputed nonce factor ρ^N mod N². */
  encryptWithFactor(m: bigint, factor: bigint): bigint {
    const gm = 1n + this.residue(m) * this.N; // (1 + N)^m = 1 + m·N (mod N²), < N²
    return this.modN2.mul(gm, factor);
  }

  /**
   * Enc(a + b) = c1·c2. Ciphertexts are public, so this one multiplication uses native bigint
   * (Karatsuba and a native division beat a WASM Montgomery product plus conversions here).
   */
  add(c1: bigint, c2: bigint): bigint {
    this.assertInRange(c1, 'c1');
    this.assertInRange(c2, 'c2');
    return (c1 * c2) % this.N2;
  }

  /** Enc(−a) = c⁻¹. */
  neg(c: bigint): bigint {
    this.assertInRange(c, 'ciphertext');
    return this.modN2.inverse(c);
  }

  /** Enc(a − b) = c1·c2⁻¹. */
  sub(c1: bigint, c2: bigint): bigint {
    return this.add(c1, this.neg(c2));
  }

  /**
   * Enc(k·a) = c^k for an integer k with |k| < 2^kBits. Constant time in |k| for a public kBits
   * (default: the size of N); the sign of k is not hidden.
   */
  scalarMul(c: bigint, k: bigint, kBits: number = this.bits): bigint {
    this.assertInRange(c, 'ciphertext');
    if (typeof k !== 'bigint') throw new TypeError('scalar must be a bigint');
    const base = k < 0n ? this.modN2.inverse(c) : c;
    const abs = k < 0n ? -k : k;
    if (bitLength(abs) > kBits) throw new RangeError(`scalar must be below 2^${kBits} in absolute value`);
    return this.modN2.pow(base, abs, kBits);
  }

  /** Public-key equality. */
  equals(other: PaillierPublicKey): boolean {
    return other.N === this.N;
  }
}
