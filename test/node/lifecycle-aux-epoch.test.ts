/**
 * A key share remembers the aux-info epoch it was made or refreshed under (src/node/lifecycle.ts):
 * staged with the epoch the run bound, refused as stale if the aux-info committed a newer one
 * during the run, written with the share, and read as aux epoch 0 (stale under any aux-info) from
 * records written before the field existed. The stored parts here are opaque bytes: the lifecycle never decodes
 * them.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { AUX_SCOPE, CommitError, LEGACY_EPOCH, Lifecycle } from '../../src/node/lifecycle.js';
import { AUX_RECORD, encodeEpoch, pack } from '../../src/node/records.js';
import { openNode, tempDir } from '../helpers/storage.js';

async function setup(t: import('ava').ExecutionContext, auxEpoch: number) {
  const { store } = await openNode(await tempDir(t), 'node_1');
  await store.put('aux', AUX_RECORD, pack(Uint8Array.of(1), Uint8Array.of(2), encodeEpoch(auxEpoch)));
  const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: async () => undefined });
  return { store, lifecycle };
}

const pending = (auxEpoch: number | undefined) => ({
  protocol: 'refresh' as const,
  sid: Uint8Array.from(randomBytes(32)),
  round: 'confirm',
  c: Uint8Array.from(randomBytes(32)),
  epoch: 1,
  ...(auxEpoch === undefined ? {} : { auxEpoch }),
  parts: [Uint8Array.of(7), Uint8Array.of(8)],
});

test('a share staged under an aux epoch that is no longer committed is refused as stale; nothing is stored', async (t) => {
  const { store, lifecycle } = await setup(t, 3);
  await store.put('keyshare', 'wallet_0001', pack(Uint8Array.of(7), Uint8Array.of(8), encodeEpoch(0), encodeEpoch(2)));
  const e = await t.throwsAsync(lifecycle.stage('wallet_0001', pending(2), 0), { instanceOf: CommitError });
  t.is(e?.code, 'epoch-moved');
  t.regex(e?.message ?? '', /aux-info changed/);
  t.is(await lifecycle.pending('wallet_0001'), undefined);
});

test('a share staged under the committed aux epoch keeps it in its pending state; the read-back of a share gives its aux epoch', async (t) => {
  const { store, lifecycle } = await setup(t, 3);
  await store.put('keyshare', 'wallet_0002', pack(Uint8Array.of(7), Uint8Array.of(8), encodeEpoch(0), encodeEpoch(1)));
  t.is((await lifecycle.committed('wallet_0002'))?.auxEpoch, 1);
  await lifecycle.stage('wallet_0002', pending(3), 0);
  t.is((await lifecycle.pending('wallet_0002'))?.auxEpoch, 3);
  // the aux record's own epoch is not mistaken for a share's
  t.is((await lifecycle.committed(AUX_SCOPE))?.auxEpoch, undefined);
});

test('shares written before the aux epoch existed read as aux epoch 0, older than any aux-info (two and three parts)', async (t) => {
  // the aux-info of that time reads as epoch 1, but may have been re-made after the share
  const { store, lifecycle } = await setup(t, 1);
  await store.put('keyshare', 'wallet_0003', pack(Uint8Array.of(7), Uint8Array.of(8)));
  await store.put('keyshare', 'wallet_0004', pack(Uint8Array.of(7), Uint8Array.of(8), encodeEpoch(4)));
  t.like(await lifecycle.committed('wallet_0003'), { epoch: LEGACY_EPOCH.share, auxEpoch: 0 });
  t.like(await lifecycle.committed('wallet_0004'), { epoch: 4, auxEpoch: 0 });
  t.true(
    (await lifecycle.committed('wallet_0004'))!.auxEpoch! < (await lifecycle.committed(AUX_SCOPE))!.epoch,
    'stale: refreshed once before it presigns',
  );
  // a pending state staged before the field existed decodes too
  await lifecycle.stage('wallet_0004', { ...pending(undefined), epoch: 5 }, 4);
  t.is((await lifecycle.pending('wallet_0004'))?.auxEpoch, undefined);
});
