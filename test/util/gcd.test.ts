/** Euclid's gcd on bigints against the reference, including signs and zeros. */
import test from 'ava';
import fc from 'fast-check';
import { gcd } from '../../src/util/gcd.js';
import { refGcd } from '../helpers/fixtures.js';
import { runs, expectEq } from '../helpers/arbitraries.js';

test('gcd matches the reference and divides both operands', (t) => {
  const big = 1n << 3000n;
  fc.assert(
    fc.property(
      fc.bigInt({ min: -big, max: big }),
      fc.bigInt({ min: -big, max: big }),
      fc.bigInt({ min: 1n, max: 1n << 200n }),
      (a, b, k) => {
        for (const [x, y] of [
          [a, b],
          [a * k, b * k],
        ] as const) {
          const g = gcd(x, y);
          expectEq(g, refGcd(x, y), 'gcd');
          if (g !== 0n && (x % g !== 0n || y % g !== 0n)) throw new Error('gcd does not divide both operands');
        }
      },
    ),
    runs(200),
  );
  t.is(gcd(0n, 0n), 0n);
  t.is(gcd(0n, -7n), 7n);
  t.is(gcd(-12n, 18n), 6n);
  t.is(gcd(12n, -18n), 6n);
});
