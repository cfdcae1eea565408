/**
 * KeyRotation's bookkeeping with a fake session runner (the protocols run for real in
 * rotation.test.ts): any aux-info change it sees — whoever made it — empties the presignature pool
 * and refreshes every wallet once; the first sighting after a start does nothing; a refresh that
 * fails is a 503/502 with a fixed public detail; concurrent refreshes of one wallet share one run.
 */
import test from 'ava';
import type { ProtocolName } from '../../src/rpc/messages.js';
import type { SessionOutcome, SessionSpec } from '../../src/coordinator/orchestrator.js';
import { RefreshFailedError } from '../../src/coordinator/errors.js';
import { KeyRotation } from '../../src/coordinator/rotation.js';
import { FakeRunner, fakeLinks, readyCluster } from '../helpers/coordinator.js';

const KEY = '02' + '11'.repeat(32);
const WALLETS = ['wallet_aaaa', 'wallet_bbbb', 'wallet_cccc'];

function refreshDone(spec: SessionSpec<ProtocolName>, epoch: number): SessionOutcome {
  return {
    status: 'done',
    sessionId: 'refresh_test',
    protocol: 'refresh',
    durationMs: 1,
    result: { protocol: 'refresh', walletId: spec.walletId as string, publicKey: KEY, epoch },
    participants: spec.participants.map((l) => l.nodeId),
  };
}

function setup(outcome?: (spec: SessionSpec<ProtocolName>) => SessionOutcome | Promise<SessionOutcome>) {
  const cluster = readyCluster(
    fakeLinks(() => () => ({ ok: false, code: 'bad-request', error: 'unexpected' })),
    [0, 1, 2],
    'aa'.repeat(32),
  );
  const runner = new FakeRunner(outcome ?? ((spec) => refreshDone(spec, 1)));
  const discarded: (string | undefined)[] = [];
  const rotation = new KeyRotation({
    cluster,
    runner,
    walletIds: () => WALLETS,
    publicKeyOf: (w) => (WALLETS.includes(w) ? KEY : undefined),
    renewAux: async () => 'bb'.repeat(32),
    discardPresignatures: (w) => void discarded.push(w),
    retryMs: 60_000,
  });
  return { cluster, runner, rotation, discarded };
}

test('new aux-info seen: the pool is emptied and every wallet refreshed once; the first sighting does nothing', async (t) => {
  const { cluster, runner, rotation, discarded } = setup();
  rotation.watch();
  cluster.setAux('aa'.repeat(32), 'ready');
  await rotation.idle();
  t.is(runner.specs.length, 0, 'the aux-info known at the start is no change');
  for (const k of [0, 1, 2])
    cluster.setInfo(k, {
      nodeId: cluster.parties[k] as string,
      index: k,
      auxId: 'cc'.repeat(32),
      primesReady: 4,
      wallets: 3,
    });
  cluster.setAux('cc'.repeat(32), 'ready');
  cluster.emit('state'); // a second event for the same aux-info starts nothing more
  await rotation.idle();
  t.deepEqual(
    runner.specs.map((s) => [s.protocol, s.walletId, s.participants.length]),
    WALLETS.map((w) => ['refresh', w, 3]),
  );
  t.deepEqual(discarded, [undefined, ...WALLETS]);
  // a wallet refreshed under the current aux-info is not refreshed again by the next sweep's pass
  cluster.emit('state');
  await rotation.idle();
  t.is(runner.specs.length, WALLETS.length);
  rotation.stop();
});

test('a failed refresh is a RefreshFailedError with a fixed public detail; concurrent requests share one run', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { runner, rotation } = setup(async (spec) => {
    await gate;
    return {
      status: 'failed',
      sessionId: 's',
      protocol: spec.protocol,
      durationMs: 1,
      failure: 'rejected',
      nodes: ['node_2'],
      reason: 'node_2: refused prepare: secret node text (busy)',
    };
  });
  const a = rotation.refresh('wallet_aaaa', 'admin');
  const b = rotation.refresh('wallet_aaaa', 'stale');
  release();
  const e = await t.throwsAsync(a, { instanceOf: RefreshFailedError });
  await t.throwsAsync(b, { instanceOf: RefreshFailedError });
  t.is(runner.specs.length, 1);
  t.is(e?.status, 503);
  t.false(e?.publicDetail.includes('secret node text'));
  await t.throwsAsync(rotation.refresh('wallet_unknown', 'admin'), { name: 'WalletNotFoundError' });
});

test('stale-share sweep: one node calling a share stale (or reporting a higher aux epoch) refreshes each wallet once per aux-info, not at every reconnection', async (t) => {
  const auxId = 'aa'.repeat(32);
  const links = fakeLinks((k) => (req) => {
    if (req.method !== 'wallet') return { ok: false, code: 'bad-request', error: 'unexpected' };
    // node 3 lies: its share is always "under aux epoch 0"
    return { ok: true, walletId: req.walletId, committed: { publicKey: KEY, epoch: 1, auxEpoch: k === 2 ? 0 : 2 } };
  });
  const cluster = readyCluster(links, [0, 1, 2], auxId);
  for (const k of [0, 1, 2])
    cluster.setInfo(k, {
      nodeId: cluster.parties[k] as string,
      index: k,
      auxId,
      auxEpoch: k === 0 ? 99 : 2,
      primesReady: 4,
      wallets: 3,
    });
  cluster.setAux(auxId, 'ready');
  const runner = new FakeRunner((spec) => refreshDone(spec, 2));
  const rotation = new KeyRotation({
    cluster,
    runner,
    walletIds: () => WALLETS,
    publicKeyOf: (w) => (WALLETS.includes(w) ? KEY : undefined),
    renewAux: async () => 'bb'.repeat(32),
    retryMs: 60_000,
  });
  t.deepEqual(await rotation.sweepStale(), { stale: 3, refreshed: 3 });
  t.deepEqual(await rotation.sweepStale(), { stale: 0, refreshed: 0 }, 'the second reconnection refreshes nothing');
  t.is(runner.specs.length, WALLETS.length);
  rotation.stop();
});

test('stale-share sweep: one node reporting a higher aux epoch than the group makes no wallet stale', async (t) => {
  const auxId = 'aa'.repeat(32);
  const links = fakeLinks(
    () => (req) =>
      req.method === 'wallet'
        ? { ok: true, walletId: req.walletId, committed: { publicKey: KEY, epoch: 1, auxEpoch: 2 } }
        : { ok: false, code: 'bad-request', error: 'unexpected' },
  );
  const cluster = readyCluster(links, [0, 1, 2], auxId);
  for (const k of [0, 1, 2])
    cluster.setInfo(k, {
      nodeId: cluster.parties[k] as string,
      index: k,
      auxId,
      auxEpoch: k === 0 ? 99 : 2,
      primesReady: 4,
      wallets: 3,
    });
  cluster.setAux(auxId, 'ready');
  const runner = new FakeRunner((spec) => refreshDone(spec, 2));
  const rotation = new KeyRotation({
    cluster,
    runner,
    walletIds: () => WALLETS,
    publicKeyOf: (w) => (WALLETS.includes(w) ? KEY : undefined),
    renewAux: async () => 'bb'.repeat(32),
    retryMs: 60_000,
  });
  t.deepEqual(await rotation.sweepStale(), { stale: 0, refreshed: 0 });
  t.is(runner.specs.length, 0);
  rotation.stop();
});
