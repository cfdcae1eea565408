import test from 'ava';
import { randomBytes } from 'node:crypto';
import { startKeygen } from '../../src/protocol/keygen/index.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import {
  decodeAuxInfo,
  decodeKeyShare,
  decodePresignature,
  decodePresignaturePublic,
  encodeAuxPublic,
  encodeAuxSecret,
  encodePresignaturePublic,
  encodePresignatureSecret,
  encodePublicKeyShare,
  encodeSecretKeyShare,
} from '../../src/protocol/storage-format.js';
import { Presignature } from '../../src/protocol/presign/presignature.js';
import { mulG, q } from '../../src/curve/secp256k1.js';
import { fixturePrime } from '../helpers/fixtures.js';
import { runNetwork } from '../helpers/network.js';

function shares(): KeyShare[] {
  const sid = Uint8Array.from(randomBytes(32));
  return runNetwork<KeyShare>([0, 1, 2].map((i) => startKeygen({ sid, n: 3, t: 2, i }))).map(
    (r) => r.output as KeyShare,
  );
}

test('key shares round-trip through the storage format', (t) => {
  for (const s of shares()) {
    const back = decodeKeyShare(encodePublicKeyShare(s.public), encodeSecretKeyShare(s.secret));
    t.true(back.public.Y.equals(s.public.Y));
    t.is(back.secret.x, s.secret.x);
    t.is(back.public.i, s.public.i);
  }
});

test('loading validates: wrong secret, swapped parts, tampered public data, trailing bytes', (t) => {
  const [a, b] = shares() as [KeyShare, KeyShare];
  const pub = encodePublicKeyShare(a.public);
  t.throws(() => decodeKeyShare(pub, encodeSecretKeyShare(b.secret)), { message: /x_i·G ≠ X_i/ });
  t.throws(() => decodeKeyShare(encodeSecretKeyShare(a.secret), pub), { message: /wrong record kind/ });
  const X = [...a.public.X];
  X[2] = mulG(12345n);
  t.throws(() => decodeKeyShare(encodePublicKeyShare({ ...a.public, X }), encodeSecretKeyShare(a.secret)), {
    message: /degree t − 1|interpolate/,
  });
  t.throws(() => decodeKeyShare(Uint8Array.from([...pub, 0]), encodeSecretKeyShare(a.secret)), { message: /trailing/ });
  t.throws(() => decodeKeyShare(pub, encodeSecretKeyShare({ x: q - 1n })), { message: /x_i·G ≠ X_i/ });
});

test('aux-info round-trips and is validated on load', (t) => {
  const P = (k: number) => fixturePrime(512, k);
  const aux: AuxInfo = {
    i: 1,
    parties: [0, 1, 2].map((j) => ({
      N: P(4 * j) * P(4 * j + 1),
      rp: { N: P(4 * j + 2) * P(4 * j + 3), s: 4n, t: 9n },
    })),
    secret: { p: P(4), q: P(5) },
  };
  const back = decodeAuxInfo(encodeAuxPublic(aux), encodeAuxSecret(aux));
  t.deepEqual(back, aux);
  t.throws(() => decodeAuxInfo(encodeAuxPublic(aux), encodeAuxSecret({ ...aux, secret: { p: P(6), q: P(7) } })), {
    message: /N_i ≠ p·q/,
  });
  const dup = { ...aux, parties: [aux.parties[0], aux.parties[0], aux.parties[2]] as AuxInfo['parties'] };
  t.throws(() => decodeAuxInfo(encodeAuxPublic(dup), encodeAuxSecret({ ...aux, i: 0, secret: { p: P(0), q: P(1) } })), {
    message: /appears twice/,
  });
});

test('presignatures round-trip (public part and secret part); a consumed one cannot be exported; bad encodings refused', (t) => {
  const pt = () => mulG(BigInt('0x' + randomBytes(31).toString('hex')) + 1n);
  const pub = {
    id: Uint8Array.from(randomBytes(32)),
    signers: [0, 2],
    Y: pt(),
    R: pt(),
    Delta: [pt(), pt()],
    S: [pt(), pt()],
  };
  const p = Presignature.create(pub, 2, { k: 5n, chi: q - 1n });
  const pubBytes = encodePresignaturePublic(pub);
  const back = decodePresignature(pubBytes, encodePresignatureSecret(p));
  t.deepEqual(back.pub.id, pub.id);
  t.deepEqual(back.pub.signers, [0, 2]);
  t.true(back.pub.R.equals(pub.R) && back.pub.S[1]!.equals(pub.S[1]!) && back.pub.Delta[0]!.equals(pub.Delta[0]!));
  t.deepEqual(back.exportSecret(), { k: 5n, chi: q - 1n });
  t.is(back.i, 2);
  back.consume();
  t.throws(() => encodePresignatureSecret(back), { message: /consumed/ });
  t.throws(() => decodePresignaturePublic(Uint8Array.from([...pubBytes, 0])), { message: /trailing/ });
  const unsorted = encodePresignaturePublic({ ...pub, signers: [2, 0] });
  t.throws(() => decodePresignaturePublic(unsorted), { message: /sorted/ });
  // a secret record claiming index 1, which is not among the signers
  const foreign = Uint8Array.from([0x50, 0x53, 1, 1, ...new Uint8Array(31), 1, ...new Uint8Array(31), 1]);
  t.throws(() => decodePresignature(pubBytes, foreign), { message: /not among the signers/ });
});
