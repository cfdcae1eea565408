/**
 * A node restored from a copy (src/node/restore.ts): marking it burns every presignature (none is
 * usable again, even one whose used-marker the copy lacks), drops every pending state while keeping
 * the tombstones of the runs they show confirmed, drops the stored safe primes, and marks the node;
 * the marked node says so in `info`, refuses every session and every abandonment, and is back in use
 * only once `reconciled` names every wallet it holds.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { cp, rm } from 'node:fs/promises';
import { Lifecycle } from '../../src/node/lifecycle.js';
import { pack } from '../../src/node/records.js';
import { markRestored, readRestored } from '../../src/node/restore.js';
import { Presignatures, SeenSessions } from '../../src/node/storage/presignatures.js';
import { PresignatureUsedError } from '../../src/node/storage/errors.js';
import type { AuditEvent } from '../../src/util/audit-log.js';
import { singleNodeService } from '../helpers/node-service.js';
import { openNode, tempDir } from '../helpers/storage.js';
import { RecordStore } from '../../src/node/storage/store.js';
import { join } from 'node:path';

const PARTIES = ['node_1', 'node_2', 'node_3'];

async function stagePending(lifecycle: Lifecycle, scope: string, sid: Uint8Array): Promise<void> {
  await lifecycle.stage(
    scope,
    {
      protocol: 'refresh',
      sid,
      round: 'keygen/confirm',
      c: randomBytes(32),
      epoch: 3,
      parts: [randomBytes(40), randomBytes(40)],
    },
    undefined,
  );
}

test('marking a restored node: every presignature burnt, pending states dropped with their tombstones kept, primes dropped; idempotent', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  const record = () => pack(new TextEncoder().encode('w_restored01'), new Uint8Array(1), new Uint8Array(1));
  const ids = ['a1'.repeat(32), 'b2'.repeat(32), 'c3'.repeat(32)];
  for (const id of ids) await presigs.save(id, record());
  // one whose marker exists but whose secret was left behind (a deletion that failed before the copy)
  await store.create('presig-used', ids[2]!, Uint8Array.of(0));
  for (const id of ids.slice(0, 2)) t.truthy(await presigs.load(id), 'control: usable before');
  const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: () => Promise.resolve() });
  const sid = randomBytes(32);
  const auxSid = randomBytes(32);
  await stagePending(lifecycle, 'w_restored01', sid);
  await stagePending(lifecycle, 'aux', auxSid);
  await store.put('aux', 'pending-primes', Uint8Array.of(1, 2, 3));

  const r = await markRestored(store, PARTIES.length, () => Date.parse('2026-01-02T03:04:05Z'));
  t.deepEqual(r, {
    marker: { restoredAt: '2026-01-02T03:04:05.000Z' },
    newlyMarked: true,
    presignaturesBurnt: 2,
    secretsLeft: 0,
    pendingDropped: ['aux', 'w_restored01'],
    primesDropped: true,
  });
  for (const id of ids) {
    await t.throwsAsync(presigs.load(id), { instanceOf: PresignatureUsedError });
    t.true(await presigs.isUsed(id));
  }
  t.deepEqual(await store.list('presig'), [], 'no secret left');
  t.deepEqual(await store.list('pending'), []);
  t.false(await store.has('aux', 'pending-primes'));
  const seen = new SeenSessions(store);
  t.true(await seen.wasConfirmed('w_restored01', sid), 'the dropped run stays confirmed');
  t.true(await seen.wasConfirmed('aux', auxSid));
  t.deepEqual(await readRestored(store), { restoredAt: '2026-01-02T03:04:05.000Z' });

  // again (a crash half way, or an operator's repeat): the first time is kept, nothing fails
  await presigs.save('d4'.repeat(32), record());
  const again = await markRestored(store, PARTIES.length, () => Date.parse('2026-02-02T00:00:00Z'));
  t.false(again.newlyMarked);
  t.is(again.marker.restoredAt, '2026-01-02T03:04:05.000Z');
  t.is(again.presignaturesBurnt, 1);
  t.true(await presigs.isUsed('d4'.repeat(32)));
});

test('a restored node refuses sessions, abandonments and its burnt presignatures until reconciled; reconciled must name every wallet it holds', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const audit: AuditEvent[] = [];
  const { call } = await singleNodeService(store, { audit });
  const sid = randomBytes(32).toString('hex');
  t.true((await call({ method: 'abandon', scope: 'w_restored01', sid })).ok, 'control: an unknown run is abandoned');
  t.is((await call({ method: 'info' })).restored, undefined);
  await new Presignatures(store).save(
    'ab'.repeat(32),
    pack(new TextEncoder().encode('w_restored01'), new Uint8Array(1), new Uint8Array(1)),
  );
  await store.put('keyshare', 'w_restored01', Uint8Array.of(1));
  await store.put('keyshare', 'w_restored02', Uint8Array.of(1));

  await markRestored(store, PARTIES.length);
  t.is((await call({ method: 'info' })).restored, true);
  const other = randomBytes(32).toString('hex');
  t.like(await call({ method: 'abandon', scope: 'w_restored01', sid: other }), {
    ok: false,
    code: 'restored-unreconciled',
  });
  t.like(
    await call({
      method: 'prepare',
      sessionId: 'session-restored-1',
      protocol: 'presign',
      parties: PARTIES,
      walletId: 'w_restored01',
      signers: [0, 1],
    }),
    { ok: false, code: 'restored-unreconciled' },
  );
  t.like(
    await call({ method: 'sign', walletId: 'w_restored01', presignatureId: 'ab'.repeat(32), digest: 'ee'.repeat(32) }),
    { ok: false, code: 'presignature-used' },
  );

  // a reconciliation that leaves out a wallet this node holds clears nothing
  t.like(await call({ method: 'reconciled', wallets: ['w_restored01'] }), { ok: false, code: 'bad-request' });
  t.is((await call({ method: 'info' })).restored, true);
  t.like(await call({ method: 'reconciled', wallets: ['w_restored01', 'w_restored02'] }), {
    ok: true,
    reconciled: true,
  });
  t.is((await call({ method: 'info' })).restored, undefined);
  t.true((await call({ method: 'abandon', scope: 'w_restored01', sid: other })).ok, 'back in use');
  t.like(await call({ method: 'reconciled', wallets: [] }), { ok: true, reconciled: false }, 'nothing left to clear');
  t.deepEqual(
    audit.filter((e) => e.type === 'node.reconciled'),
    [{ type: 'node.reconciled', wallets: 2 }],
  );
});

test('a node restored from an old file copy never reuses a presignature used after the copy', async (t) => {
  const root = await tempDir(t);
  const { store, kms } = await openNode(root, 'node_1');
  const presigs = new Presignatures(store);
  const id = 'e5'.repeat(32);
  await presigs.save(id, pack(new TextEncoder().encode('w_restored01'), new Uint8Array(1), new Uint8Array(1)));
  const copy = join(root, 'copy');
  await cp(store.dir, copy, { recursive: true }); // the file backup
  await presigs.consume(id); // used after the copy: its marker is not in the copy
  await rm(store.dir, { recursive: true });
  await cp(copy, store.dir, { recursive: true }); // the restore
  const restored = await RecordStore.open({ dir: store.dir, nodeId: 'node_1', kms });
  const again = new Presignatures(restored);
  t.false(await again.isUsed(id), 'control: the copy reads the used presignature as unused');
  t.truthy(await again.load(id));

  await markRestored(restored, PARTIES.length);
  const { call } = await singleNodeService(restored);
  t.like(await call({ method: 'sign', walletId: 'w_restored01', presignatureId: id, digest: 'ee'.repeat(32) }), {
    ok: false,
    code: 'presignature-used',
  });
  await t.throwsAsync(again.load(id), { instanceOf: PresignatureUsedError });
});
