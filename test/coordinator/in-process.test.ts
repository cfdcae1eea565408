/**
 * The coordinator's services against three real NodeServices in one process (InProcessNodeLink →
 * NodeService.handleBytes): keygen, presign and sign run the real protocols with real envelopes.
 * Each node's store is seeded with aux-info built from the fixture primes (test/helpers/cluster.ts),
 * as the aux protocol itself takes ~25 s and has its own tests; everything after it is real.
 * Faults are injected in the links: a node that drops out mid-signing and a signer whose partial
 * is altered in transit (as a malicious node would send it).
 *
 * Not the process-level end-to-end test (real node processes over mutual TLS): that one comes with
 * the node's entry point.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ConnectionClosedError } from '../../src/transport/errors.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { combinations, PresignPool } from '../../src/coordinator/pool.js';
import { orchestratedPresign } from '../../src/coordinator/presign.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { WalletService } from '../../src/coordinator/wallets.js';
import { startInProcessNodes, Tap } from '../helpers/in-process-nodes.js';

let root = '';
let taps: Tap[] = [];
let cluster: NodeCluster;
let wallets: WalletService;
let signing: SigningService;
let pool: PresignPool;
let registry: WalletRegistry;
let metrics: CoordinatorMetrics;
let walletId = '';
let publicKey = '';

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-coord-e2e-'));
  taps = (await startInProcessNodes(root)).links.map((l) => new Tap(l));
  cluster = new NodeCluster(taps, 2);
  metrics = new CoordinatorMetrics();
  const orchestrator = new Orchestrator({ onOutcome: (o) => metrics.recordSession(o) });
  registry = await WalletRegistry.open(join(root, 'coordinator', 'wallets.jsonl'));
  wallets = new WalletService({ registry, cluster, runner: orchestrator });
  const publicKeyOf = (w: string) => wallets.publicKeyOf(w);
  pool = new PresignPool({
    presign: orchestratedPresign({ runner: orchestrator, cluster, publicKeyOf }),
    targetSize: 0, // on demand only: keeps the run short and the node CPU for the test
    signerSets: () =>
      combinations(
        cluster.signerLinks().map((l) => l.index),
        2,
      ),
  });
  signing = new SigningService({ cluster, pool, publicKeyOf, metrics });
  const monitor = new GroupMonitor({ cluster, runner: orchestrator });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  const end = Date.now() + 10_000;
  while (!cluster.keygenReadiness().ready && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  monitor.stop();
});
test.after.always(async () => {
  await pool?.stop();
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

test.serial('the nodes report the same aux-info: the group is ready without an aux run', (t) => {
  t.true(cluster.keygenReadiness().ready);
  t.regex(cluster.auxId ?? '', /^[0-9a-f]{64}$/);
});

test.serial('keygen with all three nodes creates a wallet whose key every node agrees on', async (t) => {
  const { wallet, replayed } = await wallets.create({ label: 'e2e' });
  t.false(replayed);
  walletId = wallet.walletId;
  publicKey = wallet.publicKey;
  t.regex(publicKey, /^0[23][0-9a-f]{64}$/);
  t.is(registry.count, 1);
});

test.serial('sign: presign on demand and one signing round; the signature verifies', async (t) => {
  const digest = randomBytes(32);
  const sig = await signing.sign(walletId, digest);
  t.deepEqual(sig.signers, ['node_1', 'node_2']);
  t.true(
    secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), digest, Buffer.from(publicKey, 'hex'), { prehash: false }),
  );
});

test.serial('a node dropping out mid-signing: the request succeeds with the other pair', async (t) => {
  (taps[1] as Tap).intercept = async (req, forward) => {
    if (req.method === 'sign') throw new ConnectionClosedError('not connected to node node_2');
    return forward();
  };
  try {
    const digest = randomBytes(32);
    const sig = await signing.sign(walletId, digest);
    t.deepEqual(sig.signers, ['node_1', 'node_3']);
    t.true(
      secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), digest, Buffer.from(publicKey, 'hex'), { prehash: false }),
    );
  } finally {
    (taps[1] as Tap).intercept = undefined;
  }
});

test.serial('a wrong partial signature is blamed on its node and another pair signs', async (t) => {
  (taps[0] as Tap).intercept = async (req, forward) => {
    const answer = (await forward()) as { ok: boolean; sigma?: string };
    if (req.method === 'sign' && answer.ok && answer.sigma)
      answer.sigma = (BigInt(`0x${answer.sigma}`) ^ 1n).toString(16).padStart(64, '0');
    return answer;
  };
  try {
    const digest = randomBytes(32);
    const sig = await signing.sign(walletId, digest);
    t.deepEqual(sig.signers, ['node_2', 'node_3']);
    t.true(
      secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), digest, Buffer.from(publicKey, 'hex'), { prehash: false }),
    );
    t.regex((await metrics.exposition()).body, /mpc_blames_total\{node="node_1",protocol="sign"\} 1/);
  } finally {
    (taps[0] as Tap).intercept = undefined;
  }
});
