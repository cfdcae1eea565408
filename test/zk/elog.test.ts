import test from 'ava';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { proveElog, verifyElog, type ElogStatement, type ElogProof } from '../../src/zk/elog.js';
import { reason } from '../helpers/proofs.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { mulG, q } from '../../src/curve/secp256k1.js';

const L = SECURITY_128;
const rnd = () => (BigInt('0x' + randomBytes(32).toString('hex')) % (q - 1n)) + 1n;

function instance() {
  const [y, lambda, xk, h] = [rnd(), rnd(), rnd(), rnd()];
  const X = mulG(xk);
  const H = mulG(h);
  // statement built independently with noble's own point arithmetic
  const G = secp256k1.Point.BASE;
  const st: ElogStatement = {
    L: G.multiply(lambda),
    M: G.multiply(y).add(X.multiply(lambda)),
    X,
    Y: H.multiply(y),
    H,
  };
  return { st, w: { y, lambda } };
}

const b = () => ({ sid: Uint8Array.from(randomBytes(32)), prover: 1 });

test('an honest Πelog verifies', (t) => {
  const { st, w } = instance();
  const binding = b();
  t.notThrows(() => verifyElog(binding, L, st, proveElog(binding, L, st, w)));
});

test('each tampered field is rejected with the equation that catches it', (t) => {
  const { st, w } = instance();
  const binding = b();
  const p = proveElog(binding, L, st, w);
  const G = mulG(1n);
  const cases: [Partial<ElogProof>, RegExp][] = [
    [{ z: (p.z + 1n) % q }, /elog\/equation-1/],
    [{ u: (p.u + 1n) % q }, /elog\/equation-2/],
    [{ A: p.A.add(G) }, /elog\/equation/],
    [{ N: p.N.add(G) }, /elog\/equation/],
    [{ B: p.B.add(G) }, /elog\/equation/],
    [{ z: q }, /elog\/scalar-range/],
    [{ u: -1n }, /elog\/scalar-range/],
  ];
  for (const [patch, re] of cases)
    t.regex(reason(() => verifyElog(binding, L, st, { ...p, ...patch })) ?? 'accepted', re);
});

test('responses outside [0, q), even ones ≡ the valid z or u (mod q), are rejected (elog/scalar-range)', (t) => {
  const { st, w } = instance();
  const binding = b();
  const p = proveElog(binding, L, st, w);
  // the equations reduce scalars mod q, so only the range check refuses these second encodings
  for (const z of [p.z - q, p.z + q])
    t.is(
      reason(() => verifyElog(binding, L, st, { ...p, z })),
      'elog/scalar-range',
      `z ${z < 0n ? '− q' : '+ q'}`,
    );
  for (const u of [p.u - q, p.u + q])
    t.is(
      reason(() => verifyElog(binding, L, st, { ...p, u })),
      'elog/scalar-range',
      `u ${u < 0n ? '− q' : '+ q'}`,
    );
});

test('a proof for another statement, session or prover is rejected (binding, A7/A8)', (t) => {
  const { st, w } = instance();
  const binding = b();
  const p = proveElog(binding, L, st, w);
  const other = instance().st;
  t.truthy(reason(() => verifyElog(binding, L, { ...st, Y: other.Y }, p)));
  t.truthy(reason(() => verifyElog(binding, L, { ...st, H: other.H }, p)));
  t.truthy(reason(() => verifyElog({ ...binding, sid: Uint8Array.from(randomBytes(32)) }, L, st, p)));
  t.truthy(reason(() => verifyElog({ ...binding, prover: 2 }, L, st, p)));
});

test('a prover without the witness fails (wrong y)', (t) => {
  const { st, w } = instance();
  const binding = b();
  t.truthy(reason(() => verifyElog(binding, L, st, proveElog(binding, L, st, { ...w, y: (w.y + 1n) % q }))));
});

test('each equation alone catches its own inconsistency', (t) => {
  const { st, w } = instance();
  const binding = b();
  const other = instance();
  // Y not y·H: only equation 3 involves Y
  const badY = { ...st, Y: other.st.Y };
  t.is(
    reason(() => verifyElog(binding, L, badY, proveElog(binding, L, badY, w))),
    'elog/equation-3',
  );
  // M not y·G + λ·X: only equation 2 involves M
  const badM = { ...st, M: other.st.M };
  t.is(
    reason(() => verifyElog(binding, L, badM, proveElog(binding, L, badM, w))),
    'elog/equation-2',
  );
  // L not λ·G: only equation 1 involves L
  const badL = { ...st, L: other.st.L };
  t.is(
    reason(() => verifyElog(binding, L, badL, proveElog(binding, L, badL, w))),
    'elog/equation-1',
  );
});
