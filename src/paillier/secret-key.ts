/**
 * A Paillier secret key: the primes p, q of N = p·q. Everything under one's own key uses the
 * factorisation (CRT), which is about 4× cheaper than working modulo N² directly.
 *
 * Decryption: m_p = L_p(c^(p−1) mod p²)·h_p mod p with L_p(x) = (x − 1)/p and
 * h_p = L_p((1 + N)^(p−1) mod p²)⁻¹ = (−q)⁻¹ mod p; likewise for q; m = CRT(m_p, m_q).
 *
 * N-th powers (ρ^N mod N², the cost of an encryption): Z*_{p²} is the product of the subgroup of
 * order p − 1 and the subgroup ⟨1 + p⟩ of order p. ρ^N kills the second factor (p | N), and on the
 * first, ρ ↦ ρ^p mod p² depends only on ρ mod p and is the identity (the Teichmüller lift ω). So
 * ρ^N ≡ ω(ρ)^N ≡ ω(ρ^(N mod (p−1)) mod p) = (ρ^(q mod (p−1)) mod p)^p mod p²: an exponent of
 * |p| bits modulo p, then one of |p| bits modulo p², instead of one of |N| bits modulo p².
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
  /** N mod (p − 1) = q mod (p − 1), N mod (q − 1): exponents for ρ^N by CRT (see the module note) */
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
    this.#np = N % (p - 1n);
    this.#nq = N % (q - 1n);
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

  /**
   * ρ^N mod N² by CRT and the Teichmüller lift (module note), constant time in ρ and the secret
   * exponents: per prime, ρ^(N mod (p−1)) mod p, then that to the p-th power mod p², each over
   * bitlen(p) exponent bits. LEAK: the reductions ρ mod p, ρ mod q use bigint division (timing by
   * operand length only).
   */
  nonceFactor(rho: bigint): bigint {
    if (typeof rho !== 'bigint') throw new TypeError('nonce must be a bigint');
    if (rho <= 0n || rho >= this.N) throw new RangeError('nonce must be in (0, N)');
    return this.#crtN2.combine([this.#nthPower(0, this.#p, this.#np, rho), this.#nthPower(1, this.#q, this.#nq, rho)]);
  }

  /** x^N mod p² for the prime p of component i (e = N mod (p − 1)); 0 when p | x. */
  #nthPower(i: number, p: bigint, e: bigint, x: bigint): bigint {
    const bits = bitLength(p);
    const xp = x % p;
    // a multiple of p: x^N ≡ 0 (mod p²) since N ≥ 2
    if (xp === 0n) return 0n;
    const u = this.#crtN.component(i).pow(xp, e, bits);
    return this.#crtN2.component(i).pow(u, p, bits);
  }

  /** Enc(m; ρ) under our own key (CRT). */
  encrypt(m: bigint, rho: bigint = this.publicKey.randomNonce()): bigint {
    return this.publicKey.encryptWithFactor(m, this.nonceFactor(rho));
  }

  /**
   * w^N · ∏ x_j^e_j mod N² for public units w, x_j and public signed exponents e_j, by CRT: a
   * verifier's check on ciphertexts under its own key (Enc(z; w) = (1 + z·N)·w^N times the
   * statement's powers). w^N takes the constant-time path of nonceFactor (its per-prime exponents
   * come from p and q); the e_j are not reduced modulo φ (that would make them depend on p, q), so
   * they run unreduced through Straus's method. LEAK: the e_j, the bases (public values only).
   */
  multiPowN2(w: bigint, terms: ReadonlyArray<readonly [bigint, bigint]>): bigint {
    if (typeof w !== 'bigint' || w <= 0n || w >= this.N) throw new RangeError('w must be in (0, N)');
    if (!Array.isArray(terms) || terms.length === 0)
      throw new TypeError('terms must be a non-empty array of [base, exponent] pairs');
    const primes = [this.#p, this.#q];
    const exps = [this.#np, this.#nq];
    const ys = primes.map((p, i) => {
      const m = this.#crtN2.component(i);
      const rest = m.multiPowPublic(
        terms.map(([x, e]) => {
          if (typeof x !== 'bigint' || x <= 0n || x >= this.publicKey.N2)
            throw new RangeError(`multiPowN2 bases must be in (0, N²)`);
          if (x % p === 0n) throw new RangeError('multiPowN2 bases must be units');
          return [m.reduce(x), e] as const;
        }),
      );
      return m.mul(this.#nthPower(i, p, exps[i] as bigint, w), rest);
    });
    return this.#crtN2.combine(ys);
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
