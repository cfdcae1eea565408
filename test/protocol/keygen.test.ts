import test from 'ava';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { BlameCode } from '../../src/protocol/blame.js';
import { startKeygen, KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { lagrange } from '../../src/curve/lagrange.js';
import { type Point, Point as P, mul, mulG, q } from '../../src/curve/secp256k1.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import { Reader, Writer } from '../../src/protocol/codec.js';
import { runNetwork, type Tamper } from '../helpers/network.js';

const sid = () => Uint8Array.from(randomBytes(32));

function keygen(n: number, t: number, tamper?: Tamper, s = sid()) {
  return runNetwork<KeyShare>(
    [...Array(n).keys()].map((i) => startKeygen({ sid: s, n, t, i })),
    tamper,
  );
}

function outputs(results: ReturnType<typeof keygen>): KeyShare[] {
  return results.map((r, i) => {
    if (!r.output) throw new Error(`party ${i} did not finish: ${JSON.stringify(r.abort ?? r)}`);
    return r.output;
  });
}

/** Every t-subset's Lagrange combination of the public shares gives Y (checked on points only:
 *  the secret key is never assembled, not even here). */
function assertConsistent(t: import('ava').ExecutionContext, shares: KeyShare[], threshold: number): void {
  const first = shares[0] as KeyShare;
  const Y = first.public.Y;
  for (const s of shares) {
    t.true(s.public.Y.equals(Y));
    s.public.X.forEach((X, j) => t.true(X.equals(first.public.X[j] as Point)));
    t.true(mulG(s.secret.x).equals(s.public.X[s.public.i] as Point));
  }
  const n = shares.length;
  const subsets = (k: number, from = 0): number[][] =>
    k === 0 ? [[]] : [...Array(n).keys()].slice(from).flatMap((j) => subsets(k - 1, j + 1).map((r) => [j, ...r]));
  for (const T of subsets(threshold)) {
    const Yt = T.reduce((acc, j) => acc.add(mul(first.public.X[j] as Point, lagrange(T, j))), P.ZERO);
    t.true(Yt.equals(Y), `subset ${T.join(',')}`);
  }
  // independent check of the encoding: noble parses our compressed public key
  t.notThrows(() => secp256k1.Point.fromHex(Y.toHex(true)));
}

test('2-of-3 key generation: all parties agree and every pair interpolates to Y', (t) => {
  const shares = outputs(keygen(3, 2));
  assertConsistent(t, shares, 2);
});

test('3-of-5 key generation', (t) => {
  const shares = outputs(keygen(5, 3));
  assertConsistent(t, shares, 3);
});

test('fresh sessions give fresh keys', (t) => {
  const a = outputs(keygen(3, 2))[0] as KeyShare;
  const b = outputs(keygen(3, 2))[0] as KeyShare;
  t.false(a.public.Y.equals(b.public.Y));
});

// --- tamper harness: party 1 misbehaves; honest parties must abort naming it ---------------------

function rewrite(from: number, round: string, f: (body: Uint8Array, to: number) => Uint8Array): Tamper {
  return (m, to) => (m.from === from && m.round === round ? [{ ...m, body: f(m.body, to) }] : undefined);
}

function assertBlamed(
  t: import('ava').ExecutionContext,
  results: ReturnType<typeof keygen>,
  culprit: number | null,
  code: BlameCode,
  reason: RegExp,
  honest: number[],
): void {
  for (const i of honest) {
    const r = results[i];
    t.truthy(r?.abort, `party ${i} should abort`);
    t.false(Boolean(r?.output), `party ${i} must produce no key share`);
    if (culprit === null) t.deepEqual(r?.abort?.culprits, []);
    else t.deepEqual(r?.abort?.culprits, [culprit]);
    t.is(r?.abort?.code, code, `party ${i}`);
    t.regex(r?.abort?.reason ?? '', reason);
  }
}

/** Re-encode a decommitment with S having an extra commitment (t + 1 entries). */
function addCoefficient(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const version = r.u8();
  const rid = r.fixed(32);
  const S = r.list((x) => x.point(), {});
  const A = r.point();
  const u = r.fixed(32);
  return new Writer()
    .u8(version)
    .fixed(rid)
    .list([...S, mulG(5n)], (w, p) => w.point(p))
    .point(A)
    .fixed(u)
    .finish();
}

test('A12: a commitment vector with t + 1 entries is rejected, sender named', (t) => {
  const results = keygen(3, 2, rewrite(1, KEYGEN_ROUND.decommit, addCoefficient));
  assertBlamed(t, results, 1, 'malformed', /S must have exactly 2 entries/, [0, 2]);
});

test('a VSS share that does not match the commitments is rejected, sender named', (t) => {
  const results = keygen(
    3,
    2,
    rewrite(1, KEYGEN_ROUND.share, (b) => {
      const c = Uint8Array.from(b);
      c[c.length - 1] = (c[c.length - 1] as number) ^ 1;
      return c;
    }),
  );
  assertBlamed(t, results, 1, 'share-invalid', /VSS check/, [0, 2]);
});

test('an opening that differs from the commitment is rejected, sender named', (t) => {
  const results = keygen(
    3,
    2,
    rewrite(1, KEYGEN_ROUND.decommit, (b) => {
      const c = Uint8Array.from(b);
      c[5] = (c[5] as number) ^ 0xff; // inside rid
      return c;
    }),
  );
  assertBlamed(t, results, 1, 'commitment-mismatch', /does not match commitment/, [0, 2]);
});

test('A11: equivocated commitments are caught by the echo round', (t) => {
  const results = keygen(
    3,
    2,
    rewrite(1, KEYGEN_ROUND.commit, (b, to) => {
      if (to !== 2) return b;
      const c = Uint8Array.from(b);
      c[3] = (c[3] as number) ^ 1;
      return c;
    }),
  );
  for (const i of [0, 2]) {
    t.is(results[i]?.abort?.code, 'broadcast-mismatch');
    t.regex(results[i]?.abort?.reason ?? '', /broadcasts differ/);
    t.falsy(results[i]?.output);
  }
});

test('a wrong Schnorr response is rejected, sender named', (t) => {
  const results = keygen(
    3,
    2,
    rewrite(1, KEYGEN_ROUND.proof, (b) => {
      const z = BigInt('0x' + Buffer.from(b.subarray(1)).toString('hex'));
      return new Writer()
        .u8(1)
        .scalar((z + 1n) % q)
        .finish();
    }),
  );
  assertBlamed(t, results, 1, 'proof-invalid', /sch\/equation/, [0, 2]);
});

test('A4/A7: a Schnorr proof replayed from another session is rejected', (t) => {
  // record party 1's proof in session A, then replay it in session B
  let recorded: Uint8Array | undefined;
  keygen(3, 2, (m) => {
    if (m.from === 1 && m.round === KEYGEN_ROUND.proof) recorded = m.body;
    return undefined;
  });
  t.truthy(recorded);
  const results = keygen(
    3,
    2,
    rewrite(1, KEYGEN_ROUND.proof, () => recorded as Uint8Array),
  );
  assertBlamed(t, results, 1, 'proof-invalid', /sch\/equation/, [0, 2]);
});

test('malformed messages are rejected with the sender named', (t) => {
  const cases: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    [KEYGEN_ROUND.commit, (b) => b.subarray(0, 10), /malformed \(truncated/],
    [KEYGEN_ROUND.commit, (b) => Uint8Array.from([...b, 0]), /trailing bytes/],
    [KEYGEN_ROUND.commit, (b) => Uint8Array.from([2, ...b.subarray(1)]), /version/],
    [
      KEYGEN_ROUND.share,
      () =>
        new Writer()
          .u8(1)
          .fixed(Uint8Array.from(Buffer.from((q + 1n).toString(16).padStart(64, '0'), 'hex')))
          .finish(),
      /below the group order/,
    ],
    [
      KEYGEN_ROUND.decommit,
      (b) => {
        const c = Uint8Array.from(b);
        c[1 + 32 + 4] = 0x05;
        return c;
      },
      /malformed/,
    ],
  ];
  for (const [round, f, reason] of cases) {
    const results = keygen(3, 2, rewrite(1, round, f));
    assertBlamed(t, results, 1, 'malformed', reason, [0, 2]);
  }
});

test('a duplicated or misrouted message is rejected', (t) => {
  const dup: Tamper = (m) => (m.from === 1 && m.round === KEYGEN_ROUND.commit ? [m, m] : undefined);
  assertBlamed(t, keygen(3, 2, dup), 1, 'duplicate-message', /more than one message/, [0, 2]);
  const asBroadcast: Tamper = (m) =>
    m.from === 1 && m.round === KEYGEN_ROUND.share ? [{ ...m, to: 'all' }] : undefined;
  assertBlamed(t, keygen(3, 2, asBroadcast), 1, 'wrong-recipient', /wrong message kind/, [0, 2]);
});

test('a round cannot be handled twice', (t) => {
  const step = startKeygen({ sid: sid(), n: 3, t: 2, i: 0 });
  if (step.kind !== 'next') return t.fail();
  step.round.handle([]);
  t.throws(() => step.round.handle([]), { message: /handled twice/ });
});

test('bad parameters are refused', (t) => {
  t.throws(() => startKeygen({ sid: sid(), n: 3, t: 4, i: 0 }), { instanceOf: RangeError });
  t.throws(() => startKeygen({ sid: new Uint8Array(4), n: 3, t: 2, i: 0 }), { instanceOf: RangeError });
  t.throws(() => startKeygen({ sid: sid(), n: 3, t: 2, i: 3 }), { instanceOf: RangeError });
});

test('A11: a Schnorr proof equivocated between parties leaves no honest party with a key share', (t) => {
  // party 1 sends its valid proof to party 0 and a wrong one to party 2
  const results = keygen(
    3,
    2,
    rewrite(1, KEYGEN_ROUND.proof, (b, to) => {
      if (to !== 2) return b;
      const z = BigInt('0x' + Buffer.from(b.subarray(1)).toString('hex'));
      return new Writer()
        .u8(1)
        .scalar((z + 1n) % q)
        .finish();
    }),
  );
  t.deepEqual(results[2]?.abort?.culprits, [1]);
  t.falsy(results[0]?.output, 'party 0 must wait for every confirmation and never output');
  t.true(results[0]?.stalled === true || results[0]?.abort !== undefined);
});

test('a confirmation that differs aborts every honest party before output, naming its sender (n − 1 agree)', (t) => {
  const results = keygen(
    3,
    2,
    rewrite(1, KEYGEN_ROUND.confirm, (b) => {
      const c = Uint8Array.from(b);
      c[4] = (c[4] as number) ^ 1;
      return c;
    }),
  );
  for (const i of [0, 2]) {
    t.falsy(results[i]?.output);
    t.is(results[i]?.abort?.code, 'confirmation-mismatch');
    t.regex(results[i]?.abort?.reason ?? '', /keygen\/confirm: confirmation of party 1 differs/);
    t.deepEqual(results[i]?.abort?.culprits, [1], 'the one confirmation against n − 1 agreeing ones is its sender’s');
  }
});

test('a party whose own confirmation is the odd one out names nobody', (t) => {
  // party 0 is shown different confirmations by both others: it cannot tell who is right
  const results = keygen(3, 2, (m, to) => {
    if (m.round !== KEYGEN_ROUND.confirm || m.from === 0 || to !== 0) return undefined;
    const c = Uint8Array.from(m.body);
    c[4] = (c[4] as number) ^ 1;
    return [{ ...m, body: c }];
  });
  t.falsy(results[0]?.output);
  t.deepEqual(results[0]?.abort?.culprits, []);
});
