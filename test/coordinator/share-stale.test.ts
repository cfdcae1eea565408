/**
 * A node's `share-stale` answer costs the wallet a refresh (which burns its presignatures) at most
 * once per aux-info: a node that keeps answering it after the coordinator refreshed the wallet
 * under the current aux-info is treated as failed for the request (avoided, not blamed), and the
 * other pair signs.
 */
import test from 'ava';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { ProtocolName } from '../../src/rpc/messages.js';
import type { SessionOutcome, SessionSpec } from '../../src/coordinator/orchestrator.js';
import { PresignPool, combinations } from '../../src/coordinator/pool.js';
import { orchestratedPresign } from '../../src/coordinator/presign.js';
import { KeyRotation } from '../../src/coordinator/rotation.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { encodePresignaturePublic } from '../../src/protocol/storage-format.js';
import { Dealer, FakeLink, FakeRunner, NODE_IDS, readyCluster, signingNode } from '../helpers/coordinator.js';

const WALLET = 'w_sharestale';
const DIGEST = Uint8Array.from(Buffer.from('4b688df40bcedbe641ddb16ff0a1842d9c67ea1c3bf63f3e0471baa664531d1a', 'hex'));

test('a node that always answers share-stale: at most one refresh per wallet per aux id; the other pair signs; nobody blamed', async (t) => {
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, signingNode(dealer)));
  const cluster = readyCluster(links, [0, 1, 2], 'ab'.repeat(32));
  const runner = new FakeRunner((spec: SessionSpec<ProtocolName>): SessionOutcome => {
    const participants = spec.participants.map((l) => l.nodeId);
    if (spec.protocol === 'refresh') {
      return {
        status: 'done',
        sessionId: 'refresh_test',
        protocol: 'refresh',
        durationMs: 1,
        result: { protocol: 'refresh', walletId: WALLET, publicKey: dealer.publicKeyHex, epoch: 1 },
        participants,
      };
    }
    // node_1 claims the wallet's share is stale, whatever happened
    if (participants.includes('node_1')) {
      return {
        status: 'failed',
        sessionId: 'presign_test',
        protocol: 'presign',
        durationMs: 1,
        failure: 'rejected',
        nodes: ['node_1'],
        reason: 'node_1: share-stale',
        code: 'share-stale',
      };
    }
    const presignature = Buffer.from(
      encodePresignaturePublic(dealer.presignature(spec.participants.map((l) => l.index))),
    ).toString('base64');
    return {
      status: 'done',
      sessionId: 'presign_test',
      protocol: 'presign',
      durationMs: 1,
      result: { protocol: 'presign', walletId: WALLET, presignature },
      participants,
    };
  });
  const publicKeyOf = (w: string): string | undefined => (w === WALLET ? dealer.publicKeyHex : undefined);
  const discarded: (string | undefined)[] = [];
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner, cluster, publicKeyOf }),
    targetSize: 0,
    signerSets: () => combinations([0, 1, 2], 2),
  });
  const rotation = new KeyRotation({
    cluster,
    runner,
    walletIds: () => [WALLET],
    publicKeyOf,
    renewAux: async () => 'cd'.repeat(32),
    discardPresignatures: (w) => void discarded.push(w),
  });
  const blamed: string[] = [];
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf,
    refreshStale: (w) => rotation.refreshStale(w),
    onBlame: (id) => blamed.push(id),
  });
  const refreshes = (): number => runner.specs.filter((s) => s.protocol === 'refresh').length;

  for (let k = 0; k < 4; k++) {
    const sig = await signing.sign(WALLET, DIGEST);
    t.deepEqual(sig.signers, ['node_2', 'node_3']);
    t.true(
      secp256k1.verify(
        Buffer.from(sig.signature, 'hex').subarray(0, 64),
        DIGEST,
        Buffer.from(dealer.publicKeyHex, 'hex'),
        { prehash: false },
      ),
    );
  }
  t.is(refreshes(), 1, 'one refresh for the wallet under this aux-info, however often share-stale is answered');
  t.deepEqual(discarded, [WALLET], 'its presignatures were dropped once');
  t.deepEqual(blamed, [], 'a false share-stale is no cryptographic evidence: nobody blamed');

  // new aux-info: the wallet may really be stale again, so one more refresh is allowed
  const NEW_AUX = 'ef'.repeat(32);
  for (const k of [0, 1, 2])
    cluster.setInfo(k, { nodeId: NODE_IDS[k] as string, index: k, auxId: NEW_AUX, primesReady: 4, wallets: 1 });
  cluster.setAux(NEW_AUX, 'ready');
  await signing.sign(WALLET, DIGEST);
  await signing.sign(WALLET, DIGEST);
  t.is(refreshes(), 2);
  await pool.stop();
  rotation.stop();
});

test('a stale wallet whose refresh fails: signing fails as such, never as nodes shutting down', async (t) => {
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, signingNode(dealer)));
  const cluster = readyCluster(links, [0, 1, 2], 'ab'.repeat(32));
  const runner = new FakeRunner((spec: SessionSpec<ProtocolName>): SessionOutcome => {
    const participants = spec.participants.map((l) => l.nodeId);
    // a node lost the wallet's share: the refresh every node must join is refused
    if (spec.protocol === 'refresh')
      return {
        status: 'failed',
        sessionId: 'refresh_test',
        protocol: 'refresh',
        durationMs: 1,
        failure: 'rejected',
        nodes: ['node_3'],
        reason: 'node_3: refused prepare: no such wallet (unknown-wallet)',
      };
    return {
      status: 'failed',
      sessionId: 'presign_test',
      protocol: 'presign',
      durationMs: 1,
      failure: 'rejected',
      nodes: participants,
      reason: 'share-stale',
      code: 'share-stale',
    };
  });
  const publicKeyOf = (w: string): string | undefined => (w === WALLET ? dealer.publicKeyHex : undefined);
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner, cluster, publicKeyOf }),
    targetSize: 0,
    signerSets: () => combinations([0, 1, 2], 2),
  });
  const rotation = new KeyRotation({
    cluster,
    runner,
    walletIds: () => [WALLET],
    publicKeyOf,
    renewAux: async () => 'cd'.repeat(32),
    discardPresignatures: () => undefined,
  });
  const signing = new SigningService({ cluster, pool, publicKeyOf, refreshStale: (w) => rotation.refreshStale(w) });
  const e = await t.throwsAsync(signing.sign(WALLET, DIGEST));
  t.is(e?.name, 'SigningFailedError');
  t.notRegex(e?.message ?? '', /shutting down/);
  await pool.stop();
  rotation.stop();
});
