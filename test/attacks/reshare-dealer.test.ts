/**
 * Attack: a malicious old holder deals badly while the group moves a wallet (docs/security.md A19),
 * on real node services. node_3 of a 2-of-3 group is lost; node_1 and node_2 deal to node_1, node_2
 * and a fresh node_4. node_2 is malicious: its node signs and encrypts what it sends as usual, but
 * its protocol messages are the adversary's. Whatever it deals — another constant term (it would
 * move the key), commitments that are not of its polynomial, a bad share to one receiver, no share
 * at all — the move must stop with nothing committed on any node, node_2 named only where a check
 * of a signed message shows it (a withheld share stalls the run, naming nobody), and node_1 with
 * node_2 must still sign under the unchanged key. Then a malicious receiver: node_4 lies in its
 * confirmation; it is named, and nobody switches.
 */
import test from 'ava';
import { mulG, randomScalar } from '../../src/curve/secp256k1.js';
import { RESHARE_ROUND } from '../../src/protocol/reshare/index.js';
import { encodeHash, encodeScalar } from '../../src/protocol/reshare/messages.js';
import { cheatingDealer, corruptResharing, tamperOutbox } from '../helpers/reshare-adversary.js';
import { abortsOf, describeWallet, moveScene, unmoved } from '../helpers/reshare-move.js';

const NODE_2 = 1;
const NODE_4 = 2;

test.serial('a dealer dealing another constant term is named by every other node; nothing moves', async (t) => {
  const scene = await moveScene(t, 'wallet-attack-reshare-key');
  corruptResharing(scene.after.services[NODE_2]!, (p) => cheatingDealer(p, { delta: 1n, onOwnError: 'stall' }));
  const o = await scene.reshare();
  t.like(o, { status: 'aborted', code: 'dealt-key-mismatch' });
  t.deepEqual(o.status === 'aborted' ? o.culprits.map((c) => c.nodeId) : [], ['node_2']);
  for (const k of [0, NODE_4])
    t.like(abortsOf(scene, k)[0], { culprits: [NODE_2], code: 'dealt-key-mismatch' }, `${scene.after.ids[k]}`);
  await unmoved(t, scene);
});

test.serial(
  'a dealer whose Feldman commitments are not of its polynomial is named by every receiver; nothing moves',
  async (t) => {
    const scene = await moveScene(t, 'wallet-attack-reshare-vss');
    // the constant term stays λ_d·X_d (that check passes); a higher coefficient is another one
    corruptResharing(scene.after.services[NODE_2]!, (p) =>
      cheatingDealer(p, {
        commitments: (S) => S.map((P, k) => (k === 1 ? mulG(randomScalar()) : P)),
        onOwnError: 'stall',
      }),
    );
    const o = await scene.reshare();
    t.like(o, { status: 'aborted', code: 'share-invalid' });
    for (const k of [0, NODE_4])
      t.like(abortsOf(scene, k)[0], { culprits: [NODE_2], code: 'share-invalid' }, `${scene.after.ids[k]}`);
    await unmoved(t, scene);
  },
);

test.serial('a dealer sending one receiver a share off its polynomial is named by it; nothing moves', async (t) => {
  const scene = await moveScene(t, 'wallet-attack-reshare-share');
  corruptResharing(scene.after.services[NODE_2]!, (_p, honest) =>
    tamperOutbox(honest, (m) =>
      m.round === RESHARE_ROUND.share && m.to === NODE_4 ? [{ ...m, body: encodeScalar(randomScalar()) }] : [m],
    ),
  );
  const o = await scene.reshare();
  t.like(o, { status: 'aborted', code: 'share-invalid', reportedBy: 'node_4' });
  t.like(abortsOf(scene, NODE_4)[0], { culprits: [NODE_2], code: 'share-invalid' });
  // node_1 saw nothing wrong: it blames nobody (the coordinator cancels it)
  for (const a of abortsOf(scene, 0)) t.deepEqual(a.culprits, []);
  await unmoved(t, scene);
});

test.serial('a dealer withholding a share: the run stalls, naming nobody; nothing moves', async (t) => {
  const scene = await moveScene(t, 'wallet-attack-reshare-withhold');
  corruptResharing(scene.after.services[NODE_2]!, (_p, honest) =>
    tamperOutbox(honest, (m) => (m.round === RESHARE_ROUND.share && m.to === NODE_4 ? [] : [m])),
  );
  const o = await scene.reshare(undefined, 3_000);
  t.like(o, { status: 'failed', failure: 'stalled' });
  for (const k of [0, NODE_4]) for (const a of abortsOf(scene, k)) t.deepEqual(a.culprits, []);
  await unmoved(t, scene);
});

test.serial(
  'a receiver lying in its confirmation is named by the others; nobody switches, the old holders sign',
  async (t) => {
    const scene = await moveScene(t, 'wallet-attack-reshare-confirm');
    corruptResharing(scene.after.services[NODE_4]!, (_p, honest) =>
      tamperOutbox(honest, (m) =>
        m.round === RESHARE_ROUND.confirm ? [{ ...m, body: encodeHash(new Uint8Array(32).fill(7)) }] : [m],
      ),
    );
    const o = await scene.reshare();
    t.like(o, { status: 'aborted', code: 'confirmation-mismatch' });
    for (const k of [0, NODE_2])
      t.like(abortsOf(scene, k)[0], { culprits: [NODE_4], code: 'confirmation-mismatch' }, `${scene.after.ids[k]}`);
    // every node stored the run as pending before its confirmation left; none may commit it: the
    // evidence would need node_4's confirmation of the same outcome, which it never signed
    await unmoved(t, scene, [0, NODE_2, NODE_4]);
    const d = await describeWallet(scene.after.services[0]!, scene.walletId);
    t.is(d.committed?.epoch, scene.oldEpoch);
  },
);
