/**
 * Two coordinators on one PostgreSQL database, as real processes with the three nodes: a wallet
 * made at either is read and signed at the other at once, and signing goes on at the survivor when
 * one coordinator is killed (SIGKILL) in the middle of it. Every signature is verified by OpenSSL
 * and noble; no two share an R (a presignature used twice would show as one).
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { checkSignature, type SignAnswer } from '../helpers/ecdsa-check.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { Cluster, freePort, NODE_IDS, type HttpAnswer } from '../helpers/processes.js';

let pg: PostgresServer;
let cluster: Cluster;
let portB: number;
const IDS = ['coordinator', 'coordinator_2'];

test.before(async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase('coordinators');
  cluster = await Cluster.create(
    // no stocked pool: until the presignature inventory is shared, each coordinator would stock
    // its own for every wallet, and two coordinators' stocking on 2 cores starves on-demand signing
    { PRESIGN_POOL_SIZE: '0', COORDINATOR_IDS: IDS.join(','), COORDINATOR_DATABASE_URL: url },
    IDS,
  );
  portB = await freePort();
  for (const id of NODE_IDS) cluster.startNode(id);
  cluster.startCoordinator('A');
  cluster.startCoordinator('B', ['--id', 'coordinator_2', '--https-port', String(portB)]);
});
test.after.always(async () => {
  await cluster?.close();
  await pg?.destroy();
});

const at = (port: number) => ({
  get: (path: string) => cluster.http('GET', path, undefined, {}, undefined, port),
  post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
    cluster.http('POST', path, body, headers, undefined, port),
});

async function create(port: number, label: string): Promise<{ walletId: string; publicKey: string }> {
  const r = await cluster.until(
    `wallet creation at ${port}`,
    async () => {
      const answer = await at(port).post('/v1/wallets', { label });
      return answer.status === 201 ? answer : undefined;
    },
    240_000,
    1_000,
  );
  return r.body as { walletId: string; publicKey: string };
}

function digestOf(message: Buffer): string {
  return '0x' + createHash('sha256').update(message).digest('hex');
}

test.serial('a wallet made at either coordinator is read and signed at the other at once', async (t) => {
  const A = cluster.httpsPort;
  const madeAtA = await create(A, 'made at A');
  const seenAtB = await at(portB).get(`/v1/wallets/${madeAtA.walletId}`);
  t.is(seenAtB.status, 200, seenAtB.text);
  t.like(seenAtB.body, { walletId: madeAtA.walletId, publicKey: madeAtA.publicKey });

  const madeAtB = await create(portB, 'made at B');
  t.is((await at(A).get(`/v1/wallets/${madeAtB.walletId}`)).status, 200);

  for (const [w, port] of [
    [madeAtA, portB],
    [madeAtB, A],
  ] as const) {
    const message = randomBytes(64);
    const r = await at(port).post(`/v1/wallets/${w.walletId}/sign`, { digest: digestOf(message) });
    t.is(r.status, 200, r.text);
    checkSignature(t, message, r.body as SignAnswer, w.publicKey);
  }

  // one Idempotency-Key at both coordinators: one wallet
  const key = `idem-${randomBytes(8).toString('hex')}`;
  const first = await at(A).post('/v1/wallets', { label: 'once' }, { 'idempotency-key': key });
  t.is(first.status, 201, first.text);
  const again = await at(portB).post('/v1/wallets', { label: 'once' }, { 'idempotency-key': key });
  t.is(again.status, 201, again.text);
  t.is(again.headers['idempotent-replayed'], 'true');
  t.is((again.body as { walletId: string }).walletId, (first.body as { walletId: string }).walletId);
});

test.serial('one coordinator killed during sustained signing: the other signs on; no R twice', async (t) => {
  const A = cluster.httpsPort;
  const wallet = await create(A, 'sustained');
  const rs = new Set<string>();
  let signed = 0;
  let retriedAtB = 0;
  let killed = false;
  const errors: string[] = [];
  const signOne = async (k: number): Promise<void> => {
    const message = randomBytes(32);
    const digest = digestOf(message);
    const first = killed ? portB : k % 2 === 0 ? A : portB;
    let r: HttpAnswer | undefined;
    try {
      r = await at(first).post(`/v1/wallets/${wallet.walletId}/sign`, { digest });
    } catch {
      r = undefined; // the connection to the killed coordinator failed
    }
    // a client retries at the other coordinator, as behind a load balancer, and a 503 after its Retry-After
    for (let attempt = 0; r?.status !== 200 && attempt < 3; attempt++) {
      if (first === A && attempt === 0) retriedAtB++;
      if (r?.status === 503) await new Promise((ok) => setTimeout(ok, 1_000 * Number(r?.headers['retry-after'] ?? 1)));
      r = await at(portB).post(`/v1/wallets/${wallet.walletId}/sign`, { digest });
    }
    if (r === undefined) return;
    if (r.status !== 200) {
      errors.push(`${r.status} ${r.text.slice(0, 200)}`);
      return;
    }
    const sig = r.body as SignAnswer;
    checkSignature(t, message, sig, wallet.publicKey);
    t.false(rs.has(sig.r), 'an R seen before: a presignature used twice');
    rs.add(sig.r);
    signed++;
  };
  // two clients at once, 6 signatures each; A is killed after the first few
  const client = async (offset: number) => {
    for (let k = 0; k < 6; k++) {
      await signOne(2 * k + offset);
      if (!killed && signed >= 4) {
        killed = true;
        await cluster.stop('A', 'SIGKILL');
      }
    }
  };
  await Promise.all([client(0), client(1)]);
  t.deepEqual(errors, []);
  t.is(signed, 12);
  t.true(killed);
  t.log(`${signed} signatures, ${retriedAtB} retried at coordinator_2 after the kill`);

  // the survivor keeps creating wallets, and A restarted sees them
  const after = await create(portB, 'after the kill');
  cluster.startCoordinator('A2');
  const seen = await cluster.until('coordinator A back', async () => {
    const r = await at(A).get(`/v1/wallets/${after.walletId}`);
    return r.status === 200 ? r : undefined;
  });
  t.like(seen.body, { walletId: after.walletId, publicKey: after.publicKey });
});
