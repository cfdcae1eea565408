/**
 * Πprm (ring-Pedersen parameters, s = t^λ mod N̂): honest proofs verify; every verifier check
 * rejects with its exact reason code (docs/security.md A5 wrong lengths, A6 s outside ⟨t⟩, A7 replay).
 *
 * Main cases run on 3072-bit N̂ (1536-bit fixture safe primes). Cases where the size is irrelevant
 * and plain-bigint cross-checks of all m equations run on 1024-bit N̂ with L_SMALL (below).
 * Expected values are recomputed with plain bigint (test/helpers/fixtures.ts) and with the
 * challenge re-derived here from the transcript layout, never taken from the module's own output.
 */
import test, { type ExecutionContext } from 'ava';
import { PRM_TAG, provePrm, verifyPrm, type PrmProof, type PrmStatement } from '../../src/zk/prm.js';
import { InvalidProof, type ProofReason } from '../../src/zk/errors.js';
import { SECURITY_128, type SecurityParams } from '../../src/zk/params.js';
import { proofTranscript, type ProofBinding } from '../../src/zk/binding.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { Modulus } from '../../src/wasm/index.js';
import { randomBelow } from '../../src/util/random.js';
import { fixturePrime, refBitLength, refGcd, refMod, refPow } from '../helpers/fixtures.js';

/**
 * TEST ONLY — weakened parameters: accepts 1024-bit moduli so that cases where the modulus size
 * does not matter run on the 512-bit fixture primes. Never use outside tests.
 */
const L_SMALL: SecurityParams = Object.freeze({ ...SECURITY_128, minModulusBits: 1023 });
const L = SECURITY_128;
const m = L.m;

const B: ProofBinding = { sid: new TextEncoder().encode('prm-test-session-1'), prover: 1, verifier: 2 };

// 3072-bit N̂ from two 1536-bit fixture safe primes
const p = fixturePrime(1536, 0);
const q = fixturePrime(1536, 1);
const big = ringPedersenFromPrimes(p, q);
const bigProof = provePrm(B, L, big.params, big.secret);

// 1024-bit N̂ from two 512-bit fixture safe primes (with L_SMALL)
const ps = fixturePrime(512, 0);
const qs = fixturePrime(512, 1);
const small = ringPedersenFromPrimes(ps, qs);
const smallProof = provePrm(B, L_SMALL, small.params, small.secret);

/** A deep copy to tamper with. */
function copy(proof: PrmProof): { A: bigint[]; z: bigint[] } {
  return { A: [...proof.A], z: [...proof.z] };
}

/** e ∈ {0,1}^m re-derived from the documented transcript layout (independent of prm.ts). */
function refChallenge(
  binding: ProofBinding,
  params: SecurityParams,
  st: PrmStatement,
  A: readonly bigint[],
): boolean[] {
  return proofTranscript(PRM_TAG, binding, params)
    .int('N', st.N)
    .int('s', st.s)
    .int('t', st.t)
    .ints('A', A)
    .challenge('e')
    .bitArray(params.m);
}

/** Asserts that verifyPrm rejects with exactly this reason. */
function rejects(
  t: ExecutionContext,
  reason: ProofReason,
  st: PrmStatement,
  proof: unknown,
  params: SecurityParams = L,
  binding: ProofBinding = B,
): void {
  const err = t.throws(() => verifyPrm(binding, params, st, proof as PrmProof), { instanceOf: InvalidProof });
  t.is(err?.reason, reason);
  t.is(err?.proof, 'Πprm');
}

// ---------------------------------------------------------------------------------------------
// Honest proofs
// ---------------------------------------------------------------------------------------------

test('ring-Pedersen parameters are never made from p = q (N̂ = p² is not the two-prime modulus the proofs assume)', (t) => {
  t.throws(() => ringPedersenFromPrimes(ps, ps), { instanceOf: RangeError, message: /p and q must differ/ });
  t.throws(() => ringPedersenFromPrimes(ps, ps, { checkPrimes: false }), {
    instanceOf: RangeError,
    message: /p and q must differ/,
  });
});

test('honest proof verifies (3072-bit N̂)', (t) => {
  t.is(refBitLength(big.params.N), 3072);
  t.is(bigProof.A.length, m);
  t.is(bigProof.z.length, m);
  t.notThrows(() => verifyPrm(B, L, big.params, bigProof));
});

test('honest proof satisfies t^z_i = A_i·s^e_i in plain bigint (3072-bit N̂, sampled indices)', (t) => {
  const { N, s, t: tt } = big.params;
  const e = refChallenge(B, L, big.params, bigProof.A);
  // a 128-bit challenge with both values present (fails with probability 2^−127)
  t.true(e.includes(true) && e.includes(false));
  const one = e.indexOf(true);
  const zero = e.indexOf(false);
  for (const i of [zero, one, 5, 77, m - 1]) {
    const A = bigProof.A[i] as bigint;
    const z = bigProof.z[i] as bigint;
    t.true(z >= 0n && z < big.secret.phi, `z_${i} in [0, φ)`);
    t.is(refGcd(A, N), 1n);
    t.is(refPow(tt, z, N), refMod(A * (e[i] ? s : 1n), N), `equation ${i}`);
  }
});

test('honest proof satisfies every equation in plain bigint (1024-bit N̂, TEST-ONLY L_SMALL)', (t) => {
  t.notThrows(() => verifyPrm(B, L_SMALL, small.params, smallProof));
  const { N, s, t: tt } = small.params;
  const e = refChallenge(B, L_SMALL, small.params, smallProof.A);
  for (let i = 0; i < m; i++) {
    const A = smallProof.A[i] as bigint;
    t.is(refPow(tt, smallProof.z[i] as bigint, N), refMod(A * (e[i] ? s : 1n), N), `equation ${i}`);
  }
});

test('fresh randomness: two proofs of the same statement differ and both verify', (t) => {
  const other = provePrm(B, L_SMALL, small.params, small.secret);
  t.notDeepEqual(other.A, smallProof.A);
  t.notThrows(() => verifyPrm(B, L_SMALL, small.params, other));
});

// ---------------------------------------------------------------------------------------------
// Lengths (docs/security.md A5)
// ---------------------------------------------------------------------------------------------

for (const len of [0, 1, 127, 129]) {
  test(`A with ${len} entries is rejected (prm/length)`, (t) => {
    const A = Array.from({ length: len }, (_, i) => bigProof.A[i % m] as bigint);
    rejects(t, 'prm/length', big.params, { A, z: bigProof.z });
  });
  test(`z with ${len} entries is rejected (prm/length)`, (t) => {
    const z = Array.from({ length: len }, (_, i) => bigProof.z[i % m] as bigint);
    rejects(t, 'prm/length', big.params, { A: bigProof.A, z });
  });
}

test('both arrays truncated consistently to 127 entries are rejected (prm/length)', (t) => {
  rejects(t, 'prm/length', big.params, { A: bigProof.A.slice(0, 127), z: bigProof.z.slice(0, 127) });
});

test('empty arrays cannot verify vacuously (prm/length)', (t) => {
  rejects(t, 'prm/length', big.params, { A: [], z: [] });
});

test('missing or non-array fields are rejected (prm/length)', (t) => {
  rejects(t, 'prm/length', big.params, { A: bigProof.A });
  rejects(t, 'prm/length', big.params, { A: 'x', z: bigProof.z });
  rejects(t, 'prm/length', big.params, null);
});

test('m comes from the local parameters and must be at least 128', (t) => {
  const weak: SecurityParams = { ...L, m: 1 };
  t.throws(() => verifyPrm(B, weak, big.params, { A: [bigProof.A[0] as bigint], z: [bigProof.z[0] as bigint] }), {
    instanceOf: RangeError,
  });
  t.throws(() => provePrm(B, weak, big.params, big.secret), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------
// Modulus
// ---------------------------------------------------------------------------------------------

test('even N̂ is rejected (prm/modulus-even)', (t) => {
  rejects(t, 'prm/modulus-even', { ...big.params, N: big.params.N + 1n }, bigProof);
  rejects(t, 'prm/modulus-even', { ...big.params, N: 2n * big.params.N }, bigProof);
});

test('non-positive N̂ is rejected (prm/modulus-even)', (t) => {
  rejects(t, 'prm/modulus-even', { ...big.params, N: -big.params.N }, bigProof);
  rejects(t, 'prm/modulus-even', { ...big.params, N: 0n }, bigProof);
});

test('1024-bit N̂ with a valid proof is rejected under SECURITY_128 (prm/modulus-size)', (t) => {
  rejects(t, 'prm/modulus-size', small.params, smallProof, L);
});

test('2047-bit N̂ is rejected under SECURITY_128 (prm/modulus-size)', (t) => {
  const N = fixturePrime(512, 2) * fixturePrime(1536, 2);
  t.true(refBitLength(N) <= 2048);
  rejects(t, 'prm/modulus-size', { N, s: 4n, t: 9n }, bigProof);
});

test('N̂ above the upper bound (4608 bits) is rejected before any arithmetic (prm/modulus-size)', (t) => {
  const N = p * q * fixturePrime(1536, 2);
  t.true(refBitLength(N) > L.maxModulusBits);
  rejects(t, 'prm/modulus-size', { N, s: big.params.s, t: big.params.t }, bigProof);
});

// ---------------------------------------------------------------------------------------------
// s and t (docs/security.md A6)
// ---------------------------------------------------------------------------------------------

test('s outside Z*_N̂ is rejected (prm/s-range)', (t) => {
  const { N } = big.params;
  for (const s of [0n, N, N + big.params.s, -big.params.s, p, 3n * q])
    rejects(t, 'prm/s-range', { ...big.params, s }, bigProof);
});

test('s = 1 with an otherwise valid proof (λ = 0) is rejected (prm/s-range)', (t) => {
  const st = { ...small.params, s: 1n };
  const proof = provePrm(B, L_SMALL, st, { lambda: 0n, phi: small.secret.phi });
  rejects(t, 'prm/s-range', st, proof, L_SMALL);
});

test('t outside Z*_N̂ is rejected (prm/t-range)', (t) => {
  const { N } = big.params;
  for (const tt of [0n, N, N + big.params.t, -big.params.t, p, 5n * q])
    rejects(t, 'prm/t-range', { ...big.params, t: tt }, bigProof);
});

test('t = 1 and t = N̂ − 1 (order ≤ 2) are rejected (prm/t-range)', (t) => {
  const { N } = big.params;
  rejects(t, 'prm/t-range', { ...big.params, t: 1n }, bigProof);
  rejects(t, 'prm/t-range', { ...big.params, t: N - 1n }, bigProof);
});

test('t = N̂ − 1 with s = t^3 and an otherwise valid proof is rejected (prm/t-range)', (t) => {
  // t = −1 has order 2; with λ = 3, s = −1 and the proof verifies algebraically
  const N = small.params.N;
  const st = { N, s: N - 1n, t: N - 1n };
  const proof = provePrm(B, L_SMALL, st, { lambda: 3n, phi: small.secret.phi });
  rejects(t, 'prm/t-range', st, proof, L_SMALL);
});

test('s = t with an otherwise valid proof (λ = 1) is rejected (prm/s-equals-t)', (t) => {
  const st = { ...small.params, s: small.params.t };
  const proof = provePrm(B, L_SMALL, st, { lambda: 1n, phi: small.secret.phi });
  rejects(t, 'prm/s-equals-t', st, proof, L_SMALL);
});

test('s = −t^λ (outside ⟨t⟩) with a proof computed as if valid is rejected (prm/equation)', (t) => {
  // The prover follows the protocol with the true λ of t^λ but publishes s′ = −t^λ: every
  // repetition with e_i = 1 fails, and guessing all of e in advance succeeds with probability 2^−m.
  const { N, t: tt } = big.params;
  const s = N - big.params.s;
  const st = { N, s, t: tt };
  const modN = new Modulus(N);
  const a = Array.from({ length: m }, () => randomBelow(big.secret.phi));
  const A = a.map((ai) => modN.powPublic(tt, ai));
  modN.dispose();
  const e = refChallenge(B, L, st, A);
  const z = a.map((ai, i) => (e[i] ? (ai + big.secret.lambda) % big.secret.phi : ai));
  const i = e.indexOf(true);
  // independent check: the repetition with e_i = 1 indeed fails (t^z_i = −A_i·s′ ≠ A_i·s′)
  t.not(refPow(tt, z[i] as bigint, N), refMod((A[i] as bigint) * s, N));
  rejects(t, 'prm/equation', st, { A, z });
});

// ---------------------------------------------------------------------------------------------
// A_i and z_i
// ---------------------------------------------------------------------------------------------

test('A_i outside Z*_N̂ is rejected (prm/A-range)', (t) => {
  const { N } = big.params;
  for (const bad of [0n, N, N + 1n, -1n, p, q * 7n]) {
    for (const i of [0, 64, m - 1]) {
      const proof = copy(bigProof);
      proof.A[i] = bad;
      rejects(t, 'prm/A-range', big.params, proof);
    }
  }
});

test('A_i of the wrong type is rejected (prm/A-range)', (t) => {
  const proof = copy(bigProof) as { A: unknown[]; z: bigint[] };
  proof.A[3] = 5;
  rejects(t, 'prm/A-range', big.params, proof);
  proof.A[3] = '5';
  rejects(t, 'prm/A-range', big.params, proof);
});

test('z_i outside [0, N̂) is rejected (prm/z-range)', (t) => {
  const { N } = big.params;
  for (const bad of [N, N + 1n, -1n, 1n << 4096n]) {
    const proof = copy(bigProof);
    proof.z[10] = bad;
    rejects(t, 'prm/z-range', big.params, proof);
  }
  const proof = copy(bigProof) as { A: bigint[]; z: unknown[] };
  proof.z[10] = 10;
  rejects(t, 'prm/z-range', big.params, proof);
});

test('z_i + φ(N̂) (same equation, out of range) is rejected (prm/z-range)', (t) => {
  // t^(z + φ) = t^z, so only the range check stops this unbounded exponent
  const proof = copy(bigProof);
  const i = proof.z.findIndex((z) => z + big.secret.phi >= big.params.N);
  t.true(i >= 0);
  proof.z[i] = (proof.z[i] as bigint) + big.secret.phi;
  t.is(refPow(big.params.t, proof.z[i], big.params.N), refPow(big.params.t, bigProof.z[i] as bigint, big.params.N));
  rejects(t, 'prm/z-range', big.params, proof);
});

test('a tampered A_i (still a unit) is rejected (prm/equation)', (t) => {
  for (const i of [0, 50, m - 1]) {
    const proof = copy(bigProof);
    proof.A[i] = refMod((proof.A[i] as bigint) * big.params.t, big.params.N);
    rejects(t, 'prm/equation', big.params, proof);
  }
});

test('a tampered z_i is rejected (prm/equation)', (t) => {
  for (const i of [0, 64, m - 1]) {
    const proof = copy(bigProof);
    proof.z[i] = (proof.z[i] as bigint) + 1n;
    rejects(t, 'prm/equation', big.params, proof);
  }
});

test('swapping two repetitions is rejected (prm/equation)', (t) => {
  const proof = copy(bigProof);
  [proof.A[0], proof.A[1]] = [proof.A[1] as bigint, proof.A[0] as bigint];
  [proof.z[0], proof.z[1]] = [proof.z[1] as bigint, proof.z[0] as bigint];
  rejects(t, 'prm/equation', big.params, proof);
});

test('a proof for another s′ = t^λ′ is rejected for s (prm/equation)', (t) => {
  const { N, t: tt } = big.params;
  const modN = new Modulus(N);
  const s2 = modN.powPublic(tt, 12345n);
  modN.dispose();
  rejects(t, 'prm/equation', { N, s: s2, t: tt }, bigProof);
});

// ---------------------------------------------------------------------------------------------
// Binding (docs/security.md A7): replay under another sid, prover or verifier
// ---------------------------------------------------------------------------------------------

test('replay under another session id is rejected (prm/equation)', (t) => {
  rejects(t, 'prm/equation', big.params, bigProof, L, { ...B, sid: new TextEncoder().encode('prm-test-session-2') });
});

test('replay under another prover index is rejected (prm/equation)', (t) => {
  rejects(t, 'prm/equation', big.params, bigProof, L, { ...B, prover: 0 });
});

test('replay to another verifier is rejected (prm/equation)', (t) => {
  rejects(t, 'prm/equation', big.params, bigProof, L, { ...B, verifier: 0 });
  rejects(t, 'prm/equation', big.params, bigProof, L, { sid: B.sid, prover: B.prover });
});

test('replay with other joint randomness (extra) is rejected (prm/equation)', (t) => {
  rejects(t, 'prm/equation', big.params, bigProof, L, { ...B, extra: Uint8Array.of(1) });
});

// ---------------------------------------------------------------------------------------------
// Prover input validation; secrets never in messages
// ---------------------------------------------------------------------------------------------

test('the prover refuses a witness that does not match, without revealing it', (t) => {
  const secrets = [small.secret.p, small.secret.q, small.secret.phi, small.secret.lambda].flatMap((x) => [
    x.toString(10),
    x.toString(16),
  ]);
  const cases = [
    { lambda: small.secret.lambda + 1n, phi: small.secret.phi },
    { lambda: small.secret.lambda, phi: small.secret.phi + 2n },
    { lambda: -1n, phi: small.secret.phi },
    { lambda: small.secret.phi, phi: small.secret.phi },
  ];
  for (const w of cases) {
    const err = t.throws(() => provePrm(B, L_SMALL, small.params, w), { instanceOf: RangeError });
    for (const s of secrets) t.false(err?.message.includes(s) ?? true);
  }
});

test('InvalidProof messages carry only the proof name and reason code', (t) => {
  const proof = copy(bigProof);
  proof.z[0] = (proof.z[0] as bigint) + 1n;
  const err = t.throws(() => verifyPrm(B, L, big.params, proof), { instanceOf: InvalidProof });
  t.is(err?.message, 'Πprm rejected: prm/equation');
});
