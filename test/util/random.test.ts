/**
 * Host randomness helpers: ranges, exact bit bounds, argument checks, and that every value of a
 * small range actually occurs (a stuck or biased generator fails).
 */
import test from 'ava';
import { randomBits, randomBelow, randomSigned } from '../../src/util/random.js';
import { refBitLength } from '../helpers/fixtures.js';

test('randomBits stays below 2^bits and reaches the top bit', (t) => {
  for (const bits of [1, 2, 7, 8, 9, 28, 63, 64, 65, 255, 256, 1536, 3072]) {
    let topSeen = false;
    for (let i = 0; i < 64; i++) {
      const x = randomBits(bits);
      t.true(x >= 0n && x < 1n << BigInt(bits), `randomBits(${bits}) in range`);
      if (refBitLength(x) === bits) topSeen = true;
    }
    t.true(topSeen, `randomBits(${bits}) sets its top bit sometimes`);
  }
  t.is(randomBits(0), 0n);
  t.throws(() => randomBits(-1), { instanceOf: RangeError });
  t.throws(() => randomBits(1.5), { instanceOf: RangeError });
});

test('randomBelow covers [0, n) and nothing else', (t) => {
  for (const n of [1n, 2n, 3n, 5n, 17n, 100n]) {
    const seen = new Set<bigint>();
    for (let i = 0; i < 40 * Number(n); i++) {
      const x = randomBelow(n);
      t.true(x >= 0n && x < n);
      seen.add(x);
    }
    t.is(seen.size, Number(n), `every value below ${n} occurs`);
  }
  const big = (1n << 3072n) - 12345n;
  for (let i = 0; i < 50; i++) {
    const x = randomBelow(big);
    t.true(x >= 0n && x < big);
  }
  t.throws(() => randomBelow(0n), { instanceOf: RangeError });
  t.throws(() => randomBelow(-5n), { instanceOf: RangeError });
  t.throws(() => randomBelow(5 as never), { instanceOf: TypeError });
});

test('randomSigned covers [−bound, bound]', (t) => {
  const seen = new Set<bigint>();
  for (let i = 0; i < 400; i++) {
    const x = randomSigned(4n);
    t.true(x >= -4n && x <= 4n);
    seen.add(x);
  }
  t.is(seen.size, 9);
  t.is(randomSigned(0n), 0n);
});
