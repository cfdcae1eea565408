/**
 * The running system once more, with every node's secrets under a PKCS#11 HSM (SoftHSM2) instead
 * of the local file KMS: one token per node, its master key made by the operator command
 * (`hsm-key`), the PIN in a 0600 file. Real node and coordinator processes on loopback; every
 * signature verified by OpenSSL and noble. Also: every record a node wrote is sealed by the HSM
 * under that node's key, no local KMS key exists anywhere, a restarted node reads its shares back
 * through the HSM, and a node with a wrong PIN refuses to start rather than fall back.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { wrappedKeyOf } from '../../src/node/storage/envelope.js';
import { checkSignature, type SignAnswer } from '../helpers/ecdsa-check.js';
import { Cluster, NODE_IDS } from '../helpers/processes.js';
import { createSoftHsmToken, type SoftHsmToken } from '../helpers/softhsm.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../scripts/hsm-key.js', import.meta.url));
const PIN = '246813579';

let cluster: Cluster;
let hsmDir: string;
let token: SoftHsmToken;
let pinFile: string;
const keyIds = new Map<string, string>();
let wallet: { walletId: string; publicKey: string };

test.before(async () => {
  hsmDir = await mkdtemp(join(tmpdir(), 'mpc-hsm-'));
  for (const id of NODE_IDS) token = await createSoftHsmToken(hsmDir, { label: `mpc-${id}`, pin: PIN });
  pinFile = join(hsmDir, 'user.pin');
  await writeFile(pinFile, `${PIN}\n`, { mode: 0o600 });
  // The operator's step: one master key per node, made inside its token.
  for (const id of NODE_IDS) {
    const out = await run(
      process.execPath,
      [script, '--module', token.module, '--token', `mpc-${id}`, '--label', 'mpc-master', '--pin-file', pinFile],
      {
        env: { ...process.env, ...token.env },
      },
    );
    const m = /id ([0-9a-f]+) \(AES-256, sensitive, non-extractable\)/.exec(out.stdout);
    if (!m) throw new Error(`hsm-key printed no key id: ${out.stdout}`);
    keyIds.set(id, m[1]!);
  }
  cluster = await Cluster.create({
    PRESIGN_POOL_SIZE: '1',
    NODE_KMS_PROVIDERS: 'pkcs11,pkcs11,pkcs11',
    NODE_KMS_PKCS11_MODULE: token.module,
    NODE_KMS_PKCS11_TOKEN_LABEL: 'mpc-{node}',
    NODE_KMS_PKCS11_KEY_LABEL: 'mpc-master',
    NODE_KMS_PKCS11_PIN_FILE: pinFile,
    ...token.env,
  });
  for (const id of NODE_IDS) cluster.startNode(id);
  cluster.startCoordinator();
  wallet = (await cluster.createWallet('hsm')).body as typeof wallet;
});

test.after.always(async () => {
  await cluster?.close();
  if (hsmDir) await rm(hsmDir, { recursive: true, force: true });
});

async function sign(message: Buffer) {
  const digest = createHash('sha256').update(message).digest('hex');
  return cluster.http('POST', `/v1/wallets/${wallet.walletId}/sign`, { digest });
}

test.serial(
  'with an HSM per node: a wallet is created and 5 digests are signed, each verified by OpenSSL and noble',
  async (t) => {
    t.regex(wallet.publicKey, /^0[23][0-9a-f]{64}$/);
    for (let k = 0; k < 5; k++) {
      const message = randomBytes(64);
      const res = await sign(message);
      t.is(res.status, 200, res.text);
      checkSignature(t, message, res.body as SignAnswer, wallet.publicKey);
    }
  },
);

test.serial(
  "every record of every node is sealed by the HSM under that node's own key; no local KMS key exists",
  async (t) => {
    for (const id of NODE_IDS) {
      const records = join(cluster.env['DATA_DIR']!, id, 'records');
      let n = 0;
      for (const kind of await readdir(records)) {
        for (const name of (await readdir(join(records, kind))).filter((f) => f.endsWith('.rec'))) {
          const { provider, wrapped } = wrappedKeyOf(await readFile(join(records, kind, name)));
          t.is(provider, 'pkcs11', `${id}/${kind}/${name}`);
          t.is(Buffer.from(wrapped).toString('latin1', 0, 2), 'PH');
          t.true(
            Buffer.from(wrapped).includes(Buffer.from(keyIds.get(id)!, 'hex')),
            `${id}/${kind}/${name} names ${id}'s key`,
          );
          for (const other of NODE_IDS.filter((o) => o !== id))
            t.false(Buffer.from(wrapped).includes(Buffer.from(keyIds.get(other)!, 'hex')));
          n++;
        }
      }
      t.true(n >= 3, `${id} stored its key share, aux-info and more (${n} records)`);
    }
    await t.throwsAsync(access(cluster.env['COORDINATOR_LOCAL_KMS_PATH']!), undefined, 'the local KMS was never used');
  },
);

test.serial('a restarted node reads its shares back through the HSM and signs again', async (t) => {
  await cluster.stop('node_1', 'SIGTERM');
  cluster.startNode('node_1');
  await cluster.until(
    'node_1 to reconnect',
    async () =>
      ((await cluster.http('GET', '/health')).body as { connectedNodes: number }).connectedNodes === 3 || undefined,
    60_000,
  );
  for (let k = 0; k < 2; k++) {
    const message = randomBytes(32);
    const res = await cluster.until(
      'a signature with node_1 back',
      async () => {
        const r = await sign(message);
        return r.status === 200 && (r.body as SignAnswer).signers.includes('node_1') ? r : undefined;
      },
      60_000,
      500,
    );
    checkSignature(t, message, res.body as SignAnswer, wallet.publicKey);
  }
});

test.serial('a node whose HSM PIN is wrong refuses to start; it never falls back to another KMS', async (t) => {
  const badPin = join(hsmDir, 'bad.pin');
  await writeFile(badPin, '000000000\n', { mode: 0o600 });
  const out = await run(
    process.execPath,
    [fileURLToPath(new URL('../../src/node/main.js', import.meta.url)), '--env', 'local', '--id', 'node_2'],
    {
      // its own state directory: the running node_2 owns the cluster's
      env: {
        ...process.env,
        ...cluster.env,
        NODE_KMS_PKCS11_PIN_FILE: badPin,
        DATA_DIR: join(hsmDir, 'data'),
        NODE_HOSTS: '127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
      },
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    },
  ).catch((e: { code: number; stderr: string }) => e);
  t.is((out as { code: number }).code, 1);
  t.regex((out as { stderr: string }).stderr, /PIN|denied/i);
  t.false((out as { stderr: string }).stderr.includes('000000000'), 'the PIN is not printed');
  await t.throwsAsync(access(cluster.env['COORDINATOR_LOCAL_KMS_PATH']!));
});
