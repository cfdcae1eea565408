/**
 * A node's share backups (src/node/backup.ts) through real key generation: every node writes its
 * committed share sealed to the backup key, the backups reconstruct the wallet's key (checked with
 * @noble/curves), and a node restarted after losing a backup (a crash between commit and write)
 * writes it again at start, never a second copy.
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { WalletService } from '../../src/coordinator/wallets.js';
import { parseBackup, parseBackupPrivateKey, publicFromKeyObject } from '../../src/backup/format.js';
import { reconstruct } from '../../src/backup/recovery.js';
import { ShareBackup } from '../../src/node/backup.js';
import { NodeService } from '../../src/node/service.js';
import { PrimeSource } from '../../src/node/primes.js';
import { silentLogger } from '../../src/util/log.js';
import { FIXTURE_PRIMES, startInProcessNodes, type InProcessNodes } from '../helpers/in-process-nodes.js';

const key = generateKeyPairSync('x25519').privateKey;
let root = '';
let nodes: InProcessNodes;
let registry: WalletRegistry;
const backupOf = (nodeId: string) =>
  new ShareBackup({ nodeId, dir: join(root, 'backup'), publicKey: publicFromKeyObject(key) });

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-backup-'));
  nodes = await startInProcessNodes(root, { backup: backupOf });
});
test.after.always(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

test.serial(
  'each node backs up its committed share; the backups reconstruct the wallet key; a lost backup is rewritten at start',
  async (t) => {
    const cluster = new NodeCluster(nodes.links, 2);
    const orchestrator = new Orchestrator({});
    registry = await WalletRegistry.open(join(root, 'coordinator', 'wallets.jsonl'));
    const wallets = new WalletService({ registry, cluster, runner: orchestrator });
    const monitor = new GroupMonitor({ cluster, runner: orchestrator });
    for (const k of [0, 1, 2]) monitor.onConnected(k);
    const end = Date.now() + 10_000;
    while (!cluster.keygenReadiness().ready && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    monitor.stop();
    const { wallet } = await wallets.create({ label: 'backed up' });

    const files = nodes.ids.map((id) => backupOf(id).path(wallet.walletId, 0));
    const found = await Promise.all(
      files.map(async (f) => ({ source: f, file: parseBackup(await readFile(f, 'utf8')) })),
    );
    t.deepEqual(
      found.map((b) => [b.file.header.nodeId, b.file.header.publicKey, b.file.header.epoch]),
      nodes.ids.map((id) => [id, wallet.publicKey, 0]),
    );
    const priv = parseBackupPrivateKey(key.export({ format: 'pem', type: 'pkcs8' }) as string);
    const r = await reconstruct(found, priv, wallet.walletId);
    t.is(
      Buffer.from(secp256k1.getPublicKey(Buffer.from(r.x.toString(16).padStart(64, '0'), 'hex'), true)).toString('hex'),
      wallet.publicKey,
    );

    // node_2 crashed after its commit, before its backup: a restart writes it, once
    await unlink(files[1] as string);
    const primes = await PrimeSource.open({ store: nodes.stores[1]!, index: 1, devFile: FIXTURE_PRIMES });
    const restarted = () =>
      new NodeService({
        nodeId: 'node_2',
        group: nodes.ids.map((nodeId, k) => ({ nodeId, publicKey: nodes.keys[k]!.publicKey })),
        privateKey: nodes.keys[1]!.privateKey,
        threshold: 2,
        store: nodes.stores[1]!,
        primes,
        log: silentLogger(),
        backup: backupOf('node_2'),
      });
    t.like(await restarted().recover(), { backupsWritten: 1 });
    t.deepEqual(parseBackup(await readFile(files[1] as string, 'utf8')).header.publicKey, wallet.publicKey);
    t.like(await restarted().recover(), { backupsWritten: 0 }, 'an existing backup is never written again');
  },
);
