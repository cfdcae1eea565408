/**
 * Replacing a lost node on real processes, as the README's procedure does it: two wallets made by
 * node_1–node_3; node_3 is killed and its data and KMS key destroyed; the group is reconfigured as
 * node_1, node_2, node_4 (NODE_IDS, NODE_HOSTS), node_4's certificate is issued under the existing
 * CA by `npm run certs`, every process restarts on the new configuration, /health reports the
 * wallets the group does not hold, and `npm run reshare` moves them. Afterwards node_2 is stopped
 * and node_1 + node_4 sign each wallet under its unchanged public key (OpenSSL and @noble/curves).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkSignature, type SignAnswer } from '../helpers/ecdsa-check.js';
import { Cluster, freePort, NODE_IDS } from '../helpers/processes.js';

const ADMIN = 'Bearer admin_reshare_token_24680';
const script = (name: string) => fileURLToPath(new URL(`../../scripts/${name}.js`, import.meta.url));

test('slow: node_3 destroyed and replaced by node_4 through npm run reshare; node_1 + node_4 sign', async (t) => {
  const cluster = await Cluster.create({ COORDINATOR_ADMIN_TOKEN: ADMIN, PRESIGN_POOL_SIZE: '1' });
  t.teardown(() => cluster.close());
  for (const id of NODE_IDS) cluster.startNode(id);
  cluster.startCoordinator();
  const wallets: { walletId: string; publicKey: string }[] = [];
  for (const label of ['treasury', 'payouts']) wallets.push((await cluster.createWallet(label)).body as never);

  // node_3 is lost for good: the process, its records and its KMS key
  await cluster.stop('node_3', 'SIGKILL');
  await rm(join(cluster.env['DATA_DIR'] as string, 'node_3'), { recursive: true, force: true });
  await rm(join(cluster.env['COORDINATOR_LOCAL_KMS_PATH'] as string, 'node_3'), { recursive: true, force: true });

  // every machine's configuration names node_4 in node_3's place
  for (const name of ['coordinator', 'node_1', 'node_2']) t.is(await cluster.stop(name), 0, cluster.allLogs());
  const hosts = (cluster.env['NODE_HOSTS'] as string).split(',');
  hosts[2] = `127.0.0.1:${await freePort()}`;
  cluster.env['NODE_IDS'] = 'node_1,node_2,node_4';
  cluster.env['NODE_HOSTS'] = hosts.join(',');
  const env = { ...process.env, ...cluster.env };
  const certs = await promisify(execFile)(process.execPath, [script('certs'), '--env', 'local'], { env });
  t.regex(certs.stdout, /created +\S*node_4\.crt/);
  t.deepEqual(
    certs.stdout.split('\n').filter((l) => l.startsWith('created')).length,
    2,
    'only node_4’s certificate and key are created; the CA and the other nodes’ files are kept',
  );

  for (const id of ['node_1', 'node_2', 'node_4']) cluster.startNode(id);
  cluster.startCoordinator();
  const health = await cluster.until(
    'the survey of the changed group',
    async () => {
      const h = await cluster.http('GET', '/health');
      const body = h.body as { reshareNeeded?: number; connectedNodes: number };
      return body.reshareNeeded === 2 ? body : undefined;
    },
    120_000,
    500,
  );
  t.like(health, { status: 'degraded', connectedNodes: 3, totalNodes: 3 });

  const moved = await promisify(execFile)(process.execPath, [script('reshare'), '--env', 'local', '--yes'], {
    env,
    timeout: 600_000,
  });
  t.regex(moved.stdout + moved.stderr, /succeeded/);
  t.notRegex(moved.stdout + moved.stderr, /admin_reshare_token/, 'the admin token is never printed');
  const after = await cluster.until(
    'the survey after the move',
    async () => {
      const h = (await cluster.http('GET', '/health')).body as { status: string; reshareNeeded?: number };
      return h.status === 'ok' && h.reshareNeeded === undefined ? h : undefined;
    },
    120_000,
    500,
  );
  t.like(after, { status: 'ok' });

  // node_2 away: only node_1 and node_4 can sign, under the keys the wallets always had
  t.is(await cluster.stop('node_2'), 0);
  for (const w of wallets) {
    const got = await cluster.http('GET', `/v1/wallets/${w.walletId}`);
    t.like(got.body, { publicKey: w.publicKey });
    const message = randomBytes(64);
    const digest = '0x' + createHash('sha256').update(message).digest('hex');
    const signed = await cluster.until(
      `a signature by node_1 + node_4 (${w.walletId})`,
      async () => {
        const r = await cluster.http('POST', `/v1/wallets/${w.walletId}/sign`, { digest });
        return r.status === 200 ? (r.body as SignAnswer) : undefined;
      },
      120_000,
      1000,
    );
    t.deepEqual([...signed.signers].sort(), ['node_1', 'node_4']);
    checkSignature(t, message, signed, w.publicKey);
  }
});
