/**
 * Safe primes: fresh ones from generateSafePrime and PaillierSecretKey.generate (checked with
 * node:crypto's checkPrime, independently of assertSafePrime), the fixtures, and assertSafePrime's
 * rejections.
 */
import test from 'ava';
import { checkPrime, checkPrimeSync, generatePrimeSync } from 'node:crypto';
import { promisify } from 'node:util';
import { generateSafePrime, assertSafePrime, SAFE_PRIME_BITS, PaillierSecretKey } from '../../src/paillier/index.js';
import { safePrimes, refBitLength, refPow, refMod } from '../helpers/fixtures.js';

const isPrime = promisify(checkPrime) as (p: bigint, options?: { checks?: number }) => Promise<boolean>;
const any = (v: unknown) => v as never;

/** node:crypto's Miller–Rabin on p and (p − 1)/2 (OpenSSL's default rounds unless `checks`). */
async function checkSafe(p: bigint, checks?: number): Promise<[boolean, boolean]> {
  const options = checks === undefined ? {} : { checks };
  return Promise.all([isPrime(p, options), isPrime((p - 1n) / 2n, options)]);
}

// The one test that makes new safe primes (seconds each at 1536 bits); the others use fixtures.
test('slow: fresh safe primes from generateSafePrime(1536) and a fresh 3072-bit key from generate()', async (t) => {
  t.timeout(5 * 60_000);
  const started = Date.now();
  const [p, key] = await Promise.all([generateSafePrime(1536), PaillierSecretKey.generate()]);
  t.log(`three 1536-bit safe primes in ${Date.now() - started} ms`);

  t.is(typeof p, 'bigint');
  t.is(refBitLength(p), 1536);
  t.is(p % 4n, 3n);
  t.deepEqual(await checkSafe(p), [true, true], 'p and (p − 1)/2 are prime');

  const { p: kp, q: kq } = key.exportPrimes();
  t.not(kp, kq);
  t.is(key.N, kp * kq);
  for (const r of [kp, kq]) {
    t.is(refBitLength(r), SAFE_PRIME_BITS);
    t.is(r % 4n, 3n);
    t.deepEqual(await checkSafe(r), [true, true], 'the key primes are safe primes');
  }
  const bits = refBitLength(key.N);
  t.true(bits === 3071 || bits === 3072, `N has ${bits} bits`);
  t.is(key.publicKey.bits, bits);

  // the fresh key works: round trips, CRT encryption, and one textbook encryption
  const N = key.N;
  const N2 = N * N;
  for (const m of [0n, 1n, N - 1n, 0x0123456789abcdefn << 1000n, -987654321n]) {
    t.is(key.decryptSigned(key.encrypt(m)), m > N / 2n ? m - N : m);
    t.is(key.decrypt(key.publicKey.encrypt(m)), refMod(m, N));
  }
  const r = key.publicKey.randomNonce();
  const m = 0xfeedfacecafen;
  const c = key.publicKey.encrypt(m, r);
  t.is(key.encrypt(m, r), c);
  t.is(c, ((1n + m * N) * refPow(r, N, N2)) % N2, 'textbook (1 + mN)·r^N mod N²');
});

test('small fresh safe primes have the requested size and form', async (t) => {
  const ps = await Promise.all([generateSafePrime(64), generateSafePrime(128), generateSafePrime(257)]);
  for (const [p, bits] of [
    [ps[0], 64],
    [ps[1], 128],
    [ps[2], 257],
  ] as const) {
    t.is(refBitLength(p), bits);
    t.is(p % 4n, 3n);
    t.deepEqual(await checkSafe(p), [true, true]);
    t.notThrows(() => assertSafePrime('p', p, bits));
  }
});

test('generateSafePrime rejects a bad size', async (t) => {
  for (const bits of [15, 0, -1, 1.5, NaN, any('1536')]) {
    // synchronous throw or a rejected promise are both acceptable; a prime is not
    let outcome: unknown;
    try {
      outcome = await generateSafePrime(bits);
    } catch (err) {
      outcome = err;
    }
    t.true(outcome instanceof RangeError, `generateSafePrime(${String(bits)}) must fail with RangeError`);
  }
});

test('every fixture prime passes assertSafePrime and an independent primality check', async (t) => {
  const { bits1536, bits512 } = safePrimes();
  t.true(bits1536.length >= 12, 'at least 12 primes of 1536 bits');
  t.true(bits512.length >= 8, 'at least 8 primes of 512 bits');
  t.is(new Set([...bits1536, ...bits512]).size, bits1536.length + bits512.length, 'all distinct');
  const independent: Promise<[boolean, boolean]>[] = [];
  for (const [list, bits] of [
    [bits1536, 1536],
    [bits512, 512],
  ] as const) {
    for (const p of list) {
      t.notThrows(() => assertSafePrime('fixture', p, bits));
      t.is(refBitLength(p), bits);
      t.is(p % 4n, 3n);
      independent.push(checkSafe(p, 16));
    }
  }
  for (const result of await Promise.all(independent))
    t.deepEqual(result, [true, true], 'p and (p − 1)/2 prime (node:crypto)');
});

test('assertSafePrime rejects composites, non-safe primes, p ≡ 1 (mod 4), wrong sizes and wrong types', (t) => {
  const safe = safePrimes().bits512[0] as bigint;
  // a 512-bit prime ≡ 3 (mod 4) whose (p − 1)/2 is composite, and one ≡ 1 (mod 4)
  let unsafe3 = 0n;
  let oneMod4 = 0n;
  while (unsafe3 === 0n || oneMod4 === 0n) {
    const c = generatePrimeSync(512, { bigint: true });
    if (c % 4n === 3n && !checkPrimeSync((c - 1n) / 2n)) unsafe3 = c;
    if (c % 4n === 1n) oneMod4 = c;
  }
  const cases: [string, unknown, typeof RangeError | typeof TypeError, RegExp, number?][] = [
    ['non-safe prime ≡ 3 (mod 4)', unsafe3, RangeError, /^q must be a safe prime/],
    ['prime ≡ 1 (mod 4)', oneMod4, RangeError, /^q must be ≡ 3 \(mod 4\)/],
    ['composite ≡ 3 (mod 4)', safe * 5n, RangeError, /^q must be a safe prime/],
    [
      'product of two safe primes ≡ 3·3 = 1 (mod 4)',
      safe * (safePrimes().bits512[1] as bigint),
      RangeError,
      /^q must be/,
    ],
    ['2·safe + 1 when composite', 2n * 2n * 3n * 5n * 7n + 3n, RangeError, /^q must be/],
    ['3', 3n, RangeError, /^q must be/],
    ['even', safe + 1n, RangeError, /^q must be/],
    ['0', 0n, RangeError, /^q must be/],
    ['negative', -safe, RangeError, /^q must be/],
    ['wrong size', safe, RangeError, /^q must have 1536 bits/, 1536],
    ['a number', 23, TypeError, /^q must be a bigint/],
    ['a string', safe.toString(), TypeError, /^q must be a bigint/],
  ];
  for (const [label, value, cls, message, bits] of cases) {
    const err = t.throws(() => assertSafePrime('q', any(value), bits), { message }, label);
    t.is(err?.constructor, cls, `${label}: error class`);
  }
  // small safe primes are accepted (7 = 2·3 + 1, 23 = 2·11 + 1, 2879 = 2·1439 + 1)
  for (const p of [7n, 23n, 47n, 2879n]) t.notThrows(() => assertSafePrime('p', p));
});
