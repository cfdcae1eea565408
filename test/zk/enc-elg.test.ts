import test from 'ava';
import { randomBytes } from 'node:crypto';
import { proveEncElg, verifyEncElg, type EncElgStatement, type EncElgProof } from '../../src/zk/enc-elg.js';
import { reason } from '../helpers/proofs.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { PaillierSecretKey } from '../../src/paillier/secret-key.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { mulG, modq, q } from '../../src/curve/secp256k1.js';
import { fixturePrime } from '../helpers/fixtures.js';

const L = SECURITY_128;
const sk = PaillierSecretKey.fromPrimes(fixturePrime(1536, 0), fixturePrime(1536, 1), { checkPrimes: false });
const aux = ringPedersenFromPrimes(fixturePrime(1536, 2), fixturePrime(1536, 3), { checkPrimes: false }).params;
const otherAux = ringPedersenFromPrimes(fixturePrime(1536, 6), fixturePrime(1536, 7), { checkPrimes: false }).params;
const rnd = () => (BigInt('0x' + randomBytes(32).toString('hex')) % (q - 1n)) + 1n;

function instance(x = BigInt('0x' + randomBytes(32).toString('hex'))) {
  const [a, b] = [rnd(), rnd()];
  const rho = sk.publicKey.randomNonce();
  const st: EncElgStatement = {
    N0: sk.N,
    C: sk.publicKey.encrypt(x, rho),
    A: mulG(a),
    B: mulG(b),
    X: mulG(modq(a * b + x)),
    aux,
  };
  return { st, w: { x, rho, b } };
}

const binding = () => ({ sid: Uint8Array.from(randomBytes(32)), prover: 0, verifier: 1 });

test('an honest Πenc-elg verifies (x of 256 bits and negative x)', (t) => {
  for (const x of [BigInt('0x' + randomBytes(32).toString('hex')), -12345n]) {
    const { st, w } = instance(x);
    const b = binding();
    t.notThrows(() => verifyEncElg(b, L, st, proveEncElg(b, L, st, w, sk)));
  }
});

test('A2: k = 2^(ℓ+ε) + 1 run through the honest prover is rejected by the range check', (t) => {
  const big = (1n << BigInt(L.ell + L.epsilon)) + 1n;
  const { st, w } = instance(big);
  const b = binding();
  t.is(
    reason(() => verifyEncElg(b, L, st, proveEncElg(b, L, st, w, sk))),
    'enc-elg/range-z1',
  );
});

test('tampered fields are rejected with the check that catches them', (t) => {
  const { st, w } = instance();
  const b = binding();
  const p = proveEncElg(b, L, st, w, sk);
  const cases: [Partial<EncElgProof>, string][] = [
    [{ z1: p.z1 + 1n }, 'enc-elg/paillier'],
    [{ z2: (p.z2 * 2n) % sk.N }, 'enc-elg/paillier'],
    [{ z3: p.z3 + 1n }, 'enc-elg/pedersen'],
    [{ w: (p.w + 1n) % q }, 'enc-elg/elgamal-1'],
    [{ D: 0n }, 'enc-elg/commitment-range'],
    [{ S: aux.N }, 'enc-elg/commitment-range'],
    [{ z2: 0n }, 'enc-elg/commitment-range'],
    [{ z3: 1n << 100000n }, 'enc-elg/size'],
  ];
  for (const [patch, want] of cases)
    t.is(
      reason(() => verifyEncElg(b, L, st, { ...p, ...patch })),
      want,
      JSON.stringify(Object.keys(patch)),
    );
  t.truthy(reason(() => verifyEncElg(b, L, st, { ...p, T: (p.T * 2n) % aux.N })));
});

test('statement checks: K = 0, K = N², gcd(K, N) ≠ 1', (t) => {
  const { st, w } = instance();
  const b = binding();
  const p = proveEncElg(b, L, st, w, sk);
  for (const C of [0n, sk.N * sk.N, fixturePrime(1536, 0)])
    t.is(
      reason(() => verifyEncElg(b, L, { ...st, C }, p)),
      'enc-elg/statement',
    );
});

test('binding: another session, prover, verifier aux or ciphertext is rejected (A7)', (t) => {
  const { st, w } = instance();
  const b = binding();
  const p = proveEncElg(b, L, st, w, sk);
  t.truthy(reason(() => verifyEncElg({ ...b, sid: Uint8Array.from(randomBytes(32)) }, L, st, p)));
  t.truthy(reason(() => verifyEncElg({ ...b, prover: 2 }, L, st, p)));
  t.truthy(reason(() => verifyEncElg(b, L, { ...st, aux: otherAux }, p)));
  t.truthy(reason(() => verifyEncElg(b, L, { ...st, C: sk.publicKey.encrypt(w.x) }, p)));
});

test('X inconsistent with the ciphertext fails the El-Gamal equation', (t) => {
  const { st, w } = instance();
  const b = binding();
  const bad = { ...st, X: st.X.add(mulG(1n)) };
  t.is(
    reason(() => verifyEncElg(b, L, bad, proveEncElg(b, L, bad, w, sk))),
    'enc-elg/elgamal-1',
  );
});

test('B inconsistent with b fails only the second El-Gamal equation', (t) => {
  const { st, w } = instance();
  const b = binding();
  const bad = { ...st, B: st.B.add(mulG(1n)) };
  t.is(
    reason(() => verifyEncElg(b, L, bad, proveEncElg(b, L, bad, w, sk))),
    'enc-elg/elgamal-2',
  );
});
