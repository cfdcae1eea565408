/**
 * The running system end to end: three node processes and the coordinator on loopback, mutual TLS
 * between them, the wallet API over HTTPS. Every signature is verified by OpenSSL (node:crypto)
 * and @noble/curves, including public-key recovery from v.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Agent } from 'node:https';
import { Cluster, NODE_IDS, TOKEN, type HttpAnswer } from '../helpers/processes.js';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { checkSignature as check, type SignAnswer } from '../helpers/ecdsa-check.js';
import { decodePresignaturePublic } from '../../src/protocol/storage-format.js';

let cluster: Cluster;
let wallet: { walletId: string; publicKey: string };

const ADMIN = 'Bearer admin_e2e_token_67890';
/** the operator's backup key: the nodes get its public half */
const backupKey = generateKeyPairSync('x25519');

test.before(async () => {
  cluster = await Cluster.create({
    PRESIGN_POOL_SIZE: '3',
    COORDINATOR_ADMIN_TOKEN: ADMIN,
    BACKUP_PUBLIC_KEY: Buffer.from(backupKey.publicKey.export({ format: 'jwk' }).x as string, 'base64url').toString(
      'hex',
    ),
  });
  for (const id of NODE_IDS) cluster.startNode(id);
  cluster.startCoordinator();
  // stocked from its creation on, as the signing tests below expect a warm pool
  const created = await cluster.until('wallet creation', async () => {
    const r = await cluster.http('POST', '/v1/wallets', { label: 'e2e', presign: true });
    return r.status === 201 ? r : undefined;
  });
  wallet = created.body as typeof wallet;
});
test.after.always(async () => {
  await cluster?.close();
});

async function sign(message: Buffer, agent?: Agent): Promise<HttpAnswer> {
  const digest = '0x' + createHash('sha256').update(message).digest('hex');
  return cluster.http('POST', `/v1/wallets/${wallet.walletId}/sign`, { digest }, {}, agent);
}

test.serial(
  'a wallet is created by the three nodes and read back; its addresses are derived from its key',
  async (t) => {
    t.regex(wallet.publicKey, /^0[23][0-9a-f]{64}$/);
    const got = await cluster.http('GET', `/v1/wallets/${wallet.walletId}`);
    t.is(got.status, 200);
    t.like(got.body, { walletId: wallet.walletId, publicKey: wallet.publicKey, threshold: 2, totalShards: 3 });
    const list = await cluster.http('GET', '/v1/wallets');
    t.true(JSON.stringify(list.body).includes(wallet.walletId));
    const open = await cluster.http('GET', '/health', undefined, { authorization: '' });
    t.deepEqual(open.body, { status: 'ok' }, 'unauthenticated: the status only');
    const health = await cluster.http('GET', '/health');
    t.like(health.body, { status: 'ok', connectedNodes: 3, totalNodes: 3, threshold: 2 });
  },
);

test.serial('20 digests signed; each verified by OpenSSL and noble, with recovery', async (t) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: cluster.ca });
  for (let k = 0; k < 20; k++) {
    const message = randomBytes(100);
    const res = await sign(message, agent);
    t.is(res.status, 200, res.text);
    check(t, message, res.body as SignAnswer, wallet.publicKey);
  }
  agent.destroy();
});

test.serial('the API refuses bad input with problem+json and keeps serving', async (t) => {
  const path = `/v1/wallets/${wallet.walletId}/sign`;
  const cases: [string, () => Promise<HttpAnswer>, number][] = [
    ['no token', () => cluster.http('POST', path, { digest: '00'.repeat(32) }, { authorization: '' }), 401],
    ['wrong token', () => cluster.http('POST', path, { digest: '00'.repeat(32) }, { authorization: TOKEN + 'x' }), 401],
    ['short digest', () => cluster.http('POST', path, { digest: '00'.repeat(31) }), 400],
    ['non-hex digest', () => cluster.http('POST', path, { digest: 'zz'.repeat(32) }), 400],
    ['not JSON', () => cluster.http('POST', path, '{"digest":', { 'content-type': 'application/json' }), 400],
    [
      'unknown wallet',
      () => cluster.http('POST', '/v1/wallets/w_doesnotexist000/sign', { digest: '00'.repeat(32) }),
      404,
    ],
    ['wrong content type', () => cluster.http('POST', path, 'digest=00', { 'content-type': 'text/plain' }), 415],
    [
      'body over the 16 KiB limit',
      () => cluster.http('POST', path, { digest: '00'.repeat(32), pad: 'x'.repeat(20_000) }),
      413,
    ],
  ];
  for (const [name, run, status] of cases) {
    const r = await run();
    t.is(r.status, status, name);
    t.regex(String(r.headers['content-type']), /application\/problem\+json/, name);
    t.like(r.body, { status }, name);
  }
  const ok = await sign(randomBytes(10));
  t.is(ok.status, 200);
});

test.serial(
  'garbage, an oversized frame and a stalled frame at a node’s port close that connection only',
  async (t) => {
    const port = cluster.nodePorts[0] as number;
    // plain HTTP, garbage, a TLS record header announcing an oversized record, and a record that stalls
    for (const bytes of [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.alloc(64, 0xff),
      Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]),
      Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01]),
    ]) {
      const closed = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.write(bytes));
        s.on('error', () => undefined);
        s.resume(); // read (and drop) whatever the node answers, e.g. a TLS alert, so 'close' can follow
        s.on('close', () => resolve(true));
        setTimeout(() => {
          s.destroy();
          resolve(false);
        }, 15_000);
      });
      t.true(closed);
    }
    const message = randomBytes(32);
    const res = await sign(message);
    t.is(res.status, 200);
    check(t, message, res.body as SignAnswer, wallet.publicKey);
  },
);

test.serial('two concurrent clients sign 50 digests each without a failure', async (t) => {
  const client = async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: cluster.ca });
    const statuses: number[] = [];
    for (let k = 0; k < 50; k++) {
      const message = randomBytes(40);
      const res = await sign(message, agent);
      statuses.push(res.status);
      if (res.status === 200) check(t, message, res.body as SignAnswer, wallet.publicKey);
    }
    agent.destroy();
    return statuses;
  };
  const all = (await Promise.all([client(), client()])).flat();
  t.is(all.length, 100);
  t.deepEqual(
    all.filter((s) => s !== 200),
    [],
  );
});

test.serial(
  'with a node killed, wallet creation answers 503 naming the need, and the other two still sign',
  async (t) => {
    await cluster.stop('node_3', 'SIGKILL');
    await cluster.until(
      'the coordinator to notice',
      async () =>
        ((await cluster.http('GET', '/health')).body as { connectedNodes: number }).connectedNodes === 2 || undefined,
      30_000,
    );
    const created = await cluster.http('POST', '/v1/wallets', { label: 'needs-three' });
    t.is(created.status, 503);
    t.regex(JSON.stringify(created.body), /node_3|all three|all nodes/i);
    for (let k = 0; k < 3; k++) {
      const message = randomBytes(50);
      const res = await sign(message);
      t.is(res.status, 200, res.text);
      t.deepEqual((res.body as SignAnswer).signers, ['node_1', 'node_2']);
      check(t, message, res.body as SignAnswer, wallet.publicKey);
    }
  },
);

/** Ids of a wallet's presignatures the coordinator's inventory journal holds ready. */
async function readyInJournal(walletId: string): Promise<Set<string>> {
  const path = join(cluster.env['DATA_DIR'] as string, 'coordinator', 'presignatures.jsonl');
  const ready = new Set<string>();
  for (const line of (await readFile(path, 'utf8')).split('\n').slice(0, -1)) {
    const r = JSON.parse(line) as {
      op: string;
      id?: string;
      ids?: string[];
      entry?: { walletId: string; presignature: string };
    };
    if (r.op === 'add' && r.entry?.walletId === walletId) {
      const pub = decodePresignaturePublic(Buffer.from(r.entry.presignature, 'base64'));
      ready.add(Buffer.from(pub.id).toString('hex'));
    } else if (r.op === 'claim' && r.id) ready.delete(r.id);
    else if (r.op === 'discard') for (const id of r.ids ?? []) ready.delete(id);
  }
  return ready;
}

test.serial('a coordinator restart loses no wallet; its first signature is warm; the node comes back', async (t) => {
  // stocked before the restart (node_3 is down: the pair node_1+node_2)
  await cluster.until('the pool to be stocked', async () =>
    (await readyInJournal(wallet.walletId)).size >= 2 ? true : undefined,
  );
  await cluster.stop('coordinator', 'SIGTERM');
  const stocked = await readyInJournal(wallet.walletId);
  cluster.startCoordinator();
  const got = await cluster.until('the coordinator to come back', async () => {
    const r = await cluster.http('GET', `/v1/wallets/${wallet.walletId}`);
    return r.status === 200 ? r : undefined;
  });
  t.like(got.body, { walletId: wallet.walletId, publicKey: wallet.publicKey });
  const message = randomBytes(20);
  const res = await cluster.until(
    'a signature after the restart',
    async () => {
      const r = await sign(message);
      return r.status === 200 ? r : undefined;
    },
    60_000,
    500,
  );
  check(t, message, res.body as SignAnswer, wallet.publicKey);
  // warm: it used a presignature stocked before the restart, not one made for it on demand
  const audit = join(cluster.env['DATA_DIR'] as string, 'coordinator', 'audit.jsonl');
  const signed = (await readFile(audit, 'utf8'))
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: { type: string; presignatureId?: string } }).event)
    .filter((e) => e.type === 'signature');
  t.true(stocked.has(signed.at(-1)?.presignatureId ?? ''), 'signed with a presignature stocked before the restart');
  cluster.startNode('node_3');
  const second = await cluster.createWallet('after-restart', 60_000);
  t.is(second.status, 201);
});

test.serial('a new wallet is stocked once it signs, or at once when its request asks', async (t) => {
  const plain = (await cluster.createWallet('no-presign', 60_000)).body as { walletId: string };
  const asked = await cluster.http('POST', '/v1/wallets', { label: 'presign', presign: true });
  t.is(asked.status, 201, asked.text);
  const stocked = (asked.body as { walletId: string }).walletId;
  // the pool works in order: had the first wallet been stocked at its creation, its presignatures
  // would come before the second's
  await cluster.until('the asked-for stock', async () =>
    (await readyInJournal(stocked)).size >= 1 ? true : undefined,
  );
  t.is((await readyInJournal(plain.walletId)).size, 0, 'no presign compute for a wallet that never signed');
  const bad = await cluster.http('POST', '/v1/wallets', { presign: 'yes' });
  t.is(bad.status, 400);
});

test.serial('logs are structured and never contain the bearer token', (t) => {
  const logs = cluster.allLogs();
  t.false(logs.includes('wallet_dev_token_12345'));
  const lines = logs.split('\n').filter((l) => l.startsWith('{'));
  t.true(lines.length > 10);
  for (const l of lines.slice(0, 50)) t.notThrows(() => JSON.parse(l));
});

const run = promisify(execFile);
const recoveryScript = fileURLToPath(new URL('../../scripts/recovery.js', import.meta.url));

test.serial(
  'share backups: a refresh through the admin API keeps the key and moves the epoch; the recovery drill and export reconstruct the wallet from the backups',
  async (t) => {
    const refreshed = await cluster.http('POST', `/v1/wallets/${wallet.walletId}/refresh`, undefined, {
      authorization: ADMIN,
    });
    t.is(refreshed.status, 200, refreshed.text);
    t.like(refreshed.body, { walletId: wallet.walletId, publicKey: wallet.publicKey, epoch: 1 });
    const keyFile = join(cluster.dir, 'backup.key');
    await writeFile(keyFile, backupKey.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const backupDir = join(cluster.env.DATA_DIR as string, 'backup');
    const list = await cluster.http('GET', '/v1/wallets');
    const walletsFile = join(cluster.dir, 'wallets.json');
    await writeFile(walletsFile, list.text);
    const drill = await run(process.execPath, [
      recoveryScript,
      'drill',
      '--key',
      keyFile,
      '--backup',
      backupDir,
      '--wallets',
      walletsFile,
    ]);
    t.regex(drill.stdout, new RegExp(`${wallet.walletId}  ${wallet.publicKey}  ok`));
    t.regex(drill.stdout, /epoch 1: 3 of t=2 usable \(node_1, node_2, node_3\), reconstructs the public key/);
    t.regex(drill.stdout, /epoch 0: 3 of t=2 usable/);
    t.regex(drill.stdout, /0 registered wallet\(s\) without a usable backup/);
    const exported = await run(process.execPath, [
      recoveryScript,
      'export',
      '--wallet',
      wallet.walletId,
      '--key',
      keyFile,
      '--backup',
      backupDir,
      '--confirm',
      wallet.walletId,
    ]);
    const x = exported.stdout.trim();
    t.regex(x, /^[0-9a-f]{64}$/);
    t.is(Buffer.from(secp256k1.getPublicKey(Buffer.from(x, 'hex'), true)).toString('hex'), wallet.publicKey);
    t.false(cluster.allLogs().includes(x), 'the key is in no log');
    // signing goes on under the refreshed shares
    const message = randomBytes(50);
    const res = await sign(message);
    t.is(res.status, 200, res.text);
    check(t, message, res.body as SignAnswer, wallet.publicKey);
  },
);
