/**
 * Πmod (Paillier–Blum modulus): honest proofs verify; malformed moduli and tampered proofs are
 * rejected with their exact reason codes (docs/security.md A1 BitForge moduli, A5 wrong lengths,
 * A7 replay).
 *
 * Main cases run on 3072-bit N (1536-bit fixture safe primes). Cases where the size is irrelevant
 * run on 1024-bit N with L_SMALL (below). Bad moduli get the adversary's best effort: `forgeMod`
 * knows the factorisation and answers every repetition it can, so a rejection shows the relation
 * itself fails, not that the forger was lazy. Expected values are recomputed with plain bigint
 * (test/helpers/fixtures.ts) and the challenge is re-derived here from the transcript layout.
 */
import test, { type ExecutionContext } from 'ava';
import { generatePrime } from 'node:crypto';
import { MOD_TAG, proveMod, verifyMod, type ModItem, type ModProof } from '../../src/zk/mod.js';
import { InvalidProof, type ProofReason } from '../../src/zk/errors.js';
import { SECURITY_128, type SecurityParams } from '../../src/zk/params.js';
import { proofTranscript, type ProofBinding } from '../../src/zk/binding.js';
import { Modulus } from '../../src/wasm/index.js';
import { randomBelow } from '../../src/util/random.js';
import { fixturePrime, refBitLength, refGcd, refInverse, refJacobi, refMod, refPow } from '../helpers/fixtures.js';

/**
 * TEST ONLY — weakened parameters: accepts 1024-bit moduli so that cases where the modulus size
 * does not matter run on the 512-bit fixture primes. Never use outside tests.
 */
const L_SMALL: SecurityParams = Object.freeze({ ...SECURITY_128, minModulusBits: 1023 });
const L = SECURITY_128;
const m = L.m;

const B: ProofBinding = {
  sid: new TextEncoder().encode('mod-test-session-1'),
  prover: 2,
  verifier: 0,
  extra: Uint8Array.of(7, 7, 7),
};

// 3072-bit N from two 1536-bit fixture safe primes (≡ 3 mod 4)
const p = fixturePrime(1536, 2);
const q = fixturePrime(1536, 3);
const N = p * q;
const bigProof = proveMod(B, L, { N }, { p, q });

// 1024-bit N from two 512-bit fixture safe primes (with L_SMALL)
const ps = fixturePrime(512, 2);
const qs = fixturePrime(512, 3);
const Ns = ps * qs;
const smallProof = proveMod(B, L_SMALL, { N: Ns }, { p: ps, q: qs });

/** A random prime of exactly `bits` bits, ≡ rem (mod 4) (default 3: a Blum prime). */
function blumPrime(bits: number, rem = 3n): Promise<bigint> {
  return new Promise((resolve, reject) => {
    generatePrime(bits, { bigint: true, add: 4n, rem }, (err, prime) => (err ? reject(err) : resolve(prime)));
  });
}

/** A copy of the proof to tamper with. */
function copy(proof: ModProof): { w: bigint; items: ModItem[] } {
  return { w: proof.w, items: proof.items.map((it) => ({ ...it })) };
}

/** y_1..y_m re-derived from the documented transcript layout (independent of mod.ts). */
function refChallenge(binding: ProofBinding, params: SecurityParams, n: bigint, w: bigint): bigint[] {
  const stream = proofTranscript(MOD_TAG, binding, params).int('N', n).int('w', w).challenge('y');
  const ys: bigint[] = [];
  while (ys.length < params.m) {
    const y = stream.below(n);
    if (y !== 0n && refGcd(y, n) === 1n) ys.push(y);
  }
  return ys;
}

/** (−1)^a·w^b·y mod N in plain bigint. */
function target(n: bigint, w: bigint, y: bigint, a: boolean, b: boolean): bigint {
  return refMod((a ? -1n : 1n) * (b ? w : 1n) * y, n);
}

/** Asserts that verifyMod rejects with exactly this reason. */
function rejects(
  t: ExecutionContext,
  reason: ProofReason,
  n: bigint,
  proof: unknown,
  params: SecurityParams = L,
  binding: ProofBinding = B,
): void {
  const err = t.throws(() => verifyMod(binding, params, { N: n }, proof as ModProof), { instanceOf: InvalidProof });
  t.is(err?.reason, reason);
  t.is(err?.proof, 'Πmod');
}

/**
 * The adversary's best-effort Πmod proof for N = ∏ P^e, knowing the factorisation. Every factor
 * must be ≡ 3 (mod 4), the case most favourable to the forger: each Z*_(P^e) is cyclic of order
 * n ≡ 2 (mod 4), −1 is a non-square, and v^((n+2)/4) is a square root of v whenever v is a square.
 * For each repetition it picks the (a, b) that makes (−1)^a·w^b·y a square modulo the most
 * components and takes 4th roots there (1 elsewhere); z is the N-th root where N is invertible
 * modulo the component's order (1 elsewhere). Uses the WASM core for speed: it plays the
 * adversary here, the verdict comes from verifyMod and plain-bigint checks.
 */
function forgeMod(
  binding: ProofBinding,
  params: SecurityParams,
  factors: ReadonlyArray<readonly [bigint, number]>,
  wIn?: bigint,
): { n: bigint; proof: ModProof; fullySquare: boolean[] } {
  const n = factors.reduce((acc, [P, e]) => acc * P ** BigInt(e), 1n);
  const comps = factors.map(([P, e]) => {
    if (P % 4n !== 3n) throw new Error('forgeMod needs factors ≡ 3 (mod 4)');
    const M = P ** BigInt(e);
    const order = P ** BigInt(e - 1) * (P - 1n);
    const cofactor = n / M;
    return {
      M,
      k: (order + 2n) / 4n,
      mod: new Modulus(M),
      crt: cofactor * (refInverse(cofactor, M) as bigint),
      nInv: refGcd(n, order) === 1n ? refInverse(n, order) : undefined,
    };
  });
  const combine = (vs: readonly bigint[]): bigint =>
    refMod(
      vs.reduce((acc, v, i) => acc + v * (comps[i]?.crt as bigint), 0n),
      n,
    );
  /** r = v^k mod M and whether r² = v (v a square mod M); otherwise r² = −v */
  const half = (c: (typeof comps)[number], v: bigint): { r: bigint; square: boolean } => {
    const vM = v % c.M;
    const r = c.mod.powPublic(vM, c.k);
    return { r, square: c.mod.mul(r, r) === vM };
  };
  let w = wIn;
  if (w === undefined) {
    // Jacobi −1, and a Legendre pattern that is not constant, so −1 and w reach four classes
    for (;;) {
      const cand = randomBelow(n);
      if (cand === 0n || refGcd(cand, n) !== 1n || refJacobi(cand, n) !== -1) continue;
      const pattern = comps.map((c) => half(c, cand).square);
      if (comps.length === 1 || pattern.includes(true)) {
        w = cand;
        break;
      }
    }
  }
  const W = comps.map((c) => half(c, w));
  const ys = refChallenge(binding, params, n, w);
  const fullySquare: boolean[] = [];
  const items = ys.map((y): ModItem => {
    const Y = comps.map((c) => half(c, y));
    let best = { a: false, b: false, score: -1, ok: [] as boolean[] };
    for (const [a, b] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      // (−1)^a·w^b·y is a square mod M iff the number of non-square factors is even
      const ok = comps.map((_, i) => ((Y[i]?.square ? 0 : 1) + (a ? 1 : 0) + (b && !W[i]?.square ? 1 : 0)) % 2 === 0);
      const score = ok.filter(Boolean).length;
      if (score > best.score) best = { a, b, score, ok };
    }
    fullySquare.push(best.score === comps.length);
    const xs = comps.map((c, i) => {
      if (!best.ok[i]) return 1n;
      let s = Y[i]?.r as bigint; // y^k; times ((−1)^a·w^b)^k gives the square root of y′
      if (best.b) s = c.mod.mul(s, W[i]?.r as bigint);
      if (best.a) s = c.mod.mul(s, c.mod.powPublic(c.M - 1n, c.k));
      return c.mod.powPublic(s, c.k);
    });
    const zs = comps.map((c) => (c.nInv === undefined ? 1n : c.mod.powPublic(y % c.M, c.nInv)));
    return { x: combine(xs), a: best.a, b: best.b, z: combine(zs) };
  });
  for (const c of comps) c.mod.dispose();
  return { n, proof: { w, items }, fullySquare };
}

// ---------------------------------------------------------------------------------------------
// Honest proofs
// ---------------------------------------------------------------------------------------------

test('honest proof verifies (3072-bit N)', (t) => {
  t.is(refBitLength(N), 3072);
  t.is(bigProof.items.length, m);
  t.notThrows(() => verifyMod(B, L, { N }, bigProof));
});

test('honest proof checked in plain bigint (3072-bit N: w, all 4th roots, sampled N-th roots)', (t) => {
  const { w, items } = bigProof;
  t.is(refJacobi(w, N), -1);
  t.is(refGcd(w, N), 1n);
  const ys = refChallenge(B, L, N, w);
  items.forEach(({ x, a, b }, i) => {
    t.is(refPow(x, 4n, N), target(N, w, ys[i] as bigint, a, b), `4th root ${i}`);
  });
  for (const i of [0, 63, m - 1]) {
    const it = items[i] as ModItem;
    t.is(refPow(it.z, N, N), ys[i] as bigint, `N-th root ${i}`);
  }
});

test('honest proof checked in plain bigint (1024-bit N, TEST-ONLY L_SMALL: every item; x is the principal 4th root)', (t) => {
  t.notThrows(() => verifyMod(B, L_SMALL, { N: Ns }, smallProof));
  const { w, items } = smallProof;
  t.is(refJacobi(w, Ns), -1);
  const ys = refChallenge(B, L_SMALL, Ns, w);
  const seen = new Set<string>();
  items.forEach(({ x, a, b, z }, i) => {
    const y = ys[i] as bigint;
    t.is(refPow(z, Ns, Ns), y, `N-th root ${i}`);
    t.is(refPow(x, 4n, Ns), target(Ns, w, y, a, b), `4th root ${i}`);
    // principal: x is itself a square modulo both primes (Euler's criterion)
    t.is(refPow(x, (ps - 1n) / 2n, ps), 1n);
    t.is(refPow(x, (qs - 1n) / 2n, qs), 1n);
    seen.add(`${a}${b}`);
  });
  // all four classes occur among 128 random y (fails with probability < 2^−50)
  t.is(seen.size, 4);
});

// ---------------------------------------------------------------------------------------------
// Lengths (docs/security.md A5)
// ---------------------------------------------------------------------------------------------

for (const len of [0, 1, 127, 129]) {
  test(`${len} items are rejected (mod/length)`, (t) => {
    const items = Array.from({ length: len }, (_, i) => bigProof.items[i % m] as ModItem);
    rejects(t, 'mod/length', N, { w: bigProof.w, items });
  });
}

test('missing or non-array items are rejected (mod/length)', (t) => {
  rejects(t, 'mod/length', N, { w: bigProof.w });
  rejects(t, 'mod/length', N, { w: bigProof.w, items: {} });
  rejects(t, 'mod/length', N, undefined);
});

test('m comes from the local parameters and must be at least 128', (t) => {
  const weak: SecurityParams = { ...L, m: 1 };
  t.throws(() => verifyMod(B, weak, { N }, { w: bigProof.w, items: [bigProof.items[0] as ModItem] }), {
    instanceOf: RangeError,
  });
  t.throws(() => proveMod(B, weak, { N }, { p, q }), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------
// The modulus (docs/security.md A1)
// ---------------------------------------------------------------------------------------------

test('even N is rejected (mod/even)', (t) => {
  rejects(t, 'mod/even', N + 1n, bigProof);
  rejects(t, 'mod/even', 2n * N, bigProof);
  rejects(t, 'mod/even', 0n, bigProof);
});

test('negative N is rejected (mod/even)', (t) => {
  rejects(t, 'mod/even', -N, bigProof);
});

test('2048-bit N = p·q (p, q ≡ 3 mod 4), otherwise perfect, is rejected by size (mod/modulus-size)', async (t) => {
  let p1: bigint;
  let q1: bigint;
  do [p1, q1] = await Promise.all([blumPrime(1024), blumPrime(1024)]);
  while (refBitLength(p1 * q1) !== 2048 || p1 === q1);
  const n = p1 * q1;
  const proof = proveMod(B, L, { N: n }, { p: p1, q: q1 });
  rejects(t, 'mod/modulus-size', n, proof);
  // the same proof passes when the bound allows 2048 bits: only the size check rejects it
  t.notThrows(() => verifyMod(B, { ...L, minModulusBits: 2048 }, { N: n }, proof));
});

test('1024-bit N with a valid proof is rejected under SECURITY_128 (mod/modulus-size)', (t) => {
  rejects(t, 'mod/modulus-size', Ns, smallProof);
});

test('N above the upper bound (4608 bits) is rejected before any arithmetic (mod/modulus-size)', (t) => {
  const n = N * fixturePrime(1536, 4);
  t.true(refBitLength(n) > L.maxModulusBits);
  rejects(t, 'mod/modulus-size', n, bigProof);
});

test('prime N ≡ 3 (mod 4) with a proof that satisfies every equation is rejected (mod/prime)', async (t) => {
  // For a prime N ≡ 3 (mod 4), ±y is always a square and N-th roots exist: the algebra passes,
  // only the primality test stops it.
  const P = await blumPrime(3072);
  const { n, proof, fullySquare } = forgeMod(B, L, [[P, 1]]);
  t.true(fullySquare.every(Boolean));
  const ys = refChallenge(B, L, n, proof.w);
  for (const i of [0, 1, 2]) {
    const it = proof.items[i] as ModItem;
    t.is(refPow(it.x, 4n, n), target(n, proof.w, ys[i] as bigint, it.a, it.b));
  }
  rejects(t, 'mod/prime', n, proof);
});

test('1536-bit prime N is rejected (mod/prime, TEST-ONLY bound)', (t) => {
  const P = fixturePrime(1536, 5);
  rejects(t, 'mod/prime', P, bigProof, { ...L, minModulusBits: 1535 });
});

test('N = (16 primes of 16 bits) × (large prime), ≥ 3071 bits: best-effort proof fails (mod/fourth-root)', async (t) => {
  // BitForge (CVE-2023-33241): a smooth-ish N that leaks the victim's share in MtA. All factors
  // ≡ 3 (mod 4) to give the forger every advantage; −1 and w reach at most 4 of the 2^17 classes.
  const small: bigint[] = [];
  for (let c = 40003n; small.length < 16; c += 4n) if (isPrimeSmall(c)) small.push(c);
  const S = small.reduce((a, b) => a * b, 1n);
  let big: bigint;
  do big = await blumPrime(3072 - refBitLength(S));
  while (refBitLength(S * big) < 3071);
  const { n, proof, fullySquare } = forgeMod(B, L, [...small.map((s) => [s, 1] as const), [big, 1] as const]);
  t.true(refBitLength(n) >= 3071);
  // independent: the forger could make (−1)^a·w^b·y a square modulo every factor for few, if any, y
  t.true(fullySquare.filter(Boolean).length < 8);
  const i = fullySquare.indexOf(false);
  const ys = refChallenge(B, L, n, proof.w);
  const it = proof.items[i] as ModItem;
  t.not(refPow(it.x, 4n, n), target(n, proof.w, ys[i] as bigint, it.a, it.b));
  rejects(t, 'mod/fourth-root', n, proof);
});

test('three-prime Blum-like N = p·q·r (all ≡ 3 mod 4), ≥ 3071 bits: best-effort proof fails (mod/fourth-root)', async (t) => {
  let f: bigint[];
  do f = await Promise.all([blumPrime(1024), blumPrime(1024), blumPrime(1024)]);
  while (refBitLength((f[0] as bigint) * (f[1] as bigint) * (f[2] as bigint)) < 3071 || new Set(f).size !== 3);
  const { n, proof, fullySquare } = forgeMod(
    B,
    L,
    f.map((P) => [P, 1] as const),
  );
  // four classes out of eight: about half of the y cannot be answered
  const answered = fullySquare.filter(Boolean).length;
  t.true(answered > 20 && answered < 108, `answered ${answered}`);
  // the N-th roots are all right (gcd(N, φ(N)) = 1), so it is the 4th-root check that rejects
  const ys = refChallenge(B, L, n, proof.w);
  const i = fullySquare.indexOf(false);
  const it = proof.items[i] as ModItem;
  t.is(refPow(it.z, n, n), ys[i] as bigint);
  t.not(refPow(it.x, 4n, n), target(n, proof.w, ys[i] as bigint, it.a, it.b));
  rejects(t, 'mod/fourth-root', n, proof);
});

test('N = p²·q (not square-free): 4th roots all pass, N-th roots fail (mod/z-power)', async (t) => {
  let P: bigint;
  let Q: bigint;
  do [P, Q] = await Promise.all([blumPrime(1024), blumPrime(1024)]);
  while (refBitLength(P * P * Q) < 3071 || P === Q);
  const { n, proof, fullySquare } = forgeMod(B, L, [
    [P, 2],
    [Q, 1],
  ]);
  // the squares of Z*_(p²q) have index 4 as for a Blum integer, so every repetition is answered
  t.true(fullySquare.every(Boolean));
  const ys = refChallenge(B, L, n, proof.w);
  proof.items.forEach(({ x, a, b }, i) => t.is(refPow(x, 4n, n), target(n, proof.w, ys[i] as bigint, a, b)));
  rejects(t, 'mod/z-power', n, proof);
});

test('N = p·q with a 256-bit p (both ≡ 3 mod 4) PASSES Πmod: small factors are Πfac’s job', async (t) => {
  // Πmod proves "Paillier–Blum", not "no small factor". The aux-info round must also run Πfac,
  // which rejects this N (docs/security.md A1); this test pins the division of labour.
  let p1: bigint;
  let q1: bigint;
  do [p1, q1] = await Promise.all([blumPrime(256), blumPrime(2816)]);
  while (refBitLength(p1 * q1) < 3071);
  const n = p1 * q1;
  const proof = proveMod(B, L, { N: n }, { p: p1, q: q1 });
  t.notThrows(() => verifyMod(B, L, { N: n }, proof));
});

// ---------------------------------------------------------------------------------------------
// w
// ---------------------------------------------------------------------------------------------

test('w = p (a factor of N) is rejected (mod/w-not-unit)', (t) => {
  rejects(t, 'mod/w-not-unit', N, { ...copy(bigProof), w: p });
  rejects(t, 'mod/w-not-unit', N, { ...copy(bigProof), w: 3n * q });
});

test('w = 0, w = N, w ≥ N, w < 0 are rejected (mod/w-not-unit)', (t) => {
  for (const w of [0n, N, N + bigProof.w, -bigProof.w]) rejects(t, 'mod/w-not-unit', N, { ...copy(bigProof), w });
  rejects(t, 'mod/w-not-unit', N, { ...copy(bigProof), w: 5 });
});

test('Jacobi(w | N) = +1 with a best-effort proof is rejected (mod/w-jacobi)', (t) => {
  // w a non-square modulo both primes: Jacobi +1, so −1 and w cover only two of the four classes
  let w: bigint;
  do w = randomBelow(Ns);
  while (refGcd(w, Ns) !== 1n || refJacobi(w, ps) !== -1 || refJacobi(w, qs) !== -1);
  t.is(refJacobi(w, Ns), 1);
  const { proof } = forgeMod(
    B,
    L_SMALL,
    [
      [ps, 1],
      [qs, 1],
    ],
    w,
  );
  rejects(t, 'mod/w-jacobi', Ns, proof, L_SMALL);
  // and a square w (Jacobi +1) at 3072 bits
  rejects(t, 'mod/w-jacobi', N, { ...copy(bigProof), w: refMod(bigProof.w * bigProof.w, N) });
});

// ---------------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------------

test('a and b must be booleans, even when the truthy value would satisfy the equation (mod/bits)', (t) => {
  const i = bigProof.items.findIndex((it) => it.a);
  const proof = copy(bigProof) as unknown as { w: bigint; items: Record<string, unknown>[] };
  (proof.items[i] as Record<string, unknown>).a = 1;
  rejects(t, 'mod/bits', N, proof);
  const proof2 = copy(bigProof) as unknown as { w: bigint; items: Record<string, unknown>[] };
  (proof2.items[5] as Record<string, unknown>).b = undefined;
  rejects(t, 'mod/bits', N, proof2);
  const proof3 = copy(bigProof) as { w: bigint; items: unknown[] };
  proof3.items[9] = null;
  rejects(t, 'mod/bits', N, proof3);
});

test('x_i outside Z*_N is rejected (mod/x-range)', (t) => {
  for (const x of [0n, N, N + 1n, -1n, p, 2n * q]) {
    const proof = copy(bigProof);
    proof.items[7] = { ...(proof.items[7] as ModItem), x };
    rejects(t, 'mod/x-range', N, proof);
  }
});

test('x_i + N (same class, out of range) is rejected (mod/x-range)', (t) => {
  const proof = copy(bigProof);
  const it = proof.items[0] as ModItem;
  proof.items[0] = { ...it, x: it.x + N };
  rejects(t, 'mod/x-range', N, proof);
});

test('z_i outside Z*_N is rejected (mod/z-range)', (t) => {
  for (const z of [N, 0n, N + 1n, -1n, q, 5n * p]) {
    const proof = copy(bigProof);
    proof.items[100] = { ...(proof.items[100] as ModItem), z };
    rejects(t, 'mod/z-range', N, proof);
  }
});

test('z_i + N (same class, out of range) is rejected (mod/z-range)', (t) => {
  const proof = copy(bigProof);
  const it = proof.items[3] as ModItem;
  proof.items[3] = { ...it, z: it.z + N };
  rejects(t, 'mod/z-range', N, proof);
});

test('a tampered x_i (still a unit) is rejected (mod/fourth-root)', (t) => {
  for (const i of [0, 64, m - 1]) {
    const proof = copy(bigProof);
    const it = proof.items[i] as ModItem;
    proof.items[i] = { ...it, x: refMod(it.x * 2n, N) };
    rejects(t, 'mod/fourth-root', N, proof);
  }
});

test('flipping a_i or b_i is rejected (mod/fourth-root)', (t) => {
  for (const field of ['a', 'b'] as const) {
    const proof = copy(bigProof);
    const it = proof.items[20] as ModItem;
    proof.items[20] = { ...it, [field]: !it[field] };
    rejects(t, 'mod/fourth-root', N, proof);
  }
});

test('a tampered z_i (still a unit) is rejected (mod/z-power)', (t) => {
  for (const i of [0, m - 1]) {
    const proof = copy(bigProof);
    const it = proof.items[i] as ModItem;
    proof.items[i] = { ...it, z: refMod(it.z * 2n, N) };
    rejects(t, 'mod/z-power', N, proof);
  }
});

test('the other square root of the 4th root, −x_i, is also accepted (x is not unique)', (t) => {
  // documents why the verifier cannot insist on the principal root: (−x)^4 = x^4
  const proof = copy(smallProof);
  const it = proof.items[0] as ModItem;
  proof.items[0] = { ...it, x: Ns - it.x };
  t.notThrows(() => verifyMod(B, L_SMALL, { N: Ns }, proof));
});

// ---------------------------------------------------------------------------------------------
// Binding (docs/security.md A7)
// ---------------------------------------------------------------------------------------------

test('replay under another session id is rejected (mod/fourth-root)', (t) => {
  rejects(t, 'mod/fourth-root', N, bigProof, L, { ...B, sid: new TextEncoder().encode('mod-test-session-2') });
});

test('replay under another prover index is rejected (mod/fourth-root)', (t) => {
  rejects(t, 'mod/fourth-root', N, bigProof, L, { ...B, prover: 1 });
});

test('replay to another verifier is rejected (mod/fourth-root)', (t) => {
  rejects(t, 'mod/fourth-root', N, bigProof, L, { ...B, verifier: 1 });
});

test('replay with other joint randomness ρ is rejected (mod/fourth-root)', (t) => {
  rejects(t, 'mod/fourth-root', N, bigProof, L, { ...B, extra: Uint8Array.of(7, 7, 8) });
  const { extra: _drop, ...noExtra } = B;
  rejects(t, 'mod/fourth-root', N, bigProof, L, noExtra);
});

// ---------------------------------------------------------------------------------------------
// Prover input validation; secrets never in messages
// ---------------------------------------------------------------------------------------------

test('the prover refuses a bad witness without revealing it', async (t) => {
  const secrets = [ps, qs].flatMap((x) => [x.toString(10), x.toString(16)]);
  const p1 = await blumPrime(512, 1n); // ≡ 1 (mod 4): not a Blum prime
  const cases: Array<{ n: bigint; p: bigint; q: bigint }> = [
    { n: Ns, p: ps, q: qs + 4n }, // does not factor N
    { n: Ns, p: Ns, q: 1n }, // trivial factorisation
    { n: p1 * qs, p: p1, q: qs }, // p ≡ 1 (mod 4)
  ];
  for (const c of cases) {
    const err = t.throws(() => proveMod(B, L_SMALL, { N: c.n }, { p: c.p, q: c.q }), { instanceOf: RangeError });
    for (const s of secrets) t.false(err?.message.includes(s) ?? true);
  }
});

test('InvalidProof messages carry only the proof name and reason code', (t) => {
  const err = t.throws(() => verifyMod(B, L, { N }, { ...copy(bigProof), w: p }), { instanceOf: InvalidProof });
  t.is(err?.message, 'Πmod rejected: mod/w-not-unit');
});

/** Trial division, for the 16-bit primes of the BitForge modulus. */
function isPrimeSmall(n: bigint): boolean {
  if (n < 2n) return false;
  for (let d = 2n; d * d <= n; d++) if (n % d === 0n) return false;
  return true;
}
