/**
 * Attack: a malicious coordinator while the group moves a wallet (docs/security.md A19), on real
 * node services. node_3 of a 2-of-3 group is lost; node_1 and node_2 deal to node_1, node_2 and a
 * fresh node_4. The coordinator speaks to the nodes through a relay of its own (no honest
 * orchestrator in between): it gives node_4 another setup than the dealers — another epoch, other
 * old indices, other dealers, another old key — and tells every node at `start` that all
 * fingerprints equal its own, so each starts; and it replays a former run's envelopes of the same
 * setup into a new run. Each run must stop with no honest node named and nothing committed or
 * pending anywhere, and an honest move must still succeed afterwards (node_1 + node_4 sign, checked
 * with @noble/curves).
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import { mulG, pointFromBytes, pointToBytes, randomScalar } from '../../src/curve/secp256k1.js';
import type { NodeService } from '../../src/node/service.js';
import { RESHARE_ROUND } from '../../src/protocol/reshare/index.js';
import { RPC_VERSION, decodeJson, encodeJson, type ReshareSetup, type SessionUpdate } from '../../src/rpc/messages.js';
import { signsWith } from '../helpers/node-signing.js';
import { describeWallet, moveScene, unmoved, type MoveScene } from '../helpers/reshare-move.js';

const NODE_4 = 2;

async function call(s: NodeService, req: object): Promise<Record<string, unknown>> {
  return decodeJson(await s.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Record<string, unknown>;
}

interface RelayRun {
  /** each node's last answer: done, aborted (with its abort) or still running */
  readonly ends: SessionUpdate[];
  /** every envelope a node sent, base64 */
  readonly sent: string[];
}

interface RelayOptions {
  /** envelopes handed to every node before the run's own */
  readonly inject?: readonly string[];
  /** envelopes of these rounds are not relayed */
  readonly drop?: readonly string[];
}

/**
 * A coordinator of its own: prepares node k with `setups[k]`, starts every node with a state list
 * that repeats the node's own fingerprint (so no node sees a split at `start`), then relays every
 * envelope by its header. Stops when no node has anything left to read, and aborts the session.
 */
async function relay(scene: MoveScene, setups: readonly ReshareSetup[], o: RelayOptions = {}): Promise<RelayRun> {
  const { services, ids } = scene.after;
  const sessionId = `rs_${randomBytes(8).toString('hex')}`;
  const prepared = await Promise.all(
    services.map(async (s, k) => {
      const r = await call(s, {
        method: 'prepare',
        sessionId,
        protocol: 'reshare',
        parties: ids,
        walletId: scene.walletId,
        reshare: setups[k],
      });
      if (r.ok !== true) throw new Error(`prepare at ${ids[k]}: ${String(r.error)}`);
      return r as { nonce: string; state: string; sessionKey: object };
    }),
  );
  const nonces = prepared.map((p) => p.nonce);
  const sessionKeys = prepared.map((p) => p.sessionKey);
  const ends: SessionUpdate[] = [];
  const sent: string[] = [];
  const inbox: string[][] = services.map(() => [...(o.inject ?? [])]);
  const take = (k: number, u: SessionUpdate) => {
    ends[k] = u;
    for (const { envelope } of u.outbox) {
      sent.push(envelope);
      const d = decodeEnvelope(Buffer.from(envelope, 'base64'));
      if (o.drop?.includes(d.round)) continue;
      for (const j of d.to === 'all' ? services.keys() : [d.to]) if (j !== k) inbox[j]?.push(envelope);
    }
  };
  const started = await Promise.all(
    services.map((s, k) =>
      call(s, {
        method: 'start',
        sessionId,
        nonces,
        // the lie: "everybody holds your state"
        states: prepared.map(() => (prepared[k] as { state: string }).state),
        sessionKeys,
      }),
    ),
  );
  started.forEach((u, k) => take(k, u as unknown as SessionUpdate));
  for (let guard = 0; guard < 100; guard++) {
    const busy = services.flatMap((_, k) => (ends[k]?.status === 'running' && inbox[k]!.length > 0 ? [k] : []));
    if (busy.length === 0) break;
    for (const k of busy) {
      const envelopes = inbox[k]!.splice(0, 64);
      take(k, (await call(services[k]!, { method: 'deliver', sessionId, envelopes })) as unknown as SessionUpdate);
    }
  }
  await Promise.all(services.map((s) => call(s, { method: 'abort', sessionId })));
  return { ends, sent };
}

/** Public shares of another key through the same Y: Y + (j + 1)·P, degree 1 (a consistent, wrong old key). */
function otherOldKey(setup: ReshareSetup): ReshareSetup['old'] {
  const Y = pointFromBytes(Buffer.from(setup.old.publicKey, 'hex'));
  const P = mulG(randomScalar());
  const X = setup.old.X.map((_, j) => Buffer.from(pointToBytes(Y.add(P.multiply(BigInt(j + 1))))).toString('hex'));
  return { ...setup.old, X };
}

test.serial(
  'a coordinator that gives node_4 another setup and hides the split at start: nobody named, nothing moves',
  async (t) => {
    const scene = await moveScene(t, 'wallet-attack-reshare-split');
    const { setup } = scene;
    const Y = setup.old.publicKey;
    const splits: [string, ReshareSetup][] = [
      ['another new epoch', { ...setup, epoch: setup.epoch + 1 }],
      ['the dealers’ old indices swapped', { ...setup, oldIndices: [1, 0] }],
      [
        'node_2 dealing alone under a 1-of-3 old key',
        { ...setup, dealers: [1], oldIndices: [1], old: { ...setup.old, t: 1, X: [Y, Y, Y] } },
      ],
      ['another old key through the same Y', { ...setup, old: otherOldKey(setup) }],
    ];
    for (const [what, split] of splits) {
      const run = await relay(scene, [setup, setup, split]);
      for (const [k, end] of run.ends.entries()) {
        t.not(end.status, 'done', `${what}: ${scene.after.ids[k]} must not finish`);
        t.deepEqual(end.abort?.culprits ?? [], [], `${what}: ${scene.after.ids[k]} names nobody`);
      }
      t.true(
        run.ends.some((e) => e.abort?.code === 'envelope-rejected'),
        `${what}: the other run's envelopes are refused`,
      );
    }
    await unmoved(t, scene);
    // an honest move still goes through
    const moved = await scene.reshare();
    t.is(moved.status, 'done');
    t.is((await describeWallet(scene.after.services[NODE_4]!, scene.walletId)).committed?.epoch, setup.epoch);
    t.true(await signsWith(scene.after, [0, NODE_4], scene.walletId, scene.publicKey));
  },
);

test.serial(
  'a coordinator replaying a former run of the same setup into a new one: refused, nobody named, nothing moves',
  async (t) => {
    const scene = await moveScene(t, 'wallet-attack-reshare-replay');
    const { setup } = scene;
    // a run of the honest setup cut short after the shares left, before any proof or confirmation
    const former = await relay(scene, [setup, setup, setup], { drop: [RESHARE_ROUND.proof, RESHARE_ROUND.confirm] });
    t.false(former.ends.some((e) => e.status === 'done'));
    t.true(
      former.sent.some((e) => decodeEnvelope(Buffer.from(e, 'base64')).round === RESHARE_ROUND.share),
      'the former run got as far as the shares',
    );
    // the same setup again (so the same fingerprints), the former run's envelopes handed over first
    const replayed = await relay(scene, [setup, setup, setup], { inject: former.sent });
    for (const [k, end] of replayed.ends.entries()) {
      t.like(end, { status: 'aborted', abort: { code: 'envelope-rejected' } }, `${scene.after.ids[k]}`);
      t.deepEqual(end.abort?.culprits, [], `${scene.after.ids[k]} names nobody`);
      t.regex(end.abort?.reason ?? '', /wrong-session/);
    }
    await unmoved(t, scene);
    const moved = await scene.reshare();
    t.is(moved.status, 'done');
    t.true(await signsWith(scene.after, [1, NODE_4], scene.walletId, scene.publicKey));
  },
);
