/**
 * Receiver-side and load-time validation that the protocol tests did not pin down: each case fails
 * when the one check it names is removed (found by disabling every check in src/protocol one at a
 * time). Covers the round machinery (collect), key shares, aux-info, the storage formats,
 * presignatures, combining partial signatures and the presigning parameters. All cheap: no Paillier
 * proof is made here.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { startKeygen, KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { startPresign } from '../../src/protocol/presign/index.js';
import {
  Presignature,
  digestScalar,
  type PartialSignature,
  type PresignaturePublic,
} from '../../src/protocol/presign/presignature.js';
import { combineSignature, verifyEcdsa } from '../../src/protocol/sign/index.js';
import { assertKeyShare, type KeyShare } from '../../src/protocol/keyshare.js';
import { assertAuxInfo, type AuxInfo } from '../../src/protocol/aux-info.js';
import { Blame, collect, type Msg, type Step } from '../../src/protocol/machine.js';
import {
  decodeAuxInfo,
  decodeKeyShare,
  decodePresignaturePublic,
  encodeAuxPublic,
  encodeAuxSecret,
  encodePresignaturePublic,
  encodePublicKeyShare,
  encodeSecretKeyShare,
} from '../../src/protocol/storage-format.js';
import { Reader, Writer } from '../../src/protocol/codec.js';
import { type Point, G, Point as P, modq, mulG, q, randomScalar } from '../../src/curve/secp256k1.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { fixturePrime } from '../helpers/fixtures.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';

const sid = () => Uint8Array.from(randomBytes(32));
const keys = keygenShares(3, 2);
const aux = auxFixture(3);

// --- round machinery: collect ------------------------------------------------------------------

function firstRound(): Step<KeyShare> & { kind: 'next' } {
  const s = startKeygen({ sid: sid(), n: 3, t: 2, i: 0 });
  if (s.kind !== 'next') throw new Error('unreachable');
  return s;
}
const commitFrom = (from: number, round: string = KEYGEN_ROUND.commit): Msg => ({
  from,
  to: 'all',
  round,
  body: Uint8Array.from([1, ...randomBytes(32)]),
});

test('collect: a message for a round the party is not in is blamed on its sender', (t) => {
  const step = firstRound().round.handle([commitFrom(1), commitFrom(2), commitFrom(2, KEYGEN_ROUND.echo)]);
  t.is(step.kind, 'abort');
  if (step.kind !== 'abort') return;
  t.deepEqual(step.abort.culprits, [2]);
  t.is(step.abort.code, 'unexpected-message');
  t.regex(step.abort.reason, /unexpected message for round keygen\/echo/);
});

test('collect: a message claiming an unknown index or our own aborts without naming anyone', (t) => {
  for (const from of [0, 3, 7]) {
    const step = firstRound().round.handle([commitFrom(1), commitFrom(2), commitFrom(from)]);
    t.is(step.kind, 'abort', `from ${from}`);
    if (step.kind !== 'abort') continue;
    t.deepEqual(step.abort.culprits, []);
    t.is(step.abort.code, 'unknown-sender');
    t.regex(step.abort.reason, /unknown or own index/);
  }
});

test('collect: a point-to-point message addressed to another party, or broadcast where one was due, is blamed on its sender', (t) => {
  const p2p = [{ round: 'r', broadcast: false }];
  const msg = (from: number, to: number | 'all'): Msg => ({ from, to, round: 'r', body: Uint8Array.of(1) });
  t.notThrows(() => collect(0, [0, 1, 2], p2p, [msg(1, 0), msg(2, 0)]));
  for (const to of [2, 'all'] as const) {
    const e = t.throws(() => collect(0, [0, 1, 2], p2p, [msg(2, 0), msg(1, to)]), { instanceOf: Blame }, String(to));
    t.deepEqual(e?.culprits, [1]);
    t.is(e.code, 'wrong-recipient');
    t.regex(e.reason, /r: wrong message kind or recipient/);
  }
  // and a point-to-point message where a broadcast was due
  const e = t.throws(
    () =>
      collect(
        0,
        [0, 1, 2],
        [{ round: 'b', broadcast: true }],
        [{ from: 1, to: 0, round: 'b', body: Uint8Array.of(1) }],
      ),
    { instanceOf: Blame },
  );
  t.deepEqual(e?.culprits, [1]);
});

test('collect: a missing message names the silent party', (t) => {
  const step = firstRound().round.handle([commitFrom(1)]);
  t.is(step.kind, 'abort');
  if (step.kind !== 'abort') return;
  t.deepEqual(step.abort.culprits, [2]);
  t.is(step.abort.code, 'missing-message');
  t.regex(step.abort.reason, /keygen\/commit: missing message/);
});

// --- codec ------------------------------------------------------------------------------------

test('codec: a length prefix above the cap, an integer above its bit cap, a list above maxCount and trailing bytes are refused', (t) => {
  const long = new Writer().bytes(new Uint8Array(40)).finish();
  t.throws(() => new Reader(long).bytes(39, 'blob'), { message: /blob longer than 39 bytes/ });
  t.notThrows(() => new Reader(long).bytes(40, 'blob'));
  // 2^10 needs 11 bits: its 2-byte magnitude fits the byte cap of a 10-bit integer, the bit cap refuses it
  const int = new Writer().int(1n << 10n).finish();
  t.throws(() => new Reader(int).int(10, 'x'), { message: /x exceeds 10 bits/ });
  t.is(new Reader(new Writer().int(-(1n << 10n) + 1n).finish()).int(10), -(1n << 10n) + 1n);
  const list = new Writer().list([1, 2, 3], (w, v) => w.u8(v)).finish();
  t.throws(() => new Reader(list).list((r) => r.u8(), { maxCount: 2 }, 'L'), { message: /L has more than 2 entries/ });
  const r = new Reader(Uint8Array.of(1, 2));
  r.u8();
  t.throws(() => r.end('msg'), { message: /msg has 1 trailing bytes/ });
});

// --- key shares --------------------------------------------------------------------------------

test('assertKeyShare refuses bad (t, n), a bad index, |X| ≠ n, identity points and x outside (0, q)', (t) => {
  const k = keys[1] as KeyShare;
  const bad =
    (pub: Partial<KeyShare['public']>, x = k.secret.x) =>
    () =>
      assertKeyShare({ public: { ...k.public, ...pub }, secret: { x } });
  t.notThrows(bad({}));
  t.throws(bad({ t: 4 }), { message: /bad \(t, n\)/ });
  t.throws(bad({ t: 0 }), { message: /bad \(t, n\)/ });
  t.throws(bad({ i: 3 }), { message: /bad index/ });
  t.throws(bad({ i: -1 }), { message: /bad index/ });
  t.throws(bad({ X: k.public.X.slice(0, 2) }), { message: /X must have n entries/ });
  t.throws(bad({ Y: P.ZERO }), { message: /identity point/ });
  t.throws(bad({ X: [k.public.X[0] as Point, k.public.X[1] as Point, P.ZERO] }), { message: /identity point/ });
  // public shares that do not lie on one polynomial through Y (degree t − 1 = 1 here)
  t.throws(bad({ Y: k.public.Y.add(G) }), { message: /X does not interpolate to Y/ });
  t.throws(bad({ X: [k.public.X[0] as Point, k.public.X[1] as Point, (k.public.X[2] as Point).add(G)] }), {
    message: /X is not of degree t − 1/,
  });
  t.throws(bad({}, 0n), { message: /x_i out of range/ });
  t.throws(bad({}, k.secret.x + q), { message: /x_i out of range/ });
});

// --- aux-info ----------------------------------------------------------------------------------

test('assertAuxInfo refuses an own index without an entry and s, t outside (1, N̂)', (t) => {
  const a = aux[0] as AuxInfo;
  t.notThrows(() => assertAuxInfo(a));
  t.throws(() => assertAuxInfo({ ...a, i: 3 }), { message: /own index out of range/ });
  const withRp = (rp: Partial<AuxInfo['parties'][number]['rp']>) => ({
    ...a,
    parties: a.parties.map((pa, j) => (j === 2 ? { ...pa, rp: { ...pa.rp, ...rp } } : pa)),
  });
  const N = a.parties[2]?.rp.N as bigint;
  for (const rp of [{ s: 1n }, { s: N }, { t: 0n }, { t: N + 5n }])
    t.throws(() => assertAuxInfo(withRp(rp)), { message: /s, t out of range/ }, JSON.stringify(Object.keys(rp)));
});

// --- storage formats ---------------------------------------------------------------------------

test('storage: a key-share record of another format version, with more than 64 parties or with |X| ≠ n is refused', (t) => {
  const k = keys[0] as KeyShare;
  const pub = encodePublicKeyShare(k.public);
  const sec = encodeSecretKeyShare(k.secret);
  const v2 = Uint8Array.from(pub);
  v2[2] = 2;
  t.throws(() => decodeKeyShare(v2, sec), { message: /unsupported format version 2/ });
  const s2 = Uint8Array.from(sec);
  s2[2] = 2;
  t.throws(() => decodeKeyShare(pub, s2), { message: /unsupported format version 2/ });
  const head = (n: number, count: number) =>
    new Writer()
      .u8(0x4b)
      .u8(0x50)
      .u8(1)
      .u8(n)
      .u8(2)
      .u8(0)
      .point(k.public.Y)
      .list(Array(count).fill(G), (w, X: Point) => w.point(X))
      .finish();
  t.throws(() => decodeKeyShare(head(65, 65), sec), { message: /too many parties/ });
  t.throws(() => decodeKeyShare(head(3, 2), sec), { message: /X must have exactly 3 entries, has 2/ });
});

test('storage: an aux-info record with more than 64 parties is refused before validation', (t) => {
  const a = aux[0] as AuxInfo;
  const many = { ...a, parties: Array.from({ length: 65 }, (_, j) => a.parties[j % 3] as AuxInfo['parties'][number]) };
  t.throws(() => decodeAuxInfo(encodeAuxPublic(many), encodeAuxSecret(a)), {
    message: /parties has more than 64 entries/,
  });
});

test('storage: a presignature record whose Δ̃ or S̃ count differs from the signer count is refused', (t) => {
  const pub: PresignaturePublic = {
    id: sid(),
    signers: [0, 2],
    Y: mulG(3n),
    R: mulG(5n),
    Delta: [mulG(7n), mulG(11n)],
    S: [mulG(13n), mulG(17n)],
  };
  t.notThrows(() => decodePresignaturePublic(encodePresignaturePublic(pub)));
  t.throws(() => decodePresignaturePublic(encodePresignaturePublic({ ...pub, Delta: [mulG(7n)] })), {
    message: /Δ̃ must have exactly 2 entries/,
  });
  t.throws(() => decodePresignaturePublic(encodePresignaturePublic({ ...pub, S: [mulG(7n), mulG(8n), mulG(9n)] })), {
    message: /S̃ must have exactly 2 entries/,
  });
});

// --- presignatures and combining ----------------------------------------------------------------

const fakePub = (): PresignaturePublic => ({
  id: sid(),
  signers: [0, 2],
  Y: mulG(randomScalar()),
  R: mulG(randomScalar()),
  Delta: [mulG(randomScalar()), mulG(randomScalar())],
  S: [mulG(randomScalar()), mulG(randomScalar())],
});

test('presignatures: digests must be 32 bytes; the secret must be in range; one Δ̃_j and S̃_j per signer', (t) => {
  for (const len of [0, 31, 33, 64])
    t.throws(() => digestScalar(new Uint8Array(len)), { message: /digest must be 32 bytes/ });
  const pub = fakePub();
  t.notThrows(() => Presignature.create(pub, 2, { k: 1n, chi: 0n }));
  for (const s of [
    { k: 0n, chi: 1n },
    { k: q, chi: 1n },
    { k: 1n, chi: q },
    { k: 1n, chi: -1n },
  ]) {
    t.throws(() => Presignature.create(pub, 2, s), { message: /secret out of range/ });
  }
  t.throws(() => Presignature.create({ ...pub, Delta: pub.Delta.slice(1) }, 2, { k: 1n, chi: 1n }), {
    message: /one Δ̃_j and S̃_j per signer/,
  });
  t.throws(() => Presignature.create({ ...pub, S: [...pub.S, mulG(3n)] }, 2, { k: 1n, chi: 1n }), {
    message: /one Δ̃_j and S̃_j per signer/,
  });
});

test('combine: partials from a non-signer, out of range, for another presignature or duplicated are refused with the signer named', (t) => {
  const pub = fakePub();
  const digest = Uint8Array.from(randomBytes(32));
  const ok = (signer: number, sigma = randomScalar()): PartialSignature => ({ presignatureId: pub.id, signer, sigma });
  const blame = (partials: PartialSignature[]) => {
    try {
      combineSignature(pub, digest, partials);
    } catch (e) {
      if (e instanceof Blame) return { culprits: [...e.culprits], code: e.code, reason: e.reason };
      throw e;
    }
    return undefined;
  };
  t.deepEqual(blame([ok(0), ok(2), ok(1)]), {
    culprits: [],
    code: 'unknown-sender',
    reason: 'sign: partial from non-signer 1',
  });
  const malformed = 'sign: malformed or duplicate partial signature';
  t.deepEqual(blame([ok(0), ok(2, q)]), { culprits: [2], code: 'malformed', reason: malformed });
  t.deepEqual(blame([ok(0, -1n), ok(2)]), { culprits: [0], code: 'malformed', reason: malformed });
  t.deepEqual(blame([{ ...ok(0), presignatureId: sid() }, ok(2)]), {
    culprits: [0],
    code: 'malformed',
    reason: malformed,
  });
  t.deepEqual(blame([ok(0), ok(2), ok(2)]), { culprits: [2], code: 'malformed', reason: malformed });
});

test('verifyEcdsa: r or s outside [1, q) is a failed verification, not an exception', (t) => {
  const x = randomScalar();
  const Y = mulG(x);
  for (const [r, s] of [
    [1n, 0n],
    [1n, q],
    [0n, 1n],
    [q, 1n],
    [1n, -1n],
  ] as const)
    t.false(verifyEcdsa(Y, 5n, r, s), `r=${r}, s=${s}`);
  // and a valid signature verifies (so the cases above are refused by the range check)
  const k = randomScalar();
  const r = modq(mulG(k).toAffine().x);
  const s = modq((5n + r * x) * modInvQ(k));
  t.true(verifyEcdsa(Y, 5n, r, s));
});

function modInvQ(a: bigint): bigint {
  // a^(q−2) mod q by square-and-multiply (q prime): an independent inverse for the test
  let r = 1n;
  let b = modq(a);
  let e = q - 2n;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % q;
    b = (b * b) % q;
    e >>= 1n;
  }
  return r;
}

// --- presigning parameters ---------------------------------------------------------------------

test('startPresign refuses a short sid, an inconsistent key share or aux-info, aux-info of another party, a party-count mismatch, a signer index out of range and an oversized peer modulus', (t) => {
  const L = SECURITY_128;
  const base = { sid: sid(), signers: [0, 1], key: keys[0] as KeyShare, aux: aux[0] as AuxInfo, L };
  t.throws(() => startPresign({ ...base, sid: new Uint8Array(15) }), { message: /sid must be at least 16 bytes/ });
  const k = keys[0] as KeyShare;
  const X = [...k.public.X];
  X[2] = mulG(12345n);
  t.throws(() => startPresign({ ...base, key: { ...k, public: { ...k.public, X } } }), {
    message: /key share: X is not of degree/,
  });
  const a = aux[0] as AuxInfo;
  t.throws(() => startPresign({ ...base, aux: { ...a, secret: { p: a.secret.q, q: fixturePrime(1536, 11) } } }), {
    message: /aux-info: N_i ≠ p·q/,
  });
  t.throws(() => startPresign({ ...base, aux: aux[1] as AuxInfo }), { message: /different parties/ });
  t.throws(() => startPresign({ ...base, aux: { ...a, parties: a.parties.slice(0, 2) } }), {
    message: /different party counts/,
  });
  t.throws(() => startPresign({ ...base, signers: [0, 3] }), { message: /signer index out of range/ });
  t.throws(() => startPresign({ ...base, signers: [0, 1.5] }), { message: /signer index out of range/ });
  const huge = fixturePrime(1536, 8) * fixturePrime(1536, 9) * fixturePrime(1536, 10);
  const big = { ...a, parties: a.parties.map((pa, j) => (j === 1 ? { ...pa, N: huge } : pa)) };
  t.throws(() => startPresign({ ...base, aux: big }), { message: /party 1 has a modulus of a bad size/ });
});
