/**
 * Bad input to the big-integer API, table-driven: each row is one call, the exact error class it
 * must throw (TypeError for a wrong type, RangeError for a value out of range, Error for use after
 * dispose) and a pattern the message must match (naming the offending argument).
 *
 * "Never a wrong answer": after every bad call, a battery of good calls on the same objects (and
 * through the top-level cache) must still agree with the bigint oracle.
 */
import test, { type ExecutionContext } from 'ava';
import {
  Modulus,
  CrtModulus,
  modPowPublic,
  modPow,
  modMul,
  multiPowPublic,
  modInv,
  jacobi,
  MAX_EXPONENT_BITS,
  MAX_MODULUS_BITS,
  MAX_MULTIPOW_BASES,
} from '../../src/wasm/index.js';
import { LIMB_BITS } from '../../src/wasm/instance.js';
import { fixturePrime, refPow, refMultiPow, refInverse, refJacobi } from '../helpers/fixtures.js';

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;

interface Row {
  name: string;
  call: () => unknown;
  error: ErrorClass;
  message: RegExp;
  /** a known defect (see the report): the row is run with test.failing */
  knownBug?: string;
}

// Shared objects the bad calls are made on (and the good calls after them).
const N = (1n << 255n) - 19n; // prime, 255 bits
const m = new Modulus(N);
const G = 0xdeadbeefcafebaben * 0x1234567n;
const fb = m.fixedBase(G, 130);
const p = fixturePrime(512, 0);
const q = fixturePrime(512, 1);
const crt = new CrtModulus([
  [p, 1],
  [q, 1],
]);
const M = p * q;
const E_TOO_BIG = 1n << BigInt(MAX_EXPONENT_BITS); // MAX_EXPONENT_BITS + 1 bits
const any = (v: unknown) => v as never;

const rows: Row[] = [
  // Modulus constructor
  { name: 'Modulus: even modulus', call: () => new Modulus(10n), error: RangeError, message: /^modulus must be odd/ },
  { name: 'Modulus: zero', call: () => new Modulus(0n), error: RangeError, message: /^modulus\b/ },
  { name: 'Modulus: negative', call: () => new Modulus(-7n), error: RangeError, message: /^modulus\b/ },
  { name: 'Modulus: 1', call: () => new Modulus(1n), error: RangeError, message: /^modulus\b/ },
  { name: 'Modulus: 2', call: () => new Modulus(2n), error: RangeError, message: /^modulus\b/ },
  {
    name: 'Modulus: 8193 bits',
    call: () => new Modulus((1n << BigInt(MAX_MODULUS_BITS)) + 1n),
    error: RangeError,
    message: /^modulus must have at most 8192 bits/,
  },
  { name: 'Modulus: 9000 bits', call: () => new Modulus((1n << 9000n) - 1n), error: RangeError, message: /^modulus\b/ },
  { name: 'Modulus: number', call: () => new Modulus(any(7)), error: TypeError, message: /^modulus must be a bigint/ },
  {
    name: 'Modulus: string',
    call: () => new Modulus(any('7')),
    error: TypeError,
    message: /^modulus must be a bigint/,
  },
  { name: 'Modulus: undefined', call: () => new Modulus(any(undefined)), error: TypeError, message: /^modulus\b/ },

  // modPowPublic (top level, through the context cache)
  {
    name: 'modPowPublic: even modulus',
    call: () => modPowPublic(2n, 3n, 10n),
    error: RangeError,
    message: /^modulus must be odd/,
  },
  {
    name: 'modPowPublic: zero modulus',
    call: () => modPowPublic(2n, 3n, 0n),
    error: RangeError,
    message: /^modulus\b/,
  },
  {
    name: 'modPowPublic: negative modulus',
    call: () => modPowPublic(2n, 3n, -N),
    error: RangeError,
    message: /^modulus\b/,
  },
  { name: 'modPowPublic: modulus 1', call: () => modPowPublic(0n, 3n, 1n), error: RangeError, message: /^modulus\b/ },
  {
    name: 'modPowPublic: modulus above 8192 bits',
    call: () => modPowPublic(2n, 3n, (1n << 8192n) + 1n),
    error: RangeError,
    message: /^modulus\b/,
  },
  {
    name: 'modPowPublic: number modulus',
    call: () => modPowPublic(2n, 3n, any(1000003)),
    error: TypeError,
    message: /^modulus must be a bigint/,
  },
  {
    name: 'modPowPublic: number base',
    call: () => modPowPublic(any(2), 3n, N),
    error: TypeError,
    message: /^x must be a bigint/,
  },
  {
    name: 'modPowPublic: string base',
    call: () => modPowPublic(any('2'), 3n, N),
    error: TypeError,
    message: /^x must be a bigint/,
  },
  {
    name: 'modPowPublic: number exponent',
    call: () => modPowPublic(2n, any(3), N),
    error: TypeError,
    message: /^e must be a bigint/,
  },
  {
    name: 'modPowPublic: base = modulus',
    call: () => modPowPublic(N, 3n, N),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  {
    name: 'modPowPublic: base > modulus',
    call: () => modPowPublic(N + 5n, 3n, N),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  {
    name: 'modPowPublic: negative base',
    call: () => modPowPublic(-1n, 3n, N),
    error: RangeError,
    message: /^x must not be negative/,
  },
  {
    name: 'modPowPublic: exponent of 16385 bits',
    call: () => modPowPublic(2n, E_TOO_BIG, N),
    error: RangeError,
    message: /^e must have at most 16384 bits/,
  },
  {
    name: 'modPowPublic: negative exponent of 16385 bits',
    call: () => modPowPublic(2n, -E_TOO_BIG, N),
    error: RangeError,
    message: /^e must have at most 16384 bits/,
  },
  {
    name: 'modPowPublic: negative exponent, base 0',
    call: () => modPowPublic(0n, -1n, N),
    error: RangeError,
    message: /not invertible/,
  },
  {
    name: 'modPowPublic: negative exponent, base 0 — message names x',
    call: () => modPowPublic(0n, -1n, N),
    error: RangeError,
    message: /^x\b/,
  },

  // modPow
  {
    name: 'modPow: negative exponent',
    call: () => modPow(2n, -1n, N),
    error: RangeError,
    message: /^e must not be negative/,
  },
  {
    name: 'modPow: e = 2^ebits',
    call: () => modPow(2n, 16n, N, 4),
    error: RangeError,
    message: /^e must be below 2\^ebits/,
  },
  {
    name: 'modPow: e ≥ 2^ebits, ebits = 1',
    call: () => modPow(2n, 2n, N, 1),
    error: RangeError,
    message: /^e must be below 2\^ebits/,
  },
  {
    name: 'modPow: e longer than the default bound',
    call: () => modPow(2n, 1n << 255n, N),
    error: RangeError,
    message: /^e must be below 2\^ebits/,
  },
  {
    name: 'modPow: exponent of 16385 bits',
    call: () => modPow(2n, E_TOO_BIG, N, MAX_EXPONENT_BITS),
    error: RangeError,
    message: /^e must be below 2\^ebits/,
  },
  { name: 'modPow: ebits 0', call: () => modPow(2n, 0n, N, 0), error: RangeError, message: /^ebits must be in/ },
  {
    name: 'modPow: ebits 16385',
    call: () => modPow(2n, 1n, N, MAX_EXPONENT_BITS + 1),
    error: RangeError,
    message: /^ebits must be in/,
  },
  { name: 'modPow: ebits −1', call: () => modPow(2n, 1n, N, -1), error: RangeError, message: /^ebits must be in/ },
  {
    name: 'modPow: ebits 1.5',
    call: () => modPow(2n, 1n, N, 1.5),
    error: TypeError,
    message: /^ebits must be an integer/,
  },
  {
    name: 'modPow: ebits NaN',
    call: () => modPow(2n, 1n, N, NaN),
    error: TypeError,
    message: /^ebits must be an integer/,
  },
  {
    name: 'modPow: ebits string',
    call: () => modPow(2n, 1n, N, any('8')),
    error: TypeError,
    message: /^ebits must be an integer/,
  },
  {
    name: 'modPow: ebits bigint',
    call: () => modPow(2n, 1n, N, any(8n)),
    error: TypeError,
    message: /^ebits must be an integer/,
  },
  {
    name: 'modPow: number exponent',
    call: () => modPow(2n, any(1), N),
    error: TypeError,
    message: /^e must be a bigint/,
  },
  {
    name: 'modPow: base = modulus',
    call: () => modPow(N, 1n, N),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  {
    name: 'modPow: even modulus',
    call: () => modPow(2n, 1n, N + 1n),
    error: RangeError,
    message: /^modulus must be odd/,
  },

  // modMul
  {
    name: 'modMul: a = modulus',
    call: () => modMul(N, 1n, N),
    error: RangeError,
    message: /^a must be less than the modulus/,
  },
  {
    name: 'modMul: b = modulus',
    call: () => modMul(1n, N, N),
    error: RangeError,
    message: /^b must be less than the modulus/,
  },
  { name: 'modMul: negative b', call: () => modMul(1n, -1n, N), error: RangeError, message: /^b must not be negative/ },
  { name: 'modMul: number a', call: () => modMul(any(1), 1n, N), error: TypeError, message: /^a must be a bigint/ },
  { name: 'modMul: null b', call: () => modMul(1n, any(null), N), error: TypeError, message: /^b must be a bigint/ },
  {
    name: 'modMul: even modulus',
    call: () => modMul(1n, 1n, 1n << 64n),
    error: RangeError,
    message: /^modulus must be odd/,
  },

  // multiPowPublic
  {
    name: 'multiPowPublic: no terms',
    call: () => multiPowPublic([], N),
    error: RangeError,
    message: /^terms\.length must be in \[1, 16\]/,
  },
  {
    name: `multiPowPublic: ${MAX_MULTIPOW_BASES + 1} terms`,
    call: () =>
      multiPowPublic(
        Array.from({ length: MAX_MULTIPOW_BASES + 1 }, () => [2n, 3n] as const),
        N,
      ),
    error: RangeError,
    message: /^terms\.length must be in \[1, 16\]/,
  },
  {
    name: 'multiPowPublic: not an array',
    call: () => multiPowPublic(any('2,3'), N),
    error: TypeError,
    message: /^terms must be an array/,
  },
  {
    name: 'multiPowPublic: base = modulus',
    call: () => multiPowPublic([[N, 1n]], N),
    error: RangeError,
    message: /^terms\[0\] base must be less than the modulus/,
  },
  {
    name: 'multiPowPublic: negative base',
    call: () =>
      multiPowPublic(
        [
          [2n, 1n],
          [-2n, 1n],
        ],
        N,
      ),
    error: RangeError,
    message: /^terms\[1\] base must not be negative/,
  },
  {
    name: 'multiPowPublic: exponent of 16385 bits',
    call: () =>
      multiPowPublic(
        [
          [2n, 1n],
          [3n, E_TOO_BIG],
        ],
        N,
      ),
    error: RangeError,
    message: /^terms\[1\] exponent must have at most 16384 bits/,
  },
  {
    name: 'multiPowPublic: number base',
    call: () =>
      multiPowPublic(
        [
          [2n, 1n],
          [any(3), 1n],
        ],
        N,
      ),
    error: TypeError,
    message: /^terms\[1\] base must be a bigint/,
  },
  {
    name: 'multiPowPublic: number exponent',
    call: () =>
      multiPowPublic(
        [
          [2n, 1n],
          [3n, any(1)],
        ],
        N,
      ),
    error: TypeError,
    message: /^terms\[1\] exponent must be a bigint/,
  },
  {
    name: 'multiPowPublic: non-invertible base, negative exponent',
    call: () =>
      multiPowPublic(
        [
          [2n, 1n],
          [0n, -1n],
        ],
        N,
      ),
    error: RangeError,
    message: /not invertible/,
  },
  {
    name: 'multiPowPublic: base = modulus with a negative exponent — message names terms[0] base',
    call: () => multiPowPublic([[N, -1n]], N),
    error: RangeError,
    message: /^terms\[0\] base/,
  },
  {
    name: 'multiPowPublic: a term that is not a pair — TypeError naming terms[1]',
    call: () => multiPowPublic([[2n, 1n], any(5)], N),
    error: TypeError,
    message: /terms\[1\]/,
  },

  // Modulus methods
  {
    name: 'Modulus.mul: b = modulus',
    call: () => m.mul(1n, N),
    error: RangeError,
    message: /^b must be less than the modulus/,
  },
  { name: 'Modulus.mul: string a', call: () => m.mul(any('1'), 1n), error: TypeError, message: /^a must be a bigint/ },
  {
    name: 'Modulus.powPublic: exponent of 16385 bits',
    call: () => m.powPublic(2n, E_TOO_BIG),
    error: RangeError,
    message: /^e must have at most 16384 bits/,
  },
  {
    name: 'Modulus.powPublic: base = modulus, negative exponent',
    call: () => m.powPublic(N, -1n),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  { name: 'Modulus.pow: ebits 0', call: () => m.pow(2n, 1n, 0), error: RangeError, message: /^ebits must be in/ },
  {
    name: 'Modulus.pow: e ≥ 2^ebits',
    call: () => m.pow(2n, 255n, 7),
    error: RangeError,
    message: /^e must be below 2\^ebits/,
  },
  {
    name: 'Modulus.multiPowPublic: 17 terms',
    call: () => m.multiPowPublic(Array.from({ length: 17 }, (_, i) => [BigInt(i), 1n] as const)),
    error: RangeError,
    message: /^terms\.length/,
  },
  {
    name: 'Modulus.reduce: negative',
    call: () => m.reduce(-1n),
    error: RangeError,
    message: /^x must not be negative/,
  },
  {
    name: 'Modulus.reduce: too wide',
    call: () => m.reduce(1n << BigInt(2 * LIMB_BITS * m.limbs)),
    error: RangeError,
    message: /^x is too large/,
  },
  { name: 'Modulus.reduce: number', call: () => m.reduce(any(5)), error: TypeError, message: /^x must be a bigint/ },
  {
    name: 'Modulus.inverse: x = modulus',
    call: () => m.inverse(N),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  { name: 'Modulus.inverse: 0', call: () => m.inverse(0n), error: RangeError, message: /not invertible/ },
  {
    name: 'Modulus.jacobi: x = modulus',
    call: () => m.jacobi(N),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  {
    name: 'Modulus.jacobi: negative',
    call: () => m.jacobi(-1n),
    error: RangeError,
    message: /^x must not be negative/,
  },

  // FixedBase
  {
    name: 'fixedBase: base = modulus',
    call: () => m.fixedBase(N, 64),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  { name: 'fixedBase: maxBits 0', call: () => m.fixedBase(2n, 0), error: RangeError, message: /^maxBits must be in/ },
  {
    name: 'fixedBase: maxBits 16385',
    call: () => m.fixedBase(2n, MAX_EXPONENT_BITS + 1),
    error: RangeError,
    message: /^maxBits must be in/,
  },
  {
    name: 'fixedBase: maxBits 1.5',
    call: () => m.fixedBase(2n, 1.5),
    error: TypeError,
    message: /^maxBits must be an integer/,
  },
  { name: 'fixedBase: teeth 0', call: () => m.fixedBase(2n, 64, 0), error: RangeError, message: /^teeth must be in/ },
  { name: 'fixedBase: teeth 11', call: () => m.fixedBase(2n, 64, 11), error: RangeError, message: /^teeth must be in/ },
  {
    name: 'FixedBase.powPublic: exponent above maxBits',
    call: () => fb.powPublic(1n << BigInt(fb.maxBits)),
    error: RangeError,
    message: /^e must have at most \d+ bits for this table/,
  },
  {
    name: 'FixedBase.pow: exponent above maxBits',
    call: () => fb.pow((1n << BigInt(fb.maxBits + 40)) - 1n),
    error: RangeError,
    message: /^e must have at most/,
  },
  {
    name: 'FixedBase.powPublic: negative exponent',
    call: () => fb.powPublic(-1n),
    error: RangeError,
    message: /^e must not be negative/,
  },
  {
    name: 'FixedBase.pow: number exponent',
    call: () => fb.pow(any(3)),
    error: TypeError,
    message: /^e must be a bigint/,
  },

  // use after dispose
  {
    name: 'Modulus used after dispose()',
    call: () => {
      const d = new Modulus(N);
      d.dispose();
      return d.mul(2n, 3n);
    },
    error: Error,
    message: /after dispose/,
  },
  {
    name: 'FixedBase used after dispose()',
    call: () => {
      const d = m.fixedBase(3n, 16);
      d.dispose();
      return d.pow(5n);
    },
    error: Error,
    message: /after dispose/,
  },
  {
    name: 'FixedBase used after its Modulus was disposed',
    call: () => {
      const d = new Modulus(N);
      const f = d.fixedBase(3n, 16);
      d.dispose();
      try {
        return f.powPublic(5n);
      } finally {
        f.dispose();
      }
    },
    error: Error,
    message: /after dispose/,
  },
  {
    name: 'CrtModulus used after dispose()',
    call: () => {
      const d = new CrtModulus([
        [p, 1],
        [q, 1],
      ]);
      d.dispose();
      return d.powPublic(2n, 3n);
    },
    error: Error,
    message: /after dispose/,
  },

  // modInv and jacobi
  { name: 'modInv: modulus 1', call: () => modInv(3n, 1n), error: RangeError, message: /^m must be at least 2/ },
  { name: 'modInv: modulus 0', call: () => modInv(3n, 0n), error: RangeError, message: /^m must be at least 2/ },
  {
    name: 'modInv: negative modulus',
    call: () => modInv(3n, -5n),
    error: RangeError,
    message: /^m must be at least 2/,
  },
  {
    name: 'modInv: modulus of 16385 bits',
    call: () => modInv(3n, 1n << 16384n),
    error: RangeError,
    message: /^m must have at most 16384 bits/,
  },
  { name: 'modInv: number a', call: () => modInv(any(3), 7n), error: TypeError, message: /^a must be a bigint/ },
  { name: 'modInv: number m', call: () => modInv(3n, any(7)), error: TypeError, message: /^m must be a bigint/ },
  {
    name: 'modInv: not invertible (even)',
    call: () => modInv(2n, 4n),
    error: RangeError,
    message: /^a is not invertible modulo m/,
  },
  {
    name: 'modInv: not invertible (odd)',
    call: () => modInv(M - p, M),
    error: RangeError,
    message: /^a is not invertible modulo m/,
  },
  { name: 'jacobi: even modulus', call: () => jacobi(1n, 8n), error: RangeError, message: /^m must be odd/ },
  { name: 'jacobi: modulus 1', call: () => jacobi(1n, 1n), error: RangeError, message: /^m\b/ },
  { name: 'jacobi: negative modulus', call: () => jacobi(1n, -3n), error: RangeError, message: /^m\b/ },
  { name: 'jacobi: number a', call: () => jacobi(any(1), 7n), error: TypeError, message: /^a must be a bigint/ },
  { name: 'jacobi: number m', call: () => jacobi(1n, any(7)), error: TypeError, message: /^m must be a bigint/ },

  // CrtModulus
  {
    name: 'CrtModulus: one factor',
    call: () => new CrtModulus([[p, 1]]),
    error: RangeError,
    message: /^factors must list at least two/,
  },
  { name: 'CrtModulus: no factors', call: () => new CrtModulus([]), error: RangeError, message: /^factors\b/ },
  {
    name: 'CrtModulus: not an array — TypeError',
    call: () => new CrtModulus(any(7n)),
    error: TypeError,
    message: /^factors\b/,
  },
  {
    name: 'CrtModulus: even prime',
    call: () =>
      new CrtModulus([
        [4n, 1],
        [7n, 1],
      ]),
    error: RangeError,
    message: /^factors\[0\] prime must be odd/,
  },
  {
    name: 'CrtModulus: prime 1',
    call: () =>
      new CrtModulus([
        [7n, 1],
        [1n, 1],
      ]),
    error: RangeError,
    message: /^factors\[1\] prime/,
  },
  {
    name: 'CrtModulus: power 0',
    call: () =>
      new CrtModulus([
        [3n, 0],
        [7n, 1],
      ]),
    error: RangeError,
    message: /^factors\[0\] power must be in/,
  },
  {
    name: 'CrtModulus: power 9',
    call: () =>
      new CrtModulus([
        [3n, 9],
        [7n, 1],
      ]),
    error: RangeError,
    message: /^factors\[0\] power must be in/,
  },
  {
    name: 'CrtModulus: number prime',
    call: () =>
      new CrtModulus([
        [3n, 1],
        [any(7), 1],
      ]),
    error: TypeError,
    message: /^factors\[1\] prime must be a bigint/,
  },
  {
    name: 'CrtModulus: fractional power',
    call: () =>
      new CrtModulus([
        [3n, 1],
        [7n, 1.5],
      ]),
    error: TypeError,
    message: /^factors\[1\] power must be an integer/,
  },
  {
    name: 'CrtModulus: repeated prime',
    call: () =>
      new CrtModulus([
        [7n, 1],
        [7n, 2],
      ]),
    error: RangeError,
    message: /invertible|distinct|differ/,
  },
  {
    name: 'CrtModulus.powPublic: x = M',
    call: () => crt.powPublic(M, 1n),
    error: RangeError,
    message: /^x must be less than the modulus/,
  },
  {
    name: 'CrtModulus.powPublic: negative x',
    call: () => crt.powPublic(-1n, 1n),
    error: RangeError,
    message: /^x must not be negative/,
  },
  {
    name: 'CrtModulus.powPublic: negative e',
    call: () => crt.powPublic(2n, -1n),
    error: RangeError,
    message: /^e must not be negative/,
  },
  {
    name: 'CrtModulus.pow: number e',
    call: () => crt.pow(2n, any(1)),
    error: TypeError,
    message: /^e must be a bigint/,
  },
  {
    name: 'CrtModulus.powPublic: number x',
    call: () => crt.powPublic(any(2), 1n),
    error: TypeError,
    message: /^x must be a bigint/,
  },
];

let round = 0;

/** Good calls on every shared object, against the oracle. */
function goodCalls(t: ExecutionContext): void {
  round++;
  const r = BigInt(round);
  const x = (G * r * 0x9e3779b97f4a7c15n) % N;
  const y = (x * x + r) % N;
  const e = (0xfedcba9876543210n * r) ** 3n;
  t.is(modPowPublic(x, e, N), refPow(x, e, N), 'modPowPublic after a bad call');
  t.is(modPow(y, e, N, 240), refPow(y, e, N), 'modPow after a bad call');
  t.is(modMul(x, y, N), (x * y) % N, 'modMul after a bad call');
  t.is(
    multiPowPublic(
      [
        [x, e],
        [y, -r],
      ],
      N,
    ),
    refMultiPow(
      [
        [x, e],
        [y, -r],
      ],
      N,
    ),
    'multiPowPublic after a bad call',
  );
  t.is(m.mul(y, x), (x * y) % N, 'Modulus.mul after a bad call');
  t.is(m.powPublic(x, -e), refPow(x, -e, N), 'Modulus.powPublic after a bad call');
  t.is(m.pow(y, e % N), refPow(y, e % N, N), 'Modulus.pow after a bad call');
  t.is(m.reduce(x * y * r), (x * y * r) % N, 'Modulus.reduce after a bad call');
  t.is(m.inverse(x), refInverse(x, N) as bigint, 'Modulus.inverse after a bad call');
  t.is(
    fb.powPublic(e & ((1n << 130n) - 1n)),
    refPow(G, e & ((1n << 130n) - 1n), N),
    'FixedBase.powPublic after a bad call',
  );
  t.is(fb.pow(r), refPow(G, r, N), 'FixedBase.pow after a bad call');
  const xm = (x * M) / N;
  t.is(crt.powPublic(xm, e), refPow(xm, e, M), 'CrtModulus.powPublic after a bad call');
  t.is(crt.pow(xm, r), refPow(xm, r, M), 'CrtModulus.pow after a bad call');
  t.is(jacobi(x, N), refJacobi(x, N), 'jacobi after a bad call');
  t.is(modInv(xm, M), refInverse(xm, M) as bigint, 'modInv after a bad call');
}

for (const row of rows) {
  const run = (t: ExecutionContext) => {
    let thrown: unknown;
    let threw = false;
    try {
      row.call();
    } catch (err) {
      threw = true;
      thrown = err;
    }
    t.true(threw, 'the call must throw');
    if (threw) {
      t.true(thrown instanceof Error, 'what is thrown is an Error');
      const err = thrown as Error;
      t.is(
        err.constructor,
        row.error,
        `error class: got ${err.constructor.name}, expected ${row.error.name} (${err.message})`,
      );
      t.regex(err.message, row.message);
    }
    goodCalls(t);
  };
  if (row.knownBug) test.failing(`${row.name} [known bug: ${row.knownBug}]`, run);
  else test(row.name, run);
}
