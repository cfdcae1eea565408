/**
 * Attack: a node lists wallets without end. The reconciliation pages through every node's wallet
 * list (`wallets`, a cursor per page) and keeps all of it in memory before deciding; a node that
 * answers each page with 500 fresh, increasing wallet ids and a `next` cursor made the coordinator
 * gather them for ever (memory without bound), and a long list of "committed" ones ends whole in
 * one audit record. The run must stop after a bounded number of pages, with nothing audited per id.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Request } from '../../src/rpc/messages.js';
import { WalletReconciler } from '../../src/coordinator/reconcile.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { FakeLink, NODE_IDS, readyCluster } from '../helpers/coordinator.js';

test('a node listing wallets without end stops the reconciliation after a bounded number of pages', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-attack-reconcile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const registry = await WalletRegistry.open(join(dir, 'wallets.jsonl'));
  let served = 0;
  const stopAt = 200_000;
  const honest = (req: Request): object =>
    req.method === 'wallets' ? { ok: true, wallets: [] } : { ok: false, code: 'bad-request', error: 'x' };
  const liar = (req: Request): object => {
    if (req.method !== 'wallets') return { ok: false, code: 'bad-request', error: 'x' };
    const base = served;
    served += 500;
    // the test's own bound: where an unbounded reconciliation would go on
    if (served > stopAt) return { ok: true, wallets: [] };
    const wallets = Array.from({ length: 500 }, (_, k) => ({
      walletId: `w_${String(base + k).padStart(12, '0')}`,
      committed: true,
      pending: false,
    }));
    return { ok: true, wallets, next: wallets[499]!.walletId };
  };
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, k === 2 ? liar : honest));
  const cluster = readyCluster(links);
  const audit: object[] = [];
  const reconciler = new WalletReconciler({
    cluster,
    registry,
    audit: { append: async (e) => void audit.push(e) },
    retryMs: 600_000,
  });
  try {
    await reconciler.run();
  } finally {
    reconciler.stop();
  }
  t.true(served < stopAt, `the reconciliation gathered ${served} wallet ids from one node before it stopped`);
  t.true(JSON.stringify(audit).length < 100_000, 'no audit record lists an unbounded number of wallet ids');
});
