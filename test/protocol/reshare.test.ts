/**
 * Resharing (docs/security.md A19): the shares of a key move from t or more old holders to a new
 * group — a node replaced, or 2-of-3 grown to 3-of-5 — with the public key unchanged, every check
 * naming the party whose message failed it.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startReshare, RESHARE_ROUND, type ReshareOutput, type ReshareRole } from '../../src/protocol/reshare/index.js';
import type { ReshareParams } from '../../src/protocol/reshare/params.js';
import { decodeDecommit, encodeDecommit, encodeScalar } from '../../src/protocol/reshare/messages.js';
import { startPresign, type Presignature } from '../../src/protocol/presign/index.js';
import { combineSignature, toCompact } from '../../src/protocol/sign/index.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { lagrange } from '../../src/curve/lagrange.js';
import { type Point, modq, mulG } from '../../src/curve/secp256k1.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import type { Step } from '../../src/protocol/machine.js';
import type { BlameCode } from '../../src/protocol/blame.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';
import { runNetwork, type PartyResult, type Tamper } from '../helpers/network.js';
import { cheatingDealer } from '../helpers/reshare-adversary.js';

const newSid = () => Uint8Array.from(randomBytes(32));
type Results = PartyResult<ReshareOutput>[];

/** Everyone's start for a run with these roles; old shares by old index; (n', t'). */
function params(old: KeyShare[], roles: ReshareRole[], n: number, t: number, sid = newSid()): ReshareParams[] {
  const { Y, X } = (old[0] as KeyShare).public;
  const key = { n: old[0]!.public.n, t: old[0]!.public.t, Y, X };
  return roles.map((r, me) => ({
    sid,
    roles,
    me,
    old: key,
    n,
    t,
    ...(r.old === undefined ? {} : { share: old[r.old] as KeyShare }),
  }));
}

function reshare(ps: ReshareParams[], tamper?: Tamper, starts?: Step<ReshareOutput>[]): Results {
  return runNetwork<ReshareOutput>(starts ?? ps.map((p) => startReshare(p)), tamper);
}

function outputs(t: ExecutionContext, res: Results): ReshareOutput[] {
  return res.map((r, i) => {
    if (!r.output) t.fail(`party ${i}: ${JSON.stringify(r.abort ?? r)}`);
    return r.output;
  });
}

/** The secret a set of shares interpolates to (test-only: the protocol never forms it). */
function secretOf(shares: readonly KeyShare[]): bigint {
  const T = shares.map((s) => s.public.i);
  return shares.reduce((acc, s) => modq(acc + lagrange(T, s.public.i) * s.secret.x), 0n);
}

function newShares(out: ReshareOutput[]): KeyShare[] {
  return out.flatMap((o) => (o.share ? [o.share] : [])).sort((a, b) => a.public.i - b.public.i);
}

function signs(keys: KeyShare[], aux: AuxInfo[], S: number[]): boolean {
  const sid = newSid();
  const res = runNetwork<Presignature>(
    S.map((i) => startPresign({ sid, signers: S, key: keys[i] as KeyShare, aux: aux[i] as AuxInfo, L: SECURITY_128 })),
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

/** node_3 lost: node_1 and node_2 deal to {node_1, node_2, node_4}; node_4 takes index 2. */
const REPLACE: ReshareRole[] = [{ old: 0, new: 0 }, { old: 1, new: 1 }, { new: 2 }];

test('a lost holder is replaced: Y unchanged, the new shares interpolate to the same key on a fresh polynomial, and sign', (t) => {
  const old = keygenShares(3, 2);
  const out = outputs(t, reshare(params(old, REPLACE, 3, 2)));
  const fresh = newShares(out);
  t.is(fresh.length, 3);
  const x = secretOf([old[0] as KeyShare, old[1] as KeyShare]);
  for (const T of [
    [0, 1],
    [0, 2],
    [1, 2],
  ])
    t.is(secretOf(T.map((k) => fresh[k] as KeyShare)), x);
  for (const o of out) {
    t.true(o.key.Y.equals(old[0]!.public.Y));
    o.key.X.forEach((X, j) => t.true(X.equals(fresh[j]!.public.X[j] as Point)));
  }
  // the lost node's old share is worthless with the new ones (new polynomial)
  const lost = { ...(old[2] as KeyShare), public: { ...old[2]!.public } };
  t.not(secretOf([fresh[0] as KeyShare, lost]), x);
  // the new group signs under Y, verified by noble; node_1 and node_4 included
  t.true(signs(fresh, auxFixture(3, true), [0, 2]));
});

test('2-of-3 grows to 3-of-5: two old holders deal, the third receives like the newcomers', (t) => {
  const old = keygenShares(3, 2);
  const roles: ReshareRole[] = [{ old: 0, new: 0 }, { new: 1 }, { old: 2, new: 2 }, { new: 3 }, { new: 4 }];
  const out = outputs(t, reshare(params(old, roles, 5, 3)));
  const fresh = newShares(out);
  const x = secretOf([old[1] as KeyShare, old[2] as KeyShare]);
  t.is(secretOf([fresh[0], fresh[2], fresh[4]] as KeyShare[]), x);
  t.is(secretOf([fresh[1], fresh[3], fresh[4]] as KeyShare[]), x);
  // three of five are needed now: two shares interpolate to something else
  t.not(secretOf([fresh[0], fresh[1]] as KeyShare[]), x);
  for (const s of fresh) t.like(s.public, { n: 5, t: 3 });
});

test('a leaving dealer deals and confirms but gets nothing; every old holder may deal', (t) => {
  const old = keygenShares(3, 2);
  // 2-of-3 shrinks to 2-of-2 among node_1 and node_3; node_2 deals and leaves
  const roles: ReshareRole[] = [{ old: 0, new: 0 }, { old: 1 }, { old: 2, new: 1 }];
  const out = outputs(t, reshare(params(old, roles, 2, 2)));
  t.is(out[1]?.share, undefined);
  t.true(out[1]?.key.X[0]?.equals(out[0]?.share?.public.X[0] as Point));
  t.is(secretOf(newShares(out)), secretOf([old[0] as KeyShare, old[2] as KeyShare]));
});

function blamed(
  t: ExecutionContext,
  res: Results,
  honest: number[],
  culprits: number[],
  code: BlameCode,
  reason: RegExp,
): void {
  t.false(
    res.some((r) => r.output),
    'nobody may output (nothing is committed)',
  );
  for (const i of honest) {
    t.deepEqual(res[i]?.abort?.culprits, culprits, `party ${i}: ${res[i]?.abort?.reason ?? JSON.stringify(res[i])}`);
    t.is(res[i]?.abort?.code, code);
    t.regex(res[i]?.abort?.reason ?? '', reason);
  }
}

test('A19: a dealer that deals another constant term (it would change the key) is named by every party', (t) => {
  const old = keygenShares(3, 2);
  const ps = params(old, REPLACE, 3, 2);
  const res = reshare(ps, undefined, [
    startReshare(ps[0]!),
    cheatingDealer(ps[1]!, { delta: 1n }),
    startReshare(ps[2]!),
  ]);
  blamed(t, res, [0, 2], [1], 'dealt-key-mismatch', /constant term/);
});

test('A19: a dealer that deals its part under another Lagrange set (λ of a 2-set when 3 deal) is named', (t) => {
  const old = keygenShares(3, 2);
  const roles: ReshareRole[] = [
    { old: 0, new: 0 },
    { old: 1, new: 1 },
    { old: 2, new: 2 },
  ];
  const ps = params(old, roles, 3, 2);
  // λ over {1, 2} instead of {0, 1, 2}: a valid-looking additive share of the key, but not this run's
  const wrong = modq(lagrange([1, 2], 2) * old[2]!.secret.x - lagrange([0, 1, 2], 2) * old[2]!.secret.x);
  const res = reshare(ps, undefined, [
    startReshare(ps[0]!),
    startReshare(ps[1]!),
    cheatingDealer(ps[2]!, { delta: wrong }),
  ]);
  blamed(t, res, [0, 1], [2], 'dealt-key-mismatch', /constant term/);
});

test('A19: a share inconsistent with its dealer’s commitments is blamed on the dealer by its receiver', (t) => {
  const old = keygenShares(3, 2);
  const res = reshare(params(old, REPLACE, 3, 2), (m, to) =>
    m.round === RESHARE_ROUND.share && m.from === 0 && to === 2 ? [{ ...m, body: encodeScalar(12345n) }] : undefined,
  );
  t.deepEqual(res[2]?.abort?.culprits, [0]);
  t.is(res[2]?.abort?.code, 'share-invalid');
  t.regex(res[2]?.abort?.reason ?? '', /VSS/);
  t.false(res.some((r) => r.output));
});

test('A19: a newcomer whose proof of its new share fails is named; a dealer’s opening that differs from its commitment is named', (t) => {
  const old = keygenShares(3, 2);
  const bad = reshare(params(old, REPLACE, 3, 2), (m) =>
    m.round === RESHARE_ROUND.proof && m.from === 2 ? [{ ...m, body: encodeScalar(7n) }] : undefined,
  );
  blamed(t, bad, [0, 1], [2], 'proof-invalid', /Πsch|sch\//);
  const reopened = reshare(params(old, REPLACE, 3, 2), (m) => {
    if (m.round !== RESHARE_ROUND.decommit || m.from !== 0) return undefined;
    const d = decodeDecommit(m.body, { dealer: true, receiver: true, t: 2 });
    return [{ ...m, body: encodeDecommit({ ...d, u: new Uint8Array(32) }) }];
  });
  blamed(t, reopened, [1, 2], [0], 'commitment-mismatch', /does not match commitment/);
});

test('A19: shares and proofs come only from parties with that role; a role’s message shape is checked', (t) => {
  const old = keygenShares(3, 2);
  // the newcomer (no old share) sends a "share" to node_1: named, whatever the body
  const res = reshare(params(old, REPLACE, 3, 2), (m, to) => {
    if (m.round === RESHARE_ROUND.decommit && m.from === 2 && to === 0)
      return [m, { from: 2, to: 0, round: RESHARE_ROUND.share, body: encodeScalar(1n) }];
    return undefined;
  });
  t.deepEqual(res[0]?.abort?.culprits, [2]);
  t.is(res[0]?.abort?.code, 'unexpected-message');
  t.regex(res[0]?.abort?.reason ?? '', /does not send it/);
  // a newcomer's opening with dealer commitments in it does not decode for its role
  const shaped = reshare(params(old, REPLACE, 3, 2), (m) => {
    if (m.round !== RESHARE_ROUND.decommit || m.from !== 2) return undefined;
    const d = decodeDecommit(m.body, { dealer: false, receiver: true, t: 2 });
    return [{ ...m, body: encodeDecommit({ ...d, S: [mulG(3n), mulG(4n)] }) }];
  });
  blamed(t, shaped, [0, 1], [2], 'malformed', /malformed/);
});

test('A11/A19: a withheld confirmation leaves the others without output (they keep their old shares)', (t) => {
  const old = keygenShares(3, 2);
  const res = reshare(params(old, REPLACE, 3, 2), (m) =>
    m.round === RESHARE_ROUND.confirm && m.from === 2 ? [] : undefined,
  );
  t.true(res[0]?.stalled && res[1]?.stalled);
});

test('bad resharing parameters throw before anything is sent', (t) => {
  const old = keygenShares(3, 2);
  const base = params(old, REPLACE, 3, 2)[0] as ReshareParams;
  const cases: [string, Partial<ReshareParams>][] = [
    ['one dealer of a 2-of-3 key', { roles: [{ old: 0, new: 0 }, { new: 1 }, { new: 2 }] }],
    ['a new index twice', { roles: [{ old: 0, new: 0 }, { old: 1, new: 0 }, { new: 2 }] }],
    ['a new index missing', { roles: [{ old: 0, new: 0 }, { old: 1, new: 1 }, { new: 3 }], n: 3 }],
    ['an old index twice', { roles: [{ old: 0, new: 0 }, { old: 0, new: 1 }, { new: 2 }] }],
    ['a party without a role', { roles: [{ old: 0, new: 0 }, { old: 1, new: 1 }, { new: 2 }, {}] }],
    ["t' = 1", { t: 1 }],
    ['a share of another index', { share: old[1] as KeyShare }],
    ['an old key that is not one polynomial through Y', { old: { ...base.old, X: [...base.old.X].reverse() } }],
  ];
  for (const [what, change] of cases) t.throws(() => startReshare({ ...base, ...change }), undefined, what);
  const { share: _dropped, ...withoutShare } = base;
  t.throws(() => startReshare(withoutShare), undefined, 'a dealer without its share');
  t.throws(() => startReshare({ ...(params(old, REPLACE, 3, 2)[2] as ReshareParams), share: old[2] as KeyShare }));
});
