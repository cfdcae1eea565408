/**
 * A node's reconciliation requests: `wallets` lists the wallet scopes it holds a page at a time
 * (bounded, validated), `wallet` describes one, and `archive` moves a wallet's records whole into
 * the archive — re-sealed, never deleted — burns its presignatures, and frees its wallet id.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Lifecycle } from '../../src/node/lifecycle.js';
import { encodeEpoch, hex, pack, unpack } from '../../src/node/records.js';
import { Presignatures } from '../../src/node/storage/presignatures.js';
import { encodePublicKeyShare, encodeSecretKeyShare } from '../../src/protocol/storage-format.js';
import { pointToBytes } from '../../src/curve/secp256k1.js';
import type { AuditEvent } from '../../src/util/audit-log.js';
import { keygenShares } from '../helpers/cluster.js';
import { singleNodeService } from '../helpers/node-service.js';
import { openNode, tempDir } from '../helpers/storage.js';

test('wallets pages through the held wallet scopes; wallet describes one; archive refuses a committed share', async (t) => {
  const root = await tempDir(t);
  const { store } = await openNode(root, 'node_1');
  const audit: AuditEvent[] = [];
  const { call } = await singleNodeService(store, { audit });
  const share = keygenShares(3, 2)[0]!;
  const ids = ['w_wallet0001', 'w_wallet0002', 'w_wallet0003', 'w_wallet0004', 'w_wallet0005'];
  for (const id of ids)
    await store.put(
      'keyshare',
      id,
      pack(encodePublicKeyShare(share.public), encodeSecretKeyShare(share.secret), encodeEpoch(0)),
    );
  await new Presignatures(store).save(
    'ab'.repeat(32),
    pack(new TextEncoder().encode('w_wallet0003'), new Uint8Array(1), new Uint8Array(1)),
  );
  await new Presignatures(store).save(
    'cd'.repeat(32),
    pack(new TextEncoder().encode('w_wallet0004'), new Uint8Array(1), new Uint8Array(1)),
  );

  // pages of two, in order, each naming where the next starts; the aux scope is no wallet
  const seen: string[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 10; pages++) {
    const page = await call({ method: 'wallets', limit: 2, ...(after === undefined ? {} : { after }) });
    t.true(page.ok, JSON.stringify(page));
    const wallets = page.wallets as { walletId: string; committed: boolean; pending: boolean }[];
    t.true(wallets.length <= 2);
    for (const w of wallets) t.like(w, { committed: true, pending: false });
    seen.push(...wallets.map((w) => w.walletId));
    if (page.next === undefined) break;
    after = page.next as string;
  }
  t.deepEqual(seen, ids);
  t.like(await call({ method: 'wallets', limit: 501 }), { ok: false, code: 'bad-request' }, 'a page is bounded');
  t.like(await call({ method: 'wallets', after: '../keyshare' }), { ok: false, code: 'bad-request' });
  t.like(await call({ method: 'archive', walletId: 'w_wallet0003', reason: 'because' }), {
    ok: false,
    code: 'bad-request',
  });

  // a share stored without an aux epoch (the form before epochs) reads as aux epoch 0: older than any aux-info
  t.deepEqual(await call({ method: 'wallet', walletId: 'w_wallet0003' }), {
    ok: true,
    walletId: 'w_wallet0003',
    committed: {
      publicKey: hex(pointToBytes(share.public.Y)),
      epoch: 0,
      auxEpoch: 0,
      key: { n: 3, t: 2, i: share.public.i, X: share.public.X.map((X) => hex(pointToBytes(X))) },
    },
  });
  t.deepEqual(await call({ method: 'wallet', walletId: 'w_nothing001' }), { ok: true, walletId: 'w_nothing001' });

  // a committed share is a finished key: archiving it is refused (a hostile or mistaken coordinator
  // would otherwise take one node's share of a live wallet out of use, and it could never refresh)
  const original = await store.get('keyshare', 'w_wallet0003');
  t.like(await call({ method: 'archive', walletId: 'w_wallet0003', reason: 'unregistered' }), {
    ok: false,
    code: 'archive-refused',
  });
  t.deepEqual(
    Buffer.from((await store.get('keyshare', 'w_wallet0003')) as Uint8Array),
    Buffer.from(original as Uint8Array),
  );
  t.false(await new Presignatures(store).isUsed('ab'.repeat(32)), 'its presignatures are not burnt');
  t.deepEqual(await store.list('archived'), []);
  t.is((await call({ method: 'info' })).wallets, 5);
});

test('archive refuses a refreshed committed share too: nothing moved, refusal audited', async (t) => {
  const root = await tempDir(t);
  const { store } = await openNode(root, 'node_1');
  const audit: AuditEvent[] = [];
  const { call } = await singleNodeService(store, { audit });
  const share = keygenShares(3, 2)[0]!;
  await store.put(
    'keyshare',
    'w_refreshed1',
    pack(encodePublicKeyShare(share.public), encodeSecretKeyShare(share.secret), encodeEpoch(2)),
  );
  await new Presignatures(store).save(
    'ef'.repeat(32),
    pack(new TextEncoder().encode('w_refreshed1'), new Uint8Array(1), new Uint8Array(1)),
  );
  const original = await store.get('keyshare', 'w_refreshed1');

  t.like(await call({ method: 'archive', walletId: 'w_refreshed1', reason: 'unregistered' }), {
    ok: false,
    code: 'archive-refused',
  });
  t.deepEqual(
    Buffer.from((await store.get('keyshare', 'w_refreshed1')) as Uint8Array),
    Buffer.from(original as Uint8Array),
    'the share stays live',
  );
  t.deepEqual(await store.list('archived'), []);
  t.false(await new Presignatures(store).isUsed('ef'.repeat(32)), 'its presignatures are not burnt');
  t.like(
    audit.find((e) => e.type === 'wallet.archive-refused'),
    { walletId: 'w_refreshed1', reason: 'unregistered' },
  );
  t.falsy(audit.find((e) => e.type === 'wallet.archived'));
});

test('a run this node confirmed stays refused for abandonment after archiving moved its pending state (tombstone)', async (t) => {
  const root = await tempDir(t);
  const { store } = await openNode(root, 'node_1');
  const { call } = await singleNodeService(store);
  // a keygen this node confirmed (its pending state), which committed nowhere
  const sid = Uint8Array.from(randomBytes(32));
  const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: async () => undefined });
  await lifecycle.stage(
    'w_confirmed1',
    {
      protocol: 'keygen',
      sid,
      round: 'confirm',
      c: Uint8Array.from(randomBytes(32)),
      epoch: 0,
      parts: [Uint8Array.of(1), Uint8Array.of(2)],
    },
    undefined,
  );
  const abandon = () => call({ method: 'abandon', scope: 'w_confirmed1', sid: Buffer.from(sid).toString('hex') });
  t.like(await abandon(), { ok: false, code: 'confirmed' });
  await new Presignatures(store).save(
    'ab'.repeat(32),
    pack(new TextEncoder().encode('w_confirmed1'), new Uint8Array(1), new Uint8Array(1)),
  );
  const original = await store.get('pending', 'w_confirmed1');
  t.like(await call({ method: 'archive', walletId: 'w_confirmed1', reason: 'unregistered' }), {
    ok: true,
    archived: ['pending'],
    presignaturesBurnt: 1,
  });
  t.true(await new Presignatures(store).isUsed('ab'.repeat(32)), 'its presignature can never sign');
  const [copy] = await store.list('archived');
  const [meta, record] = unpack((await store.get('archived', copy as string)) as Uint8Array, 2, 'archived');
  t.like(JSON.parse(new TextDecoder().decode(meta)), {
    kind: 'pending',
    walletId: 'w_confirmed1',
    reason: 'unregistered',
  });
  t.deepEqual(Buffer.from(record as Uint8Array), Buffer.from(original as Uint8Array), 'kept whole');
  t.is(await lifecycle.pending('w_confirmed1'), undefined, 'the pending state is gone');
  t.like(await abandon(), { ok: false, code: 'confirmed' }, 'still refused: the node confirmed that run');
  // another run of the scope is not affected by the tombstone
  const other = await call({ method: 'abandon', scope: 'w_confirmed1', sid: 'cd'.repeat(32) });
  t.true(other.ok);
});

test('a run whose pending state was archived before tombstones were scope-free is refused abandonment under any scope once the node starts', async (t) => {
  const root = await tempDir(t);
  const { store } = await openNode(root, 'node_1');
  // the records as an older version left them: the confirmed keygen's pending state moved to the
  // archive, and no tombstone of the run anywhere
  const sid = Uint8Array.from(randomBytes(32));
  const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: async () => undefined });
  await lifecycle.stage(
    'w_archived01',
    {
      protocol: 'keygen',
      sid,
      round: 'confirm',
      c: Uint8Array.from(randomBytes(32)),
      epoch: 0,
      parts: [Uint8Array.of(1), Uint8Array.of(2)],
    },
    undefined,
  );
  const meta = new TextEncoder().encode(
    JSON.stringify({ kind: 'pending', walletId: 'w_archived01', reason: 'unregistered' }),
  );
  await store.put(
    'archived',
    'w_archived01-p-old',
    pack(meta, (await store.get('pending', 'w_archived01')) as Uint8Array),
  );
  await store.delete('pending', 'w_archived01');
  await store.put('archived', 'w_unreadable-p-old', Uint8Array.of(1, 2, 3)); // skipped, not fatal
  const { service, call } = await singleNodeService(store);
  const abandon = (scope: string) => call({ method: 'abandon', scope, sid: Buffer.from(sid).toString('hex') });
  t.true((await abandon('aux')).ok, 'before the start: nothing shows the run was confirmed');
  await service.recover();
  for (const scope of ['aux', 'w_archived01', 'w_another001'])
    t.like(await abandon(scope), { ok: false, code: 'confirmed' }, scope);
});
