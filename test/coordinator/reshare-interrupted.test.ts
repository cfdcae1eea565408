/**
 * A wallet's move to a new group (node_3 replaced by node_4) interrupted at every step, on real
 * node services: the run is cut after each of its requests in turn — the coordinator killed there
 * (nothing more reaches any node), or everything powered off there (the coordinator killed and
 * every node restarted from its store with the same identity key). A new coordinator (its group
 * monitor, which resolves pending states, and the operator's reshare job started again) must leave
 * every node on ONE committed epoch of the unchanged key, as the configured group (index, n, t and
 * one set of public shares), nothing pending, and node_1 with node_4 signing (checked with
 * @noble/curves).
 *
 * One window cannot finish by itself: a cut inside the last round, after some parties confirmed
 * (they can never abandon the run) and before another staged it (so its confirmation, which every
 * commit needs, does not exist). There the test checks that nobody committed, the old holders
 * still sign, and then drops the run on every node as the operator does (npm run pending) before
 * the job moves the wallet. No cut may leave two committed epochs or lose the wallet.
 *
 * A job resumed while the new monitor is still committing a move node by node (node_1 and node_2
 * committed, node_4's commit held until a run reaches it) must wait for that commit, not read the
 * nodes mid-way and move the wallet a second time: the timing the cuts above only hit at times.
 */
import test, { type ExecutionContext } from 'ava';
import { generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { GroupReshare, type ReshareJobView } from '../../src/coordinator/reshare.js';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import { RESHARE_ROUND } from '../../src/protocol/reshare/index.js';
import { cutAfter, dropEverywhere, onlyLastRoundStuck } from '../helpers/cut-run.js';
import { startInProcessNodes, Tap, type InProcessNodes } from '../helpers/in-process-nodes.js';
import { describeWallet } from '../helpers/reshare-move.js';
import { signsWith } from '../helpers/node-signing.js';

const GROUP = ['node_1', 'node_2', 'node_4'];
/** how long a run left by a dead coordinator blocks its wallet (60 s in production; short here) */
const IDLE_MS = 300;

interface Scene {
  readonly root: string;
  readonly keys: KeyPairKeyObjectResult[];
  nodes: InProcessNodes;
}

/**
 * A coordinator's reshare job over `taps`, started again until it succeeds or `ms` pass; the job
 * is first started once `ready` resolves (its group monitor already runs).
 */
async function moveUntilDone(
  taps: Tap[],
  walletId: string,
  publicKey: string,
  ms: number,
  ready?: Promise<unknown>,
): Promise<ReshareJobView> {
  const cluster = new NodeCluster(taps, 2);
  const runner = new Orchestrator({});
  const monitor = new GroupMonitor({ cluster, runner, pollMs: 20, retryMs: 200 });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await ready;
  const job = new GroupReshare({
    cluster,
    runner,
    walletIds: () => [walletId],
    publicKeyOf: (w) => (w === walletId ? publicKey : undefined),
    renewAux: () => Promise.reject(new Error('the group holds one aux-info')),
    resolvePending: (w) => monitor.resolveWallet(w),
  });
  const deadline = Date.now() + ms;
  try {
    for (;;) {
      let view: ReshareJobView | undefined;
      try {
        view = job.start();
      } catch {
        /* nodes not all usable yet: the monitor is still reading them */
      }
      while (view?.status === 'running') {
        await new Promise((r) => setTimeout(r, 20));
        view = job.job(view.jobId);
      }
      if (view?.status === 'succeeded') return view;
      if (Date.now() > deadline) throw new Error(`the move did not finish: ${JSON.stringify(view)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    job.stop();
    monitor.stop();
    await monitor.idle();
  }
}

/**
 * Every node holds the wallet as the configured group at one epoch, nothing pending; with `sign`,
 * node_1 + node_4 also sign (a presignature and a signature: the slow part, so not after every cut).
 */
async function movedOnce(
  t: ExecutionContext,
  nodes: InProcessNodes,
  walletId: string,
  publicKey: string,
  at: string,
  sign: boolean,
) {
  const held = await Promise.all(nodes.services.map((s) => describeWallet(s, walletId)));
  for (const [k, d] of held.entries()) {
    t.is(d.committed?.publicKey, publicKey, `${at}: ${GROUP[k]} holds the unchanged key`);
    t.like(d.committed?.key, { n: 3, t: 2, i: k }, `${at}: ${GROUP[k]} holds it as the configured group`);
    t.is(d.pending, undefined, `${at}: ${GROUP[k]} holds nothing pending`);
  }
  t.is(new Set(held.map((d) => d.committed?.epoch)).size, 1, `${at}: one committed epoch`);
  t.is(held[0]?.committed?.epoch, 1, `${at}: the move's epoch`);
  t.is(new Set(held.map((d) => d.committed?.key?.X.join())).size, 1, `${at}: one set of public shares`);
  if (sign) t.true(await signsWith(nodes, [0, 2], walletId, publicKey), `${at}: node_1 + node_4 sign`);
}

/** The operator's move of `walletId` (node_1 and node_2 deal) run through `taps` as a coordinator would. */
async function move(nodes: InProcessNodes, taps: readonly Tap[], walletId: string, publicKey: string): Promise<void> {
  const old = (await describeWallet(nodes.services[0]!, walletId)).committed;
  if (!old?.key) throw new Error('node_1 holds no key');
  await new Orchestrator({}).run({
    protocol: 'reshare',
    parties: GROUP,
    participants: taps,
    walletId,
    reshare: {
      dealers: [0, 1],
      oldIndices: [0, 1],
      old: { n: old.key.n, t: old.key.t, publicKey, X: old.key.X },
      epoch: old.epoch + 1,
    },
  });
}

async function scene(t: ExecutionContext, wallets: number): Promise<{ s: Scene; keys: Map<string, string> }> {
  const root = await mkdtemp(join(tmpdir(), 'mpc-reshare-cut-'));
  t.teardown(() => rm(root, { recursive: true, force: true, maxRetries: 5 }));
  const before = await startInProcessNodes(root);
  const keys = new Map<string, string>();
  for (let w = 0; w < wallets; w++) {
    const walletId = `wallet-cut-${String(w).padStart(4, '0')}`;
    const kg = await new Orchestrator({}).run({
      protocol: 'keygen',
      parties: before.ids,
      participants: before.links,
      walletId,
    });
    if (kg.status !== 'done') throw new Error(`keygen: ${kg.status}`);
    keys.set(walletId, kg.result.publicKey);
  }
  // node_3 is gone; the same stores serve node_1 and node_2, node_4 starts empty
  const ids = GROUP.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const nodes = await startInProcessNodes(root, { ids: GROUP, keys: ids, supersedeIdleMs: IDLE_MS });
  return { s: { root, keys: ids, nodes }, keys };
}

test.serial(
  'slow: a move cut after each of its requests (the coordinator killed there) ends on one epoch',
  async (t) => {
    await runCuts(t, false);
  },
);

test.serial('slow: a move cut after each of its requests with every node restarted ends on one epoch', async (t) => {
  await runCuts(t, true);
});

test.serial(
  'a job resumed while the monitor commits an interrupted move node by node does not move it again',
  async (t) => {
    const { s, keys } = await scene(t, 1);
    const [walletId, publicKey] = [...keys][0] as [string, string];
    // The move ends everywhere but at node_4: it stages the new epoch and confirms it, but the
    // others' confirmations never reach it (node_1 and node_2 get every one and commit). The
    // coordinator is then gone for node_4: its abort and the finalize of the laggard never arrive.
    const taps = s.nodes.links.map((l) => new Tap(l));
    const link4 = s.nodes.links[2]!;
    taps[2]!.intercept = (req, forward) => {
      if (req.method === 'abort' || req.method === 'finalize')
        return Promise.reject(new Error('the coordinator is gone'));
      if (req.method !== 'deliver') return forward();
      const envelopes = req.envelopes.filter(
        (e) => decodeEnvelope(Buffer.from(e, 'base64')).round !== RESHARE_ROUND.confirm,
      );
      return link4.request({ ...req, envelopes });
    };
    await move(s.nodes, taps, walletId, publicKey);
    s.nodes = await startInProcessNodes(s.root, { ids: GROUP, keys: s.keys, supersedeIdleMs: IDLE_MS });
    const held = await Promise.all(s.nodes.services.map((x) => describeWallet(x, walletId)));
    t.deepEqual(
      held.map((d) => [d.committed?.epoch, d.pending !== undefined]),
      [
        [1, false],
        [1, false],
        [undefined, true],
      ],
      'node_1 and node_2 committed the move, node_4 holds it pending',
    );

    // The new coordinator's monitor commits node_4 from node_1's evidence; that commit is held until
    // a run of the wallet reaches node_4, and lands just before it: a job deciding on what it read
    // while node_4 was pending (node_1 and node_2 on the new epoch, node_4 holding nothing) would
    // start a second move, and node_4, committed by then, would take part.
    const again = s.nodes.links.map((l) => new Tap(l));
    let monitorCommit: Promise<unknown> | undefined;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held4!: () => void;
    const holding = new Promise<void>((r) => (held4 = r));
    again[2]!.intercept = async (req, forward) => {
      if (req.method === 'finalize' && monitorCommit === undefined) {
        monitorCommit = released.then(forward);
        held4();
        return monitorCommit;
      }
      if (req.method === 'prepare') {
        release();
        await monitorCommit?.catch(() => undefined);
      }
      return forward();
    };
    try {
      const view = await moveUntilDone(again, walletId, publicKey, 8_000, holding);
      t.like(view.wallets, { total: 1, reshared: 0, current: 1 }, 'the job found the wallet held by the group');
    } finally {
      release();
      await monitorCommit?.catch(() => undefined);
    }
    await movedOnce(t, s.nodes, walletId, publicKey, 'resumed during the commit', true);
  },
);

async function runCuts(t: ExecutionContext, restart: boolean): Promise<void> {
  // a whole move is 31 requests (3 prepare, 3 start, 25 deliver); one wallet per cut, one more uncut
  const { s, keys } = await scene(t, 34);
  let cut = 0;
  const stuck: number[] = [];
  for (const [walletId, publicKey] of keys) {
    const { taps, hit } = cutAfter(s.nodes.links, cut);
    await move(s.nodes, taps, walletId, publicKey);
    if (restart) s.nodes = await startInProcessNodes(s.root, { ids: GROUP, keys: s.keys, supersedeIdleMs: IDLE_MS });
    const at = `cut after ${cut} request(s)${restart ? ', nodes restarted' : ''}`;
    try {
      await moveUntilDone(
        s.nodes.links.map((l) => new Tap(l)),
        walletId,
        publicKey,
        8_000,
      );
    } catch {
      // Only a run some parties confirmed and another never staged may stay: nobody can commit it
      // (a confirmation is missing) and a party that confirmed can never abandon it. It never
      // leaves two committed epochs: the old holders keep serving the old one, and the operator
      // drops the run on every node that holds it (npm run pending).
      const sid = await stuckRun(t, s.nodes, walletId, publicKey, at);
      stuck.push(cut);
      await dropEverywhere(s.nodes.stores, walletId, sid);
      s.nodes = await startInProcessNodes(s.root, { ids: GROUP, keys: s.keys, supersedeIdleMs: IDLE_MS });
      await moveUntilDone(
        s.nodes.links.map((l) => new Tap(l)),
        walletId,
        publicKey,
        30_000,
      );
    }
    await movedOnce(t, s.nodes, walletId, publicKey, at, cut % 4 === 0 || stuck.includes(cut) || !hit());
    if (!hit()) {
      onlyLastRoundStuck(t, cut, stuck, 20, 'move');
      return;
    }
    cut++;
  }
  t.fail('every wallet was used before a run finished uncut');
}

/**
 * A move left undecided: some node holds the run's successor as pending with its own confirmation
 * and some party holds nothing of it; no node committed the new epoch; node_1 and node_2 still hold
 * the old epoch alike and sign with it. Returns the run's sid.
 */
async function stuckRun(
  t: ExecutionContext,
  nodes: InProcessNodes,
  walletId: string,
  publicKey: string,
  at: string,
): Promise<string> {
  const held = await Promise.all(nodes.services.map((s) => describeWallet(s, walletId)));
  const sids = new Set(held.flatMap((d) => (d.pending ? [d.pending.sid] : [])));
  t.is(sids.size, 1, `${at}: one undecided run`);
  t.true(
    held.some((d) => d.pending === undefined),
    `${at}: some party never staged it`,
  );
  t.deepEqual(
    held.map((d) => d.committed?.epoch),
    [0, 0, undefined],
    `${at}: nobody committed the move`,
  );
  t.is(held[0]?.committed?.key?.X.join(), held[1]?.committed?.key?.X.join());
  t.true(await signsWith(nodes, [0, 1], walletId, publicKey), `${at}: node_1 + node_2 still sign`);
  return [...sids][0] as string;
}
