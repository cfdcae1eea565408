/**
 * The operator's reshare job (src/coordinator/reshare.ts) on real node services: two wallets made
 * by node_1–node_3; node_3 is lost with its data and the group reconfigured as node_1, node_2,
 * node_4. The job makes the new group's aux-info (node_4 had none; every node commits the same aux
 * epoch), reshares both wallets from node_1 and node_2 with their public keys unchanged, and node_1
 * with node_4 then sign each (checked with @noble/curves). Run again, it finds nothing to do.
 * The survey /health reports counts both wallets before the job and none after it. A 2-of-3 wallet
 * grown to 3-of-5 is signed afterwards by any three of the five and refused to two. `decideReshare`
 * and `differsFromGroup` are checked on their own for the group shapes they must tell apart.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { decideReshare, differsFromGroup, GroupReshare, type ReshareJobView } from '../../src/coordinator/reshare.js';
import type { AuditEvent } from '../../src/util/audit-log.js';
import { RPC_VERSION, decodeJson, encodeJson, infoSchema } from '../../src/rpc/messages.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';
import { describeWallet } from '../helpers/reshare-move.js';
import { signsWith } from '../helpers/node-signing.js';

const X = ['02' + '11'.repeat(32), '02' + '22'.repeat(32), '02' + '33'.repeat(32)];
const held = (index: number, i: number, epoch = 0, n = 3, t = 2) => ({ index, i, epoch, n, t, X });

test('decideReshare: current group, a lost node, a stale holder, too few holders', (t) => {
  const Y = '02' + 'aa'.repeat(32);
  t.deepEqual(decideReshare([held(0, 0), held(1, 1), held(2, 2)], 3, 2, Y), { kind: 'current' });
  // node_3 replaced by node_4 (index 2 holds nothing)
  t.like(decideReshare([held(0, 0), held(1, 1), undefined], 3, 2, Y), {
    kind: 'reshare',
    setup: { dealers: [0, 1], oldIndices: [0, 1], epoch: 1, old: { n: 3, t: 2, publicKey: Y } },
  });
  // a node behind the others (an older epoch) receives; only the newest epoch deals
  t.like(decideReshare([held(0, 0, 4), held(1, 1, 4), held(2, 2, 3)], 3, 2, Y), {
    kind: 'reshare',
    setup: { dealers: [0, 1], epoch: 5 },
  });
  // grown to 3-of-5: all three old holders deal
  t.like(decideReshare([held(0, 0), held(1, 1), held(2, 2), undefined, undefined], 5, 3, Y), {
    kind: 'reshare',
    setup: { dealers: [0, 1, 2], oldIndices: [0, 1, 2] },
  });
  // node_2 removed, node_3 now at index 1: it deals under its old index 2
  t.like(decideReshare([held(0, 0), held(1, 2), undefined], 3, 2, Y), {
    kind: 'reshare',
    setup: { dealers: [0, 1], oldIndices: [0, 2] },
  });
  t.is(decideReshare([held(0, 0), undefined, undefined], 3, 2, Y).kind, 'impossible');
  // two nodes stating the same old index (one a copy of the other's data) count once
  t.is(decideReshare([held(0, 0), held(1, 0), undefined], 3, 2, Y).kind, 'impossible');
});

test('differsFromGroup: the configured group holds the wallet, or not (connected nodes only)', (t) => {
  const m = (...e: [number, ReturnType<typeof held> | undefined][]) => new Map(e);
  t.false(differsFromGroup(m([0, held(0, 0)], [1, held(1, 1)], [2, held(2, 2)]), 3, 2));
  // node_3 not connected: what node_1 and node_2 hold agrees with the group
  t.false(differsFromGroup(m([0, held(0, 0)], [1, held(1, 1)]), 3, 2));
  // node_4 connected and holding nothing of the key
  t.true(differsFromGroup(m([0, held(0, 0)], [1, held(1, 1)], [2, undefined]), 3, 2));
  // node_3 moved to index 1 (node_2 removed): it holds its old index
  t.true(differsFromGroup(m([0, held(0, 0)], [1, held(1, 2)]), 3, 2));
  // grown to 3-of-5
  t.true(differsFromGroup(m([0, held(0, 0)], [1, held(1, 1)], [2, held(2, 2)]), 5, 3));
  // holders on different epochs (an interrupted move)
  t.true(differsFromGroup(m([0, held(0, 0, 1)], [1, held(1, 1, 0)]), 3, 2));
});

test('the survey: a node that does not answer neither hides a wallet node_4 lacks nor counts as held', async (t) => {
  const Y = '02' + 'aa'.repeat(32);
  const answer = (k: number) =>
    k === 2
      ? { ok: true, walletId: 'w_survey' }
      : {
          ok: true,
          walletId: 'w_survey',
          committed: { publicKey: Y, epoch: 0, auxEpoch: 1, key: { n: 3, t: 2, i: k, X } },
        };
  const links = ['node_1', 'node_2', 'node_4'].map((nodeId, index) => ({
    nodeId,
    index,
    request: (): Promise<unknown> =>
      index === 1 ? Promise.reject(new Error('timed out')) : Promise.resolve(answer(index)),
  }));
  const cluster = new NodeCluster(links, 2);
  for (const k of [0, 1, 2]) cluster.setConnected(k, true);
  const reshare = new GroupReshare({
    cluster,
    runner: new Orchestrator({}),
    walletIds: () => ['w_survey', 'w_other'],
    publicKeyOf: (w) => (w === 'w_survey' ? Y : undefined),
    renewAux: () => Promise.reject(new Error('unused')),
  });
  await reshare.survey();
  t.like(reshare.surveyed, { needed: 1, checked: 0, unchecked: 1 });
});

test.serial(
  'slow: node_3 lost, node_4 configured: the job makes the group’s aux-info and moves every wallet; node_1 + node_4 sign',
  async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'mpc-reshare-job-'));
    t.teardown(() => rm(root, { recursive: true, force: true, maxRetries: 5 }));
    const before = await startInProcessNodes(root);
    const wallets = new Map<string, string>();
    for (const walletId of ['wallet-move-0001', 'wallet-move-0002']) {
      const kg = await new Orchestrator({}).run({
        protocol: 'keygen',
        parties: before.ids,
        participants: before.links,
        walletId,
      });
      if (kg.status !== 'done') return t.fail(`keygen: ${kg.status}`);
      wallets.set(walletId, kg.result.publicKey);
    }

    // the group is now node_1, node_2 and a fresh node_4 without aux-info (node_1 and node_2 keep theirs)
    const after = await startInProcessNodes(root, { ids: ['node_1', 'node_2', 'node_4'], aux: false });
    const orchestrator = new Orchestrator({});
    const cluster = new NodeCluster(after.links, 2);
    const monitor = new GroupMonitor({ cluster, runner: orchestrator });
    t.teardown(() => monitor.stop());
    for (const k of [0, 1, 2]) monitor.onConnected(k);
    const audit: AuditEvent[] = [];
    const reshare = new GroupReshare({
      cluster,
      runner: orchestrator,
      walletIds: () => [...wallets.keys()],
      publicKeyOf: (w) => wallets.get(w),
      renewAux: (o) => monitor.renewAux(o),
      audit: { append: async (e) => void audit.push(e) },
    });
    const end = Date.now() + 20_000;
    while (cluster.membersReadiness('test').ready !== true && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    t.false(cluster.keygenReadiness().ready, 'the changed group cannot create wallets before its aux-info');
    await reshare.survey();
    t.like(reshare.surveyed, { needed: 2, checked: 2 }, 'node_4 holds neither wallet');

    const finished = async (view: ReshareJobView): Promise<ReshareJobView> => {
      for (;;) {
        const v = reshare.job(view.jobId) as ReshareJobView;
        if (v.status !== 'running') return v;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const first = await finished(reshare.start());
    t.like(first, {
      kind: 'reshare',
      status: 'succeeded',
      group: ['node_1', 'node_2', 'node_4'],
      wallets: { total: 2, reshared: 2, current: 0, failed: 0 },
    });
    const infos = await Promise.all(
      after.services.map(async (s) => {
        const { ok, ...body } = decodeJson(
          await s.handleBytes(encodeJson({ v: RPC_VERSION, method: 'info' })),
        ) as Record<string, unknown>;
        t.true(ok);
        return infoSchema.parse(body);
      }),
    );
    t.is(new Set(infos.map((i) => `${i.auxId}@${i.auxEpoch}`)).size, 1, 'one aux-info, one aux epoch at every node');
    t.is(infos[0]?.auxEpoch, 2, 'the group’s next epoch, the newcomer included');
    for (const [walletId, publicKey] of wallets) {
      t.true(await signsWith(after, [0, 2], walletId, publicKey), `${walletId}: node_1 + node_4`);
      t.true(await signsWith(after, [1, 2], walletId, publicKey), `${walletId}: node_2 + node_4`);
    }
    t.deepEqual(
      audit.filter((e) => e.type === 'wallet.reshared').map((e) => [e.walletId, e.dealers, e.epoch]),
      [...wallets.keys()].map((w) => [w, 'node_1,node_2', 1]),
    );

    await reshare.survey();
    t.like(reshare.surveyed, { needed: 0, checked: 2 }, 'the survey after the job finds every wallet moved');

    // idempotent: a second job finds every wallet held by the group
    t.like(await finished(reshare.start()), { status: 'succeeded', wallets: { total: 2, reshared: 0, current: 2 } });
  },
);

test.serial('slow: 2-of-3 grown to 3-of-5: the job moves every wallet; any three sign, two cannot', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-reshare-grow-'));
  t.teardown(() => rm(root, { recursive: true, force: true, maxRetries: 5 }));
  const before = await startInProcessNodes(root);
  const walletId = 'wallet-grow-0001';
  const kg = await new Orchestrator({}).run({
    protocol: 'keygen',
    parties: before.ids,
    participants: before.links,
    walletId,
  });
  if (kg.status !== 'done') return t.fail(`keygen: ${kg.status}`);
  const publicKey = kg.result.publicKey;

  // every node of the grown group holds the group's aux-info (its own run is tested above)
  const ids = ['node_1', 'node_2', 'node_3', 'node_4', 'node_5'];
  const after = await startInProcessNodes(root, { ids, threshold: 3 });
  const orchestrator = new Orchestrator({});
  const cluster = new NodeCluster(after.links, 3);
  const monitor = new GroupMonitor({ cluster, runner: orchestrator });
  t.teardown(() => monitor.stop());
  for (const k of ids.keys()) monitor.onConnected(k);
  const audit: AuditEvent[] = [];
  const reshare = new GroupReshare({
    cluster,
    runner: orchestrator,
    walletIds: () => [walletId],
    publicKeyOf: (w) => (w === walletId ? publicKey : undefined),
    renewAux: () => Promise.reject(new Error('the grown group holds one aux-info already')),
    audit: { append: async (e) => void audit.push(e) },
  });
  const end = Date.now() + 20_000;
  while (cluster.membersReadiness('test').ready !== true && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
  await reshare.survey();
  t.like(reshare.surveyed, { needed: 1 }, 'held as 2-of-3, configured 3-of-5');
  let view = reshare.start();
  while (view.status === 'running') {
    await new Promise((r) => setTimeout(r, 50));
    view = reshare.job(view.jobId) as ReshareJobView;
  }
  t.like(view, { status: 'succeeded', wallets: { total: 1, reshared: 1, failed: 0 } });
  t.like(
    audit.find((e) => e.type === 'wallet.reshared'),
    { walletId, dealers: 'node_1,node_2,node_3', epoch: 1 },
  );
  const held = await Promise.all(after.services.map((s) => describeWallet(s, walletId)));
  for (const [k, d] of held.entries()) {
    t.is(d.committed?.publicKey, publicKey, `${ids[k]} holds the unchanged key`);
    t.like(d.committed?.key, { n: 5, t: 3, i: k });
  }
  t.true(await signsWith(after, [0, 3, 4], walletId, publicKey), 'node_1 + node_4 + node_5');
  t.true(await signsWith(after, [1, 2, 4], walletId, publicKey), 'node_2 + node_3 + node_5');
  await t.throwsAsync(signsWith(after, [0, 1], walletId, publicKey), { message: /bad-signers|at least t/ });
  await reshare.survey();
  t.like(reshare.surveyed, { needed: 0 });
});
