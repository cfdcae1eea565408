/**
 * The pending-state resolver (src/coordinator/resolver.ts) against three real NodeServices in one
 * process (real keygen and refresh, real records), with the last message of a run withheld:
 *
 * - H2 (a): a refresh whose confirmations reached no node (the coordinator stopped before
 *   delivering them): every node holds the pending share, none committed, none may abandon it. A
 *   new coordinator's group monitor gathers each node's own stored confirmation and commits every
 *   node on them; the next refresh runs.
 * - H2 (b): a refresh whose confirmations missed one node, whose finalize then failed too: the
 *   resolver finalizes it later from another node's evidence.
 * - M1: the `wallet` answer gives each share's aux epoch, and a sweep refreshes wallets whose
 *   share predates the group's aux-info.
 * - L4: an interrupted keygen that one node committed, whose finalize of another failed, is tried
 *   again later instead of archived; it is recovered once the finalize passes.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import type { NodeService } from '../../src/node/service.js';
import type { RecordStore } from '../../src/node/storage/store.js';
import { KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { decodeJson, encodeJson, RPC_VERSION, walletResponseSchema, type Request } from '../../src/rpc/messages.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { WalletReconciler } from '../../src/coordinator/reconcile.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { KeyRotation } from '../../src/coordinator/rotation.js';
import { NODE_IDS } from '../helpers/coordinator.js';
import { startInProcessNodes, Tap } from '../helpers/in-process-nodes.js';

let root = '';
let services: NodeService[] = [];
let taps: Tap[] = [];
const stores: RecordStore[] = [];

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-resolver-'));
  const nodes = await startInProcessNodes(root);
  services = nodes.services;
  stores.push(...nodes.stores);
  taps = nodes.links.map((l) => new Tap(l));
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true, maxRetries: 5 });
});

async function node(k: number, req: object): Promise<Record<string, unknown>> {
  return decodeJson(await services[k]!.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Record<string, unknown>;
}

const pendingWallets = async (k: number): Promise<string[]> =>
  (await stores[k]!.list('pending')).filter((id) => id !== 'aux');

function carriesConfirmation(req: Request): boolean {
  if (req.method !== 'deliver') return false;
  return req.envelopes.some((e) => {
    try {
      return decodeEnvelope(Buffer.from(e, 'base64')).round === KEYGEN_ROUND.confirm;
    } catch {
      return false;
    }
  });
}

/** The confirmations never reach nodes `ks` (a relay that stopped, a lost message): the node "keeps waiting". */
function withholdConfirmations(ks: readonly number[], finalizeFails = false): void {
  for (const k of ks) {
    taps[k]!.intercept = async (req, forward) => {
      if (carriesConfirmation(req)) return { ok: true, status: 'running', outbox: [] };
      if (finalizeFails && req.method === 'finalize') return { ok: false, code: 'internal', error: 'disk busy' };
      return forward();
    };
  }
}

function release(): void {
  for (const t of taps) t.intercept = undefined;
}

async function keygen(orchestrator: Orchestrator, walletId: string) {
  return orchestrator.run({ protocol: 'keygen', parties: [...NODE_IDS], participants: taps, walletId });
}

async function refresh(orchestrator: Orchestrator, walletId: string) {
  return orchestrator.run({ protocol: 'refresh', parties: [...NODE_IDS], participants: taps, walletId });
}

/** A coordinator started afresh: a group monitor that knows nothing of earlier runs. */
async function restartedMonitor(): Promise<{ monitor: GroupMonitor; cluster: NodeCluster }> {
  const cluster = new NodeCluster(taps, 2);
  const monitor = new GroupMonitor({ cluster, runner: new Orchestrator(), pollMs: 20, retryMs: 200 });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  return { monitor, cluster };
}

async function until(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function walletAt(k: number, walletId: string) {
  const w = await node(k, { method: 'wallet', walletId });
  if (!w.ok) throw new Error(String(w.code));
  return walletResponseSchema.parse({ walletId: w.walletId, committed: w.committed, pending: w.pending });
}

test.serial(
  'H2 (a): a refresh whose confirmations reached no node is committed at every node from their own stored confirmations; the next refresh runs',
  async (t) => {
    const orchestrator = new Orchestrator();
    const walletId = 'wallet_resolver_a1';
    t.is((await keygen(orchestrator, walletId)).status, 'done');
    withholdConfirmations([0, 1, 2]);
    const failed = await refresh(orchestrator, walletId);
    release();
    t.is(failed.status, 'failed');
    for (const k of [0, 1, 2]) {
      t.deepEqual(await pendingWallets(k), [walletId], `node ${k} holds the refreshed share pending`);
      t.is((await walletAt(k, walletId)).committed?.epoch, 0);
    }
    // nobody can abandon it (every node confirmed): before the resolver, a new refresh is refused for ever
    const refused = await refresh(orchestrator, walletId);
    t.is(refused.status, 'failed');

    const { monitor } = await restartedMonitor();
    try {
      await until(async () => (await Promise.all([0, 1, 2].map(pendingWallets))).every((p) => p.length === 0));
    } finally {
      monitor.stop();
      await monitor.idle();
    }
    const states = await Promise.all([0, 1, 2].map((k) => walletAt(k, walletId)));
    t.deepEqual(
      states.map((s) => s.committed?.epoch),
      [1, 1, 1],
      'every node committed the refresh, at one epoch',
    );
    t.is(new Set(states.map((s) => s.committed?.publicKey)).size, 1);
    const again = await refresh(orchestrator, walletId);
    t.is(again.status, 'done');
    if (again.status === 'done') t.like(again.result, { protocol: 'refresh', epoch: 2 });
  },
);

test.serial(
  'H2 (b): a refresh whose confirmations missed one node, whose finalize then failed, is finished there by the resolver from another node’s evidence',
  async (t) => {
    const orchestrator = new Orchestrator();
    const walletId = 'wallet_resolver_b1';
    t.is((await keygen(orchestrator, walletId)).status, 'done');
    withholdConfirmations([2], true);
    const outcome = await refresh(orchestrator, walletId);
    release();
    t.not(outcome.status, 'done');
    t.deepEqual(await pendingWallets(2), [walletId], 'node_3 stays pending');
    t.is((await walletAt(0, walletId)).committed?.epoch, 1);
    t.is((await walletAt(2, walletId)).committed?.epoch, 0, 'node_3 still serves its old share');

    const { monitor } = await restartedMonitor();
    try {
      await until(async () => (await pendingWallets(2)).length === 0);
    } finally {
      monitor.stop();
      await monitor.idle();
    }
    const states = await Promise.all([0, 1, 2].map((k) => walletAt(k, walletId)));
    t.deepEqual(
      states.map((s) => s.committed?.epoch),
      [1, 1, 1],
    );
    const again = await refresh(orchestrator, walletId);
    t.is(again.status, 'done');
    if (again.status === 'done') t.like(again.result, { protocol: 'refresh', epoch: 2 });
  },
);

test.serial(
  'M1: the wallet answer gives the share’s aux epoch; a stale-share sweep refreshes exactly the wallets whose share predates the group’s aux-info',
  async (t) => {
    const orchestrator = new Orchestrator();
    const walletId = 'wallet_resolver_m1';
    t.is((await keygen(orchestrator, walletId)).status, 'done');
    // the fixture aux-info is stored as before epochs existed: epoch 1
    t.is((await walletAt(0, walletId)).committed?.auxEpoch, 1);
    const cluster = new NodeCluster(taps, 2);
    const monitor = new GroupMonitor({ cluster, runner: orchestrator, pollMs: 20, retryMs: 200 });
    for (const k of [0, 1, 2]) monitor.onConnected(k);
    await until(async () => cluster.keygenReadiness().ready);
    monitor.stop();
    const refreshed: string[] = [];
    const keysOf = new Map<string, string>();
    for (const w of [walletId, 'wallet_resolver_a1'])
      keysOf.set(w, (await walletAt(0, w)).committed?.publicKey as string);
    const rotation = new KeyRotation({
      cluster,
      runner: {
        run: async (spec) => {
          if (spec.walletId) refreshed.push(spec.walletId);
          return orchestrator.run(spec);
        },
      },
      walletIds: () => [walletId, 'wallet_resolver_a1'],
      publicKeyOf: (w) => keysOf.get(w),
      renewAux: async () => 'unused',
    });
    // nothing is stale while the shares' aux epoch is the group's
    t.deepEqual(await rotation.sweepStale(), { stale: 0, refreshed: 0 });
    t.deepEqual(refreshed, []);
    // the group's aux-info moved on (as after an aux change this coordinator did not see through)
    for (const k of [0, 1, 2]) cluster.setInfo(k, { ...cluster.info(k)!, auxEpoch: 2 });
    const r = await rotation.sweepStale();
    t.is(r.stale, 2, 'both wallets are stale');
    t.deepEqual(refreshed, [walletId, 'wallet_resolver_a1'], 'each stale wallet had a refresh started');
    t.is(r.refreshed, 2);
    rotation.stop();
  },
);

test.serial(
  'L4: an interrupted keygen that one node committed is not archived while another node’s finalize fails; it is recovered once the finalize passes',
  async (t) => {
    const registryPath = join(root, 'l4', 'wallets.jsonl');
    const walletId = 'wallet_resolver_l4';
    const first = await WalletRegistry.open(registryPath);
    await first.begin({ walletId, startedAt: new Date().toISOString() });
    // the keygen's confirmations miss node_3, and the coordinator stops before the registry commit
    withholdConfirmations([2], true);
    const outcome = await keygen(new Orchestrator(), walletId);
    t.not(outcome.status, 'done');
    await first.close();
    t.deepEqual(await pendingWallets(2), [walletId]);

    const registry = await WalletRegistry.open(registryPath);
    t.is(registry.status(walletId), 'interrupted');
    const cluster = new NodeCluster(taps, 2);
    for (const k of [0, 1, 2]) cluster.setConnected(k, true);
    const reconciler = new WalletReconciler({ cluster, registry, retryMs: 60_000 });
    // node_3's finalize still fails: a complete wallet must not be archived for it
    await reconciler.run();
    t.is(registry.status(walletId), 'interrupted', 'not resolved');
    t.truthy((await walletAt(0, walletId)).committed, 'node_1 keeps its share live');
    t.deepEqual(await pendingWallets(2), [walletId], 'node_3 keeps its pending share');
    release();
    await reconciler.run();
    t.is(registry.status(walletId), 'committed', 'recovered once node_3 could be finalized');
    t.is((await walletAt(2, walletId)).committed?.epoch, 0);
    reconciler.stop();
    await registry.close();
  },
);
