import test from 'ava';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startRefresh, startKeygen, KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { decodeDecommit } from '../../src/protocol/keygen/messages.js';
import { Writer } from '../../src/protocol/codec.js';
import { startPresign, type Presignature } from '../../src/protocol/presign/index.js';
import { combineSignature, toCompact } from '../../src/protocol/sign/index.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { lagrange } from '../../src/curve/lagrange.js';
import { type Point, Point as P, mulG, mulPublic } from '../../src/curve/secp256k1.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';
import { runNetwork, type Tamper } from '../helpers/network.js';

const sid = () => Uint8Array.from(randomBytes(32));

function refresh(shares: KeyShare[], tamper?: Tamper) {
  const s = sid();
  return runNetwork<KeyShare>(
    shares.map((share) => startRefresh({ sid: s, share })),
    tamper,
  );
}

function done(res: ReturnType<typeof refresh>): KeyShare[] {
  return res.map((r, i) => {
    if (!r.output) throw new Error(`party ${i}: ${JSON.stringify(r.abort ?? r)}`);
    return r.output;
  });
}

function sign(keys: KeyShare[], aux: AuxInfo[], S: number[]): boolean {
  const s = sid();
  const res = runNetwork<Presignature>(
    S.map((i) =>
      startPresign({ sid: s, signers: S, key: keys[i] as KeyShare, aux: aux[i] as AuxInfo, L: SECURITY_128 }),
    ),
    undefined,
    S,
  );
  if (!res.every((r) => r.output)) return false;
  const ps = res.map((r) => r.output as Presignature);
  const digest = Uint8Array.from(randomBytes(32));
  const sig = combineSignature(
    ps[0]!.pub,
    digest,
    ps.map((p) => p.consume().sign(digest)),
  );
  return secp256k1.verify(toCompact(sig), digest, keys[0]!.public.Y.toBytes(true), { prehash: false });
}

test('refresh keeps Y, changes every share, and every pair still interpolates to Y; signing works with new aux-info', (t) => {
  const old = keygenShares(3, 2);
  const fresh = done(refresh(old));
  for (const [i, k] of fresh.entries()) {
    t.true(k.public.Y.equals(old[0]!.public.Y));
    t.not(k.secret.x, old[i]!.secret.x);
    t.true(mulG(k.secret.x).equals(k.public.X[i] as Point));
    k.public.X.forEach((X, j) => t.true(X.equals(fresh[0]!.public.X[j] as Point)));
  }
  for (const T of [
    [0, 1],
    [0, 2],
    [1, 2],
  ]) {
    const Y = T.reduce((acc, j) => acc.add(mulPublic(fresh[0]!.public.X[j] as Point, lagrange(T, j))), P.ZERO);
    t.true(Y.equals(old[0]!.public.Y));
  }
  t.true(sign(fresh, auxFixture(3, true), [1, 2]));
});

test('A13: an old share and a new share never sign together (the signers disagree on the key shares)', (t) => {
  const old = keygenShares(3, 2);
  const fresh = done(refresh(old));
  const mixed = [old[0] as KeyShare, fresh[1] as KeyShare, fresh[2] as KeyShare];
  t.false(sign(mixed, auxFixture(3), [0, 1]));
  t.true(sign(fresh, auxFixture(3), [0, 1]));
});

test('A13: a refresh share inconsistent with its dealer’s commitments is blamed on the dealer', (t) => {
  const old = keygenShares(3, 2);
  const res = refresh(old, (m, to) => {
    if (m.round === KEYGEN_ROUND.share && m.from === 2 && to === 0)
      return [{ ...m, body: new Writer().u8(1).scalar(12345n).finish() }];
    return undefined;
  });
  t.deepEqual(res[0]?.abort?.culprits, [2]);
  t.is(res[0]?.abort?.code, 'share-invalid');
  t.regex(res[0]?.abort?.reason ?? '', /VSS/);
  t.falsy(res.some((r) => r.output));
});

test('A13: a refresh dealer cannot move the key: a constant-term commitment does not even decode', (t) => {
  const old = keygenShares(3, 2);
  const res = refresh(old, (m) => {
    if (m.round !== KEYGEN_ROUND.decommit || m.from !== 1) return undefined;
    // re-encode with one more point in S (as if it committed to a non-zero f_1(0))
    const d = decodeDecommit(m.body, 1);
    const w = new Writer()
      .u8(1)
      .fixed(d.rid)
      .list([mulG(7n), ...d.S], (x, p) => x.point(p))
      .point(d.A)
      .fixed(d.u);
    return [{ ...m, body: w.finish() }];
  });
  t.deepEqual(res[0]?.abort?.culprits, [1]);
  t.is(res[0]?.abort?.code, 'malformed');
  t.regex(res[0]?.abort?.reason ?? '', /malformed/);
});

test('A11/A13: a party withholding its confirmation leaves the others without new shares (they keep the old ones)', (t) => {
  const old = keygenShares(3, 2);
  const res = refresh(old, (m) => (m.round === KEYGEN_ROUND.confirm && m.from === 2 ? [] : undefined));
  t.true(res[0]?.stalled && res[1]?.stalled);
  // the withholder itself saw everyone's confirmation; nodes therefore keep the old share until the new one has signed
  t.truthy(res[2]?.output);
});

test('a keygen commitment does not open as a refresh one (mode bound in V_i), and bad refresh parameters throw', (t) => {
  const old = keygenShares(3, 2);
  const s = sid();
  const starts = [
    startRefresh({ sid: s, share: old[0] as KeyShare }),
    startKeygen({ sid: s, n: 3, t: 2, i: 1 }),
    startRefresh({ sid: s, share: old[2] as KeyShare }),
  ];
  const res = runNetwork<KeyShare>(starts);
  t.falsy(res.some((r) => r.output));
  t.throws(() => startKeygen({ sid: s, n: 3, t: 2, i: 1, refresh: old[0] as KeyShare }), { message: /must match/ });
});
