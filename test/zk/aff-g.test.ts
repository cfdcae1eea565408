import test from 'ava';
import { randomBytes } from 'node:crypto';
import { proveAffG, verifyAffG, type AffGStatement, type AffGProof, type AffGWitness } from '../../src/zk/aff-g.js';
import { reason } from '../helpers/proofs.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { PaillierSecretKey } from '../../src/paillier/secret-key.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { mulG, modq } from '../../src/curve/secp256k1.js';
import { randomSigned } from '../../src/util/random.js';
import { fixturePrime, refPow } from '../helpers/fixtures.js';

const L = SECURITY_128;
const skI = PaillierSecretKey.fromPrimes(fixturePrime(1536, 0), fixturePrime(1536, 1), { checkPrimes: false });
const skJ = PaillierSecretKey.fromPrimes(fixturePrime(1536, 4), fixturePrime(1536, 5), { checkPrimes: false });
const aux = ringPedersenFromPrimes(fixturePrime(1536, 6), fixturePrime(1536, 7), { checkPrimes: false }).params;
const otherAux = ringPedersenFromPrimes(fixturePrime(1536, 2), fixturePrime(1536, 3), { checkPrimes: false }).params;
const rand256 = () => BigInt('0x' + randomBytes(32).toString('hex'));

function instance(x = modq(rand256()), y = randomSigned(1n << BigInt(L.ellPrime))) {
  const Nj = skJ.N;
  const C = skJ.publicKey.encrypt(rand256()); // K_j: the verifier's own ciphertext
  const rho = skJ.publicKey.randomNonce();
  const rhoY = skI.publicKey.randomNonce();
  // D = C^x · Enc_Nj(y; ρ), computed here with plain bigint arithmetic
  const D = (refPow(C, x, Nj * Nj) * skJ.publicKey.encrypt(y, rho)) % (Nj * Nj);
  const st: AffGStatement = { Nj, Ni: skI.N, C, D, Y: skI.publicKey.encrypt(y, rhoY), X: mulG(modq(x)), aux };
  const w: AffGWitness = { x, y, rho, rhoY };
  return { st, w };
}

const binding = () => ({ sid: Uint8Array.from(randomBytes(32)), prover: 0, verifier: 1 });

test('the statement is an MtA step: Dec_j(D) = k·x + y', (t) => {
  const k = rand256();
  const x = modq(rand256());
  const y = -randomSigned(1n << 1000n);
  const C = skJ.publicKey.encrypt(k);
  const N2 = skJ.N * skJ.N;
  const D = (refPow(C, x, N2) * skJ.publicKey.encrypt(y)) % N2;
  t.is(skJ.decryptSigned(D), k * x + y);
});

test('an honest Πaff-g verifies', (t) => {
  const { st, w } = instance();
  const b = binding();
  t.notThrows(() => verifyAffG(b, L, st, proveAffG(b, L, st, w, skI)));
});

test('A2: an additive mask y = 2^(ℓ′+ε) + 1 is rejected by the z2 range check; a huge x by z1', (t) => {
  const b = binding();
  const big = instance(undefined, (1n << BigInt(L.ellPrime + L.epsilon)) + 1n);
  t.is(
    reason(() => verifyAffG(b, L, big.st, proveAffG(b, L, big.st, big.w, skI))),
    'aff-g/range-z2',
  );
  const bigX = (1n << BigInt(L.ell + L.epsilon)) + 1n;
  const bx = instance(bigX);
  t.is(
    reason(() => verifyAffG(b, L, bx.st, proveAffG(b, L, bx.st, bx.w, skI))),
    'aff-g/range-z1',
  );
});

test('tampered responses are rejected by the equation that uses them', (t) => {
  const { st, w } = instance();
  const b = binding();
  const p = proveAffG(b, L, st, w, skI);
  const cases: [Partial<AffGProof>, string][] = [
    [{ z1: p.z1 + 1n }, 'aff-g/paillier-j'],
    [{ w: (p.w * 2n) % skJ.N }, 'aff-g/paillier-j'],
    [{ wY: (p.wY * 2n) % skI.N }, 'aff-g/paillier-i'],
    [{ z3: p.z3 + 1n }, 'aff-g/pedersen-1'],
    [{ z4: p.z4 + 1n }, 'aff-g/pedersen-2'],
    [{ A: 0n }, 'aff-g/commitment-range'],
    [{ E: aux.N }, 'aff-g/commitment-range'],
    [{ z4: 1n << 100000n }, 'aff-g/size'],
  ];
  for (const [patch, want] of cases) {
    t.is(
      reason(() => verifyAffG(b, L, st, { ...p, ...patch })),
      want,
      Object.keys(patch).join(),
    );
    // the verifier's own-key path (CRT) rejects with the same reason
    t.is(
      reason(() => verifyAffG(b, L, st, { ...p, ...patch }, skJ)),
      want,
      `${Object.keys(patch).join()} (verifier key)`,
    );
  }
  t.notThrows(() => verifyAffG(b, L, st, p, skJ));
  // w = N_j − w changes w^N_j by the factor −1 (an element of order 2): still rejected
  t.is(
    reason(() => verifyAffG(b, L, st, { ...p, w: skJ.N - p.w }, skJ)),
    'aff-g/paillier-j',
  );
});

test('a statement built from a ciphertext other than ours is rejected (A3)', (t) => {
  const { st, w } = instance();
  const b = binding();
  const p = proveAffG(b, L, st, w, skI);
  t.truthy(reason(() => verifyAffG(b, L, { ...st, C: skJ.publicKey.encrypt(5n) }, p)));
  t.truthy(reason(() => verifyAffG(b, L, { ...st, X: mulG(7n) }, p)));
  t.truthy(reason(() => verifyAffG(b, L, { ...st, aux: otherAux }, p)));
  t.truthy(reason(() => verifyAffG({ ...b, sid: Uint8Array.from(randomBytes(32)) }, L, st, p)));
  t.truthy(reason(() => verifyAffG({ ...b, prover: 2 }, L, st, p)));
});

test('X inconsistent with x fails only the group equation', (t) => {
  const { st, w } = instance();
  const b = binding();
  const bad = { ...st, X: st.X.add(mulG(1n)) };
  t.is(
    reason(() => verifyAffG(b, L, bad, proveAffG(b, L, bad, w, skI))),
    'aff-g/group',
  );
});

test('statement checks: C, D, Y outside Z*_{N²}', (t) => {
  const { st, w } = instance();
  const b = binding();
  const p = proveAffG(b, L, st, w, skI);
  t.is(
    reason(() => verifyAffG(b, L, { ...st, D: 0n }, p)),
    'aff-g/statement',
  );
  t.is(
    reason(() => verifyAffG(b, L, { ...st, C: skJ.N * skJ.N }, p)),
    'aff-g/statement',
  );
  t.is(
    reason(() => verifyAffG(b, L, { ...st, Y: fixturePrime(1536, 0) }, p)),
    'aff-g/statement',
  );
});
