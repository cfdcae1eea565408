/**
 * Πfac (no small factor proof): completeness, the BitForge modulus (docs/security.md A1), the order of
 * the verifier's checks, every rejection reason, binding and replay, and the range boundary.
 *
 * Moduli: N0 from fixture primes 0 and 1, the verifier's ring-Pedersen (N̂, s, t) from 2 and 3,
 * another verifier's from 4 and 5. Expected values come from the plain-bigint oracle in
 * test/helpers (refPow, refGcd, …) and a binary-search square root, not from src/.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { generatePrime } from 'node:crypto';
import { ringPedersenFromPrimes, type RingPedersenParams } from '../../src/paillier/ring-pedersen.js';
import { InvalidProof, type ProofReason } from '../../src/zk/errors.js';
import { CURVE_ORDER, SECURITY_128, type SecurityParams } from '../../src/zk/params.js';
import type { ProofBinding } from '../../src/zk/binding.js';
import {
  FAC_TAG,
  checkFacRanges,
  facChallenge,
  facRangeBound,
  facSizeLimits,
  isqrt,
  proveFac,
  verifyFac,
  verifyFacInteractive,
  type FacCommitment,
  type FacProof,
  type FacStatement,
} from '../../src/zk/fac.js';
import { fixturePrime, refBitLength, refGcd, refMod, refMultiPow, refPow } from '../helpers/fixtures.js';

const L = SECURITY_128;
const q = CURVE_ORDER;
const enc = new TextEncoder();
const binding: ProofBinding = { sid: enc.encode('session-A'), prover: 1, verifier: 2, extra: enc.encode('rho-A') };

/** A random prime p ≡ 3 (mod 4) of exactly `bits` bits (OpenSSL through node:crypto). */
const blumPrime = (bits: number): Promise<bigint> =>
  new Promise((resolve, reject) => {
    generatePrime(bits, { add: 4n, rem: 3n, bigint: true }, (err, prime) => (err ? reject(err) : resolve(prime)));
  });

const P = (i: number): bigint => fixturePrime(1536, i);
const p0 = P(0);
const q0 = P(1);
const N0 = p0 * q0;
const own = ringPedersenFromPrimes(P(2), P(3), { checkPrimes: false });
const aux = own.params;
/** Another verifier's parameters, ordered so that its N̂ is the larger one: then every element of a
 * proof made for `aux` is still below the other N̂ and the rejection reason is deterministic. */
const other = (() => {
  const a = ringPedersenFromPrimes(P(4), P(5), { checkPrimes: false }).params;
  return a.N > aux.N ? a : ringPedersenFromPrimes(P(6), P(7), { checkPrimes: false }).params;
})();
const statement: FacStatement = { N0, aux };

let cached: FacProof | undefined;
/** One honest proof, shared by the tests that only read it. */
function honest(): FacProof {
  cached ??= proveFac(binding, L, statement, { p: p0, q: q0 });
  return cached;
}

/** ⌊√n⌋ by binary search (independent of src/zk/fac.ts's Newton iteration). */
function refIsqrt(n: bigint): bigint {
  let lo = 0n;
  let hi = 1n << BigInt(Math.ceil(refBitLength(n) / 2) + 1);
  while (hi - lo > 1n) {
    const mid = (lo + hi) >> 1n;
    if (mid * mid <= n) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The paper's bound 2^(ℓ+ε)·⌊√N0⌋, computed independently. */
const refBound = (n0: bigint): bigint => refIsqrt(n0) * 2n ** BigInt(L.ell + L.epsilon);
const abs = (x: bigint): bigint => (x < 0n ? -x : x);

/** Asserts that f throws InvalidProof with exactly this reason. */
function rejects(t: ExecutionContext, f: () => void, reason: ProofReason): void {
  const err = t.throws(f, { instanceOf: InvalidProof });
  t.is(err?.reason, reason);
  t.is(err?.proof, 'Πfac');
}

function withCommitment(proof: FacProof, patch: Partial<FacCommitment>): FacProof {
  return { ...proof, commitment: { ...proof.commitment, ...patch } };
}

/** Ring-Pedersen parameters on an arbitrary odd N̂ (e.g. a product of three primes), by hand. */
function auxOn(Nhat: bigint): RingPedersenParams {
  const r = 0x1234567890abcdefn;
  const t = refPow(r, 2n, Nhat);
  return { N: Nhat, s: refPow(t, 0xfedcba987654321n, Nhat), t };
}

// ---------------------------------------------------------------------------------------------
// Completeness
// ---------------------------------------------------------------------------------------------

test('an honest proof verifies', (t) => {
  t.notThrows(() => verifyFac(binding, L, statement, honest()));
});

test('the honest proof satisfies the paper equations and ranges by independent bigint arithmetic', (t) => {
  const pr = honest();
  const { P: Pc, Q, A, B, T, sigma } = pr.commitment;
  const { N: Nh, s, t: tt } = aux;
  const e = facChallenge(binding, L, statement, pr.commitment);
  t.true(-q <= e && e <= q);
  // s^z1 t^w1 = A·P^e, s^z2 t^w2 = B·Q^e, Q^z1 t^v = T·R^e with R = s^N0 t^σ (mod N̂)
  t.is(
    refMultiPow(
      [
        [s, pr.z1],
        [tt, pr.w1],
      ],
      Nh,
    ),
    refMod(A * refPow(Pc, e, Nh), Nh),
  );
  t.is(
    refMultiPow(
      [
        [s, pr.z2],
        [tt, pr.w2],
      ],
      Nh,
    ),
    refMod(B * refPow(Q, e, Nh), Nh),
  );
  const R = refMultiPow(
    [
      [s, N0],
      [tt, sigma],
    ],
    Nh,
  );
  t.is(
    refMultiPow(
      [
        [Q, pr.z1],
        [tt, pr.v],
      ],
      Nh,
    ),
    refMod(T * refPow(R, e, Nh), Nh),
  );
  const bound = refBound(N0);
  t.true(abs(pr.z1) <= bound && abs(pr.z2) <= bound);
  // commitments in Z*_N̂
  for (const X of [Pc, Q, A, B, T]) t.true(X > 0n && X < Nh && refGcd(X, Nh) === 1n);
  // the sampling ranges of the paper, seen through the responses: |σ| ≤ 2^ℓ·N0·N̂
  t.true(abs(sigma) <= 2n ** 256n * N0 * Nh);
});

test('the honest responses stay within the size limits (3072-bit moduli, limits computed by hand)', (t) => {
  // commitment: 3072; σ: 256 + 3072 + 3072; z: max(768 + 1536, 256 + 3072) + 1;
  // w: max(768, 512) + 3072 + 1; v: max(768, 513) + 3072 + 3072 + 1
  t.deepEqual(facSizeLimits(3072, 3072, L), { commitment: 3072, sigma: 6400, z: 3329, w: 3841, v: 6913 });
  t.is(refBitLength(N0), 3072);
  t.is(refBitLength(aux.N), 3072);
  const pr = honest();
  t.true(refBitLength(abs(pr.commitment.sigma)) <= 6400);
  t.true(refBitLength(abs(pr.z1)) <= 3329 && refBitLength(abs(pr.z2)) <= 3329);
  t.true(refBitLength(abs(pr.w1)) <= 3841 && refBitLength(abs(pr.w2)) <= 3841);
  t.true(refBitLength(abs(pr.v)) <= 6913);
});

test('isqrt is the integer square root', (t) => {
  for (let n = 0n; n < 200n; n++) t.is(isqrt(n), refIsqrt(n));
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 1n << 4100n }), (n) => {
      const r = isqrt(n);
      return r * r <= n && n < (r + 1n) * (r + 1n);
    }),
  );
  for (const k of [2n ** 1536n - 1n, 2n ** 1535n + 12345n]) {
    t.is(isqrt(k * k), k);
    t.is(isqrt(k * k - 1n), k - 1n);
    t.is(isqrt(k * k + 2n * k), k);
  }
  t.throws(() => isqrt(-1n), { instanceOf: RangeError });
});

test('the range bound is 2^(ℓ+ε)·⌊√N0⌋', (t) => {
  t.is(facRangeBound(N0, L), refBound(N0));
});

// ---------------------------------------------------------------------------------------------
// BitForge (docs/security.md A1): N0 = p·q, Blum, ≥ 3071 bits, but p has only 256 bits
// ---------------------------------------------------------------------------------------------

const bitforge = (async () => {
  const small = await blumPrime(256);
  const large = await blumPrime(2817);
  return { small, large, N0: small * large };
})();

test('BitForge: the honest prover on N0 = p·q with a 256-bit p is rejected by the z2 range check', async (t) => {
  const bf = await bitforge;
  // The modulus passes everything Πmod and the size check look at: odd, Blum, 3072 or 3073 bits.
  t.true(bf.small % 4n === 3n && bf.large % 4n === 3n);
  t.true(refBitLength(bf.N0) >= 3071 && refBitLength(bf.N0) <= 4096);
  const st: FacStatement = { N0: bf.N0, aux };
  const pr = proveFac(binding, L, st, { p: bf.small, q: bf.large });
  // Why z2: z2 = β + e·q with |β| ≤ B = 2^768·⌊√N0⌋ ≈ 2^2304 but q ≈ 2^2816, so for every e ≠ 0
  // |z2| ≥ |e|·q − B ≥ q − B > B. z1 = α + e·p stays inside, since |e·p| ≤ 2^512 is tiny next to B.
  // The equations hold (the prover is honest), so the first failing check is the range of z2.
  const bound = refBound(bf.N0);
  t.true(bf.large > 2n * bound);
  t.true(abs(pr.z1) <= bound);
  t.true(abs(pr.z2) > bound);
  rejects(t, () => verifyFac(binding, L, st, pr), 'fac/range-z2');
});

test('BitForge with the factors swapped (the small one as q): rejected by the z1 range check', async (t) => {
  const bf = await bitforge;
  const st: FacStatement = { N0: bf.N0, aux };
  // Now z1 = α + e·p carries the 2817-bit prime and falls outside ±B for the same reason.
  const pr = proveFac(binding, L, st, { p: bf.large, q: bf.small });
  t.true(abs(pr.z1) > refBound(bf.N0));
  rejects(t, () => verifyFac(binding, L, st, pr), 'fac/range-z1');
});

// ---------------------------------------------------------------------------------------------
// N0 and N̂ sizes, checked before any arithmetic
// ---------------------------------------------------------------------------------------------

test('a 2048-bit N0, otherwise perfect, is rejected by the size check', async (t) => {
  let a: bigint;
  let b: bigint;
  do {
    a = await blumPrime(1024);
    b = await blumPrime(1024);
  } while (refBitLength(a * b) !== 2048); // a product of two 1024-bit primes may have 2047 bits
  const st: FacStatement = { N0: a * b, aux };
  t.is(refBitLength(st.N0), 2048);
  const pr = proveFac(binding, L, st, { p: a, q: b });
  rejects(t, () => verifyFac(binding, L, st, pr), 'fac/modulus-size');
  // The same proof verifies once 2048-bit moduli are allowed: the size check alone rejected it.
  // (minModulusBits is not part of the transcript, so the challenge is the same.)
  t.notThrows(() => verifyFac(binding, { ...L, minModulusBits: 2047 }, st, pr));
});

test('the modulus size is checked before anything else: a junk proof with a 1 MB z1 gets "fac/modulus-size"', (t) => {
  const junk: FacProof = {
    commitment: { P: 0n, Q: 0n, A: 0n, B: 0n, T: 0n, sigma: 1n },
    z1: 1n << 8_000_000n,
    z2: -1n,
    w1: 0n,
    w2: 0n,
    v: 0n,
  };
  const st: FacStatement = { N0: (P(6) << 512n) | 1n, aux }; // some odd 2048-bit number
  t.is(refBitLength(st.N0), 2048);
  rejects(t, () => verifyFac(binding, L, st, junk), 'fac/modulus-size');
  // with a good N0 the same junk fails the response size check, before hashing or exponentiating
  const t0 = performance.now();
  rejects(t, () => verifyFac(binding, L, statement, junk), 'fac/size');
  t.log(`1 MB z1 rejected in ${(performance.now() - t0).toFixed(1)} ms`);
});

test('N0 above maxModulusBits (4608 bits, three primes) is rejected by the size check', (t) => {
  const st: FacStatement = { N0: P(0) * P(1) * P(6), aux };
  t.is(refBitLength(st.N0), 4608);
  const pr = proveFac(binding, L, st, { p: P(0), q: P(1) * P(6) });
  rejects(t, () => verifyFac(binding, L, st, pr), 'fac/modulus-size');
});

test('an even N0 is rejected by the size check', (t) => {
  const half = (P(0) * P(1)) >> 1n;
  const st: FacStatement = { N0: 2n * (half | 1n), aux };
  t.is(refBitLength(st.N0), 3072);
  const pr = proveFac(binding, L, st, { p: 2n, q: half | 1n });
  rejects(t, () => verifyFac(binding, L, st, pr), 'fac/modulus-size');
});

test('N0 ≤ 2^(4ℓ) is rejected even when minModulusBits would allow it', (t) => {
  const relaxed: SecurityParams = { ...L, minModulusBits: 512 };
  const a = fixturePrime(512, 0);
  const b = fixturePrime(512, 1);
  const st: FacStatement = { N0: a * b, aux };
  t.true(st.N0 < 2n ** 1024n);
  const pr = proveFac(binding, relaxed, st, { p: a, q: b });
  rejects(t, () => verifyFac(binding, relaxed, st, pr), 'fac/modulus-size');
});

test('N0 that is not a positive bigint is rejected', (t) => {
  rejects(t, () => verifyFac(binding, L, { N0: -N0, aux }, honest()), 'fac/modulus-size');
  rejects(t, () => verifyFac(binding, L, { N0: 0n, aux }, honest()), 'fac/modulus-size');
  t.throws(() => verifyFac(binding, L, { N0: Number(5) as unknown as bigint, aux }, honest()), {
    instanceOf: TypeError,
  });
});

test('verifier parameters of the wrong size are rejected: 1024-bit N̂, 4608-bit N̂, even N̂', (t) => {
  const small = ringPedersenFromPrimes(fixturePrime(512, 2), fixturePrime(512, 3), { checkPrimes: false }).params;
  rejects(
    t,
    () => verifyFac(binding, L, { N0, aux: small }, proveFac(binding, L, { N0, aux: small }, { p: p0, q: q0 })),
    'fac/aux-size',
  );

  const big = auxOn(P(2) * P(3) * P(4));
  t.is(refBitLength(big.N), 4608);
  const stBig: FacStatement = { N0, aux: big };
  const prBig = proveFac(binding, L, stBig, { p: p0, q: q0 });
  rejects(t, () => verifyFac(binding, L, stBig, prBig), 'fac/aux-size');
  // the proof itself is fine: only the size bound rejected it
  t.notThrows(() => verifyFac(binding, { ...L, maxModulusBits: 8192 }, stBig, prBig));

  rejects(t, () => verifyFac(binding, L, { N0, aux: { ...aux, N: aux.N + 1n } }, honest()), 'fac/aux-size');
});

test('verifier parameters with s or t outside Z*_N̂ are rejected', (t) => {
  for (const bad of [
    { ...aux, s: 0n },
    { ...aux, s: aux.N },
    { ...aux, s: P(2) },
    { ...aux, t: aux.N + 5n },
    { ...aux, t: 3n * P(3) },
  ]) {
    rejects(t, () => verifyFac(binding, L, { N0, aux: bad }, honest()), 'fac/aux-range');
  }
});

// ---------------------------------------------------------------------------------------------
// Sizes and ranges of the proof's own values
// ---------------------------------------------------------------------------------------------

test('every commitment element and response is bounded before use ("fac/size")', (t) => {
  const pr = honest();
  // limits by hand for 3072-bit N0 and N̂ (see the size-limits test): one bit past each is rejected
  const past = (bits: number): bigint => 1n << BigInt(bits);
  const cases: Array<[string, FacProof]> = [
    ['P', withCommitment(pr, { P: past(3072) })],
    ['Q', withCommitment(pr, { Q: past(3072) })],
    ['A', withCommitment(pr, { A: past(3072) })],
    ['B', withCommitment(pr, { B: past(3072) })],
    ['T', withCommitment(pr, { T: past(3072) })],
    ['sigma', withCommitment(pr, { sigma: -past(6400) })],
    ['z1', { ...pr, z1: past(3329) }],
    ['z2', { ...pr, z2: -past(3329) }],
    ['w1', { ...pr, w1: past(3841) }],
    ['w2', { ...pr, w2: -past(3841) }],
    ['v', { ...pr, v: past(6913) }],
    ['z1 not a bigint', { ...pr, z1: 5 as unknown as bigint }],
    ['no commitment', { ...pr, commitment: undefined as unknown as FacCommitment }],
  ];
  for (const [name, bad] of cases) {
    const err = t.throws(() => verifyFac(binding, L, statement, bad), { instanceOf: InvalidProof }, name);
    t.is(err?.reason, 'fac/size', name);
  }
  // one bit less is within the size limit (and then fails later, at the equations)
  rejects(t, () => verifyFac(binding, L, statement, withCommitment(pr, { sigma: past(6400) - 1n })), 'fac/equation-1');
  rejects(t, () => verifyFac(binding, L, statement, { ...pr, v: past(6913) - 1n }), 'fac/equation-3');
});

test('commitment elements outside Z*_N̂ are rejected ("fac/commitment-range")', (t) => {
  const pr = honest();
  const [f1, f2] = [own.secret.p, own.secret.q];
  for (const key of ['P', 'Q', 'A', 'B', 'T'] as const) {
    for (const bad of [0n, aux.N, f1, 7n * f2]) {
      const err = t.throws(
        () => verifyFac(binding, L, statement, withCommitment(pr, { [key]: bad })),
        { instanceOf: InvalidProof },
        key,
      );
      t.is(err?.reason, 'fac/commitment-range', key);
    }
  }
  // N̂ + 1 is a unit modulo N̂ but not reduced
  rejects(t, () => verifyFac(binding, L, statement, withCommitment(pr, { T: aux.N + 1n })), 'fac/commitment-range');
});

// ---------------------------------------------------------------------------------------------
// Tampering with the honest proof
// ---------------------------------------------------------------------------------------------

test('tampered responses and commitment are rejected with the failing equation', (t) => {
  const pr = honest();
  const mulT = (x: bigint): bigint => refMod(x * aux.t, aux.N); // stays in Z*_N̂
  rejects(t, () => verifyFac(binding, L, statement, { ...pr, z1: pr.z1 + 1n }), 'fac/equation-1');
  rejects(t, () => verifyFac(binding, L, statement, { ...pr, w1: pr.w1 + 1n }), 'fac/equation-1');
  rejects(t, () => verifyFac(binding, L, statement, { ...pr, z2: pr.z2 - 1n }), 'fac/equation-2');
  rejects(t, () => verifyFac(binding, L, statement, { ...pr, w2: pr.w2 - 1n }), 'fac/equation-2');
  rejects(t, () => verifyFac(binding, L, statement, { ...pr, v: pr.v + 1n }), 'fac/equation-3');
  // a changed commitment changes e, so equation 1 (the first one) fails
  rejects(
    t,
    () => verifyFac(binding, L, statement, withCommitment(pr, { P: mulT(pr.commitment.P) })),
    'fac/equation-1',
  );
  rejects(
    t,
    () => verifyFac(binding, L, statement, withCommitment(pr, { sigma: pr.commitment.sigma + 1n })),
    'fac/equation-1',
  );
});

test('with the challenge held fixed, each commitment element is caught by its own equation', (t) => {
  const pr = honest();
  const e = facChallenge(binding, L, statement, pr.commitment);
  const mulT = (x: bigint): bigint => refMod(x * aux.t, aux.N);
  t.notThrows(() => verifyFacInteractive(L, statement, pr, e));
  rejects(t, () => verifyFacInteractive(L, statement, pr, e + 1n), 'fac/equation-1');
  rejects(
    t,
    () => verifyFacInteractive(L, statement, withCommitment(pr, { P: mulT(pr.commitment.P) }), e),
    'fac/equation-1',
  );
  rejects(
    t,
    () => verifyFacInteractive(L, statement, withCommitment(pr, { A: mulT(pr.commitment.A) }), e),
    'fac/equation-1',
  );
  rejects(
    t,
    () => verifyFacInteractive(L, statement, withCommitment(pr, { B: mulT(pr.commitment.B) }), e),
    'fac/equation-2',
  );
  // Q also enters equation 3, but equation 2 comes first
  rejects(
    t,
    () => verifyFacInteractive(L, statement, withCommitment(pr, { Q: mulT(pr.commitment.Q) }), e),
    'fac/equation-2',
  );
  rejects(
    t,
    () => verifyFacInteractive(L, statement, withCommitment(pr, { T: mulT(pr.commitment.T) }), e),
    'fac/equation-3',
  );
  // σ enters only R = s^N0 t^σ
  rejects(
    t,
    () => verifyFacInteractive(L, statement, withCommitment(pr, { sigma: pr.commitment.sigma + 1n }), e),
    'fac/equation-3',
  );
});

test('the challenge binds every statement and commitment field', (t) => {
  const pr = honest();
  const c = pr.commitment;
  const e = facChallenge(binding, L, statement, c);
  t.is(facChallenge(binding, L, statement, { ...c }), e, 'deterministic');
  t.true(-q <= e && e <= q);
  for (const key of ['P', 'Q', 'A', 'B', 'T', 'sigma'] as const) {
    t.not(facChallenge(binding, L, statement, { ...c, [key]: c[key] + 1n }), e, key);
  }
  t.not(facChallenge(binding, L, { ...statement, N0: N0 + 2n }, c), e, 'N0');
  for (const key of ['N', 's', 't'] as const) {
    t.not(facChallenge(binding, L, { N0, aux: { ...aux, [key]: aux[key] + 2n } }, c), e, key);
  }
  t.not(facChallenge(binding, { ...L, epsilon: L.epsilon + 1 }, statement, c), e, 'security parameters');
  t.is(FAC_TAG, 'mpc-engine/v1/aux/fac');
});

// ---------------------------------------------------------------------------------------------
// Replay and cross-routing (docs/security.md A7)
// ---------------------------------------------------------------------------------------------

test('a proof replayed with another sid, prover, verifier or ρ is rejected', (t) => {
  const pr = honest();
  const variants: Array<[string, ProofBinding]> = [
    ['sid', { ...binding, sid: enc.encode('session-B') }],
    ['prover', { ...binding, prover: 0 }],
    ['verifier', { ...binding, verifier: 0 }],
    ['no verifier', { sid: binding.sid, prover: binding.prover, extra: enc.encode('rho-A') }],
    ['rho', { ...binding, extra: enc.encode('rho-B') }],
  ];
  for (const [name, b] of variants) {
    const err = t.throws(() => verifyFac(b, L, statement, pr), { instanceOf: InvalidProof }, name);
    t.is(err?.reason, 'fac/equation-1', name);
  }
});

test("a proof made against one verifier's parameters is rejected by another verifier", (t) => {
  const pr = honest();
  t.true(other.N > aux.N); // every element of pr is below other.N, so the equations decide
  rejects(t, () => verifyFac(binding, L, { N0, aux: other }, pr), 'fac/equation-1');
  // the same N̂ with fresh s, t (another run of ring-Pedersen set-up on the same primes)
  const fresh = ringPedersenFromPrimes(P(2), P(3), { checkPrimes: false }).params;
  rejects(t, () => verifyFac(binding, L, { N0, aux: fresh }, pr), 'fac/equation-1');
});

test("a proof for one N0 is rejected for another N0 (statement from the verifier's own state)", (t) => {
  rejects(t, () => verifyFac(binding, L, { N0: P(6) * P(7), aux }, honest()), 'fac/equation-1');
});

// ---------------------------------------------------------------------------------------------
// Range boundary
// ---------------------------------------------------------------------------------------------

/**
 * A proof with chosen z1, z2 made with the VERIFIER's trapdoor (λ with s = t^λ and φ(N̂)): every
 * commitment is a power of t, and w1, w2, v are solved for modulo φ(N̂) after the challenge. It
 * passes the three equations for any z1, z2, so only the range checks can stop it; it also shows
 * why a verifier must use its own parameters, whose trapdoor no prover knows.
 */
function forge(z1: bigint, z2: bigint): FacProof {
  const { N: Nh, t: tt } = aux;
  const { lambda, phi } = own.secret;
  const [pi, kappa, a, b, c] = [11n, 13n, 17n, 19n, 23n].map((k) => (k * 0x9e3779b97f4a7c15n) % phi) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  const commitment: FacCommitment = {
    P: refPow(tt, pi, Nh),
    Q: refPow(tt, kappa, Nh),
    A: refPow(tt, a, Nh),
    B: refPow(tt, b, Nh),
    T: refPow(tt, c, Nh),
    sigma: 12345n,
  };
  const e = facChallenge(binding, L, statement, commitment);
  // exponents of t: s^z1 t^w1 = A·P^e  ⇔  λ·z1 + w1 ≡ a + e·π (mod φ), and so on
  return {
    commitment,
    z1,
    z2,
    w1: refMod(a + e * pi - lambda * z1, phi),
    w2: refMod(b + e * kappa - lambda * z2, phi),
    v: refMod(c + e * (lambda * N0 + commitment.sigma) - kappa * z1, phi),
  };
}

test('boundary: z1, z2 exactly at ±2^(ℓ+ε)·⌊√N0⌋ are accepted, one past is rejected', (t) => {
  const B = refBound(N0);
  t.notThrows(() => verifyFac(binding, L, statement, forge(B, -B)));
  t.notThrows(() => verifyFac(binding, L, statement, forge(-B, B)));
  rejects(t, () => verifyFac(binding, L, statement, forge(B + 1n, 0n)), 'fac/range-z1');
  rejects(t, () => verifyFac(binding, L, statement, forge(-B - 1n, 0n)), 'fac/range-z1');
  rejects(t, () => verifyFac(binding, L, statement, forge(0n, B + 1n)), 'fac/range-z2');
  rejects(t, () => verifyFac(binding, L, statement, forge(0n, -B - 1n)), 'fac/range-z2');
});

test('boundary, on the range-check helper directly', (t) => {
  const B = refBound(N0);
  t.notThrows(() => checkFacRanges(B, -B, B));
  t.notThrows(() => checkFacRanges(0n, 0n, B));
  rejects(t, () => checkFacRanges(B + 1n, 0n, B), 'fac/range-z1');
  rejects(t, () => checkFacRanges(-B - 1n, 0n, B), 'fac/range-z1');
  rejects(t, () => checkFacRanges(0n, B + 1n, B), 'fac/range-z2');
  rejects(t, () => checkFacRanges(0n, -B - 1n, B), 'fac/range-z2');
});

// ---------------------------------------------------------------------------------------------
// Prover input checks
// ---------------------------------------------------------------------------------------------

test('the prover refuses a witness that does not factor N0, without showing it', (t) => {
  const err = t.throws(() => proveFac(binding, L, statement, { p: p0, q: q0 + 2n }), { instanceOf: RangeError });
  for (const secret of [p0, q0 + 2n]) {
    t.false(err?.message.includes(secret.toString(16)) ?? true);
    t.false(err?.message.includes(secret.toString()) ?? true);
  }
  t.throws(() => proveFac(binding, L, statement, { p: 1n, q: N0 }), { instanceOf: RangeError });
  t.throws(() => proveFac(binding, L, { N0, aux: { ...aux, s: 0n } }, { p: p0, q: q0 }), { instanceOf: RangeError });
});

test('each proof uses fresh randomness', (t) => {
  const a = proveFac(binding, L, statement, { p: p0, q: q0 });
  t.not(a.commitment.P, honest().commitment.P);
  t.not(a.z1, honest().z1);
  t.notThrows(() => verifyFac(binding, L, statement, a));
});
