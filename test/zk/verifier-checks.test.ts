/**
 * Verifier checks that the other proof tests did not pin down: each case below fails when the one
 * check it names is removed from the verifier (found by disabling every check in src/zk one at a
 * time and running the suite). Each asserts the exact reason code, so a different check catching
 * the value by accident (or the arithmetic throwing further down) does not count as a pass.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SECURITY_128, type SecurityParams } from '../../src/zk/params.js';
import { PaillierSecretKey } from '../../src/paillier/secret-key.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { modq, mulG, q } from '../../src/curve/secp256k1.js';
import { proveEncElg, verifyEncElg, type EncElgProof, type EncElgStatement } from '../../src/zk/enc-elg.js';
import { proveAffG, verifyAffG, type AffGProof, type AffGStatement } from '../../src/zk/aff-g.js';
import { challengeSch, verifySch } from '../../src/zk/sch.js';
import { Transcript } from '../../src/zk/transcript.js';
import { randomSigned } from '../../src/util/random.js';
import { reason } from '../helpers/proofs.js';
import { fixturePrime, refGcd, refPow } from '../helpers/fixtures.js';

const L = SECURITY_128;
/** TEST ONLY: accepts 1024-bit moduli, to make honest proofs about undersized moduli. */
const L_SMALL: SecurityParams = Object.freeze({ ...SECURITY_128, minModulusBits: 1023 });
const rnd = () => (BigInt('0x' + randomBytes(32).toString('hex')) % (q - 1n)) + 1n;
const binding = () => ({ sid: Uint8Array.from(randomBytes(32)), prover: 0, verifier: 1 });
const small = (i: number, j: number) =>
  PaillierSecretKey.fromPrimes(fixturePrime(512, i), fixturePrime(512, j), { checkPrimes: false, minBits: 1023 });
const big = (i: number, j: number) =>
  PaillierSecretKey.fromPrimes(fixturePrime(1536, i), fixturePrime(1536, j), { checkPrimes: false });

const sk0 = big(0, 1);
const sk1 = big(4, 5);
const skSmall = small(0, 1);
const aux = ringPedersenFromPrimes(fixturePrime(1536, 2), fixturePrime(1536, 3), { checkPrimes: false }).params;
/** an odd 4608-bit composite: above maxModulusBits */
const HUGE = fixturePrime(1536, 8) * fixturePrime(1536, 9) * fixturePrime(1536, 10);

// --- challenges -------------------------------------------------------------------------------

test('challenges: below(n) samples by rejection (a draw ≥ n is discarded, never reduced mod n: no bias)', (t) => {
  const n = (1n << 255n) + 1n; // 256-bit draws: about half of them are ≥ n
  for (let k = 0; k < 64; k++) {
    const tr = new Transcript('mpc-engine/test/rejection').uint('k', k);
    if (tr.challenge('c').bits(256) < n) continue;
    // the stream for the same label restarts: skip draws ≥ n by hand
    const s = tr.challenge('c');
    let x: bigint;
    do x = s.bits(256);
    while (x >= n);
    t.is(tr.challenge('c').below(n), x);
    return;
  }
  t.fail('no transcript with a rejected first draw in 64 tries');
});

// --- Πsch -------------------------------------------------------------------------------------

test('Πsch: a response outside [0, q), even one ≡ the valid z (mod q), is rejected (sch/z-range)', (t) => {
  const x = rnd();
  const tau = rnd();
  const X = mulG(x);
  const A = mulG(tau);
  const e = challengeSch(Uint8Array.from(randomBytes(32)), 1, Uint8Array.from(randomBytes(32)), X, A);
  const z = modq(tau + e * x);
  t.is(
    reason(() => verifySch(X, A, e, z)),
    undefined,
  );
  for (const bad of [z + q, z - q, -1n, q])
    t.is(
      reason(() => verifySch(X, A, e, bad)),
      'sch/z-range',
      String(bad),
    );
});

// --- Πenc-elg ----------------------------------------------------------------------------------

function encElg(sk: PaillierSecretKey, params: SecurityParams = L, x = rnd()) {
  const [a, b] = [rnd(), rnd()];
  const rho = sk.publicKey.randomNonce();
  const st: EncElgStatement = {
    N0: sk.N,
    C: sk.encrypt(x, rho),
    A: mulG(a),
    B: mulG(b),
    X: mulG(modq(a * b + x)),
    aux,
  };
  const bd = binding();
  const p = proveEncElg(bd, params, st, { x, rho, b }, sk);
  return { st, p, bd };
}

const E = encElg(sk0);
const encReason = (st: Partial<EncElgStatement>, p: Partial<EncElgProof> = {}) =>
  reason(() => verifyEncElg(E.bd, L, { ...E.st, ...st }, { ...E.p, ...p }));

test('Πenc-elg control: the instance used below verifies', (t) => {
  t.is(encReason({}), undefined);
});

test('Πenc-elg: an honest proof about a 1024-bit N0 is rejected (enc-elg/statement, minimum size)', (t) => {
  const s = encElg(skSmall, L_SMALL);
  t.is(
    reason(() => verifyEncElg(s.bd, L_SMALL, s.st, s.p)),
    undefined,
    'valid under the weakened parameters',
  );
  t.is(
    reason(() => verifyEncElg(s.bd, L, s.st, s.p)),
    'enc-elg/statement',
  );
});

test('Πenc-elg: N0 above maxModulusBits or even is rejected (enc-elg/statement)', (t) => {
  t.is(encReason({ N0: HUGE }), 'enc-elg/statement');
  // an even N0 to which C is coprime (so only the parity check can refuse it)
  let s = E;
  while (refGcd(s.st.C, s.st.N0 + 1n) !== 1n) s = encElg(sk0);
  t.is(
    reason(() => verifyEncElg(s.bd, L, { ...s.st, N0: s.st.N0 + 1n }, s.p)),
    'enc-elg/statement',
  );
});

test('Πenc-elg: C ≤ 0 or C ≥ N0² (coprime to N0) is rejected (enc-elg/statement)', (t) => {
  const N2 = E.st.N0 * E.st.N0;
  for (const C of [-1n, -E.st.C, N2 + 1n, N2 + E.st.C])
    t.is(encReason({ C }), 'enc-elg/statement', String(C).slice(0, 12));
});

test('Πenc-elg: z1 just outside ±2^(ℓ+ε) on either side is rejected (enc-elg/range-z1)', (t) => {
  const bound = 1n << BigInt(L.ell + L.epsilon);
  t.is(encReason({}, { z1: -bound - 1n }), 'enc-elg/range-z1');
  t.is(encReason({}, { z1: bound + 1n }), 'enc-elg/range-z1');
});

test('Πenc-elg: w outside [0, q) is rejected (enc-elg/size)', (t) => {
  for (const w of [q, E.p.w + q, -1n]) t.is(encReason({}, { w }), 'enc-elg/size', String(w));
});

test('Πenc-elg: T outside Z*_N̂ is rejected (enc-elg/commitment-range)', (t) => {
  for (const T of [0n, aux.N, -1n, fixturePrime(1536, 2)]) t.is(encReason({}, { T }), 'enc-elg/commitment-range');
});

test('Πenc-elg: D sharing a factor with N0, D ≤ 0 or D ≥ N0² is rejected (enc-elg/commitment-range)', (t) => {
  const N2 = E.st.N0 * E.st.N0;
  for (const D of [fixturePrime(1536, 0), E.p.D * fixturePrime(1536, 1), -1n, N2 + 1n])
    t.is(encReason({}, { D }), 'enc-elg/commitment-range');
});

test('Πenc-elg: z2 = N0 or a multiple of a factor of N0 is rejected (enc-elg/commitment-range)', (t) => {
  for (const z2 of [E.st.N0, fixturePrime(1536, 1), -1n]) t.is(encReason({}, { z2 }), 'enc-elg/commitment-range');
});

// --- Πaff-g ------------------------------------------------------------------------------------

/** An honest Πaff-g from i (key skI) to j (key skJ, whose ciphertext C is), against j's aux. */
function affG(skI: PaillierSecretKey, skJ: PaillierSecretKey, params: SecurityParams = L) {
  const x = rnd();
  const y = randomSigned(1n << BigInt(params.ellPrime));
  const Nj = skJ.N;
  const C = skJ.encrypt(rnd());
  const rho = skJ.publicKey.randomNonce();
  const rhoY = skI.publicKey.randomNonce();
  const D = (refPow(C, x, Nj * Nj) * skJ.publicKey.encrypt(y, rho)) % (Nj * Nj);
  const st: AffGStatement = { Nj, Ni: skI.N, C, D, Y: skI.encrypt(y, rhoY), X: mulG(x), aux };
  const bd = binding();
  return { st, bd, p: proveAffG(bd, params, st, { x, y, rho, rhoY }, skI) };
}

const G0 = affG(sk0, sk1);
const affReason = (st: Partial<AffGStatement>, p: Partial<AffGProof> = {}) =>
  reason(() => verifyAffG(G0.bd, L, { ...G0.st, ...st }, { ...G0.p, ...p }));

test('Πaff-g control: the instance used below verifies', (t) => {
  t.is(affReason({}), undefined);
});

test('Πaff-g: honest proofs with a 1024-bit N_j or a 1024-bit N_i are rejected (aff-g/statement, minimum size)', (t) => {
  for (const [name, s] of [
    ['N_j', affG(sk0, skSmall, L_SMALL)],
    ['N_i', affG(skSmall, sk1, L_SMALL)],
  ] as const) {
    t.is(
      reason(() => verifyAffG(s.bd, L_SMALL, s.st, s.p)),
      undefined,
      `${name}: valid under the weakened parameters`,
    );
    t.is(
      reason(() => verifyAffG(s.bd, L, s.st, s.p)),
      'aff-g/statement',
      name,
    );
  }
});

test('Πaff-g: N_j or N_i above maxModulusBits is rejected (aff-g/statement)', (t) => {
  t.is(affReason({ Nj: HUGE }), 'aff-g/statement');
  t.is(affReason({ Ni: HUGE }), 'aff-g/statement');
});

test('Πaff-g: an even N_i or N_j to which every ciphertext is coprime is rejected (aff-g/statement)', (t) => {
  const coprime = (N: bigint, xs: bigint[]) => xs.every((v) => refGcd(v, N) === 1n);
  let s = G0;
  while (!coprime(s.st.Ni + 1n, [s.st.Y, s.p.By, s.p.wY])) s = affG(sk0, sk1);
  t.is(
    reason(() => verifyAffG(s.bd, L, { ...s.st, Ni: s.st.Ni + 1n }, s.p)),
    'aff-g/statement',
    'N_i even',
  );
  s = G0;
  while (!coprime(s.st.Nj + 1n, [s.st.C, s.st.D, s.p.A, s.p.w])) s = affG(sk0, sk1);
  t.is(
    reason(() => verifyAffG(s.bd, L, { ...s.st, Nj: s.st.Nj + 1n }, s.p)),
    'aff-g/statement',
    'N_j even',
  );
});

test('Πaff-g: C, D or Y ≤ 0, or ≥ N² while coprime to N, are rejected (aff-g/statement)', (t) => {
  const Nj2 = G0.st.Nj * G0.st.Nj;
  const Ni2 = G0.st.Ni * G0.st.Ni;
  for (const C of [-1n, -G0.st.C, Nj2 + 1n]) t.is(affReason({ C }), 'aff-g/statement', `C ${C < 0n ? '< 0' : '> N²'}`);
  for (const D of [-1n, Nj2 + 1n]) t.is(affReason({ D }), 'aff-g/statement', 'D');
  for (const Y of [-1n, Ni2 + 1n]) t.is(affReason({ Y }), 'aff-g/statement', 'Y');
});

test('Πaff-g: an oversized z3 is rejected before any arithmetic (aff-g/size)', (t) => {
  t.is(affReason({}, { z3: 1n << 100000n }), 'aff-g/size');
  t.is(affReason({}, { z3: -(1n << 100000n) }), 'aff-g/size');
});

test('Πaff-g: z1 below −2^(ℓ+ε) and z2 below −2^(ℓ′+ε) are rejected (range checks, lower side)', (t) => {
  t.is(affReason({}, { z1: -(1n << BigInt(L.ell + L.epsilon)) - 1n }), 'aff-g/range-z1');
  t.is(affReason({}, { z2: -(1n << BigInt(L.ellPrime + L.epsilon)) - 1n }), 'aff-g/range-z2');
});

test('Πaff-g: z1 above 2^(ℓ+ε) and z2 above 2^(ℓ′+ε) are rejected (range checks, upper side)', (t) => {
  // the honest-prover tests in aff-g.test.ts land on either side with the sign of e; these do not
  t.is(affReason({}, { z1: (1n << BigInt(L.ell + L.epsilon)) + 1n }), 'aff-g/range-z1');
  t.is(affReason({}, { z2: (1n << BigInt(L.ellPrime + L.epsilon)) + 1n }), 'aff-g/range-z2');
});

test('Πaff-g: B_y, w or w_y outside their groups are rejected (aff-g/commitment-range)', (t) => {
  const Ni2 = G0.st.Ni * G0.st.Ni;
  for (const By of [0n, -1n, Ni2 + 1n, fixturePrime(1536, 0)])
    t.is(affReason({}, { By }), 'aff-g/commitment-range', 'By');
  for (const w of [0n, G0.st.Nj, fixturePrime(1536, 4), -1n]) t.is(affReason({}, { w }), 'aff-g/commitment-range', 'w');
  for (const wY of [0n, G0.st.Ni, fixturePrime(1536, 1), -1n])
    t.is(affReason({}, { wY }), 'aff-g/commitment-range', 'wY');
});

test('Πaff-g: each of E, S, F, T outside Z*_N̂ is rejected (aff-g/commitment-range)', (t) => {
  for (const k of ['E', 'S', 'F', 'T'] as const) t.is(affReason({}, { [k]: 0n }), 'aff-g/commitment-range', k);
});
