/**
 * docs/security.md A8 ("Frozen Heart": incomplete Fiat–Shamir input) and A7 (binding): for each proof,
 * the forgery a prover could make if one group of fields were left out of the challenge hash. The
 * forger picks whatever is not hashed AFTER seeing the challenge, computed here from the documented
 * transcript layout without that group, and so makes a proof that satisfies every verification
 * equation for that challenge although its statement is false (an out-of-range plaintext, an
 * El-Gamal commitment to another value, s outside ⟨t⟩, ...). The real verifier hashes the group,
 * derives another challenge and must reject. Each test fails if its group is dropped from the hash.
 *
 * The forgeries only need public values and the forger's own secrets (its Paillier key for the
 * encryptions under its own N; nothing of the verifier's).
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SECURITY_128 } from '../../src/zk/params.js';
import { proofTranscript, type ProofBinding } from '../../src/zk/binding.js';
import { ELOG_TAG, proveElog, verifyElog, type ElogStatement } from '../../src/zk/elog.js';
import { ENC_ELG_TAG, verifyEncElg, type EncElgProof, type EncElgStatement } from '../../src/zk/enc-elg.js';
import { AFF_G_TAG, verifyAffG, type AffGProof, type AffGStatement } from '../../src/zk/aff-g.js';
import { PRM_TAG, provePrm, verifyPrm } from '../../src/zk/prm.js';
import { proveMod, verifyMod } from '../../src/zk/mod.js';
import { PaillierSecretKey } from '../../src/paillier/secret-key.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { Modulus } from '../../src/wasm/index.js';
import { type Point, G, modq, mulG, pointToBytes, q, randomScalar } from '../../src/curve/secp256k1.js';
import { randomBelow, randomSigned } from '../../src/util/random.js';
import { reason } from '../helpers/proofs.js';
import { fixturePrime, refInverse } from '../helpers/fixtures.js';

const L = SECURITY_128;
const bd = (): ProofBinding => ({
  sid: Uint8Array.from(randomBytes(32)),
  prover: 0,
  verifier: 1,
  extra: Uint8Array.of(1),
});
const pt = (P: Point) => pointToBytes(P);
const invQ = (x: bigint) => refInverse(modq(x), q) as bigint;
/** x·P for a scalar that may be negative or ≥ q */
const times = (P: Point, x: bigint) => (modq(x) === 0n ? P.subtract(P) : P.multiply(modq(x)));

const skI = PaillierSecretKey.fromPrimes(fixturePrime(1536, 0), fixturePrime(1536, 1), { checkPrimes: false });
const skJ = PaillierSecretKey.fromPrimes(fixturePrime(1536, 4), fixturePrime(1536, 5), { checkPrimes: false });
const rp = ringPedersenFromPrimes(fixturePrime(1536, 6), fixturePrime(1536, 7), { checkPrimes: false });
const aux = rp.params;
const modHat = new Modulus(aux.N);
const unit = (N: bigint) => {
  for (;;) {
    const r = randomBelow(N);
    if (r > 1n && refInverse(r, N) !== undefined) return r;
  }
};
/** (1 + m·N)·r^N mod N²: Paillier encryption with an explicit nonce */
const enc = (N: bigint, m: bigint, r: bigint) => {
  const m2 = new Modulus(N * N);
  try {
    return m2.mul(1n + (((m % N) + N) % N) * N, m2.powPublic(r, N));
  } finally {
    m2.dispose();
  }
};
const ped = (a: bigint, b: bigint) => modHat.mul(modHat.powPublic(aux.s, a), modHat.powPublic(aux.t, b));
const gcdBig = (a: bigint, b: bigint): bigint => (b === 0n ? (a < 0n ? -a : a) : gcdBig(b, a % b));

/**
 * u with u^e = v mod N², for the owner of N = p·q (it knows the group order N·φ(N)); undefined
 * when e is not invertible modulo that order (the forger then tries another challenge).
 */
function rootN2(sk: PaillierSecretKey, v: bigint, e: bigint): bigint | undefined {
  const { p, q: qq } = sk.exportPrimes();
  const N = sk.N;
  const order = N * (p - 1n) * (qq - 1n);
  const m2 = new Modulus(N * N);
  try {
    const base = e < 0n ? m2.inverse(v) : v;
    const ae = e < 0n ? -e : e;
    if (gcdBig(ae, order) !== 1n) return undefined;
    return m2.powPublic(base, refInverse(ae, order) as bigint);
  } finally {
    m2.dispose();
  }
}

// --- Πelog -------------------------------------------------------------------------------------

function elogStatement(): ElogStatement {
  const [y, lambda] = [randomScalar(), randomScalar()];
  const X = mulG(randomScalar());
  const H = mulG(randomScalar());
  return { L: mulG(lambda), M: mulG(y).add(times(X, lambda)), X, Y: times(H, y), H };
}

test('A8 Πelog: commitments (A, N, B) solved after the challenge do not verify (they are hashed)', (t) => {
  const b = bd();
  const st = { ...elogStatement(), Y: mulG(randomScalar()) }; // false: Y is not y·H
  const e = proofTranscript(ELOG_TAG, b, L)
    .byteList('statement', [st.L, st.M, st.X, st.Y, st.H].map(pt))
    .challenge('e')
    .below(q);
  const [z, u] = [randomScalar(), randomScalar()];
  const A = mulG(z).subtract(times(st.L, e));
  const N = mulG(u).add(times(st.X, z)).subtract(times(st.M, e));
  const B = times(st.H, u).subtract(times(st.Y, e));
  t.truthy(reason(() => verifyElog(b, L, st, { A, N, B, z, u })));
});

test('A8 Πelog: a statement (L, M, Y) solved after the challenge does not verify (it is hashed)', (t) => {
  const b = bd();
  const { X, H } = elogStatement();
  const [alpha, m, mB] = [randomScalar(), randomScalar(), randomScalar()];
  const A = mulG(alpha);
  const N = mulG(m).add(times(X, alpha));
  const B = times(H, mB);
  const e = proofTranscript(ELOG_TAG, b, L).byteList('commitment', [A, N, B].map(pt)).challenge('e').below(q);
  const [z, u] = [randomScalar(), randomScalar()];
  const ie = invQ(e);
  const st: ElogStatement = {
    L: times(mulG(z).subtract(A), ie),
    M: times(mulG(u).add(times(X, z)).subtract(N), ie),
    X,
    Y: times(times(H, u).subtract(B), ie),
    H,
  };
  t.truthy(reason(() => verifyElog(b, L, st, { A, N, B, z, u })));
});

test('A7 Πelog: a proof made under other security parameters does not verify (the parameters are hashed)', (t) => {
  const b = bd();
  const y = randomScalar();
  const lambda = randomScalar();
  const { X, H } = elogStatement();
  const st: ElogStatement = { L: mulG(lambda), M: mulG(y).add(times(X, lambda)), X, Y: times(H, y), H };
  t.is(
    reason(() => verifyElog(b, L, st, proveElog(b, L, st, { y, lambda }))),
    undefined,
  );
  for (const other of [
    { ...L, m: 129 },
    { ...L, epsilon: 511 },
    { ...L, ell: 257 },
    { ...L, ellPrime: 1281 },
  ]) {
    t.truthy(
      reason(() => verifyElog(b, L, st, proveElog(b, other, st, { y, lambda }))),
      JSON.stringify(other),
    );
  }
});

// --- Πenc-elg ----------------------------------------------------------------------------------

/** The statement with C = Enc(x) under skI, X = (a·b + xX)·G (xX = x unless told otherwise). */
function encElgStatement(x: bigint, xX = x) {
  const [a, b] = [randomScalar(), randomScalar()];
  const rho = unit(skI.N);
  const st: EncElgStatement = {
    N0: skI.N,
    C: enc(skI.N, x, rho),
    A: mulG(a),
    B: mulG(b),
    X: mulG(modq(a * b + xX)),
    aux,
  };
  return { st, a, b, rho };
}

const encElgHead = (b: ProofBinding, st: EncElgStatement) =>
  proofTranscript(ENC_ELG_TAG, b, L)
    .int('N0', st.N0)
    .int('C', st.C)
    .byteList('points', [st.A, st.B, st.X].map(pt))
    .int('aux-N', st.aux.N)
    .int('aux-s', st.aux.s)
    .int('aux-t', st.aux.t);

/** The honest Paillier and ring-Pedersen half of Πenc-elg for plaintext x (commitments, then responses for e). */
function encElgPaillierHalf(x: bigint, rho: bigint) {
  const bAE = 1n << BigInt(L.ell + L.epsilon);
  const alpha = randomSigned(bAE);
  const mu = randomSigned((1n << BigInt(L.ell)) * aux.N);
  const gamma = randomSigned(bAE * aux.N);
  const r = unit(skI.N);
  const modN = new Modulus(skI.N);
  return {
    S: ped(x, mu),
    T: ped(alpha, gamma),
    D: enc(skI.N, alpha, r),
    alpha,
    respond: (e: bigint) => {
      const z2 = modN.mul(r, modN.powPublic(rho, e));
      modN.dispose();
      return { z1: alpha + e * x, z2, z3: gamma + e * mu };
    },
  };
}

test('A8/A2 Πenc-elg: (S, T, D) solved after the challenge would prove an out-of-range plaintext; they are hashed', (t) => {
  const b = bd();
  const x = (1n << BigInt(L.ell + L.epsilon + 1)) + 12345n; // far out of range
  const { st, b: bb } = encElgStatement(x);
  const [beta, alpha1] = [randomScalar(), randomScalar()];
  const Y = times(st.A, beta).add(mulG(alpha1));
  const Z = mulG(beta);
  const e = encElgHead(b, st).byteList('commitment-points', [Y, Z].map(pt)).challenge('e').signed(q);
  // El-Gamal fixes z1 only mod q: take the representative in [0, q), well inside ±2^(ℓ+ε)
  const z1 = modq(alpha1 + e * x);
  const w = modq(beta + e * bb);
  const z2 = unit(skI.N);
  const z3 = randomSigned((1n << BigInt(L.ell + L.epsilon)) * aux.N);
  const S = ped(5n, 7n);
  const T = modHat.mul(ped(z1, z3), modHat.powPublic(S, -e));
  const m2 = new Modulus(skI.N * skI.N);
  const D = m2.mul(enc(skI.N, z1, z2), m2.powPublic(st.C, -e));
  m2.dispose();
  const p: EncElgProof = { S, T, D, Y, Z, z1, z2, z3, w };
  t.truthy(reason(() => verifyEncElg(b, L, st, p)));
});

test('A8 Πenc-elg: (Y, Z) solved after the challenge would prove an El-Gamal commitment to another value; they are hashed', (t) => {
  const b = bd();
  const x = randomScalar();
  const { st, rho } = encElgStatement(x, x + 1n); // X commits to x + 1, C encrypts x
  const half = encElgPaillierHalf(x, rho);
  const e = encElgHead(b, st).ints('commitment', [half.S, half.T, half.D]).challenge('e').signed(q);
  const { z1, z2, z3 } = half.respond(e);
  const w = randomScalar();
  const Y = times(st.A, w).add(times(G, z1)).subtract(times(st.X, e));
  const Z = mulG(w).subtract(times(st.B, e));
  t.truthy(reason(() => verifyEncElg(b, L, st, { S: half.S, T: half.T, D: half.D, Y, Z, z1, z2, z3, w })));
});

test('A8 Πenc-elg: the points (A, B, X) solved after the challenge would break the El-Gamal binding; they are hashed', (t) => {
  const b = bd();
  const x = randomScalar();
  const { st: st0, b: bb, rho } = encElgStatement(x);
  const half = encElgPaillierHalf(x, rho);
  const [beta, alpha1] = [randomScalar(), randomScalar()]; // alpha1 ≠ α: X will commit to x + (α − α1)/e
  const Y = times(st0.A, beta).add(mulG(alpha1));
  const Z = mulG(beta);
  const e = proofTranscript(ENC_ELG_TAG, b, L)
    .int('N0', st0.N0)
    .int('C', st0.C)
    .int('aux-N', aux.N)
    .int('aux-s', aux.s)
    .int('aux-t', aux.t)
    .ints('commitment', [half.S, half.T, half.D])
    .byteList('commitment-points', [Y, Z].map(pt))
    .challenge('e')
    .signed(q);
  const { z1, z2, z3 } = half.respond(e);
  const w = modq(beta + e * bb);
  const X = times(times(st0.A, w).add(times(G, z1)).subtract(Y), invQ(e));
  t.false(X.equals(st0.X), 'X no longer commits to the plaintext of C');
  t.truthy(reason(() => verifyEncElg(b, L, { ...st0, X }, { S: half.S, T: half.T, D: half.D, Y, Z, z1, z2, z3, w })));
});

test('A8/A2 Πenc-elg: C solved after the challenge (an e-th root, for the owner of N0) would encrypt an out-of-range value; it is hashed', (t) => {
  const xX = randomScalar(); // what X commits to, in range
  const [a, bb] = [randomScalar(), randomScalar()];
  const A = mulG(a);
  const B = mulG(bb);
  const X = mulG(modq(a * bb + xX));
  for (let attempt = 0; attempt < 20; attempt++) {
    const b = bd();
    const alphaT = randomSigned(1n << BigInt(L.ell + L.epsilon - 1));
    const mu = randomSigned((1n << BigInt(L.ell)) * aux.N);
    const gamma = randomSigned((1n << BigInt(L.ell + L.epsilon)) * aux.N);
    const S = ped(xX, mu);
    const T = ped(alphaT, gamma);
    const D = enc(skI.N, alphaT + 1n, unit(skI.N)); // Paillier nonce α_D = α_T + 1: C will not encrypt x
    const beta = randomScalar();
    const Y = times(A, beta).add(times(G, alphaT));
    const Z = mulG(beta);
    const e = proofTranscript(ENC_ELG_TAG, b, L)
      .int('N0', skI.N)
      .byteList('points', [A, B, X].map(pt))
      .int('aux-N', aux.N)
      .int('aux-s', aux.s)
      .int('aux-t', aux.t)
      .ints('commitment', [S, T, D])
      .byteList('commitment-points', [Y, Z].map(pt))
      .challenge('e')
      .signed(q);
    const z1 = alphaT + e * xX;
    const z2 = unit(skI.N);
    const m2 = new Modulus(skI.N * skI.N);
    const C = rootN2(skI, m2.mul(enc(skI.N, z1, z2), m2.inverse(D)), e);
    m2.dispose();
    if (C === undefined) continue;
    const plain = skI.decrypt(C);
    t.true(
      plain > 1n << BigInt(L.ell + L.epsilon) && skI.N - plain > 1n << BigInt(L.ell + L.epsilon),
      'C encrypts a value far out of range',
    );
    const st: EncElgStatement = { N0: skI.N, C, A, B, X, aux };
    t.truthy(
      reason(() => verifyEncElg(b, L, st, { S, T, D, Y, Z, z1, z2, z3: gamma + e * mu, w: modq(beta + e * bb) })),
    );
    return;
  }
  t.fail('no invertible challenge in 20 attempts');
});

// --- Πaff-g ------------------------------------------------------------------------------------

function affGStatement(x: bigint, y: bigint) {
  const Nj = skJ.N;
  const C = enc(Nj, randomScalar(), unit(Nj));
  const rho = unit(Nj);
  const rhoY = unit(skI.N);
  const mj = new Modulus(Nj * Nj);
  const D = mj.mul(mj.powPublic(C, x), enc(Nj, y, rho));
  mj.dispose();
  const st: AffGStatement = { Nj, Ni: skI.N, C, D, Y: enc(skI.N, y, rhoY), X: mulG(modq(x)), aux };
  return { st, rho, rhoY };
}

const affStatementInts = (st: AffGStatement) => [st.Nj, st.Ni, st.C, st.D, st.Y, st.aux.N, st.aux.s, st.aux.t];

/** The honest prover of Πaff-g up to the commitments (all but B_x), and its responses for e. */
function affGHonest(st: AffGStatement, x: bigint, y: bigint, rho: bigint, rhoY: bigint) {
  const aBits = 1n << BigInt(L.ell + L.epsilon);
  const alpha = randomSigned(aBits);
  const beta = randomSigned(1n << BigInt(L.ellPrime + L.epsilon));
  const gamma = randomSigned(aBits * aux.N);
  const delta = randomSigned(aBits * aux.N);
  const m = randomSigned((1n << BigInt(L.ell)) * aux.N);
  const mu = randomSigned((1n << BigInt(L.ell)) * aux.N);
  const r = unit(st.Nj);
  const rY = unit(st.Ni);
  const mj = new Modulus(st.Nj * st.Nj);
  const A = mj.mul(mj.powPublic(st.C, alpha), enc(st.Nj, beta, r));
  mj.dispose();
  const com = { A, By: enc(st.Ni, beta, rY), E: ped(alpha, gamma), S: ped(x, m), F: ped(beta, delta), T: ped(y, mu) };
  return {
    alpha,
    beta,
    com,
    respond: (e: bigint) => {
      const nj = new Modulus(st.Nj);
      const ni = new Modulus(st.Ni);
      const out = {
        z1: alpha + e * x,
        z2: beta + e * y,
        z3: gamma + e * m,
        z4: delta + e * mu,
        w: nj.mul(r, nj.powPublic(rho, e)),
        wY: ni.mul(rY, ni.powPublic(rhoY, e)),
      };
      nj.dispose();
      ni.dispose();
      return out;
    },
  };
}

test('A8 Πaff-g: X solved after the challenge would tie the MtA to another point than x·G; it is hashed', (t) => {
  const b = bd();
  const x = randomScalar();
  const y = randomSigned(1n << BigInt(L.ellPrime));
  const { st, rho, rhoY } = affGStatement(x, y);
  const h = affGHonest(st, x, y, rho, rhoY);
  const Bx = mulG(randomScalar()); // not α·G
  const c = h.com;
  const e = proofTranscript(AFF_G_TAG, b, L)
    .ints('statement', affStatementInts(st))
    .ints('commitment', [c.A, c.By, c.E, c.S, c.F, c.T])
    .bytes('Bx', pt(Bx))
    .challenge('e')
    .signed(q);
  const r = h.respond(e);
  const X = times(mulG(modq(r.z1)).subtract(Bx), invQ(e));
  t.false(X.equals(st.X));
  t.truthy(reason(() => verifyAffG(b, L, { ...st, X }, { ...c, Bx, ...r })));
});

test('A8 Πaff-g: B_x solved after the challenge would prove any X; it is hashed', (t) => {
  const b = bd();
  const x = randomScalar();
  const y = randomSigned(1n << BigInt(L.ellPrime));
  const { st: st0, rho, rhoY } = affGStatement(x, y);
  const st = { ...st0, X: mulG(x + 1n) }; // not x·G
  const h = affGHonest(st, x, y, rho, rhoY);
  const c = h.com;
  const e = proofTranscript(AFF_G_TAG, b, L)
    .ints('statement', affStatementInts(st))
    .bytes('X', pt(st.X))
    .ints('commitment', [c.A, c.By, c.E, c.S, c.F, c.T])
    .challenge('e')
    .signed(q);
  const r = h.respond(e);
  const Bx = mulG(modq(r.z1)).subtract(times(st.X, e));
  t.truthy(reason(() => verifyAffG(b, L, st, { ...c, Bx, ...r })));
});

test('A8/A2 Πaff-g: (A, B_y, E, S, F, T) solved after the challenge would prove an out-of-range mask; they are hashed', (t) => {
  const b = bd();
  const x = randomScalar();
  const y = (1n << BigInt(L.ellPrime + L.epsilon + 1)) + 1n; // the mask β far out of range
  const { st } = affGStatement(x, y);
  const alpha = randomSigned(1n << BigInt(L.ell + L.epsilon - 1));
  const Bx = mulG(modq(alpha));
  const e = proofTranscript(AFF_G_TAG, b, L)
    .ints('statement', affStatementInts(st))
    .bytes('X', pt(st.X))
    .bytes('Bx', pt(Bx))
    .challenge('e')
    .signed(q);
  const z1 = alpha + e * x;
  const z2 = randomSigned(1n << BigInt(L.ellPrime)); // in range
  const z3 = randomSigned(1n << BigInt(L.ell + L.epsilon + 2000));
  const z4 = randomSigned(1n << BigInt(L.ell + L.epsilon + 2000));
  const w = unit(st.Nj);
  const wY = unit(st.Ni);
  const mj = new Modulus(st.Nj * st.Nj);
  const mi = new Modulus(st.Ni * st.Ni);
  const A = mj.mul(mj.mul(mj.powPublic(st.C, z1), enc(st.Nj, z2, w)), mj.powPublic(st.D, -e));
  const By = mi.mul(enc(st.Ni, z2, wY), mi.powPublic(st.Y, -e));
  mj.dispose();
  mi.dispose();
  const S = ped(3n, 5n);
  const T = ped(7n, 11n);
  const E = modHat.mul(ped(z1, z3), modHat.powPublic(S, -e));
  const F = modHat.mul(ped(z2, z4), modHat.powPublic(T, -e));
  const p: AffGProof = { A, Bx, By, E, S, F, T, z1, z2, z3, z4, w, wY };
  t.truthy(reason(() => verifyAffG(b, L, st, p)));
});

test('A8 Πaff-g: the statement solved after the challenge (Y as an e-th root under the prover’s own key) would let F encrypt another mask; it is hashed', (t) => {
  const x = randomScalar();
  const y = randomSigned(1n << BigInt(L.ellPrime));
  const { st, rho, rhoY } = affGStatement(x, y);
  for (let attempt = 0; attempt < 20; attempt++) {
    const b = bd();
    const h = affGHonest(st, x, y, rho, rhoY);
    // B_y encrypts β + 1 instead of β: Y will have to encrypt y + 1/e, not y
    const By = enc(st.Ni, h.beta + 1n, unit(st.Ni));
    const c = { ...h.com, By };
    const Bx = mulG(modq(h.alpha));
    const e = proofTranscript(AFF_G_TAG, b, L)
      .bytes('X', pt(st.X))
      .ints('commitment', [c.A, c.By, c.E, c.S, c.F, c.T])
      .bytes('Bx', pt(Bx))
      .challenge('e')
      .signed(q);
    const r = h.respond(e);
    const mi = new Modulus(st.Ni * st.Ni);
    const Y = rootN2(skI, mi.mul(enc(st.Ni, r.z2, r.wY), mi.inverse(By)), e);
    mi.dispose();
    if (Y === undefined) continue;
    t.not(skI.decryptSigned(Y), y, 'F no longer encrypts the mask');
    t.truthy(reason(() => verifyAffG(b, L, { ...st, Y }, { ...c, Bx, ...r })));
    return;
  }
  t.fail('no invertible challenge in 20 attempts');
});

// --- Πprm --------------------------------------------------------------------------------------

test('A8/A6 Πprm: A_i solved after the challenge would prove s = −t^λ outside ⟨t⟩; they are hashed', (t) => {
  const b: ProofBinding = { sid: Uint8Array.from(randomBytes(32)), prover: 1 };
  const { N, t: tt } = aux;
  const s = N - aux.s;
  const e = proofTranscript(PRM_TAG, b, L).int('N', N).int('s', s).int('t', tt).challenge('e').bitArray(L.m);
  const z = Array.from({ length: L.m }, () => randomBelow(N));
  const A = z.map((zi, i) =>
    e[i] ? modHat.mul(modHat.powPublic(tt, zi), modHat.powPublic(s, -1n)) : modHat.powPublic(tt, zi),
  );
  t.is(
    reason(() => verifyPrm(b, L, { N, s, t: tt }, { A, z })),
    'prm/equation',
  );
});

test('A7 Πprm: a proof for s does not carry over to s·t (z_i + e_i) — the statement s is hashed', (t) => {
  // TEST ONLY small parameters: the point is the transcript, not the size
  const Ls = { ...L, minModulusBits: 1023 };
  const small = ringPedersenFromPrimes(fixturePrime(512, 2), fixturePrime(512, 3), { checkPrimes: false });
  const { N, s, t: tt } = small.params;
  const b: ProofBinding = { sid: Uint8Array.from(randomBytes(32)), prover: 1 };
  const proof = provePrm(b, Ls, small.params, small.secret);
  t.is(
    reason(() => verifyPrm(b, Ls, small.params, proof)),
    undefined,
  );
  // were s not hashed, e would be the same for s′ = s·t and z′_i = z_i + e_i would answer it
  const e = proofTranscript(PRM_TAG, b, Ls).int('N', N).int('t', tt).ints('A', proof.A).challenge('e').bitArray(Ls.m);
  const m = new Modulus(N);
  const s2 = m.mul(s, tt);
  m.dispose();
  const z = proof.z.map((zi, i) => (e[i] ? zi + 1n : zi));
  t.is(
    reason(() => verifyPrm(b, Ls, { N, s: s2, t: tt }, { A: proof.A, z })),
    'prm/equation',
  );
});

test('A7 Πmod: a proof for w does not carry over to w·u⁴ (x_i·u where b_i) — w is hashed into the challenge', (t) => {
  const Ls = { ...L, minModulusBits: 1023 };
  const [p, qq] = [fixturePrime(512, 4), fixturePrime(512, 5)];
  const N = p * qq;
  const b: ProofBinding = { sid: Uint8Array.from(randomBytes(32)), prover: 2, extra: Uint8Array.of(9) };
  const proof = proveMod(b, Ls, { N }, { p, q: qq });
  t.is(
    reason(() => verifyMod(b, Ls, { N }, proof)),
    undefined,
  );
  const m = new Modulus(N);
  const u = unit(N);
  const w2 = m.mul(proof.w, m.powPublic(u, 4n));
  const items = proof.items.map((it) => (it.b ? { ...it, x: m.mul(it.x, u) } : it));
  m.dispose();
  t.is(
    reason(() => verifyMod(b, Ls, { N }, { w: w2, items })),
    'mod/fourth-root',
  );
});
