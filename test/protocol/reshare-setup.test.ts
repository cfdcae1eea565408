/**
 * Resharing setup agreement (docs/security.md A19): parties that hold different setups for one sid
 * (roles, t', old key) are a mismatch, not a misbehaviour — no honest party may be named for it.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { RESHARE_ROUND, startReshare, type ReshareOutput, type ReshareRole } from '../../src/protocol/reshare/index.js';
import { decodeScalar } from '../../src/protocol/reshare/messages.js';
import { lagrange } from '../../src/curve/lagrange.js';
import { modq } from '../../src/curve/secp256k1.js';
import type { ReshareParams } from '../../src/protocol/reshare/params.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import { keygenShares } from '../helpers/cluster.js';
import { runNetwork } from '../helpers/network.js';

const REPLACE: ReshareRole[] = [{ old: 0, new: 0 }, { old: 1, new: 1 }, { new: 2 }];

function params(old: KeyShare[], roles: ReshareRole[], n: number, t: number, sid: Uint8Array): ReshareParams[] {
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

test("a newcomer configured with another t' than the dealers: a mismatch naming nobody, not each other's openings", (t) => {
  const old = keygenShares(3, 2);
  const sid = Uint8Array.from(randomBytes(32));
  const ps = params(old, REPLACE, 3, 2, sid);
  const misled = params(old, REPLACE, 3, 3, sid)[2] as ReshareParams;
  const res = runNetwork<ReshareOutput>([startReshare(ps[0]!), startReshare(ps[1]!), startReshare(misled)]);
  t.false(res.some((r) => r.output));
  for (const [i, r] of res.entries())
    t.deepEqual(r.abort?.culprits, [], `party ${i}: ${r.abort?.reason ?? JSON.stringify(r)}`);
});

test('a newcomer that holds the dealers’ old indices swapped: a mismatch naming nobody, not each other’s openings', (t) => {
  const old = keygenShares(3, 3);
  const sid = Uint8Array.from(randomBytes(32));
  const roles: ReshareRole[] = [{ old: 0, new: 0 }, { old: 1, new: 1 }, { old: 2, new: 2 }, { new: 3 }];
  const swapped: ReshareRole[] = [{ old: 1, new: 0 }, { old: 0, new: 1 }, { old: 2, new: 2 }, { new: 3 }];
  const ps = params(old, roles, 4, 3, sid);
  const misled = params(old, swapped, 4, 3, sid)[3] as ReshareParams;
  const res = runNetwork<ReshareOutput>([...ps.slice(0, 3).map((p) => startReshare(p)), startReshare(misled)]);
  t.false(res.some((r) => r.output));
  for (const [i, r] of res.entries())
    t.deepEqual(r.abort?.culprits, [], `party ${i}: ${r.abort?.reason ?? JSON.stringify(r)}`);
});

test("no share leaves a dealer before every party agreed on t': dealers told t' = 2 while the new group runs 3-of-5 would hand two receivers the key", (t) => {
  const old = keygenShares(3, 2);
  const x = modq(lagrange([0, 1], 0) * old[0]!.secret.x + lagrange([0, 1], 1) * old[1]!.secret.x);
  const sid = Uint8Array.from(randomBytes(32));
  // 2-of-3 grows to 3-of-5: node_1 and node_3 deal; node_4 and node_5 (new indices 3, 4) collude
  const roles: ReshareRole[] = [{ old: 0, new: 0 }, { new: 1 }, { old: 1, new: 2 }, { new: 3 }, { new: 4 }];
  const low = params(old, roles, 5, 2, sid); // what the dealers hold
  const right = params(old, roles, 5, 3, sid); // what the receivers hold
  const seen = new Map<number, bigint[]>(); // dealer position → shares seen by new indices 3, 4
  runNetwork<ReshareOutput>(
    [
      startReshare(low[0]!),
      startReshare(right[1]!),
      startReshare(low[2]!),
      startReshare(right[3]!),
      startReshare(right[4]!),
    ],
    (m, to) => {
      if (m.round === RESHARE_ROUND.share && (to === 3 || to === 4))
        seen.set(m.from, [...(seen.get(m.from) ?? []), decodeScalar(m.body, 'σ')]);
      return undefined;
    },
  );
  // two points of each degree-1 polynomial give its constant term λ_d·x_d; their sum is x
  const recovered = [...seen.values()]
    .filter((s) => s.length === 2)
    .reduce((acc, [a, b]) => modq(acc + lagrange([3, 4], 3) * (a as bigint) + lagrange([3, 4], 4) * (b as bigint)), 0n);
  t.not(recovered, x, 'two colluding receivers of a 3-of-5 group must learn nothing');
});
