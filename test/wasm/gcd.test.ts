/**
 * modInv and jacobi (binary GCD in the WASM core) against the extended-Euclid and classic Jacobi
 * references, for odd and even moduli, negative and oversized inputs, and non-invertible values.
 */
import test from 'ava';
import fc from 'fast-check';
import { modInv, jacobi } from '../../src/wasm/index.js';
import { refInverse, refJacobi, bruteJacobi, refGcd, refMod, refPow, fixturePrime } from '../helpers/fixtures.js';
import { oddModulus, structured, runs, expectEq } from '../helpers/arbitraries.js';

/** a arbitrary relative to m: in range, negative, ≥ m, sharing factors, multiples. */
function operand(m: bigint): fc.Arbitrary<bigint> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: m - 1n }) },
    { weight: 1, arbitrary: fc.bigInt({ min: -4n * m, max: 4n * m }) },
    { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: m }).map((k) => k * m) },
    // multiples of m's small prime factors (shares a factor with m whenever m has one)
    {
      weight: 1,
      arbitrary: fc
        .bigInt({ min: 1n, max: 1000n })
        .map((k) => refMod(k * refGcd(m, 3n * 5n * 7n * 11n * 13n * 16n), m)),
    },
    { weight: 1, arbitrary: structured(Math.ceil(m.toString(2).length / 28)).map((x) => x % m) },
    { weight: 1, arbitrary: fc.constantFrom(0n, 1n, -1n, m - 1n, m + 1n, 2n, -2n) },
  );
}

function evenModulus(minBits: number, maxBits: number): fc.Arbitrary<bigint> {
  return fc.oneof(
    oddModulus(Math.max(2, minBits - 1), Math.max(2, maxBits - 41)).chain((n) =>
      fc.integer({ min: 1, max: 40 }).map((k) => n << BigInt(k)),
    ),
    fc.integer({ min: Math.max(1, minBits), max: maxBits }).map((k) => 1n << BigInt(k)),
    fc.constantFrom(2n, 4n, 6n, 12n),
  );
}

function checkInverse(a: bigint, m: bigint): void {
  const want = refInverse(a, m);
  if (want === undefined) {
    let threw: unknown;
    try {
      modInv(a, m);
    } catch (err) {
      threw = err;
    }
    if (!(threw instanceof RangeError))
      throw new Error(`modInv must throw RangeError for a non-invertible value (got ${String(threw)})`);
  } else {
    const inv = modInv(a, m);
    expectEq(inv, want, 'modInv');
    expectEq(refMod(inv * a, m), 1n % m, 'a · modInv(a) mod m');
  }
}

for (const [name, min, max, n] of [
  ['2–128 bits', 2, 128, 400],
  ['129–2048 bits', 129, 2048, 80],
  ['2049–16384 bits', 2049, 16384, 8],
] as const) {
  test(`modInv for odd moduli matches extended Euclid (${name})`, (t) => {
    fc.assert(
      fc.property(
        oddModulus(min, max).chain((m) => fc.tuple(fc.constant(m), operand(m))),
        ([m, a]) => checkInverse(a, m),
      ),
      runs(n),
    );
    t.pass();
  });

  test(`modInv for even moduli matches extended Euclid (${name})`, (t) => {
    fc.assert(
      fc.property(
        evenModulus(min, max).chain((m) => fc.tuple(fc.constant(m), operand(m))),
        ([m, a]) => checkInverse(a, m),
      ),
      runs(n),
    );
    t.pass();
  });

  test(`jacobi matches the classic algorithm (${name})`, (t) => {
    fc.assert(
      fc.property(
        oddModulus(Math.max(2, min), max).chain((m) => fc.tuple(fc.constant(m), operand(m))),
        ([m, a]) => {
          expectEq(jacobi(a, m), refJacobi(a, m), `jacobi`);
        },
      ),
      runs(n * 2),
    );
    t.pass();
  });
}

test('the reference Jacobi agrees with brute force (checks the oracle itself)', (t) => {
  for (let n = 3n; n < 120n; n += 2n) {
    for (let a = -3n; a < n + 3n; a++) t.is(refJacobi(a, n), bruteJacobi(a, n), `(${a} | ${n})`);
  }
});

test('jacobi on small moduli, exhaustively', (t) => {
  for (let n = 3n; n < 200n; n += 2n) {
    for (let a = -n; a <= 2n * n; a++) {
      const want = refJacobi(a, n);
      if (jacobi(a, n) !== want) t.fail(`jacobi(${a}, ${n}) = ${jacobi(a, n)}, expected ${want}`);
    }
  }
  t.pass();
});

test('modInv on small moduli, exhaustively', (t) => {
  for (let m = 2n; m < 160n; m++) {
    for (let a = -2n; a <= m + 2n; a++) {
      const want = refInverse(a, m);
      let got: bigint | string;
      try {
        got = modInv(a, m);
      } catch (err) {
        got = err instanceof RangeError ? 'RangeError' : String(err);
      }
      if (got !== (want ?? 'RangeError'))
        t.fail(`modInv(${a}, ${m}) = ${String(got)}, expected ${String(want ?? 'RangeError')}`);
    }
  }
  t.pass();
});

test('jacobi of 0 and of multiples is 0; of squares of units is 1', (t) => {
  for (const m of [3n, 9n, 15n, (1n << 127n) - 1n, (1n << 1279n) - 1n, fixturePrime(512, 0) * fixturePrime(512, 1)]) {
    t.is(jacobi(0n, m), 0);
    t.is(jacobi(m, m), 0);
    t.is(jacobi(-m, m), 0);
    t.is(jacobi(7n * m, m), 0);
    t.is(jacobi(1n, m), 1);
    for (const x of [2n, 5n, m - 2n, (m >> 1n) + 1n]) {
      if (refGcd(x, m) === 1n) t.is(jacobi(x * x, m), 1, `(${x}² | m)`);
    }
  }
  // m = p·q: a multiple of p is 0 whatever its cofactor
  const p = fixturePrime(512, 2);
  const q = fixturePrime(512, 3);
  t.is(jacobi(p * 12345n, p * q), 0);
  t.is(jacobi(q, p * q), 0);
});

test('jacobi modulo a prime equals Euler’s criterion', (t) => {
  const p = fixturePrime(512, 0);
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: p - 1n }), (a) => {
      const euler = refPow(a, (p - 1n) / 2n, p);
      expectEq(jacobi(a, p), euler === 1n ? 1 : -1, 'jacobi vs Euler');
    }),
    runs(60),
  );
  // safe primes are ≡ 3 (mod 4), so −1 is a non-residue, and (2 | p) = −1 iff p ≡ 3 (mod 8)
  t.is(jacobi(-1n, p), -1);
  t.is(jacobi(2n, p), p % 8n === 3n ? -1 : 1);
});

test('modInv at the boundaries', (t) => {
  t.is(modInv(1n, 2n), 1n);
  t.is(modInv(-1n, 2n), 1n);
  t.throws(() => modInv(0n, 2n), { instanceOf: RangeError });
  t.throws(() => modInv(2n, 4n), { instanceOf: RangeError });
  t.throws(() => modInv(6n, 9n), { instanceOf: RangeError });
  t.throws(() => modInv(0n, (1n << 521n) - 1n), { instanceOf: RangeError });
  const m16k = (1n << 16384n) - 3n; // odd, 16384 bits: the largest accepted size
  const a = (1n << 9000n) + 12345n;
  t.is(modInv(a, m16k), refInverse(a, m16k) as bigint);
  const e16k = 1n << 16383n; // even, 16384 bits
  t.is(modInv(a, e16k), refInverse(a, e16k) as bigint);
  t.throws(() => modInv(3n, 1n << 16384n), { instanceOf: RangeError, message: /\bm\b/ });
});
