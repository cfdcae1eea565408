/**
 * Key generation attacks (docs/security.md A7, A12, A14) not covered by keygen.test.ts, each failing
 * when the one check it targets is removed:
 *  - commitments bind the sender's index, the session and every committed value (a copied or
 *    replayed commitment, or an opening with another S, is refused as "does not match");
 *  - a Schnorr proof of another prover is refused, and the challenge binds sid, prover, rid, X, A;
 *  - a public key Y = O or a public share X_k = O is refused. With the commitments these need a
 *    party that knows the others' polynomials before choosing its own; the tests play that party
 *    by reading the honest parties' state (a broken commitment), to show the checks themselves.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { BlameCode } from '../../src/protocol/blame.js';
import { startKeygen, KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { commitmentHash } from '../../src/protocol/keygen/commitment.js';
import {
  decodeDecommit,
  decodeHash,
  encodeDecommit,
  encodeHash,
  type Decommit,
} from '../../src/protocol/keygen/messages.js';
import { echoHash } from '../../src/protocol/echo.js';
import { Round2 } from '../../src/protocol/keygen/round2.js';
import { challengeSch, commitSch } from '../../src/zk/sch.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { Msg, Step } from '../../src/protocol/machine.js';
import { type Point, G, modq, mulG, q, randomScalar } from '../../src/curve/secp256k1.js';
import { runNetwork, type PartyResult, type Tamper } from '../helpers/network.js';

const newSid = () => Uint8Array.from(randomBytes(32));
type Results = PartyResult<KeyShare>[];

function keygen(tamper?: Tamper, sid = newSid(), starts?: Step<KeyShare>[]): Results {
  return runNetwork<KeyShare>(starts ?? [0, 1, 2].map((i) => startKeygen({ sid, n: 3, t: 2, i })), tamper);
}

/**
 * The tamper `inner`, plus the malicious party `bad` echoing the commitments as delivered (a party
 * that replays or copies commitments does so consistently; otherwise the echo round catches it first).
 */
function consistent(sid: Uint8Array, bad: number, inner: Tamper): Tamper {
  const delivered = new Map<number, Uint8Array>();
  const original = new Map<number, Uint8Array>();
  const echo = (view: Map<number, Uint8Array>) =>
    encodeHash(
      echoHash(
        sid,
        KEYGEN_ROUND.commit,
        [0, 1, 2].map((j) => view.get(j) as Uint8Array),
      ),
    );
  return (m, to) => {
    if (m.round === KEYGEN_ROUND.commit) original.set(m.from, decodeHash(m.body));
    const out = inner(m, to) ?? [m];
    for (const o of out) if (o.round === KEYGEN_ROUND.commit) delivered.set(o.from, decodeHash(o.body));
    if (m.round === KEYGEN_ROUND.echo) {
      // the others see the echo of what they were sent; the bad party (honest code) of what it sent
      if (m.from === bad) return [{ ...m, body: echo(delivered) }];
      if (to === bad) return [{ ...m, body: echo(original) }];
    }
    return out;
  };
}

function blamed(
  t: ExecutionContext,
  results: Results,
  culprits: number[],
  code: BlameCode,
  reason: RegExp,
  honest: number[],
): void {
  for (const i of honest) {
    const r = results[i];
    t.falsy(r?.output, `party ${i} must produce no key share`);
    t.deepEqual(r?.abort?.culprits, culprits, `party ${i}: ${r?.abort?.reason ?? 'no abort'}`);
    t.is(r?.abort?.code, code, `party ${i}`);
    t.regex(r?.abort?.reason ?? '', reason, `party ${i}`);
  }
}

test('A12: a party that copies another’s commitment and opening is refused (its index is inside the commitment)', (t) => {
  const seen = new Map<string, Uint8Array>();
  const sid = newSid();
  const copy: Tamper = (m) => {
    if (m.from === 1 && (m.round === KEYGEN_ROUND.commit || m.round === KEYGEN_ROUND.decommit))
      seen.set(m.round, m.body);
    if (m.from === 2 && seen.has(m.round)) return [{ ...m, body: seen.get(m.round) as Uint8Array }];
    return undefined;
  };
  const results = keygen(consistent(sid, 2, copy), sid);
  blamed(t, results, [2], 'commitment-mismatch', /^keygen\/decommit: opening does not match commitment V_j$/, [0, 1]);
});

test('A7: a commitment, opening and shares replayed from another session are refused (the sid is inside the commitment)', (t) => {
  const old = new Map<string, Uint8Array>();
  const key = (m: Msg, to: number) => `${m.round}>${m.round === KEYGEN_ROUND.share ? to : 'all'}`;
  keygen((m, to) => {
    if (m.from === 1) old.set(key(m, to), m.body);
    return undefined;
  });
  const replayed = [KEYGEN_ROUND.commit, KEYGEN_ROUND.decommit, KEYGEN_ROUND.share] as string[];
  const sid = newSid();
  const results = keygen(
    consistent(sid, 1, (m, to) =>
      m.from === 1 && replayed.includes(m.round) ? [{ ...m, body: old.get(key(m, to)) as Uint8Array }] : undefined,
    ),
    sid,
  );
  blamed(t, results, [1], 'commitment-mismatch', /^keygen\/decommit: opening does not match commitment V_j$/, [0, 2]);
});

test('A12: an opening with another (valid) Feldman commitment S_j is refused as not matching V_j', (t) => {
  const results = keygen((m) => {
    if (m.from !== 1 || m.round !== KEYGEN_ROUND.decommit) return undefined;
    const d = decodeDecommit(m.body, 2);
    return [{ ...m, body: encodeDecommit({ ...d, S: [d.S[0] as Point, (d.S[1] as Point).add(G)] }) }];
  });
  blamed(t, results, [1], 'commitment-mismatch', /^keygen\/decommit: opening does not match commitment V_j$/, [0, 2]);
});

test('A7: a Schnorr proof of another prover, forwarded as one’s own, is refused', (t) => {
  // party 1's proof is relayed first; party 2 sends a copy of it instead of its own
  let zOf1: Uint8Array | undefined;
  const results = keygen((m) => {
    if (m.round !== KEYGEN_ROUND.proof) return undefined;
    if (m.from === 1) zOf1 = m.body;
    if (m.from === 2) return [{ ...m, body: zOf1 as Uint8Array }];
    return undefined;
  });
  t.truthy(zOf1);
  blamed(t, results, [2], 'proof-invalid', /^keygen\/proof: sch\/equation$/, [0, 1]);
});

test('Πsch: the challenge changes with each of sid, prover, rid, X and A (Fiat–Shamir binds the whole statement and commitment)', (t) => {
  const sid = newSid();
  const rid = newSid();
  const X = mulG(randomScalar());
  const A = mulG(randomScalar());
  const e = challengeSch(sid, 1, rid, X, A);
  t.not(challengeSch(newSid(), 1, rid, X, A), e, 'sid');
  t.not(challengeSch(sid, 2, rid, X, A), e, 'prover');
  t.not(challengeSch(sid, 1, newSid(), X, A), e, 'rid');
  t.not(challengeSch(sid, 1, rid, X.add(G), A), e, 'X');
  t.not(challengeSch(sid, 1, rid, X, A.add(G)), e, 'A');
  t.is(challengeSch(sid, 1, rid, X, A), e, 'deterministic');
});

// --- Y = O and X_k = O: the checks behind the commitments --------------------------------------

/** Party i's shares σ_{i,k} = f_i(k + 1), read from its round-1 state (test-only peek). */
function sharesOf(step: Step<KeyShare>): readonly bigint[] {
  if (step.kind !== 'next') throw new Error('unreachable');
  return (step.round as unknown as { s: { sigma: readonly bigint[] } }).s.sigma;
}

/** Party i with the polynomial c0 + c1·x of our choosing, otherwise the honest rounds. */
function chosenPolynomial(sid: Uint8Array, i: number, c0: bigint, c1: bigint): Step<KeyShare> {
  const params = { sid, n: 3, t: 2, i };
  const sigma = [0, 1, 2].map((k) => modq(c0 + c1 * BigInt(k + 1)));
  const { commitment, nonce } = commitSch();
  const decommit: Decommit = { rid: newSid(), S: [mulG(c0), mulG(c1)], A: commitment.A, u: newSid() };
  const V = commitmentHash(sid, 3, 2, i, decommit);
  return {
    kind: 'next',
    round: new Round2({ params, sigma, nonce, decommit, V }),
    outbox: [{ from: i, to: 'all', round: KEYGEN_ROUND.commit, body: encodeHash(V) }],
  };
}

test('A14: a public key Y = O (constant terms cancelling) is refused before any key share is output', (t) => {
  const sid = newSid();
  const honest = [0, 1].map((i) => startKeygen({ sid, n: 3, t: 2, i }));
  // f(0) = 2·f(1) − f(2) for a line; party 2 picks f_2(0) = −(f_0(0) + f_1(0))
  const f0 = honest.map((s) => modq(2n * (sharesOf(s)[0] as bigint) - (sharesOf(s)[1] as bigint)));
  const results = keygen(undefined, sid, [
    ...honest,
    chosenPolynomial(sid, 2, modq(-(f0[0] as bigint) - (f0[1] as bigint)), randomScalar()),
  ]);
  blamed(t, results, [], 'identity-point', /^keygen: public key is the identity$/, [0, 1]);
});

test('A14: a public share X_1 = O is refused before any key share is output', (t) => {
  const sid = newSid();
  const honest = [0, 1].map((i) => startKeygen({ sid, n: 3, t: 2, i }));
  // F(2) = Σ_j f_j(2) = 0: party 2 picks f_2(2) = −(σ_{0,1} + σ_{1,1}) with a random f_2(0)
  const target = modq(-honest.reduce((acc, s) => acc + (sharesOf(s)[1] as bigint), 0n));
  const c0 = randomScalar();
  const c1 = modq((target - c0) * ((q + 1n) / 2n)); // (target − c0)/2
  const results = keygen(undefined, sid, [...honest, chosenPolynomial(sid, 2, c0, c1)]);
  blamed(t, results, [], 'identity-point', /^keygen\/decommit: public share X_1 is the identity$/, [0, 1]);
});
