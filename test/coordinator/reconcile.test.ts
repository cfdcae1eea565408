/**
 * Wallet reconciliation against three real NodeServices in one process (real keygen, real
 * records): a wallet whose registry commit failed after every node stored its share is recovered
 * when the coordinator starts again; a keygen that failed after some nodes staged their share
 * leaves nothing live — the pending states are archived (never deleted), the registry records the
 * wallet resolved, and a keygen of the same wallet id then runs; committed shares the registry
 * never heard of are left alone (the registry is wrong), audited and alerted; pending-only states
 * it never heard of are archived with an audit record, unless there are implausibly many.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Lifecycle } from '../../src/node/lifecycle.js';
import type { RecordStore } from '../../src/node/storage/store.js';
import { AuditLog, type AuditEvent } from '../../src/util/audit-log.js';
import { ConnectionClosedError } from '../../src/transport/errors.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { KeygenFailedError } from '../../src/coordinator/errors.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { combinations, PresignPool } from '../../src/coordinator/pool.js';
import { orchestratedPresign } from '../../src/coordinator/presign.js';
import { WalletReconciler } from '../../src/coordinator/reconcile.js';
import { RegistryUnavailableError, WalletRegistry } from '../../src/coordinator/registry.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { WalletService } from '../../src/coordinator/wallets.js';
import { startInProcessNodes, Tap } from '../helpers/in-process-nodes.js';

let root = '';
let taps: Tap[] = [];
const stores: RecordStore[] = [];
const nodeAudit: AuditEvent[] = [];

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-reconcile-'));
  const nodes = await startInProcessNodes(root, {
    audit: (id) => async (e) => void nodeAudit.push({ ...e, node: id }),
  });
  stores.push(...nodes.stores);
  taps = nodes.links.map((l) => new Tap(l));
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

/** One coordinator "process": its registry, audit log, cluster (made ready by a group monitor) and services. */
async function coordinator(name: string, options: { maxUnregistered?: number; refuseClaims?: boolean } = {}) {
  const metrics = new CoordinatorMetrics();
  const dir = join(root, name);
  const registry = await WalletRegistry.open(join(dir, 'wallets.jsonl'));
  // as a shared store answers while the key generation's coordinator is alive again
  if (options.refuseClaims === true) registry.claim = () => Promise.resolve(false);
  const auditPath = join(dir, 'audit.jsonl');
  const audit = await AuditLog.open(auditPath);
  const cluster = new NodeCluster(taps, 2);
  const orchestrator = new Orchestrator();
  const runs: Promise<unknown>[] = [];
  // as the coordinator does: a failed keygen is reconciled at once
  const wallets = new WalletService({
    registry,
    cluster,
    runner: orchestrator,
    audit,
    onAbandoned: () => void runs.push(reconciler.run()),
  });
  const publicKeyOf = (w: string) => wallets.publicKeyOf(w);
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner: orchestrator, cluster, publicKeyOf }),
    targetSize: 0,
    signerSets: () =>
      combinations(
        cluster.signerLinks().map((l) => l.index),
        2,
      ),
  });
  const signing = new SigningService({ cluster, pool, publicKeyOf, audit });
  const reconciler = new WalletReconciler({
    cluster,
    registry,
    audit,
    metrics,
    ...(options.maxUnregistered === undefined ? {} : { maxUnregistered: options.maxUnregistered }),
  });
  const monitor = new GroupMonitor({
    cluster,
    runner: orchestrator,
    onComplete: () => void runs.push(reconciler.run()),
  });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  const end = Date.now() + 10_000;
  while (!cluster.keygenReadiness().ready && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  monitor.stop();
  const events = async (): Promise<AuditEvent[]> =>
    (await readFile(auditPath, 'utf8'))
      .split('\n')
      .slice(0, -1)
      .map((l) => (JSON.parse(l) as { event: AuditEvent }).event);
  const close = async (): Promise<void> => {
    reconciler.stop();
    await pool.stop();
    await registry.close();
    await audit.close();
  };
  return { registry, cluster, orchestrator, wallets, signing, reconciler, runs, events, close, metrics };
}

const pendingWallets = async (k: number): Promise<string[]> =>
  (await stores[k]!.list('pending')).filter((id) => id !== 'aux');

test.serial(
  'a wallet whose registry commit failed after keygen is recovered when the coordinator starts again',
  async (t) => {
    const first = await coordinator('main');
    // the registry's disk fails exactly at the commit: every node has stored its share by then
    const probe = await open(first.registry.path, 'r');
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    proto.write = function (this: unknown, ...a: unknown[]) {
      if (Buffer.isBuffer(a[0]) && a[0].toString('utf8').includes('"state":"committed"'))
        return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      return original.apply(this, a);
    };
    try {
      await t.throwsAsync(first.wallets.create({ label: 'lost commit', idempotencyKey: 'idem-recover-1' }), {
        instanceOf: RegistryUnavailableError,
      });
    } finally {
      proto.write = original;
    }
    await first.close();
    const orphan = (await stores[0]!.list('keyshare'))[0] as string;
    t.truthy(orphan, 'every node holds the share');
    for (const s of stores) t.deepEqual(await s.list('keyshare'), [orphan]);

    // the restart: the group monitor starts the reconciliation once every node is connected
    const second = await coordinator('main');
    t.is(second.runs.length, 1, 'one reconciliation, started by the group monitor');
    await Promise.all(second.runs);
    t.is(
      second.registry.status(orphan),
      'committed',
      'the registry had it as interrupted; the reconciliation recovered it',
    );
    const wallet = second.registry.get(orphan);
    t.like(wallet, { walletId: orphan, label: 'lost commit' });
    t.like(
      (await second.events()).find((e) => e.type === 'wallet.recovered'),
      { walletId: orphan, publicKey: wallet?.publicKey },
    );
    // it is a real wallet: it signs
    const digest = randomBytes(32);
    const sig = await second.signing.sign(orphan, digest);
    t.true(
      secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), digest, Buffer.from(wallet?.publicKey as string, 'hex'), {
        prehash: false,
      }),
    );
    // and creating the wallet again (the same request) works
    const again = await second.wallets.create({ label: 'lost commit', idempotencyKey: 'idem-recover-1' });
    t.false(again.replayed);
    t.is(second.registry.count, 2);
    await second.close();
  },
);

test.serial(
  'a keygen that failed after nodes staged their shares: archived at every node, resolved in the registry; the wallet id can be used again',
  async (t) => {
    const c = await coordinator('main');
    t.teardown(() => c.close());
    await Promise.all(c.runs); // the run at start
    // cut every delivery once some node has staged its share: no node can ever commit that run
    let cut = false;
    for (const tap of taps) {
      tap.intercept = async (req, forward) => {
        if (!cut) for (const k of [0, 1, 2]) if ((await pendingWallets(k)).length > 0) cut = true;
        if (cut && req.method === 'deliver') throw new ConnectionClosedError('link lost');
        return forward();
      };
    }
    try {
      await t.throwsAsync(c.wallets.create({ label: 'cut short' }), { instanceOf: KeygenFailedError });
    } finally {
      for (const tap of taps) tap.intercept = undefined;
    }
    t.is(c.runs.length, 2, 'the failure started a reconciliation');
    const summary = (await c.runs[1]) as { resolved: string[] } | undefined;
    const [dead] = summary?.resolved ?? [];
    t.regex(String(dead), /^w_/);
    t.is(c.registry.status(dead as string), 'resolved');
    t.deepEqual(c.registry.pending(), []);
    for (const k of [0, 1, 2]) t.deepEqual(await pendingWallets(k), [], `node ${k} holds no pending share`);
    // what the nodes held of the dead run is in their archives, not deleted
    const archivedPending = (await Promise.all(stores.map((s) => s.list('archived'))))
      .flat()
      .filter((id) => id.startsWith(`${dead}-p-`));
    t.true(archivedPending.length > 0, 'some node had staged its share; it was archived');
    t.true(
      nodeAudit.some(
        (e) =>
          e.type === 'wallet.archived' &&
          e['walletId'] === dead &&
          e['reason'] === 'abandoned' &&
          (e['archived'] as string[]).includes('pending'),
      ),
    );
    t.like(
      (await c.events()).find((e) => e.type === 'wallet.resolved'),
      { walletId: dead, registry: 'failed' },
    );

    // nothing of the dead run holds its wallet id any more: a keygen of that very id runs
    const rerun = await c.orchestrator.run({
      protocol: 'keygen',
      parties: c.cluster.parties,
      participants: c.cluster.links,
      walletId: dead as string,
    });
    t.is(rerun.status, 'done', JSON.stringify(rerun));
    // and wallet creation works
    const made = await c.wallets.create({ label: 'cut short' });
    t.is(c.registry.status(made.wallet.walletId), 'committed');
    // a restart reads the resolved record
    await c.registry.close();
    const reopened = await WalletRegistry.open(c.registry.path);
    t.is(reopened.status(dead as string), 'resolved');
    await reopened.close();
  },
);

test.serial(
  'an empty registry with committed wallets at the nodes archives nothing: the refusal is audited and alerted',
  async (t) => {
    const held = await stores[0]!.list('keyshare');
    t.true(held.length >= 3, 'committed wallets from the tests before');
    const before = await Promise.all(stores.map((s) => s.list('archived')));
    // a registry that knows none of them (empty or restored): no safeguard threshold applies
    const c = await coordinator('empty', { maxUnregistered: 1_000 });
    t.teardown(() => c.close());
    await Promise.all(c.runs);
    const summary = await c.reconciler.run();
    t.deepEqual(summary?.refused.slice().sort(), [...held].sort());
    t.deepEqual(summary?.unregistered, []);
    for (const [k, s] of stores.entries()) {
      t.deepEqual(await s.list('keyshare'), held, 'nothing archived');
      t.deepEqual(await s.list('archived'), before[k], 'no record moved');
    }
    const events = await c.events();
    t.like(
      events.find((e) => e.type === 'reconcile.refused'),
      { reason: 'unregistered committed key shares', walletIds: [...held].sort() },
    );
    t.false(events.some((e) => e.type === 'wallet.unregistered'));
    t.false(nodeAudit.some((e) => e.type === 'wallet.archived' && e['reason'] === 'unregistered'));
    t.is((await c.metrics.unregisteredCommitted.get()).values[0]?.value, held.length, 'alert metric');
  },
);

test.serial(
  'pending-only states the registry never heard of are archived with an audit record, unless there are too many',
  async (t) => {
    const held = await stores[0]!.list('keyshare');
    // a keygen that staged at the nodes but committed nowhere, of a wallet no registry recorded
    const orphans = ['w_orphan0001', 'w_orphan0002'];
    for (const store of stores) {
      const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: async () => undefined });
      for (const id of orphans)
        await lifecycle.stage(
          id,
          {
            protocol: 'keygen',
            sid: Uint8Array.from(randomBytes(32)),
            round: 'confirm',
            c: Uint8Array.from(randomBytes(32)),
            epoch: 0,
            parts: [Uint8Array.of(1), Uint8Array.of(2)],
          },
          undefined,
        );
    }
    const wrong = await coordinator('foreign', { maxUnregistered: 1 });
    await Promise.all(wrong.runs);
    for (const s of stores) t.deepEqual((await pendingWallets(stores.indexOf(s))).sort(), orphans, 'nothing archived');
    t.like(
      (await wrong.events()).find(
        (e) => e.type === 'reconcile.refused' && e['reason'] === 'too many unregistered wallets',
      ),
      { max: 1 },
    );
    await wrong.close();

    const c = await coordinator('unregistered', { maxUnregistered: 16 });
    t.teardown(() => c.close());
    await Promise.all(c.runs);
    for (const [k, s] of stores.entries()) {
      t.deepEqual(await pendingWallets(k), [], 'no pending state left');
      t.deepEqual(await s.list('keyshare'), held, 'committed shares untouched');
    }
    const events = await c.events();
    t.deepEqual(
      events
        .filter((e) => e.type === 'wallet.unregistered')
        .map((e) => e['walletId'])
        .sort(),
      orphans,
    );
    t.true(nodeAudit.some((e) => e.type === 'wallet.archived' && e['reason'] === 'unregistered'));
  },
);

test.serial(
  'an interrupted key generation the registry does not let this coordinator claim is left alone: no commit, nothing archived',
  async (t) => {
    const first = await coordinator('fenced');
    await Promise.all(first.runs);
    // the commit fails after every node stored its share: interrupted at the next start
    const probe = await open(first.registry.path, 'r');
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    proto.write = function (this: unknown, ...a: unknown[]) {
      if (Buffer.isBuffer(a[0]) && a[0].toString('utf8').includes('"state":"committed"'))
        return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      return original.apply(this, a);
    };
    try {
      await t.throwsAsync(first.wallets.create({ label: 'fenced' }), { instanceOf: RegistryUnavailableError });
    } finally {
      proto.write = original;
    }
    await first.close();

    const refused = await coordinator('fenced', { refuseClaims: true });
    await Promise.all(refused.runs);
    const [orphan] = refused.registry.pending().map((p) => p.walletId);
    t.truthy(orphan);
    t.is(refused.registry.status(orphan as string), 'interrupted', 'not recovered without the claim');
    t.false((await refused.events()).some((e) => e.type === 'wallet.recovered' || e.type === 'wallet.resolved'));
    for (const s of stores) t.true((await s.list('keyshare')).includes(orphan as string), 'nothing archived');
    await refused.close();

    const claimed = await coordinator('fenced');
    await Promise.all(claimed.runs);
    t.is(claimed.registry.status(orphan as string), 'committed', 'claimed, it is recovered');
    await claimed.close();
  },
);
