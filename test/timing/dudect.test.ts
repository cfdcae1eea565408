/**
 * docs/security.md A15: statistical timing tests in the style of dudect (Reparaz, Balasch, Verbauwhede,
 * "Dude, is my code constant time?", DATE 2017) for the operations that handle secrets:
 *   - Modulus.pow (fixed-window, full table scan): the secret is the exponent;
 *   - PaillierSecretKey.decrypt (CRT, pow): the secrets are the plaintext and the key (p, q);
 *   - secp256k1 `mul` and `mulG` (@noble/curves' constant-time multiply): the secret is the scalar.
 *
 * Method. Two input classes, "fixed" (one secret value, or one key) and "random" (a fresh secret per
 * measurement), are interleaved in a random order (so drift, frequency scaling and other processes
 * hit both classes alike); all inputs are made before the clock starts; each call is timed alone
 * with process.hrtime. Welch's t statistic compares the two classes' mean times, on all samples
 * and again after discarding the slowest ones above several percentiles (outliers from GC, the
 * scheduler, other tests running in parallel); the largest |t| over these crops is reported, as
 * dudect does. A leak shows as a |t| that grows with the number of samples.
 *
 * Threshold. The host is shared (ava runs two test files at once; CI machines run other jobs), so
 * timings are noisy and not normally distributed, and |t| values of 2–5 occur without any leak.
 * dudect's own verdict is "definitely not constant time" above |t| = 10 (it reports 4.5 as a
 * "maybe"); we fail only above 10, which keeps false alarms on a busy host rare while a real leak
 * of the kind A15 is about (square-and-multiply or sliding windows on the secret, BigInt early
 * exits, skipped additions for zero scalar digits) reaches |t| in the tens or hundreds with the
 * sample counts below. That the harness does see such leaks is checked by positive controls on the
 * documented variable-time twins (Modulus.powPublic, Point.multiplyUnsafe), which must exceed 10.
 * A pass is evidence, not proof: timing differences far below the noise of a shared host (cache
 * lines, a few cycles) are out of reach of a test like this.
 *
 * Sizes: pow and the scalar multiplications at production size; decryption at both 3072 bits
 * (fewer samples: one call takes ~10 ms) and 1024 bits (more samples). Set DUDECT_SCALE=4 (say) for
 * a longer, more sensitive run.
 *
 * Decryption's plaintext is the secret that changes from call to call; before decrypt blinded its
 * ciphertext, "plaintext 0 vs random" reached |t| = 11 here (the BigInt steps after the constant-time
 * exponentiations were faster on small values); it now stays below 4. A fixed-vs-random *key* test
 * was tried and dropped: it shows a constant offset of about 0.6% between keys (BigInt handling of
 * key-dependent CRT constants, e.g. a coefficient one limb shorter), |t| 2–17 across runs. That offset
 * is the same for every decryption under a key, so an observer of a node learns nothing that varies
 * with what it decrypts; it is recorded as a residual in the README rather than tested.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import { Modulus } from '../../src/wasm/index.js';
import { PaillierSecretKey } from '../../src/paillier/secret-key.js';
import { mul, mulG, randomScalar } from '../../src/curve/secp256k1.js';
import { fixturePrime, refGcd } from '../helpers/fixtures.js';

const THRESHOLD = 10;
const SCALE = Math.max(0.1, Number(process.env['DUDECT_SCALE'] ?? 1) || 1);
const samples = (n: number) => Math.max(200, Math.round(n * SCALE));

/** Welch's t statistic of two samples. */
function welch(a: readonly number[], b: readonly number[]): number {
  const stats = (x: readonly number[]) => {
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / (x.length - 1);
    return { mean, variance, n: x.length };
  };
  const A = stats(a);
  const B = stats(b);
  return (A.mean - B.mean) / Math.sqrt(A.variance / A.n + B.variance / B.n);
}

interface Measured {
  /** largest |t| over the crops */
  maxT: number;
  /** t per crop (percentile of all samples kept → t) */
  crops: string;
  /** median time per class, µs */
  fixedUs: number;
  randomUs: number;
  n: number;
}

/**
 * dudect's measurement loop: `n` calls of `op`, each on an input of a randomly chosen class
 * (0 = fixed, 1 = random), inputs prepared beforehand, every call timed on its own.
 */
function measure<I>(n: number, fixed: () => I, random: () => I, op: (x: I) => unknown): Measured {
  const cls = Array.from({ length: n }, () => randomInt(2));
  const inputs = cls.map((c) => (c === 0 ? fixed() : random()));
  for (let k = 0; k < 20; k++) op(inputs[k % n] as I); // warm-up (JIT, caches)
  const times = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const x = inputs[k] as I;
    const t0 = process.hrtime.bigint();
    op(x);
    times[k] = Number(process.hrtime.bigint() - t0);
  }
  const sorted = Float64Array.from(times).sort();
  let maxT = 0;
  const crops: string[] = [];
  for (const keep of [1, 0.99, 0.95, 0.9, 0.75, 0.5]) {
    const cut = sorted[Math.min(n - 1, Math.floor(keep * n))] as number;
    const a: number[] = [];
    const b: number[] = [];
    for (let k = 0; k < n; k++) if ((times[k] as number) <= cut) (cls[k] === 0 ? a : b).push(times[k] as number);
    if (a.length < 20 || b.length < 20) continue; // a class (almost) cropped away: that crop says nothing
    const tv = welch(a, b);
    crops.push(`${keep}:${tv.toFixed(2)}`);
    if (Number.isFinite(tv)) maxT = Math.max(maxT, Math.abs(tv));
    else maxT = Infinity;
  }
  const median = (c: number) => {
    const x = [...times].filter((_, k) => cls[k] === c).sort((p, q) => p - q);
    return (x[x.length >> 1] as number) / 1000;
  };
  return { maxT, crops: crops.join(' '), fixedUs: median(0), randomUs: median(1), n };
}

function report(t: ExecutionContext, name: string, m: Measured): void {
  t.log(
    `${name}: max |t| = ${m.maxT.toFixed(2)} over ${m.n} samples (crops ${m.crops}); median fixed ${m.fixedUs.toFixed(0)} µs, random ${m.randomUs.toFixed(0)} µs`,
  );
}

function constantTime(t: ExecutionContext, name: string, m: Measured): void {
  report(t, name, m);
  t.true(m.maxT < THRESHOLD, `${name}: |t| = ${m.maxT.toFixed(2)} ≥ ${THRESHOLD}: timing depends on the secret`);
}

function leaks(t: ExecutionContext, name: string, m: Measured): void {
  report(t, `${name} [positive control]`, m);
  t.true(m.maxT > THRESHOLD, `${name}: the harness must detect this documented leak (|t| = ${m.maxT.toFixed(2)})`);
}

const randomBits = (bits: number): bigint =>
  BigInt('0x' + randomBytes(Math.ceil(bits / 8)).toString('hex')) >> BigInt(8 * Math.ceil(bits / 8) - bits);

/** A random unit of Z*_{N²}: a valid ciphertext of a random plaintext, without the cost of encrypting. */
function randomCiphertext(N: bigint): bigint {
  for (;;) {
    const c = randomBits(2 * N.toString(2).length) % (N * N);
    if (c > 0n && refGcd(c, N) === 1n) return c;
  }
}

test.serial('slow: A15 timing (dudect): Modulus.pow, fixed vs random secret exponent', (t) => {
  t.timeout(5 * 60_000);
  // a 1536-bit safe prime: the size of the CRT components in Paillier decryption
  const m = new Modulus(fixturePrime(1536, 2));
  const bits = 1536;
  const x = randomBits(1500);
  const n = samples(1500);
  try {
    constantTime(
      t,
      'pow, e = 1 vs random e < 2^1536',
      measure(
        n,
        () => 1n,
        () => randomBits(bits),
        (e) => m.pow(x, e, bits),
      ),
    );
    const fixedE = randomBits(bits);
    constantTime(
      t,
      'pow, fixed random e vs random e',
      measure(
        n,
        () => fixedE,
        () => randomBits(bits),
        (e) => m.pow(x, e, bits),
      ),
    );
    // the variable-time twin (sliding window): the same classes must show a leak
    leaks(
      t,
      'Modulus.powPublic, e = 1 vs random e',
      measure(
        samples(300),
        () => 1n,
        () => randomBits(bits),
        (e) => m.powPublic(x, e),
      ),
    );
  } finally {
    m.dispose();
  }
});

test.serial('slow: A15 timing (dudect): PaillierSecretKey.decrypt, fixed vs random plaintext', (t) => {
  t.timeout(5 * 60_000);
  // production size (3072-bit N): fixed ciphertext (one plaintext) vs random ciphertexts
  const big = PaillierSecretKey.fromPrimes(fixturePrime(1536, 0), fixturePrime(1536, 1), { checkPrimes: false });
  const c0 = big.encrypt(randomScalar());
  constantTime(
    t,
    'decrypt (3072-bit N), fixed vs random ciphertext',
    measure(
      samples(400),
      () => c0,
      () => randomCiphertext(big.N),
      (c) => big.decrypt(c),
    ),
  );

  // 1024-bit N from the 512-bit fixture primes: more samples in the same time
  const sk = PaillierSecretKey.fromPrimes(fixturePrime(512, 0), fixturePrime(512, 1), {
    checkPrimes: false,
    minBits: 1023,
  });
  const c1 = sk.encrypt(0n);
  const n = samples(2000);
  constantTime(
    t,
    'decrypt (1024-bit N), fixed plaintext 0 vs random ciphertext',
    measure(
      n,
      () => c1,
      () => randomCiphertext(sk.N),
      (c) => sk.decrypt(c),
    ),
  );
});

test.serial('slow: A15 timing (dudect): secp256k1 constant-time scalar multiplication, fixed vs random scalar', (t) => {
  t.timeout(5 * 60_000);
  const P = mulG(randomScalar());
  const n = samples(1500);
  constantTime(
    t,
    'mul(P, k), k = 1 vs random k',
    measure(
      n,
      () => 1n,
      () => randomScalar(),
      (k) => mul(P, k),
    ),
  );
  const fixedK = randomScalar();
  constantTime(
    t,
    'mul(P, k), fixed random k vs random k',
    measure(
      n,
      () => fixedK,
      () => randomScalar(),
      (k) => mul(P, k),
    ),
  );
  constantTime(
    t,
    'mulG(k), k = 1 vs random k',
    measure(
      samples(2000),
      () => 1n,
      () => randomScalar(),
      (k) => mulG(k),
    ),
  );
  // the variable-time twin (used for public scalars only) must show a leak
  leaks(
    t,
    'Point.multiplyUnsafe, k = 1 vs random k',
    measure(
      samples(300),
      () => 1n,
      () => randomScalar(),
      (k) => P.multiplyUnsafe(k),
    ),
  );
});
