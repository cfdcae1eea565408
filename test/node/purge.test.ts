/**
 * Purging a wallet at one node (src/node/purge.ts): its share, pending state, archived records and
 * presignatures go; other wallets' records stay; the tombstones of the runs it confirmed stay, so
 * the node still refuses to abandon them; a second purge finishes nothing more and fails nothing.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Lifecycle } from '../../src/node/lifecycle.js';
import { encodeEpoch, pack } from '../../src/node/records.js';
import { purgeWallet } from '../../src/node/purge.js';
import { Presignatures, SeenSessions } from '../../src/node/storage/presignatures.js';
import { encodePublicKeyShare, encodeSecretKeyShare } from '../../src/protocol/storage-format.js';
import { keygenShares } from '../helpers/cluster.js';
import { singleNodeService } from '../helpers/node-service.js';
import { openNode, tempDir } from '../helpers/storage.js';

const W = 'w_purged0001';
const OTHER = 'w_kept000001';

test('wallet purge at a node: share, pending state, archived records and presignatures destroyed; tombstones and other wallets kept', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const share = keygenShares(3, 2)[0]!;
  const shareRecord = () =>
    pack(encodePublicKeyShare(share.public), encodeSecretKeyShare(share.secret), encodeEpoch(2));
  await store.put('keyshare', W, shareRecord());
  await store.put('keyshare', OTHER, shareRecord());
  const presigs = new Presignatures(store);
  const presig = (w: string) => pack(new TextEncoder().encode(w), Uint8Array.of(1), Uint8Array.of(2));
  await presigs.save('a1'.repeat(32), presig(W));
  await presigs.save('b2'.repeat(32), presig(OTHER));
  const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: () => Promise.resolve() });
  const pendingSid = randomBytes(32);
  await lifecycle.stage(
    W,
    {
      protocol: 'refresh',
      sid: pendingSid,
      round: 'keygen/confirm',
      c: randomBytes(32),
      epoch: 3,
      parts: [randomBytes(40), randomBytes(40)],
    },
    2,
  );
  // an archived pending state of the wallet (an earlier run); these stages write no tombstone
  const archivedSid = randomBytes(32);
  await lifecycle.stage(
    OTHER,
    {
      protocol: 'refresh',
      sid: archivedSid,
      round: 'keygen/confirm',
      c: randomBytes(32),
      epoch: 3,
      parts: [randomBytes(40), randomBytes(40)],
    },
    2,
  );
  const meta = new TextEncoder().encode(JSON.stringify({ kind: 'pending', walletId: W, reason: 'unregistered' }));
  await store.put('archived', `${W}-p-old`, pack(meta, (await store.get('pending', OTHER))!));
  await store.delete('pending', OTHER);
  const seen = new SeenSessions(store);
  t.false(await seen.wasConfirmed(W, pendingSid), 'control: no tombstone before the purge');
  t.false(await seen.wasConfirmed(W, archivedSid));

  const r = await purgeWallet(store, W, 3);
  t.deepEqual(r, {
    deleted: ['keyshare', 'pending'],
    archivedDeleted: 1,
    presignaturesBurnt: 1,
    presignaturesUnreadable: 0,
  });
  t.false(await store.has('keyshare', W));
  t.false(await store.has('pending', W));
  t.deepEqual(await store.list('archived'), []);
  t.true(await presigs.isUsed('a1'.repeat(32)));
  t.deepEqual(await store.list('presig'), ['b2'.repeat(32)]);
  t.false(await presigs.isUsed('b2'.repeat(32)), 'another wallet’s presignature is untouched');
  t.true(await store.has('keyshare', OTHER), 'another wallet’s share is untouched');
  t.true(await seen.wasConfirmed(W, pendingSid), 'the pending run stays confirmed');
  t.true(await seen.wasConfirmed(W, archivedSid), 'the archived run stays confirmed');

  // the node still refuses to abandon either run
  const { call } = await singleNodeService(store);
  for (const sid of [pendingSid, archivedSid])
    t.like(await call({ method: 'abandon', scope: W, sid: Buffer.from(sid).toString('hex') }), {
      ok: false,
      code: 'confirmed',
    });
  t.like(await call({ method: 'wallet', walletId: W }), { ok: true, walletId: W });
  t.is((await call({ method: 'wallet', walletId: W })).committed, undefined);

  t.deepEqual(await purgeWallet(store, W, 3), {
    deleted: [],
    archivedDeleted: 0,
    presignaturesBurnt: 0,
    presignaturesUnreadable: 0,
  });
});
