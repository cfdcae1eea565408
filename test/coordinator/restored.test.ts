/**
 * A node restored from a copy (its info says `restored`): left out of signing, presigning and wallet
 * creation, listed in /health; told `reconciled` (with every wallet compared) only when its aux-info
 * and every wallet's committed share equal its peers'; one behind its peers is reported and never
 * told; nothing is decided while a peer holds a pending state. The same with real nodes, marked by
 * the node:restore step.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor, type GroupAlert } from '../../src/coordinator/group.js';
import type { Request } from '../../src/rpc/messages.js';
import { encodeEpoch, pack } from '../../src/node/records.js';
import { markRestored, readRestored } from '../../src/node/restore.js';
import { encodePublicKeyShare, encodeSecretKeyShare } from '../../src/protocol/storage-format.js';
import { keygenShares } from '../helpers/cluster.js';
import { FakeLink, FakeRunner, NODE_IDS } from '../helpers/coordinator.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';

const AUX = 'ef'.repeat(32);
const KEY = '02' + 'aa'.repeat(32);

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

interface NodeState {
  restored?: boolean;
  auxEpoch: number;
  /** wallet id → committed share epoch */
  shares: Record<string, number>;
  pendingScopes?: string[];
}

function setup(state: NodeState[], gate: Promise<void> = Promise.resolve()) {
  const reconciled: Request[] = [];
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        const s = state[k] as NodeState;
        switch (req.method) {
          case 'info':
            return {
              ok: true,
              nodeId: id,
              index: k,
              primesReady: 4,
              wallets: Object.keys(s.shares).length,
              auxId: AUX,
              auxEpoch: s.auxEpoch,
              ...(s.pendingScopes ? { pendingScopes: s.pendingScopes } : {}),
              ...(s.restored ? { restored: true } : {}),
            };
          case 'wallets':
            return gate.then(() => ({
              ok: true,
              wallets: Object.keys(s.shares)
                .sort()
                .map((walletId) => ({ walletId, committed: true, pending: false })),
            }));
          case 'wallet': {
            const epoch = s.shares[req.walletId];
            return {
              ok: true,
              walletId: req.walletId,
              ...(epoch === undefined ? {} : { committed: { publicKey: KEY, epoch, auxEpoch: s.auxEpoch } }),
            };
          }
          case 'reconciled':
            reconciled.push(req);
            s.restored = false;
            return { ok: true, reconciled: true };
          default:
            return { ok: false, code: 'bad-request', error: req.method };
        }
      }),
  );
  const cluster = new NodeCluster(links, 2);
  const alerts: GroupAlert[] = [];
  const monitor = new GroupMonitor({
    cluster,
    runner: new FakeRunner(() => {
      throw new Error('no session expected');
    }),
    pollMs: 20,
    retryMs: 50,
    onAlert: (a) => alerts.push(a),
  });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  return { cluster, monitor, alerts, reconciled, links };
}

const peer = (): NodeState => ({ auxEpoch: 2, shares: { w_wallet0001: 3, w_wallet0002: 1 } });

test('a restored node in line with its peers is kept out of use, then told reconciled with every wallet compared', async (t) => {
  const state = [peer(), peer(), { ...peer(), restored: true }];
  let open!: () => void;
  const { cluster, monitor, reconciled } = setup(state, new Promise<void>((resolve) => (open = resolve)));
  await until(() => cluster.info(2) !== undefined && cluster.auxId !== undefined);
  t.deepEqual(
    cluster.signerLinks().map((l) => l.nodeId),
    ['node_1', 'node_2'],
    'left out of signing and presigning',
  );
  const r = cluster.keygenReadiness();
  t.false(r.ready);
  if (!r.ready) t.regex(r.reason, /restored from a copy.*node_3/);
  t.deepEqual(cluster.health().restoredNodes, ['node_3']);
  t.deepEqual(reconciled, []);

  open();
  await until(() => reconciled.length === 1 && cluster.info(2)?.restored === undefined);
  t.like(reconciled[0], { method: 'reconciled', wallets: ['w_wallet0001', 'w_wallet0002'] });
  t.deepEqual(
    cluster.signerLinks().map((l) => l.nodeId),
    ['node_1', 'node_2', 'node_3'],
  );
  t.true(cluster.keygenReadiness().ready);
  t.is(cluster.health().restoredNodes, undefined);
  monitor.stop();
});

test('a restored node behind its peers (a refresh it missed, a wallet made after the copy) is reported, never told reconciled', async (t) => {
  const behind: NodeState = { auxEpoch: 2, shares: { w_wallet0001: 2 }, restored: true };
  const { cluster, monitor, alerts, reconciled, links } = setup([peer(), peer(), behind]);
  await until(() => alerts.length === 1);
  t.deepEqual(alerts[0], { kind: 'restored-behind', nodeId: 'node_3', reported: 'w_wallet0001, w_wallet0002' });
  await sleep(200); // several more passes: reported once, never told
  t.is(alerts.length, 1);
  t.deepEqual(reconciled, []);
  t.false(links[2]!.methods().includes('reconciled'));
  t.deepEqual(cluster.health().restoredNodes, ['node_3']);
  t.false(cluster.signerLinks().some((l) => l.nodeId === 'node_3'));
  monitor.stop();
});

test('an older aux epoch is behind too; a peer holding a pending state defers the decision', async (t) => {
  const { monitor, alerts } = setup([peer(), peer(), { ...peer(), auxEpoch: 1, restored: true }]);
  await until(() => alerts.some((a) => a.kind === 'restored-behind'));
  t.like(
    alerts.find((a) => a.kind === 'restored-behind'),
    { kind: 'restored-behind', reported: 'aux, w_wallet0001, w_wallet0002' },
  );
  monitor.stop();

  const waiting = setup([{ ...peer(), pendingScopes: ['w_wallet0002'] }, peer(), { ...peer(), restored: true }]);
  await sleep(200);
  t.deepEqual(waiting.reconciled, []);
  t.deepEqual(waiting.alerts, []);
  waiting.monitor.stop();
});

test('with real nodes: node:restore on one node, then the coordinator reconciles it when in line and reports it when behind', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-restored-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const shares = keygenShares(3, 2);
  const record = (k: number, epoch: number) =>
    pack(
      encodePublicKeyShare(shares[k]!.public),
      encodeSecretKeyShare(shares[k]!.secret),
      encodeEpoch(epoch),
      encodeEpoch(1),
    );
  const nodes = await startInProcessNodes(root, {
    seed: async (store, k) => {
      await store.put('keyshare', 'w_inline0001', record(k, 2));
      // node_3's copy predates the last refresh of this wallet
      await store.put('keyshare', 'w_behind0001', record(k, k === 2 ? 1 : 2));
    },
  });
  await markRestored(nodes.stores[2]!, 3);
  const run = async () => {
    const cluster = new NodeCluster(nodes.links, 2);
    const alerts: GroupAlert[] = [];
    const monitor = new GroupMonitor({
      cluster,
      runner: new FakeRunner(() => {
        throw new Error('no session expected');
      }),
      pollMs: 20,
      retryMs: 50,
      onAlert: (a) => alerts.push(a),
    });
    for (const k of [0, 1, 2]) monitor.onConnected(k);
    return { cluster, alerts, monitor };
  };

  const first = await run();
  await until(() => first.alerts.length === 1, 10_000);
  t.deepEqual(first.alerts[0], { kind: 'restored-behind', nodeId: 'node_3', reported: 'w_behind0001' });
  t.deepEqual(first.cluster.health().restoredNodes, ['node_3']);
  first.monitor.stop();

  // the stale wallet is purged on every node (its funds moved away): nothing differs any more
  await nodes.stores[2]!.delete('keyshare', 'w_behind0001');
  await nodes.stores[0]!.delete('keyshare', 'w_behind0001');
  await nodes.stores[1]!.delete('keyshare', 'w_behind0001');
  const second = await run();
  await until(() => second.cluster.info(2) !== undefined && second.cluster.info(2)?.restored === undefined, 10_000);
  t.deepEqual(second.alerts, []);
  t.is(second.cluster.health().restoredNodes, undefined);
  t.is(await readRestored(nodes.stores[2]!), undefined);
  second.monitor.stop();
});
