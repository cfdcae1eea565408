/**
 * Paillier keys over the WASM core, with keys from the fixture safe primes (1024-bit N from 512-bit
 * primes, and one 3072-bit N from 1536-bit primes). Results are checked against textbook Paillier
 * computed with plain bigint (refPow), not against the implementation's own output.
 */
import test from 'ava';
import fc from 'fast-check';
import { generatePrimeSync, checkPrimeSync } from 'node:crypto';
import { PaillierPublicKey, PaillierSecretKey, MIN_MODULUS_BITS, MAX_MODULUS_BITS } from '../../src/paillier/index.js';
import { fixturePrime, refPow, refInverse, refGcd, refMod, refBitLength } from '../helpers/fixtures.js';
import { runs, expectEq } from '../helpers/arbitraries.js';

const SMALL = { checkPrimes: true, minBits: 1000 } as const;
const any = (v: unknown) => v as never;

const p = fixturePrime(512, 0);
const q = fixturePrime(512, 1);
const sk = PaillierSecretKey.fromPrimes(p, q, SMALL);
const pk = sk.publicKey;
const N = p * q;
const N2 = N * N;

const P = fixturePrime(1536, 2);
const Q = fixturePrime(1536, 3);
const bigSk = PaillierSecretKey.fromPrimes(P, Q);
const bigPk = bigSk.publicKey;
const BN = P * Q;
const BN2 = BN * BN;

/** Textbook encryption with g = 1 + N: g^m · r^N mod N². */
function textbookEncrypt(m: bigint, r: bigint, n: bigint): bigint {
  const n2 = n * n;
  return (refPow(1n + n, refMod(m, n), n2) * refPow(r, n, n2)) % n2;
}

/** Textbook decryption: L(c^λ mod N²)·μ mod N with λ = lcm(p−1, q−1), μ = L(g^λ mod N²)⁻¹ mod N. */
function textbookDecrypt(c: bigint, p_: bigint, q_: bigint): bigint {
  const n = p_ * q_;
  const n2 = n * n;
  const lambda = ((p_ - 1n) * (q_ - 1n)) / refGcd(p_ - 1n, q_ - 1n);
  const L = (x: bigint) => (x - 1n) / n;
  const mu = refInverse(L(refPow(1n + n, lambda, n2)), n) as bigint;
  return (L(refPow(c, lambda, n2)) * mu) % n;
}

/** A nonce in (0, n) coprime to n, from a fast-check bigint. */
function nonceFrom(x: bigint, n: bigint): bigint {
  let r = 1n + refMod(x, n - 1n);
  while (refGcd(r, n) !== 1n) r += 1n;
  return r;
}

test('fixture keys have the expected sizes and expose their primes', (t) => {
  t.is(pk.N, N);
  t.is(pk.N2, N2);
  t.is(sk.N, N);
  t.is(pk.bits, refBitLength(N));
  t.true(pk.bits >= 1023 && pk.bits <= 1024);
  t.deepEqual(sk.exportPrimes(), { p, q });
  t.is(bigPk.N, BN);
  t.true(bigPk.bits >= MIN_MODULUS_BITS && bigPk.bits <= 3072);
  t.true(pk.equals(new PaillierPublicKey(N, { minBits: 1000 })));
  t.false(pk.equals(bigPk));
});

test('textbook decryption of our encryption, and our decryption of textbook ciphertexts', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: N - 1n }), fc.bigInt({ min: 0n, max: N }), (m, x) => {
      const r = nonceFrom(x, N);
      const c = pk.encrypt(m, r);
      expectEq(c, textbookEncrypt(m, r, N), 'encrypt vs textbook g^m·r^N');
      expectEq(textbookDecrypt(c, p, q), m, 'textbook decryption of encrypt(m)');
      expectEq(sk.decrypt(textbookEncrypt(m, r, N)), m, 'decrypt of a textbook ciphertext');
    }),
    runs(12),
  );
  t.pass();
});

test('decrypt agrees with textbook decryption on arbitrary valid ciphertexts', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: N2 - 1n }), (c0) => {
      let c = c0;
      while (refGcd(c, N) !== 1n) c += 1n;
      expectEq(sk.decrypt(c), textbookDecrypt(c, p, q), 'decrypt(c) vs L(c^λ)·μ');
    }),
    runs(12),
  );
  t.pass();
});

test('round trips: random m, 0, 1, N − 1, and plaintexts taken modulo N', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.bigInt({ min: 0n, max: N - 1n }), fc.constantFrom(0n, 1n, N - 1n, N >> 1n)), (m) => {
      expectEq(sk.decrypt(pk.encrypt(m)), m, 'decrypt(pk.encrypt(m))');
      expectEq(sk.decrypt(sk.encrypt(m)), m, 'decrypt(sk.encrypt(m))');
    }),
    runs(30),
  );
  for (const [m, want] of [
    [N, 0n],
    [N + 5n, 5n],
    [-1n, N - 1n],
    [-N, 0n],
    [3n * N + 7n, 7n],
  ] as const) {
    t.is(sk.decrypt(pk.encrypt(m)), want, `encrypt(${m === N ? 'N' : 'm'}) taken mod N`);
  }
});

test('negative plaintexts through decryptSigned', (t) => {
  const half = (N - 1n) / 2n; // N is odd: representatives are [−half, half]
  fc.assert(
    fc.property(fc.oneof(fc.bigInt({ min: -half, max: half }), fc.constantFrom(-half, half, -1n, 0n, 1n)), (m) => {
      expectEq(sk.decryptSigned(pk.encrypt(m)), m, 'decryptSigned');
      expectEq(sk.decrypt(pk.encrypt(m)), refMod(m, N), 'decrypt of a negative plaintext');
    }),
    runs(30),
  );
  t.is(sk.decryptSigned(pk.encrypt(half + 1n)), -half);
  t.pass();
});

test('homomorphic add, sub and neg', (t) => {
  const half = (N - 1n) / 2n;
  fc.assert(
    fc.property(fc.bigInt({ min: -half, max: half }), fc.bigInt({ min: -half, max: half }), (a, b) => {
      const ca = pk.encrypt(a);
      const cb = sk.encrypt(b);
      expectEq(sk.decrypt(pk.add(ca, cb)), refMod(a + b, N), 'add');
      expectEq(sk.decrypt(pk.sub(ca, cb)), refMod(a - b, N), 'sub');
      expectEq(sk.decrypt(pk.neg(ca)), refMod(-a, N), 'neg');
      expectEq(sk.decryptSigned(pk.sub(ca, ca)), 0n, 'c − c');
      // the operations are the textbook ones on ciphertexts
      expectEq(pk.add(ca, cb), (ca * cb) % N2, 'add is c1·c2 mod N²');
      expectEq(pk.neg(ca), refInverse(ca, N2) as bigint, 'neg is c⁻¹ mod N²');
    }),
    runs(15),
  );
  t.pass();
});

test('homomorphic scalarMul with positive, negative and zero scalars', (t) => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: N - 1n }),
      fc.oneof(
        fc.bigInt({ min: -(1n << 256n), max: 1n << 256n }),
        fc.bigInt({ min: -(N - 1n), max: N - 1n }),
        fc.constantFrom(0n, 1n, -1n, 2n, -2n),
      ),
      (a, k) => {
        const c = pk.encrypt(a);
        const ck = pk.scalarMul(c, k);
        expectEq(sk.decrypt(ck), refMod(a * k, N), 'scalarMul default kBits');
        expectEq(ck, refPow(c, k, N2), 'scalarMul is c^k mod N²');
        const kBits = Math.max(1, refBitLength(k < 0n ? -k : k));
        expectEq(pk.scalarMul(c, k, kBits), ck, 'scalarMul with a tight kBits');
        expectEq(pk.scalarMul(c, k, kBits + 100), ck, 'scalarMul with a loose kBits');
      },
    ),
    runs(15),
  );
  t.pass();
});

test('scalarMul enforces |k| < 2^kBits', (t) => {
  const c = pk.encrypt(12345n);
  for (const kBits of [1, 8, 64, 300]) {
    const max = (1n << BigInt(kBits)) - 1n;
    t.is(sk.decrypt(pk.scalarMul(c, max, kBits)), refMod(12345n * max, N));
    t.is(sk.decrypt(pk.scalarMul(c, -max, kBits)), refMod(-12345n * max, N));
    t.throws(() => pk.scalarMul(c, max + 1n, kBits), { instanceOf: RangeError, message: /scalar/ });
    t.throws(() => pk.scalarMul(c, -(max + 1n), kBits), { instanceOf: RangeError, message: /scalar/ });
  }
  // default bound: the size of N
  t.throws(() => pk.scalarMul(c, 1n << BigInt(pk.bits)), { instanceOf: RangeError, message: /scalar/ });
  t.throws(() => pk.scalarMul(c, any(3)), { instanceOf: TypeError, message: /scalar/ });
});

test('secret-key CRT encryption and nonce factor equal the public ones and the textbook', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: -N, max: N }), fc.bigInt({ min: 0n, max: N }), (m, x) => {
      const r = nonceFrom(x, N);
      const want = refPow(r, N, N2);
      expectEq(pk.nonceFactor(r), want, 'public nonceFactor vs r^N mod N²');
      expectEq(sk.nonceFactor(r), want, 'CRT nonceFactor vs r^N mod N²');
      const c = pk.encrypt(m, r);
      expectEq(sk.encrypt(m, r), c, 'CRT encrypt vs public encrypt');
      expectEq(pk.encryptWithFactor(m, want), c, 'encryptWithFactor');
      expectEq(c, textbookEncrypt(m, r, N), 'encrypt vs textbook');
    }),
    runs(15),
  );
  // nonces that are not units (multiples of p or q) still agree
  for (const r of [p, q, 2n * p, N - q, 1n, N - 1n]) {
    t.is(sk.nonceFactor(r), refPow(r, N, N2), `CRT nonceFactor of a special nonce`);
    t.is(pk.nonceFactor(r), refPow(r, N, N2), `public nonceFactor of a special nonce`);
  }
});

test("multiPowN2 (a verifier's check under its own key) equals w^N·∏ x_j^e_j mod N² computed with plain bigint", (t) => {
  const ref = (w: bigint, terms: [bigint, bigint][], n: bigint) => {
    const n2 = n * n;
    let acc = refPow(w, n, n2);
    for (const [x, e] of terms)
      acc = (acc * (e < 0n ? refPow(refInverse(x, n2) as bigint, -e, n2) : refPow(x, e, n2))) % n2;
    return acc;
  };
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: N }),
      fc.bigInt({ min: -N, max: N }),
      fc.bigInt({ min: -(1n << 800n), max: 1n << 800n }),
      fc.bigInt({ min: -(1n << 256n), max: 1n << 256n }),
      (x, m, z, e) => {
        const w = nonceFrom(x, N);
        const C = pk.encrypt(m);
        const D = pk.encrypt(m + 1n);
        const terms: [bigint, bigint][] = [
          [C, z],
          [D, e],
        ];
        expectEq(sk.multiPowN2(w, terms), ref(w, terms, N), 'multiPowN2');
      },
    ),
    runs(10),
  );
  // edge cases: zero and ±1 exponents, base 1, w = 1, w = N − 1, the 3072-bit key
  const C = pk.encrypt(7n);
  for (const [w, terms] of [
    [1n, [[C, 0n]]],
    [N - 1n, [[C, 1n]]],
    [
      2n,
      [
        [1n, (1n << 900n) - 1n],
        [C, -1n],
      ],
    ],
  ] as [bigint, [bigint, bigint][]][])
    t.is(sk.multiPowN2(w, terms), ref(w, terms, N));
  const bC = bigPk.encrypt(99n);
  const bw = bigPk.randomNonce();
  t.is(bigSk.multiPowN2(bw, [[bC, -(1n << 255n)]]), ref(bw, [[bC, -(1n << 255n)]], BN));
  // bases that are not units and a w outside (0, N) are refused
  t.throws(() => sk.multiPowN2(2n, [[p, 1n]]), { instanceOf: RangeError });
  t.throws(() => sk.multiPowN2(0n, [[C, 1n]]), { instanceOf: RangeError });
  t.throws(() => sk.multiPowN2(N, [[C, 1n]]), { instanceOf: RangeError });
});

test('nonce validation', (t) => {
  for (const key of [pk, sk]) {
    t.throws(() => key.nonceFactor(0n), { instanceOf: RangeError, message: /nonce/ });
    t.throws(() => key.nonceFactor(N), { instanceOf: RangeError, message: /nonce/ });
    t.throws(() => key.nonceFactor(-1n), { instanceOf: RangeError, message: /nonce/ });
    t.throws(() => key.nonceFactor(any(5)), { instanceOf: TypeError, message: /nonce/ });
    t.throws(() => key.encrypt(1n, N + 1n), { instanceOf: RangeError, message: /nonce/ });
  }
  t.throws(() => pk.encrypt(any(1), 5n), { instanceOf: TypeError, message: /plaintext/ });
  for (let i = 0; i < 20; i++) {
    const r = pk.randomNonce();
    t.true(r > 0n && r < N && refGcd(r, N) === 1n);
  }
});

test('invalid ciphertexts are rejected', (t) => {
  const good = pk.encrypt(42n);
  // [label, value, error class, in range but not coprime to N]
  const bad: [string, unknown, typeof TypeError | typeof RangeError, boolean][] = [
    ['0', 0n, RangeError, false],
    ['N²', N2, RangeError, false],
    ['N² + 1', N2 + 1n, RangeError, false],
    ['−1', -1n, RangeError, false],
    ['−c', -good, RangeError, false],
    ['p (not coprime to N)', p, RangeError, true],
    ['q·7 (not coprime to N)', q * 7n, RangeError, true],
    ['N', N, RangeError, true],
    ['N² − p', N2 - p, RangeError, true],
    ['a number', 5, TypeError, false],
    ['a string', '5', TypeError, false],
    ['undefined', undefined, TypeError, false],
  ];
  for (const [label, c, cls, notCoprime] of bad) {
    t.false(pk.isCiphertext(c), `isCiphertext(${label})`);
    const err = t.throws(() => pk.assertCiphertext(c, 'K from party 2'), { message: /^K from party 2 must/ }, label);
    t.is(err?.constructor, cls, `assertCiphertext(${label}) class`);
    const ops: [string, () => unknown][] = [
      ['decrypt', () => sk.decrypt(any(c))],
      ['decryptSigned', () => sk.decryptSigned(any(c))],
    ];
    // the homomorphic operations check type and range only (coprimality is checked where a
    // ciphertext enters, by assertCiphertext, and again by decrypt)
    if (!notCoprime) {
      ops.push(
        ['add (first)', () => pk.add(any(c), good)],
        ['add (second)', () => pk.add(good, any(c))],
        ['sub', () => pk.sub(good, any(c))],
        ['neg', () => pk.neg(any(c))],
        ['scalarMul', () => pk.scalarMul(any(c), 3n)],
      );
    }
    for (const [op, f] of ops) {
      const e = t.throws(f, undefined, `${op}(${label})`);
      t.is(e?.constructor, cls, `${op}(${label}) class`);
    }
  }
  t.true(pk.isCiphertext(good));
  t.true(pk.isCiphertext(1n));
  t.true(pk.isCiphertext(N2 - 1n));
  t.notThrows(() => pk.assertCiphertext(good));
  // after all the rejections, the key still works
  t.is(sk.decrypt(good), 42n);
});

test('public key validation', (t) => {
  const odd = (bits: number) => (1n << BigInt(bits - 1)) + 12345n * 2n + 1n;
  t.throws(() => new PaillierPublicKey(odd(3072) + 1n), {
    instanceOf: RangeError,
    message: /Paillier modulus N must be odd/,
  });
  t.throws(() => new PaillierPublicKey(odd(3070)), { instanceOf: RangeError, message: /fewer than the minimum 3071/ });
  t.throws(() => new PaillierPublicKey(N), { instanceOf: RangeError, message: /minimum/ });
  t.throws(() => new PaillierPublicKey(odd(4097)), { instanceOf: RangeError, message: /more than the maximum 4096/ });
  t.throws(() => new PaillierPublicKey(odd(8192)), { instanceOf: RangeError, message: /maximum/ });
  t.throws(() => new PaillierPublicKey(0n), { instanceOf: RangeError });
  t.throws(() => new PaillierPublicKey(any(12345)), { instanceOf: TypeError, message: /bigint/ });
  t.throws(() => new PaillierPublicKey(any(BN.toString())), { instanceOf: TypeError, message: /bigint/ });
  t.throws(() => new PaillierPublicKey(odd(1100), { minBits: 1000, maxBits: 1050 }), {
    instanceOf: RangeError,
    message: /maximum 1050/,
  });
  // the bounds themselves are accepted
  t.is(new PaillierPublicKey(odd(MIN_MODULUS_BITS)).bits, MIN_MODULUS_BITS);
  t.is(new PaillierPublicKey(odd(MAX_MODULUS_BITS)).bits, MAX_MODULUS_BITS);
  t.is(new PaillierPublicKey(N, { minBits: 1000 }).N, N);
  // a peer's key (N only) encrypts for the holder of the primes
  const peer = new PaillierPublicKey(N, { minBits: 1000 });
  t.is(sk.decrypt(peer.encrypt(777n)), 777n);
});

// Known bug (see the report): the constructor measures N with bitLength, which is meaningless for a
// negative bigint (bitLength(−N) = bitLength(N) here), and only checks that N is odd, so a negative
// N of valid size is accepted as a peer's key; the failure surfaces later ("n must be positive").
test('public key rejects a negative N', (t) => {
  t.throws(() => new PaillierPublicKey(-BN), { instanceOf: RangeError });
  t.throws(() => new PaillierPublicKey(-N, { minBits: 1000 }), { instanceOf: RangeError });
});

/** A 512-bit prime with the given residue mod 4 whose (p − 1)/2 is composite (so not a safe prime). */
function unsafePrime(residue: 1n | 3n): bigint {
  for (;;) {
    const c = generatePrimeSync(512, { bigint: true });
    if ((c & 3n) === residue && !checkPrimeSync((c - 1n) / 2n)) return c;
  }
}

test('fromPrimes rejects p = q, non-safe primes, p ≡ 1 (mod 4), composites and out-of-bounds N', (t) => {
  const other = fixturePrime(512, 2);
  t.throws(() => PaillierSecretKey.fromPrimes(p, p, SMALL), { instanceOf: RangeError, message: /differ/ });
  t.throws(() => PaillierSecretKey.fromPrimes(p, p, { checkPrimes: false, minBits: 1000 }), {
    instanceOf: RangeError,
    message: /differ/,
  });
  const unsafe3 = unsafePrime(3n);
  t.throws(() => PaillierSecretKey.fromPrimes(unsafe3, other, SMALL), {
    instanceOf: RangeError,
    message: /^p must be a safe prime/,
  });
  t.throws(() => PaillierSecretKey.fromPrimes(other, unsafe3, SMALL), {
    instanceOf: RangeError,
    message: /^q must be a safe prime/,
  });
  const oneMod4 = unsafePrime(1n);
  t.throws(() => PaillierSecretKey.fromPrimes(oneMod4, other, SMALL), {
    instanceOf: RangeError,
    message: /3 \(mod 4\)/,
  });
  t.throws(() => PaillierSecretKey.fromPrimes(other, oneMod4, { checkPrimes: false, minBits: 1000 }), {
    instanceOf: RangeError,
    message: /3 \(mod 4\)/,
  });
  // a composite ≡ 3 (mod 4): a safe prime (≡ 3) times 5 (≡ 1)
  const composite = fixturePrime(512, 3) * 5n;
  t.is(composite % 4n, 3n);
  t.throws(() => PaillierSecretKey.fromPrimes(composite, other, SMALL), {
    instanceOf: RangeError,
    message: /^p must be a safe prime/,
  });
  // N = p·q below the default minimum of 3071 bits
  t.throws(() => PaillierSecretKey.fromPrimes(p, q), { instanceOf: RangeError, message: /minimum/ });
  t.throws(() => PaillierSecretKey.fromPrimes(P, Q, { maxBits: 3000 }), { instanceOf: RangeError, message: /maximum/ });
  t.throws(() => PaillierSecretKey.fromPrimes(any(5), q, SMALL), { instanceOf: TypeError });
  t.throws(() => PaillierSecretKey.fromPrimes(p, any('0x10'), SMALL), { instanceOf: TypeError });
});

test('3072-bit key from the 1536-bit fixtures: round trips, CRT equals public, homomorphisms', (t) => {
  const half = (BN - 1n) / 2n;
  const r = nonceFrom(0x1234567890abcdefn * P, BN);
  const m = (half * 2n) / 3n + 12345n;
  // one textbook check at full size
  const c = bigPk.encrypt(m, r);
  t.is(c, textbookEncrypt(m, r, BN), 'encrypt vs textbook at 3072 bits');
  t.is(bigSk.encrypt(m, r), c, 'CRT encrypt vs public');
  t.is(bigSk.nonceFactor(r), bigPk.nonceFactor(r));
  t.is(bigSk.decrypt(c), m);
  for (const x of [0n, 1n, BN - 1n, half, -half, -1n, -12345678901234567890n]) {
    const cx = bigSk.encrypt(x);
    t.is(bigSk.decryptSigned(cx), x > half ? x - BN : x);
    t.is(bigSk.decrypt(cx), refMod(x, BN));
  }
  const a = 0xabcdef0123456789n << 2000n;
  const b = -(0x987654321n << 1500n);
  const ca = bigSk.encrypt(a);
  const cb = bigPk.encrypt(b);
  t.is(bigSk.decryptSigned(bigPk.add(ca, cb)), a + b);
  t.is(bigSk.decryptSigned(bigPk.sub(ca, cb)), a - b);
  t.is(bigSk.decryptSigned(bigPk.neg(cb)), -b);
  t.is(bigSk.decryptSigned(bigPk.scalarMul(cb, -1000n, 16)), -1000n * b);
  t.is(bigSk.decrypt(bigPk.scalarMul(ca, BN - 1n)), refMod(a * (BN - 1n), BN));
  t.throws(() => bigSk.decrypt(P), { instanceOf: RangeError });
  t.throws(() => bigSk.decrypt(BN2), { instanceOf: RangeError });
});
