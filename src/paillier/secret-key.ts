/**
 * A Paillier secret key: the primes p, q of N = p·q. Everything under one's own key uses the
 * factorisation (CRT), which is about 4× cheaper than working modulo N² directly.
 *
 * Decryption: m_p = L_p(c^(p−1) mod p²)·h_p mod p with L_p(x) = (x − 1)/p and
 * h_p = L_p((1 + N)^(p−1) mod p²)⁻¹ = (−q)⁻¹ mod p; likewise for q; m = CRT(m_p, m_q).
 * @module
 */
import { CrtModulus, modInv } from '../wasm/index.js';
import { bitLength } from '../wasm/instance.js';
import { randomBelow } from '../util/random.js';
import { PaillierPublicKey, type KeyBounds } from './public-key.js';
import { assertSafePrime, generateSafePrime, SAFE_PRIME_BITS } from './primes.js';

export interface FromPrimesOptions extends KeyBounds {
  /** verify that p and q are safe primes (default true; costs tens of milliseconds) */
  checkPrimes?: boolean;
}

export class PaillierSecretKey {
  readonly publicKey: PaillierPublicKey;
  readonly #p: bigint;
  readonly #q: bigint;
  /** CRT over p², q² for ciphertext arithmetic */
  readonly #crtN2: CrtModulus;
  /** CRT over p, q for plaintexts */
  readonly #crtN: CrtModulus;
  /** h_p = (−q)⁻¹ mod p, h_q = (−p)⁻¹ mod q */
  readonly #hp: bigint;
  readonly #hq: bigint;
  /** N mod φ(p²), N mod φ(q²): exponents for ρ^N by CRT */
  readonly #np: bigint;
  readonly #nq: bigint;

  private constructor(p: bigint, q: bigint, bounds: KeyBounds) {
    this.publicKey = new PaillierPublicKey(p * q, bounds);
    this.#p = p;
    this.#q = q;
    this.#crtN2 = new CrtModulus([
      [p, 2],
      [q, 2],
    ]);
    this.#crtN = new CrtModulus([
      [p, 1],
      [q, 1],
    ]);
    this.#hp = modInv(-q, p);
    this.#hq = modInv(-p, q);
    const N = p * q;
    this.#np = N % (p * (p - 1n));
    this.#nq = N % (q * (q - 1n));
  }

  /**
   * The key for N = p·q.
   * @throws {RangeError} when p or q is not a safe prime (if checked), p = q, or N is out of bounds
   */
  static fromPrimes(p: bigint, q: bigint, options: FromPrimesOptions = {}): PaillierSecretKey {
    if (typeof p !== 'bigint' || typeof q !== 'bigint') throw new TypeError('p and q must be bigints');
    if (p === q) throw new RangeError('p and q must differ');
    if (options.checkPrimes ?? true) {
      assertSafePrime('p', p);
      assertSafePrime('q', q);
    } else if ((p & 3n) !== 3n || (q & 3n) !== 3n) {
      throw new RangeError('p and q must be ≡ 3 (mod 4)');
    }
    const { minBits, maxBits } = options;
    return new PaillierSecretKey(p, q, {
      ...(minBits !== undefined && { minBits }),
      ...(maxBits !== undefined && { maxBits }),
    });
  }

  /** A fresh key from two safe primes of bits/2 bits each (default 3072-bit N). */
  static async generate(bits: number = 2 * SAFE_PRIME_BITS): Promise<PaillierSecretKey> {
    const half = Math.ceil(bits / 2);
    for (;;) {
      const [p, q] = await Promise.all([generateSafePrime(half), generateSafePrime(half)]);
      if (p !== q && bitLength(p * q) >= bits - 1) {
        return new PaillierSecretKey(p, q, { minBits: Math.min(bits - 1, 3071), maxBits: Math.max(bits, 4096) });
      }
    }
  }

  /** N */
  get N(): bigint {
    return this.publicKey.N;
  }

  /** The primes (secret: for encrypted storage only). */
  exportPrimes(): { p: bigint; q: bigint } {
    return { p: this.#p, q: this.#q };
  }

  /** ρ^N mod N² by CRT, constant time in ρ and the secret exponents. */
  nonceFactor(rho: bigint): bigint {
    if (typeof rho !== 'bigint') throw new TypeError('nonce must be a bigint');
    if (rho <= 0n || rho >= this.N) throw new RangeError('nonce must be in (0, N)');
    const mp = this.#crtN2.component(0);
    const mq = this.#crtN2.component(1);
    const yp = mp.pow(rho % mp.value, this.#np, bitLength(this.#p) * 2);
    const yq = mq.pow(rho % mq.value, this.#nq, bitLength(this.#q) * 2);
    return this.#crtN2.combine([yp, yq]);
  }

  /** Enc(m; ρ) under our own key (CRT). */
  encrypt(m: bigint, rho: bigint = this.publicKey.randomNonce()): bigint {
    return this.publicKey.encryptWithFactor(m, this.nonceFactor(rho));
  }

  /**
   * ∏ x_j^e_j mod N² for public units x_j and public signed exponents, by CRT: a verifier's
   * check on ciphertexts under its own key at about half the cost of working modulo N².
   */
  multiPowN2(terms: ReadonlyArray<readonly [bigint, bigint]>): bigint {
    return this.#crtN2.multiPowPublic(terms);
  }

  /**
   * Dec(c) ∈ [0, N). @throws {RangeError} when c is not a valid ciphertext
   *
   * Timing: the exponentiations are constant-time (`pow`). The host-side BigInt steps around
   * them (L(u) = (u−1)/p, the CRT combination) take time that depends on the size of the values
   * they handle, so they never see the plaintext itself: c is blinded to c·(1+N)^ρ = Enc(m+ρ) for a
   * fresh random ρ, the BigInt steps work on the uniformly random m+ρ mod N, and ρ is taken off at
   * the end (docs/security.md A15). The blinding costs two multiplications mod p² and q².
   */
  decrypt(c: bigint): bigint {
    this.publicKey.assertInRange(c);
    const p = this.#p;
    const q = this.#q;
    const N = this.N;
    // gcd(c, N) ≠ 1 exactly when p | c or q | c: two cheap reductions instead of a gcd
    if (c % p === 0n || c % q === 0n) throw new RangeError('ciphertext must be coprime to N');
    const mp2 = this.#crtN2.component(0);
    const mq2 = this.#crtN2.component(1);
    const rho = randomBelow(N);
    const blind = 1n + rho * N; // (1+N)^ρ mod N², reduced mod p² and q² below
    // L_p(c'^(p−1) mod p²) · h_p mod p, with c' = c·(1+N)^ρ
    const up = mp2.pow(mp2.mul(mp2.reduce(c), mp2.reduce(blind)), p - 1n, bitLength(p));
    const uq = mq2.pow(mq2.mul(mq2.reduce(c), mq2.reduce(blind)), q - 1n, bitLength(q));
    const xp = this.#crtN.component(0).mul((up - 1n) / p, this.#hp);
    const xq = this.#crtN.component(1).mul((uq - 1n) / q, this.#hq);
    const blinded = this.#crtN.combine([xp, xq]); // m + ρ mod N
    const m = blinded + (N - rho); // in (0, 2N)
    return m >= N ? m - N : m;
  }

  /** Dec(c) as the representative in (−N/2, N/2]. */
  decryptSigned(c: bigint): bigint {
    const m = this.decrypt(c);
    return m > this.N / 2n ? m - this.N : m;
  }
}
