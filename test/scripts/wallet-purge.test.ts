/**
 * `npm run wallet:purge`: at a stopped node, prints the wallet's public key, destroys its share only
 * once the wallet id is typed, and records it in the node's audit log; at the stopped coordinator,
 * records an archived wallet as purged and refuses an active one.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { pointToBytes } from '../../src/curve/secp256k1.js';
import { encodeEpoch, hex, pack } from '../../src/node/records.js';
import { encodePublicKeyShare, encodeSecretKeyShare } from '../../src/protocol/storage-format.js';
import { verifyAuditLog } from '../../src/util/audit-log.js';
import { keygenShares } from '../helpers/cluster.js';
import { localNodeEnv } from '../helpers/node-env.js';
import { tempDir } from '../helpers/storage.js';

const run = promisify(execFile);
type Failed = { code: number; stdout: string; stderr: string };
const W = 'w_purged0001';

test('npm run wallet:purge at a node: shows the public key, needs the typed wallet id, destroys the share with an audit record', async (t) => {
  const root = await tempDir(t);
  const store = await localNodeEnv(root);
  const share = keygenShares(3, 2)[0]!;
  await store.put(
    'keyshare',
    W,
    pack(encodePublicKeyShare(share.public), encodeSecretKeyShare(share.secret), encodeEpoch(1)),
  );
  const publicKey = hex(pointToBytes(share.public.Y));
  const script = join(process.cwd(), 'dist', 'scripts', 'wallet-purge.js');
  const args = ['--env', 'test', '--node', 'node_1', '--wallet', W];

  const wrong = (await run(process.execPath, [script, ...args, '--confirm', 'w_another001'], { cwd: root }).catch(
    (e: unknown) => e,
  )) as Failed;
  t.is(wrong.code, 1);
  t.true(wrong.stderr.includes(`public key ${publicKey}, epoch 1`));
  t.regex(wrong.stderr, /not confirmed: nothing changed/);
  t.true(await store.has('keyshare', W));

  const done = await run(process.execPath, [script, ...args, '--confirm', W], { cwd: root });
  t.regex(
    done.stdout,
    /node_1: wallet w_purged0001 purged \(keyshare, .*Purge it on every other node and on the coordinator/,
  );
  t.false(await store.has('keyshare', W));
  const audit = await verifyAuditLog(join(root, 'data', 'node_1', 'audit.jsonl'));
  t.like(audit, { ok: true, lines: 2 });
});

test('npm run wallet:purge at the coordinator: refused for an active wallet; an archived one is recorded as purged', async (t) => {
  const root = await tempDir(t);
  await localNodeEnv(root);
  const path = join(root, 'data', 'coordinator', 'wallets.jsonl');
  const registry = await WalletRegistry.open(path);
  await registry.append({ walletId: W, publicKey: '02' + 'aa'.repeat(32), createdAt: new Date().toISOString() });
  await registry.close();
  const script = join(process.cwd(), 'dist', 'scripts', 'wallet-purge.js');
  const args = ['--env', 'test', '--coordinator', '--wallet', W, '--confirm', W];

  const active = (await run(process.execPath, [script, ...args], { cwd: root }).catch((e: unknown) => e)) as Failed;
  t.is(active.code, 1);
  t.regex(active.stderr, /is active: archive it first/);

  const archiving = await WalletRegistry.open(path);
  await archiving.setArchived(W, true);
  await archiving.close();
  const done = await run(process.execPath, [script, ...args], { cwd: root });
  t.regex(done.stdout, /coordinator: wallet w_purged0001 recorded as purged/);
  const after = await WalletRegistry.open(path);
  t.true(after.isPurged(W));
  await after.close();
  t.like(await verifyAuditLog(join(root, 'data', 'coordinator', 'audit.jsonl')), { ok: true, lines: 1 });
});
