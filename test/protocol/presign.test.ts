import test, { type ExecutionContext } from 'ava';
import { createHash, createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { BlameCode } from '../../src/protocol/blame.js';
import { startPresign, nonceR, precomputePresignNonces, type Presignature } from '../../src/protocol/presign/index.js';
import { clearNonces, pooledNonces } from '../../src/paillier/nonce-pool.js';
import { ROUND, decodeR1, decodeR2, decodeR3, encodeR2, encodeR3 } from '../../src/protocol/presign/messages.js';
import { INSTANCE } from '../../src/protocol/presign/instances.js';
import { combineSignature, toDer, toRsv, wrongPartials, type EcdsaSignature } from '../../src/protocol/sign/index.js';
import { Blame, type Msg } from '../../src/protocol/machine.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { proveAffG } from '../../src/zk/aff-g.js';
import { PaillierPublicKey } from '../../src/paillier/public-key.js';
import { type Point, modq, mulG, q, randomScalar } from '../../src/curve/secp256k1.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';
import { runNetwork, type PartyResult, type Tamper } from '../helpers/network.js';
import { adversaryStart } from '../helpers/presign-adversary.js';

const L = SECURITY_128;
const keys = keygenShares(3, 2);
const aux = auxFixture(3);
const sid = () => Uint8Array.from(randomBytes(32));

function params(i: number, S: number[], s: Uint8Array, k: KeyShare[] = keys, a: AuxInfo[] = aux) {
  return { sid: s, signers: S, key: k[i] as KeyShare, aux: a[i] as AuxInfo, L };
}

function presign(S: number[], tamper?: Tamper, s = sid(), k = keys, a = aux) {
  return runNetwork<Presignature>(
    S.map((i) => startPresign(params(i, S, s, k, a))),
    tamper,
    S,
  );
}

function outputs(res: PartyResult<Presignature>[]): Presignature[] {
  return res.map((r, k) => {
    if (!r.output) throw new Error(`signer ${k} did not finish: ${JSON.stringify(r.abort ?? r)}`);
    return r.output;
  });
}

/** Sign sha256(message) and check the result with OpenSSL (node:crypto) and @noble/curves, including recovery. */
function signAndCheck(t: ExecutionContext, ps: Presignature[], Y: Point): EcdsaSignature {
  const message = randomBytes(64);
  const digest = Uint8Array.from(createHash('sha256').update(message).digest());
  const sig = combineSignature(
    ps[0]!.pub,
    digest,
    ps.map((p) => p.consume().sign(digest)),
  );
  t.true(sig.s <= q >> 1n, 'low-s');
  const { x, y } = Y.toAffine();
  const b64 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  const pub = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64(x), y: b64(y) }, format: 'jwk' });
  t.true(nodeVerify('sha256', message, pub, Buffer.from(toDer(sig))), 'OpenSSL accepts the DER signature');
  const rsv = toRsv(sig);
  t.true(
    secp256k1.verify(rsv.subarray(0, 64), digest, Y.toBytes(true), { prehash: false, lowS: true }),
    'noble accepts it (low-s enforced)',
  );
  const recovered = secp256k1.Signature.fromBytes(rsv.subarray(0, 64), 'compact')
    .addRecoveryBit(rsv[64] as number)
    .recoverPublicKey(digest);
  t.true(recovered.equals(Y), 'the recovery id recovers Y');
  return sig;
}

/** The signer at position `victim` aborted naming `culprits`; an abort in the last round leaves the other one done,
 *  and the coordinator uses a presignature only when every signer has it. */
function blamed(
  t: ExecutionContext,
  res: PartyResult<Presignature>[],
  victim: number,
  culprits: number[],
  code: BlameCode,
  reason: RegExp,
): void {
  const r = res[victim];
  t.truthy(r?.abort, `signer at ${victim} must abort`);
  t.deepEqual(r?.abort?.culprits, culprits);
  t.is(r?.abort?.code, code);
  t.regex(r?.abort?.reason ?? '', reason);
}

/** Rewrite the first body of one round from one sender to one recipient. */
function rewrite(round: string, from: number, to: number | 'any', f: (body: Uint8Array, m: Msg) => Uint8Array): Tamper {
  return (m, dest) =>
    m.round === round && m.from === from && (to === 'any' || dest === to) ? [{ ...m, body: f(m.body, m) }] : undefined;
}

for (const S of [
  [0, 1],
  [0, 2],
  [1, 2],
]) {
  test(`signers ${S.join('+')} of 2-of-3 presign and sign; OpenSSL and noble verify, recovery gives Y`, (t) => {
    const ps = outputs(presign(S));
    t.deepEqual(
      ps.map((p) => p.pub.signers),
      [S, S],
    );
    t.true(ps[0]!.pub.R.equals(ps[1]!.pub.R));
    signAndCheck(t, ps, keys[0]!.public.Y);
  });
}

test('Paillier nonces made ahead: a presignature takes exactly the ones filled for it, and signs', (t) => {
  const S = [0, 1];
  const s = sid();
  clearNonces();
  const made = S.map((i) => precomputePresignNonces(params(i, S, s)));
  // per signer: 2 + 6·1 = 8 under its own key, 4 under the other's
  t.deepEqual(made, [12, 12]);
  // each modulus: its owner's 8 and the other signer's 4
  const N = S.map((i) => aux[0]!.parties[i]!.N);
  t.deepEqual(
    N.map((n) => pooledNonces(n)),
    [12, 12],
  );
  const ps = outputs(presign(S, undefined, s));
  t.deepEqual(
    N.map((n) => pooledNonces(n)),
    [0, 0],
    'every precomputed nonce was used, none twice',
  );
  signAndCheck(t, ps, keys[0]!.public.Y);
});

test('3 signers of a 3-of-5 key presign and sign', (t) => {
  const keys5 = keygenShares(5, 3);
  const aux5 = auxFixture(5);
  const ps = outputs(presign([0, 2, 4], undefined, sid(), keys5, aux5));
  signAndCheck(t, ps, keys5[0]!.public.Y);
});

test('bad parameters: own index outside S, too few signers, duplicates, a 2048-bit peer modulus (A3)', (t) => {
  const s = sid();
  t.throws(() => startPresign(params(0, [1, 2], s)), { message: /own index/ });
  t.throws(() => startPresign(params(0, [0], s)), { message: /at least t/ });
  t.throws(() => startPresign(params(0, [0, 0, 1], s)), { message: /duplicates/ });
  const small = aux.map((a) => ({
    ...a,
    parties: a.parties.map((p, j) => (j === 1 ? { ...p, N: (1n << 2047n) + 1n } : p)),
  }));
  t.throws(() => startPresign(params(0, [0, 1], s, keys, small)), { message: /bad size/ });
});

test('A2: k = 2^(ℓ+ε) + 1 proven by the honest algorithm is rejected by Πenc-elg, blaming its sender', (t) => {
  const S = [0, 1];
  const s = sid();
  const adv = adversaryStart(params(0, S, s), { k: (1n << BigInt(L.ell + L.epsilon)) + 1n });
  const res = runNetwork<Presignature>([adv.step, startPresign(params(1, S, s))], undefined, S);
  blamed(t, res, 1, [0], 'proof-invalid', /enc-elg\/range-z1/);
});

/** Party 0 (malicious, γ known) rebuilds its MtA for party 1 with a mask β or ciphertext of its choosing. */
function maliciousMta(choose: { beta?: bigint; otherK?: boolean }): PartyResult<Presignature>[] {
  const S = [0, 1];
  const s = sid();
  const adv = adversaryStart(params(0, S, s));
  let K1 = 0n;
  const pk1 = new PaillierPublicKey(aux[1]!.parties[1]!.N);
  const tamper: Tamper = (m, dest) => {
    if (m.round === ROUND.r1 && m.from === 1) K1 = decodeR1(m.body, L).K;
    if (m.round !== ROUND.r2 || m.from !== 0 || dest !== 1) return undefined;
    const r2 = decodeR2(m.body, L);
    const beta = choose.beta ?? 1n;
    const C = choose.otherK ? pk1.encrypt(randomScalar()) : K1;
    const rho = pk1.randomNonce();
    const rhoY = adv.sk.publicKey.randomNonce();
    const D = pk1.add(pk1.scalarMul(C, adv.gamma, 256), pk1.encrypt(beta, rho));
    const F = adv.sk.encrypt(beta, rhoY);
    const psi = proveAffG(
      { sid: adv.view.ssid, prover: 0, verifier: 1, extra: INSTANCE.gamma },
      L,
      { Nj: pk1.N, Ni: adv.sk.N, C, D, Y: F, X: r2.Gamma, aux: aux[1]!.parties[1]!.rp },
      { x: adv.gamma, y: beta, rho, rhoY },
      adv.sk,
    );
    return [{ ...m, body: encodeR2({ ...r2, D, F, psi }) }];
  };
  return runNetwork<Presignature>([adv.step, startPresign(params(1, S, s))], tamper, S);
}

test('A2: a Πaff-g with mask β = 2^(ℓ′+ε) + 1 (z2 out of range) is rejected, blaming its sender', (t) => {
  blamed(
    t,
    maliciousMta({ beta: (1n << BigInt(L.ellPrime + L.epsilon)) + 1n }),
    1,
    [0],
    'proof-invalid',
    /aff-g\/range-z2/,
  );
});

test('A3: a Πaff-g built on a ciphertext other than our K_i is rejected (the statement is rebuilt locally)', (t) => {
  blamed(t, maliciousMta({ otherK: true }), 1, [0], 'proof-invalid', /aff-g\/paillier-j/);
});

test('the malicious-MtA harness passes every proof with an in-range mask (so the two tests above test the checks)', (t) => {
  // only the δ check notices: the adversary's own δ_0 still subtracts its original β
  blamed(t, maliciousMta({ beta: 12345n }), 1, [], 'inconsistent-presignature', /δ·G ≠ Σ Δ_j/);
});

test('a wrong Γ_j is caught by Πelog against the round-1 commitment, blaming its sender', (t) => {
  const res = presign(
    [0, 1],
    rewrite(ROUND.r2, 0, 1, (b) => encodeR2({ ...decodeR2(b, L), Gamma: mulG(randomScalar()) })),
  );
  blamed(t, res, 1, [0], 'proof-invalid', /elog/);
});

test('an inconsistent Δ_j is caught by Πelog; an inconsistent δ_j or S_j by the output checks', (t) => {
  const withR3 = (f: (r: ReturnType<typeof decodeR3>) => ReturnType<typeof decodeR3>) =>
    presign(
      [0, 1],
      rewrite(ROUND.r3, 0, 1, (b) => encodeR3(f(decodeR3(b)))),
    );
  blamed(
    t,
    withR3((r) => ({ ...r, Delta: r.Delta.add(mulG(1n)) })),
    1,
    [0],
    'proof-invalid',
    /elog/,
  );
  blamed(
    t,
    withR3((r) => ({ ...r, delta: modq(r.delta + 1n) })),
    1,
    [],
    'inconsistent-presignature',
    /δ·G ≠ Σ Δ_j/,
  );
  blamed(
    t,
    withR3((r) => ({ ...r, S: r.S.add(mulG(1n)) })),
    1,
    [],
    'inconsistent-presignature',
    /δ·Y ≠ Σ S_j/,
  );
});

test('A7: proofs replayed from another session are rejected', (t) => {
  const old = new Map<string, Uint8Array>();
  presign([0, 1], (m) => {
    if (m.from === 0) old.set(m.round, m.body);
    return undefined;
  });
  const replayK = presign(
    [0, 1],
    rewrite(ROUND.r1Proofs, 0, 1, () => old.get(ROUND.r1Proofs) as Uint8Array),
  );
  blamed(t, replayK, 1, [0], 'proof-invalid', /enc-elg/);
});

test('A7: Πenc-elg proofs addressed to another signer are rejected (bound to the verifier and its parameters)', (t) => {
  const S = [0, 1, 2];
  const keys3 = keygenShares(3, 2);
  let toTwo: Msg | undefined;
  const res = presign(
    S,
    (m, dest) => {
      if (m.round === ROUND.r1Proofs && m.from === 0 && dest === 2) toTwo = m;
      if (m.round === ROUND.r1Proofs && m.from === 0 && dest === 1) return [];
      if (m.round === ROUND.r1Proofs && m.from === 0 && dest === 2 && toTwo) return [m, { ...toTwo, to: 1 }];
      return undefined;
    },
    sid(),
    keys3,
  );
  blamed(t, res, 1, [0], 'proof-invalid', /enc-elg/);
});

test('A11: a signer that shows different round-1 broadcasts to two others is caught by the echo (no culprit)', (t) => {
  const S = [0, 1, 2];
  const s = sid();
  const twin = startPresign(params(0, S, s));
  if (twin.kind !== 'next') throw new Error('unreachable');
  const alt = new Map(twin.outbox.filter((m) => m.to === 'all' || m.to === 2).map((m) => [m.round, m]));
  const res = presign(
    S,
    (m, dest) => (m.from === 0 && dest === 2 && alt.has(m.round) ? [alt.get(m.round) as Msg] : undefined),
    s,
  );
  for (const v of [1, 2]) blamed(t, res, v, [], 'broadcast-mismatch', /round-1 broadcasts differ/);
});

test('malformed messages are blamed on their sender', (t) => {
  blamed(
    t,
    presign(
      [0, 1],
      rewrite(ROUND.r3, 0, 1, (b) => b.subarray(0, b.length - 1)),
    ),
    1,
    [0],
    'malformed',
    /malformed/,
  );
  blamed(
    t,
    presign(
      [0, 1],
      rewrite(ROUND.r2, 1, 0, (b) => Uint8Array.from([...b, 0])),
    ),
    0,
    [1],
    'malformed',
    /malformed/,
  );
});

test('A9: a wrong partial signature is blamed on its signer; the presignatures are spent', (t) => {
  const ps = outputs(presign([1, 2]));
  const digest = Uint8Array.from(randomBytes(32));
  const partials = ps.map((p) => p.consume().sign(digest));
  const bad = partials.map((p) => (p.signer === 2 ? { ...p, sigma: modq(p.sigma + 1n) } : p));
  const e = t.throws<Blame>(() => combineSignature(ps[0]!.pub, digest, bad), { instanceOf: Blame });
  t.deepEqual(e.culprits, [2]);
  t.is(e.code, 'partial-signature-invalid');
  const m = modq(BigInt('0x' + Buffer.from(digest).toString('hex')));
  t.deepEqual(
    wrongPartials(ps[0]!.pub, m, new Map(partials.map((p) => [p.signer, p.sigma]))),
    [],
    'honest partials pass the per-signer check',
  );
  t.deepEqual(wrongPartials(ps[0]!.pub, m, new Map(bad.map((p) => [p.signer, p.sigma]))), [2]);
  const missing = t.throws<Blame>(() => combineSignature(ps[0]!.pub, digest, partials.slice(0, 1)), {
    message: /missing/,
  });
  t.is(missing.code, 'missing-message');
  t.notThrows(() => combineSignature(ps[0]!.pub, digest, partials));
  t.true(ps.every((p) => p.consumed));
});

test('A10: a presignature signs once: consume() and sign() each work a single time', (t) => {
  const ps = outputs(presign([0, 1]));
  const p = ps[0]!;
  const c = p.consume();
  t.throws(() => p.consume(), { message: /already consumed/ });
  t.throws(() => p.exportSecret(), { message: /already consumed/ });
  c.sign(Uint8Array.from(randomBytes(32)));
  t.throws(() => c.sign(Uint8Array.from(randomBytes(32))), { message: /already used/ });
});

test('the nonce point is R = k⁻¹·G with r = R.x: Σσ_j = k·(m + r·x) in the exponent, checked on points', (t) => {
  const ps = outputs(presign([0, 2]));
  const pub = ps[0]!.pub;
  const digest = Uint8Array.from(randomBytes(32));
  const sigmas = ps.map((p) => p.consume().sign(digest).sigma);
  // s·R = m·G + r·Y  ⇔  s = k·(m + r·x) with R = k⁻¹·G
  const s = modq(sigmas.reduce((a, b) => a + b, 0n));
  const m = modq(BigInt('0x' + Buffer.from(digest).toString('hex')));
  t.true(pub.R.multiply(s).equals(mulG(m).add(pub.Y.multiply(nonceR(pub)))));
});
