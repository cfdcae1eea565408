/**
 * Modulus (Montgomery arithmetic in the WASM core) against the plain-bigint reference oracle:
 * property tests over odd moduli of 2 to 8192 bits, then pinned edge cases (limb boundaries,
 * all-ones limbs, the largest modulus and exponent, dispose()).
 */
import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  Modulus,
  modPowPublic,
  modPow,
  modMul,
  multiPowPublic,
  bitLength,
  MAX_MODULUS_BITS,
  MAX_EXPONENT_BITS,
  MAX_MULTIPOW_BASES,
} from '../../src/wasm/index.js';
import { LIMB_BITS } from '../../src/wasm/instance.js';
import { refPow, refMultiPow, refGcd, refInverse, refBitLength } from '../helpers/fixtures.js';
import { oddModulus, below, exponent, structured, runs, expectEq, LIMB_MASK } from '../helpers/arbitraries.js';

/** The core's limb: LIMB_BITS bits (LIMB_MASK above is the 28-bit limb of the structured generators). */
const W = BigInt(LIMB_BITS);
const CORE_LIMB_MASK = (1n << W) - 1n;

/** Limbs per value for a modulus of `bits` bits: a multiple of 4 with 2^(LIMB_BITS·limbs) > 4N. */
function coreLimbs(bits: number): number {
  return Math.ceil((bits + 2) / LIMB_BITS / 4) * 4;
}

/** Run f with a fresh Modulus for N, always disposing it. */
function withModulus<T>(N: bigint, f: (m: Modulus) => T): T {
  const m = new Modulus(N);
  try {
    return f(m);
  } finally {
    m.dispose();
  }
}

/** Deterministic pseudo-random bigint of exactly `bits` bits (top bit set), from a label. */
function detBits(bits: number, label: string): bigint {
  let hex = '';
  for (let i = 0; hex.length * 4 < bits; i++) hex += createHash('sha256').update(`${label}/${i}`).digest('hex');
  const x = BigInt('0x' + hex) & ((1n << BigInt(bits)) - 1n);
  return x | (1n << BigInt(bits - 1));
}

/** Number made of `limbs` all-ones core limbs, i.e. 2^(LIMB_BITS·limbs) − 1. */
function allOnesLimbs(limbs: number): bigint {
  return (1n << (W * BigInt(limbs))) - 1n;
}

// Size classes: many runs on small moduli, few on the big ones (the oracle is slow there).
// eBits bounds the random exponents so the reference exponentiation stays cheap.
const SIZES = [
  { name: '2–128 bits', min: 2, max: 128, runs: 250, eBits: 400 },
  { name: '129–1100 bits', min: 129, max: 1100, runs: 40, eBits: 1100 },
  { name: '1101–4200 bits', min: 1101, max: 4200, runs: 10, eBits: 400 },
  { name: '4201–8192 bits', min: 4201, max: MAX_MODULUS_BITS, runs: 4, eBits: 160 },
] as const;

for (const size of SIZES) {
  const modAndValues = (count: number) =>
    oddModulus(size.min, size.max).chain((N) =>
      fc.tuple(fc.constant(N), fc.array(below(N), { minLength: count, maxLength: count })),
    );

  test(`mul matches bigint (${size.name})`, (t) => {
    fc.assert(
      fc.property(modAndValues(2), ([N, [a, b]]) => {
        withModulus(N, (m) => expectEq(m.mul(a as bigint, b as bigint), ((a as bigint) * (b as bigint)) % N, 'mul'));
      }),
      runs(size.runs),
    );
    t.pass();
  });

  test(`pow and pow match bigint (${size.name})`, (t) => {
    fc.assert(
      fc.property(modAndValues(1), exponent(size.eBits), fc.integer({ min: 0, max: 80 }), ([N, [x]], e, slack) => {
        const want = refPow(x as bigint, e, N);
        withModulus(N, (m) => {
          expectEq(m.powPublic(x as bigint, e), want, 'pow');
          // default bound (bits of N) only holds for short exponents
          if (refBitLength(e) <= m.bits) expectEq(m.pow(x as bigint, e), want, 'pow default ebits');
          const ebits = Math.max(1, refBitLength(e) + slack);
          expectEq(m.pow(x as bigint, e, ebits), want, `pow ebits=${ebits}`);
        });
      }),
      runs(size.runs),
    );
    t.pass();
  });

  test(`pow with a negative exponent uses the inverse (${size.name})`, (t) => {
    fc.assert(
      fc.property(modAndValues(1), exponent(size.eBits), ([N, [x]], e0) => {
        const e = -(e0 === 0n ? 1n : e0);
        withModulus(N, (m) => {
          if (refGcd(x as bigint, N) === 1n) {
            expectEq(m.powPublic(x as bigint, e), refPow(refInverse(x as bigint, N) as bigint, -e, N), 'pow(x, −e)');
          } else {
            let threw: unknown;
            try {
              m.powPublic(x as bigint, e);
            } catch (err) {
              threw = err;
            }
            if (!(threw instanceof RangeError))
              throw new Error('pow of a non-invertible base with a negative exponent must throw RangeError');
          }
        });
      }),
      runs(size.runs),
    );
    t.pass();
  });

  test(`multiPowPublic of 1–4 bases, negative exponents included, matches bigint (${size.name})`, (t) => {
    const eMax = (1n << BigInt(size.eBits)) - 1n;
    fc.assert(
      fc.property(
        oddModulus(size.min, size.max).chain((N) =>
          fc.tuple(
            fc.constant(N),
            fc.array(fc.tuple(below(N), fc.oneof(fc.bigInt({ min: -eMax, max: eMax }), fc.constantFrom(0n, 1n, -1n))), {
              minLength: 1,
              maxLength: 4,
            }),
          ),
        ),
        ([N, terms]) => {
          const invertible = terms.every(([x, e]) => e >= 0n || refGcd(x, N) === 1n);
          withModulus(N, (m) => {
            if (invertible) {
              expectEq(m.multiPowPublic(terms), refMultiPow(terms, N), 'multiPowPublic');
            } else {
              let threw: unknown;
              try {
                m.multiPowPublic(terms);
              } catch (err) {
                threw = err;
              }
              if (!(threw instanceof RangeError))
                throw new Error(
                  'multiPowPublic with a non-invertible base and negative exponent must throw RangeError',
                );
            }
          });
        },
      ),
      runs(Math.ceil(size.runs / 2)),
    );
    t.pass();
  });

  test(`fixedBase pow and pow match bigint (${size.name})`, (t) => {
    fc.assert(
      fc.property(
        modAndValues(1),
        fc.integer({ min: 1, max: size.eBits }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.bigInt({ min: 0n, max: (1n << BigInt(size.eBits)) - 1n }), { minLength: 1, maxLength: 3 }),
        ([N, [x]], maxBits, teeth, es) => {
          withModulus(N, (m) => {
            const fb = m.fixedBase(x as bigint, maxBits, teeth);
            try {
              if (fb.maxBits < maxBits)
                throw new Error(`table covers ${fb.maxBits} bits, fewer than the ${maxBits} asked for`);
              const mask = (1n << BigInt(maxBits)) - 1n;
              for (const e0 of [...es, 0n, 1n, mask]) {
                const e = e0 & mask;
                const want = refPow(x as bigint, e, N);
                expectEq(fb.powPublic(e), want, `fixedBase(${maxBits}, ${teeth}).pow`);
                expectEq(fb.pow(e), want, `fixedBase(${maxBits}, ${teeth}).pow`);
              }
              // the whole advertised range is usable
              const top = (1n << BigInt(fb.maxBits)) - 1n;
              expectEq(fb.powPublic(top), refPow(x as bigint, top, N), 'fixedBase pow at maxBits');
            } finally {
              fb.dispose();
            }
          });
        },
      ),
      runs(Math.ceil(size.runs / 2)),
    );
    t.pass();
  });

  test(`reduce matches bigint for inputs up to N² and beyond (${size.name})`, (t) => {
    fc.assert(
      fc.property(
        oddModulus(size.min, size.max).chain((N) => {
          const wide = 1n << BigInt(2 * LIMB_BITS * coreLimbs(refBitLength(N)));
          return fc.tuple(
            fc.constant(N),
            fc.oneof(
              fc.bigInt({ min: 0n, max: N * N - 1n }),
              fc.bigInt({ min: 0n, max: wide - 1n }),
              structured(Math.ceil((2 * refBitLength(N)) / 28)).map((x) => x % (N * N)),
              fc.constantFrom(0n, N - 1n, N, N + 1n, (N - 1n) * (N - 1n), N * N, wide - 1n),
            ),
          );
        }),
        ([N, x]) => {
          withModulus(N, (m) => expectEq(m.reduce(x), x % N, 'reduce'));
        },
      ),
      runs(size.runs),
    );
    t.pass();
  });
}

test('top-level modPowPublic, modPow, modMul and multiPowPublic match bigint (cached contexts)', (t) => {
  // a small pool of moduli so the cache is hit as well as missed
  const pool = fc.sample(oddModulus(2, 700), { numRuns: 8, seed: 42 });
  fc.assert(
    fc.property(
      fc.constantFrom(...pool).chain((N) => fc.tuple(fc.constant(N), below(N), below(N), exponent(700))),
      ([N, a, b, e]) => {
        expectEq(modMul(a, b, N), (a * b) % N, 'modMul');
        const want = refPow(a, e, N);
        expectEq(modPowPublic(a, e, N), want, 'modPowPublic');
        expectEq(modPow(a, e, N, Math.max(1, refBitLength(e))), want, 'modPow(ebits)');
        if (refBitLength(e) <= refBitLength(N)) expectEq(modPow(a, e, N), want, 'modPow');
        expectEq(
          multiPowPublic(
            [
              [a, e],
              [b, 3n],
            ],
            N,
          ),
          (want * refPow(b, 3n, N)) % N,
          'multiPowPublic',
        );
      },
    ),
    runs(200),
  );
  t.pass();
});

test('bitLength matches the binary string length', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.bigInt({ min: 0n, max: (1n << 9000n) - 1n }),
        fc.integer({ min: 0, max: 9000 }).map((k) => 1n << BigInt(k)),
      ),
      (x) => {
        expectEq(bitLength(x), refBitLength(x), 'bitLength');
      },
    ),
    runs(500),
  );
  t.is(bitLength(0n), 0);
  t.is(bitLength(1n), 1);
  t.is(bitLength((1n << 8192n) - 1n), 8192);
});

// ---------------------------------------------------------------------------------------------
// Pinned edge cases
// ---------------------------------------------------------------------------------------------

/** Moduli at the awkward places: tiny, all-ones limbs, top limb 1, limb and SIMD-block boundaries. */
function pinnedModuli(): { label: string; N: bigint }[] {
  const out: { label: string; N: bigint }[] = [];
  const add = (label: string, N: bigint) => {
    if (!out.some((o) => o.N === N)) out.push({ label, N });
  };
  for (const n of [3n, 5n, 7n, 9n, 15n, 17n, 255n, 257n, LIMB_MASK, LIMB_MASK + 2n]) add(`${n}`, n);
  for (const k of [2, 27, 28, 29, 56, 84, 109, 110, 111, 112, 113, 114, 224, 1120, 2048, 3072, 4096, 8191, 8192])
    add(`2^${k}−1`, (1n << BigInt(k)) - 1n);
  for (const k of [1, 2, 3, 4, 5, 8, 16, 40, 100, 200, 292]) add(`2^(28·${k})+1`, (1n << BigInt(28 * k)) + 1n);
  for (const b of [
    27, 28, 29, 30, 55, 56, 57, 58, 109, 110, 111, 112, 113, 114, 221, 222, 223, 224, 225, 226, 1022, 1023, 1024, 1025,
    3070, 3071, 3072, 3073, 8191, 8192,
  ]) {
    add(`2^${b - 1}+1`, (1n << BigInt(b - 1)) + 1n);
    add(`random ${b}-bit`, detBits(b, `modulus-${b}`) | 1n);
  }
  // all-ones limbs except a low 1: 2^(28k) − 2^28 + 1, and a top limb of all ones over zeros
  for (const k of [2, 4, 8, 37, 150]) add(`2^(28·${k})−2^28+1`, (1n << BigInt(28 * k)) - (1n << 28n) + 1n);
  for (const k of [4, 36, 200]) add(`(2^28−1)·2^(28·${k - 1})+1`, (LIMB_MASK << BigInt(28 * (k - 1))) + 1n);
  // the same shapes for the core's limb size, and the sizes where the limb count steps
  // (2^(LIMB_BITS·limbs) > 4N with limbs a multiple of 4: a step every 4·LIMB_BITS bits)
  const w = LIMB_BITS;
  for (const n of [CORE_LIMB_MASK, CORE_LIMB_MASK + 2n]) add(`${n}`, n);
  for (const k of [1, 2, 3, 4, 5, 8, 16, 40, 100, 200, 246, 327]) add(`2^(${w}·${k})+1`, (1n << (W * BigInt(k))) + 1n);
  for (const k of [2, 4, 8, 37, 150, 248, 327]) add(`2^(${w}·${k})−2^${w}+1`, (1n << (W * BigInt(k))) - (1n << W) + 1n);
  for (const k of [4, 36, 200, 246])
    add(`(2^${w}−1)·2^(${w}·${k - 1})+1`, (CORE_LIMB_MASK << (W * BigInt(k - 1))) + 1n);
  for (const limbs of [4, 8, 12, 124, 248, 328]) {
    const top = Math.min(w * limbs - 2, 8192);
    for (const b of [top - 1, top, top + 1]) {
      if (b <= 8192) add(`random ${b}-bit`, detBits(b, `modulus-${b}`) | 1n);
    }
  }
  add('random 6144-bit', detBits(6144, 'modulus-6144') | 1n);
  return out;
}

/** Values that stress the core modulo N. */
function edgeValues(N: bigint): bigint[] {
  const limbs = Math.ceil(refBitLength(N) / LIMB_BITS);
  const vals = [
    0n,
    1n,
    2n,
    N - 1n,
    N - 2n,
    N >> 1n,
    (N + 1n) >> 1n,
    allOnesLimbs(limbs) % N,
    allOnesLimbs(Math.max(1, limbs - 1)) % N,
    detBits(refBitLength(N), `value-${N}`) % N,
  ];
  return [...new Set(vals.filter((v) => v >= 0n && v < N))];
}

for (const { label, N } of pinnedModuli()) {
  test(`edge cases modulo ${label} (${refBitLength(N)} bits)`, (t) => {
    const bits = refBitLength(N);
    const big = bits > 2048;
    const all = edgeValues(N);
    // for big moduli the reference is slow: 0, 1, N − 1 and all-ones limbs only
    const xs = big ? all.filter((_, i) => [0, 1, 3, 7].includes(i)) : all;
    const es = big
      ? [0n, 1n, 65537n, detBits(128, `e-${N}`)]
      : [
          0n,
          1n,
          2n,
          3n,
          N - 1n,
          N,
          N + 1n,
          (1n << BigInt(bits)) - 1n,
          allOnesLimbs(Math.ceil(bits / LIMB_BITS)),
          detBits(bits + 13, `e-${N}`),
        ];
    withModulus(N, (m) => {
      t.is(m.value, N);
      t.is(m.bits, bits);
      t.is(m.limbs, coreLimbs(bits), 'limbs: the fewest, a multiple of 4, with 2^(LIMB_BITS·limbs) > 4N');
      t.true(
        m.limbs % 4 === 0 && 1n << (W * BigInt(m.limbs)) > 4n * N,
        'limbs: a multiple of 4 with 2^(LIMB_BITS·limbs) > 4N',
      );
      for (const a of xs) for (const b of xs) t.is(m.mul(a, b), (a * b) % N, `mul(${a}, ${b})`);
      xs.forEach((x, i) => {
        es.forEach((e, j) => {
          const want = refPow(x, e, N);
          t.is(m.powPublic(x, e), want, `pow(${x}, ${e})`);
          const eb = Math.max(1, refBitLength(e));
          t.is(m.pow(x, e, eb), want, `pow(${x}, ${e}, ${eb})`);
          // default bound (the modulus size): costly, so only along a diagonal and not for big N
          if (!big && i % es.length === j && eb <= bits) t.is(m.pow(x, e), want, `pow(${x}, ${e})`);
        });
      });
      // reduce: around N, N² and the widest accepted input
      const wide = (1n << (2n * W * BigInt(m.limbs))) - 1n;
      for (const x of [
        0n,
        N - 1n,
        N,
        N + 1n,
        2n * N,
        (N - 1n) * (N - 1n),
        N * N,
        N * N + N - 1n,
        wide,
        allOnesLimbs(2 * m.limbs - 1),
      ]) {
        t.is(m.reduce(x), x % N, `reduce(${x})`);
      }
      // fixed base, for a base of all-ones limbs and for N − 1
      for (const x of [allOnesLimbs(Math.ceil(bits / LIMB_BITS)) % N, N - 1n]) {
        const fb = m.fixedBase(x, big ? 130 : bits + 5);
        try {
          for (const e of [
            0n,
            1n,
            2n,
            big ? detBits(129, `fb-${N}`) : detBits(bits + 5, `fb-${N}`),
            (1n << BigInt(fb.maxBits)) - 1n,
          ]) {
            const want = refPow(x, e, N);
            t.is(fb.powPublic(e), want, `fixedBase pow(${e})`);
            t.is(fb.pow(e), want, `fixedBase pow(${e})`);
          }
        } finally {
          fb.dispose();
        }
      }
    });
  });
}

test('0^0 = 1, x^0 = 1 and x^1 = x for every kind of call', (t) => {
  for (const N of [3n, (1n << 127n) - 1n, (1n << 2203n) - 1n]) {
    withModulus(N, (m) => {
      for (const x of [0n, 1n, N - 1n]) {
        t.is(m.powPublic(x, 0n), 1n);
        t.is(m.pow(x, 0n), 1n);
        t.is(m.pow(x, 0n, 1), 1n);
        t.is(m.multiPowPublic([[x, 0n]]), 1n);
        t.is(m.powPublic(x, 1n), x);
        t.is(m.pow(x, 1n), x);
        t.is(m.multiPowPublic([[x, 1n]]), x);
        const fb = m.fixedBase(x, 8);
        t.is(fb.powPublic(0n), 1n);
        t.is(fb.pow(0n), 1n);
        t.is(fb.powPublic(1n), x);
        t.is(fb.pow(1n), x);
        fb.dispose();
      }
      t.is(m.powPublic(0n, 5n), 0n);
      t.is(m.pow(0n, 5n, 3), 0n);
    });
  }
});

test('largest modulus (8192 bits) with a full-length exponent', (t) => {
  const N = detBits(MAX_MODULUS_BITS, 'max-modulus') | 1n;
  const x = detBits(MAX_MODULUS_BITS - 1, 'max-x');
  const e = detBits(MAX_MODULUS_BITS, 'max-e');
  const want = refPow(x, e, N);
  withModulus(N, (m) => {
    t.is(m.bits, MAX_MODULUS_BITS);
    t.is(m.powPublic(x, e), want);
    t.is(m.pow(x, e), want);
  });
  t.is(modPowPublic(x, e, N), want);
});

test('largest exponent (16384 bits) is accepted and correct', (t) => {
  const N = detBits(1024, 'maxexp-N') | 1n;
  const x = detBits(1000, 'maxexp-x');
  const e = detBits(MAX_EXPONENT_BITS, 'maxexp-e');
  const emax = (1n << BigInt(MAX_EXPONENT_BITS)) - 1n;
  withModulus(N, (m) => {
    t.is(m.powPublic(x, e), refPow(x, e, N));
    t.is(m.powPublic(x, emax), refPow(x, emax, N));
    t.is(m.pow(x, e, MAX_EXPONENT_BITS), refPow(x, e, N));
    t.is(
      m.multiPowPublic([
        [x, e],
        [x + 1n, -emax],
      ]),
      refMultiPow(
        [
          [x, e],
          [x + 1n, -emax],
        ],
        N,
      ),
    );
    const fb = m.fixedBase(x, MAX_EXPONENT_BITS);
    t.is(fb.powPublic(e), refPow(x, e, N));
    t.is(fb.pow(emax), refPow(x, emax, N));
    fb.dispose();
  });
});

test(`multiPowPublic with the maximum of ${MAX_MULTIPOW_BASES} bases matches bigint`, (t) => {
  for (const N of [(1n << 61n) - 1n, detBits(2048, 'mp16') | 1n]) {
    const terms: [bigint, bigint][] = [];
    for (let j = 0; j < MAX_MULTIPOW_BASES; j++) {
      let x = detBits(refBitLength(N) - 1, `mp-x-${j}`);
      while (refGcd(x, N) !== 1n) x += 1n;
      const e = detBits(20 + 37 * j, `mp-e-${j}`);
      terms.push([x, j % 3 === 1 ? -e : e]);
    }
    withModulus(N, (m) => t.is(m.multiPowPublic(terms), refMultiPow(terms, N)));
  }
});

test('multiPowPublic with repeated bases and exponents of very different lengths', (t) => {
  const N = detBits(521, 'mp-rep') | 1n;
  const x = detBits(500, 'mp-rep-x');
  const terms: [bigint, bigint][] = [
    [x, 1n],
    [x, detBits(521, 'r1')],
    [x, 0n],
    [N - 1n, 3n],
    [0n, 0n],
    [1n, detBits(3000, 'r2')],
  ];
  withModulus(N, (m) => {
    t.is(m.multiPowPublic(terms), refMultiPow(terms, N));
    t.is(
      m.multiPowPublic([
        [0n, 5n],
        [x, 7n],
      ]),
      0n,
    );
  });
});

test('inverse and jacobi of a Modulus match the reference', (t) => {
  const N = detBits(700, 'inv-N') | 1n;
  withModulus(N, (m) => {
    for (let i = 0; i < 30; i++) {
      const x = detBits(690, `inv-x-${i}`) % N;
      const inv = refInverse(x, N);
      if (inv === undefined) t.throws(() => m.inverse(x), { instanceOf: RangeError });
      else t.is(m.inverse(x), inv);
    }
    t.is(m.inverse(1n), 1n);
    t.is(m.inverse(N - 1n), N - 1n);
    t.throws(() => m.inverse(0n), { instanceOf: RangeError });
  });
});

test('pow equals pow equals FixedBase for the same inputs', (t) => {
  fc.assert(
    fc.property(
      oddModulus(3, 600).chain((N) => fc.tuple(fc.constant(N), below(N), exponent(600))),
      ([N, x, e]) => {
        withModulus(N, (m) => {
          const fb = m.fixedBase(x, 600, 5);
          try {
            const want = refPow(x, e, N);
            expectEq(m.powPublic(x, e), want, 'pow');
            expectEq(m.pow(x, e, 600), want, 'pow');
            expectEq(fb.powPublic(e), want, 'fixedBase.pow');
            expectEq(fb.pow(e), want, 'fixedBase.pow');
          } finally {
            fb.dispose();
          }
        });
      },
    ),
    runs(60),
  );
  t.pass();
});

test('a FixedBase keeps its base while the Modulus computes with others', (t) => {
  const N = detBits(1024, 'fb-interleave') | 1n;
  withModulus(N, (m) => {
    const g = detBits(1000, 'fb-g');
    const h = detBits(1001, 'fb-h');
    const fg = m.fixedBase(g, 256);
    const fh = m.fixedBase(h, 256, 3);
    for (let i = 0; i < 5; i++) {
      const e = detBits(200 + i, `fb-e-${i}`);
      t.is(m.powPublic(h, e), refPow(h, e, N));
      t.is(fg.powPublic(e), refPow(g, e, N));
      t.is(m.mul(g, h), (g * h) % N);
      t.is(fh.pow(e), refPow(h, e, N));
    }
    fg.dispose();
    fh.dispose();
  });
});

test('many Modulus objects at once stay independent', (t) => {
  const Ns = Array.from({ length: 12 }, (_, i) => detBits(64 + 97 * i, `indep-${i}`) | 1n);
  const ms = Ns.map((N) => new Modulus(N));
  for (let round = 0; round < 3; round++) {
    ms.forEach((m, i) => {
      const N = Ns[i] as bigint;
      const x = detBits(refBitLength(N) - 1, `indep-x-${i}-${round}`);
      t.is(m.powPublic(x, 65537n), refPow(x, 65537n, N));
    });
  }
  for (const m of ms) m.dispose();
});

test('dispose() makes later use throw an Error, and is idempotent', (t) => {
  const N = detBits(300, 'dispose') | 1n;
  const m = new Modulus(N);
  const fb = m.fixedBase(5n, 64);
  const fb2 = m.fixedBase(7n, 64);
  t.is(fb.powPublic(10n), refPow(5n, 10n, N));
  fb2.dispose();
  t.throws(() => fb2.powPublic(1n), { instanceOf: Error, message: /dispose/ });
  t.throws(() => fb2.pow(1n), { instanceOf: Error, message: /dispose/ });
  m.dispose();
  t.throws(() => m.mul(1n, 2n), { instanceOf: Error, message: /dispose/ });
  t.throws(() => m.powPublic(2n, 3n), { instanceOf: Error, message: /dispose/ });
  t.throws(() => m.pow(2n, 3n), { instanceOf: Error, message: /dispose/ });
  t.throws(() => m.multiPowPublic([[2n, 3n]]), { instanceOf: Error, message: /dispose/ });
  t.throws(() => m.reduce(5n), { instanceOf: Error, message: /dispose/ });
  t.throws(() => m.fixedBase(2n, 8), { instanceOf: Error, message: /dispose/ });
  // a FixedBase of a disposed Modulus must not compute with freed memory
  t.throws(() => fb.powPublic(3n), { instanceOf: Error, message: /dispose/ });
  // disposing twice must not free twice (which would corrupt the allocator)
  t.notThrows(() => m.dispose());
  t.notThrows(() => fb.dispose());
  t.notThrows(() => fb.dispose());
  // the allocator is still healthy: new contexts compute correctly
  const others = [new Modulus(N), new Modulus(N + 2n), new Modulus(N + 4n)];
  const x = detBits(290, 'dispose-x');
  others.forEach((o, i) => t.is(o.powPublic(x, 1000n), refPow(x, 1000n, N + 2n * BigInt(i))));
  for (const o of others) o.dispose();
});

test('operands whose Montgomery forms have all-ones limbs (accumulator headroom)', (t) => {
  // The kernels multiply the limbs of Montgomery forms (sums of four products must stay below
  // 2^52, and the accumulators below 2^64), so products are largest when the Montgomery form
  // x·R mod N, not x itself, has all-ones limbs. Pick x = t·R⁻¹ mod N for such targets t, on
  // moduli of the largest size for their limb count (every accumulator row is used).
  let checked = 0;
  for (const limbs of [4, 8, 36, 64, 68, 128, 132, 136, 200, 248, 260, 292, 328]) {
    const bits = Math.min(LIMB_BITS * limbs - 2, MAX_MODULUS_BITS);
    for (let v = 0; v < 3; v++) {
      const N = detBits(bits, `headroom-${limbs}-${v}`) | 1n | (3n << BigInt(bits - 2));
      withModulus(N, (m) => {
        t.is(m.limbs, limbs);
        const R = 1n << (W * BigInt(m.limbs));
        const Rinv = refInverse(R % N, N) as bigint;
        // targets in [0, 2N): the lazy Montgomery form of x is t mod N or t mod N + N
        const targets = [
          (1n << BigInt(bits)) - 1n,
          (1n << BigInt(bits - 1)) - 1n,
          ((1n << BigInt(bits)) - 1n) ^ (1n << BigInt(bits - 2)),
          allOnesLimbs(Math.floor(bits / LIMB_BITS)) % N,
        ];
        for (const target of targets) {
          const x = ((target % N) * Rinv) % N;
          for (const e of [2n, 3n, 5n]) {
            const want = refPow(x, e, N);
            t.is(m.powPublic(x, e), want, `pow, ${limbs} limbs`);
            t.is(m.pow(x, e, 3), want, `pow, ${limbs} limbs`);
          }
          t.is(m.mul(x, x), (x * x) % N, `mul, ${limbs} limbs`);
          t.is(m.mul(x, N - 1n), (x * (N - 1n)) % N, `mul by N − 1, ${limbs} limbs`);
          checked++;
        }
      });
    }
  }
  t.true(checked > 100);
});
