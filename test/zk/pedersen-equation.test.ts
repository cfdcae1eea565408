/**
 * The verifier's ring-Pedersen equation from cached comb tables (pedersenEquationHolds) against the
 * same equation computed with plain bigint: signed exponents at and inside their bounds, zero and
 * ±1 exponents, both signs of the challenge, and one-off changes that must make it fail.
 */
import test from 'ava';
import fc from 'fast-check';
import { pedersenEquationHolds } from '../../src/zk/common.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { fixturePrime, refMultiPow } from '../helpers/fixtures.js';
import { runs } from '../helpers/arbitraries.js';

const small = ringPedersenFromPrimes(fixturePrime(512, 2), fixturePrime(512, 3), { checkPrimes: false }).params;
const big = ringPedersenFromPrimes(fixturePrime(1536, 6), fixturePrime(1536, 7), { checkPrimes: false }).params;

/** T = s^z·t^z2·S^(−e), so that the equation holds; computed with plain bigint. */
function solve(aux: typeof small, z: bigint, z2: bigint, S: bigint, e: bigint): bigint {
  return refMultiPow(
    [
      [aux.s, z],
      [aux.t, z2],
      [S, -e],
    ],
    aux.N,
  );
}

test('holds exactly when T = s^z·t^z′·S^(−e), for random signed exponents', (t) => {
  const zB = 300;
  const z2B = 1100;
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << 300n) + 1n, max: (1n << 300n) - 1n }),
        fc.bigInt({ min: -(1n << 1100n) + 1n, max: (1n << 1100n) - 1n }),
        fc.bigInt({ min: -(1n << 256n), max: 1n << 256n }),
        fc.bigInt({ min: 2n, max: small.N - 1n }),
        (z, z2, e, x) => {
          const S = (x * x) % small.N;
          const T = solve(small, z, z2, S, e);
          if (!pedersenEquationHolds(small, z, zB, z2, z2B, S, e, T)) return false;
          // any change of one input breaks it
          return (
            !pedersenEquationHolds(small, z + 1n, zB, z2, z2B, S, e, T) &&
            !pedersenEquationHolds(small, z, zB, z2 - 1n, z2B, S, e, T) &&
            !pedersenEquationHolds(small, z, zB, z2, z2B, S, e + 1n, T) &&
            !pedersenEquationHolds(small, z, zB, z2, z2B, S, e, (T * 2n) % small.N)
          );
        },
      ),
      runs(20),
    ),
  );
});

test('edge exponents: zero, ±1, the largest allowed magnitudes, e = 0 and e < 0; 3072-bit N̂', (t) => {
  const S = (small.s * small.t) % small.N;
  const max = (b: number) => (1n << BigInt(b)) - 1n;
  const cases: [bigint, bigint, bigint][] = [
    [0n, 0n, 0n],
    [1n, -1n, 1n],
    [-1n, 1n, -1n],
    [max(300), -max(1100), 1n << 255n],
    [-max(300), max(1100), -(1n << 255n)],
    [0n, max(1100), 0n],
  ];
  for (const [z, z2, e] of cases) {
    const T = solve(small, z, z2, S, e);
    t.true(pedersenEquationHolds(small, z, 300, z2, 1100, S, e, T), `z=${z} z2=${z2} e=${e}`);
    t.false(pedersenEquationHolds(small, z, 300, z2, 1100, S, e, (T * small.t) % small.N));
  }
  // the sizes of presigning: |z| < 2^769, |z′| < 2^3842
  const z = -((1n << 768n) + 12345n);
  const z2 = (1n << 3841n) + 99n;
  const e = -((1n << 255n) + 7n);
  const bS = (big.t * big.t) % big.N;
  const T = solve(big, z, z2, bS, e);
  t.true(pedersenEquationHolds(big, z, 769, z2, 3842, bS, e, T));
  t.false(pedersenEquationHolds(big, z, 769, z2, 3842, bS, -e, T));
  // −1 has order 2: T·(−1) must fail (no small-order slack in an exact check)
  t.false(pedersenEquationHolds(big, z, 769, z2, 3842, bS, e, big.N - T));
});
