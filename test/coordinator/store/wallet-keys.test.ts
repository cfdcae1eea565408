/**
 * A wallet's public key read from the shared database is confirmed with the nodes before it is
 * shown. Whoever can write the database (another coordinator's credentials, a stolen password, a
 * restored dump) could otherwise change a committed row's key, and a coordinator that loads the row
 * would answer it — with its addresses — to a wallet server that pays to them. A real PostgreSQL
 * server, three real NodeServices in one process (real keygen); nothing mocked.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { NodeCluster } from '../../../src/coordinator/cluster.js';
import { WalletKeyUnverifiedError } from '../../../src/coordinator/errors.js';
import { GroupMonitor } from '../../../src/coordinator/group.js';
import { Orchestrator } from '../../../src/coordinator/orchestrator.js';
import { Database } from '../../../src/coordinator/store/database.js';
import { CoordinatorInstances } from '../../../src/coordinator/store/instances.js';
import { PostgresWalletRegistry } from '../../../src/coordinator/store/postgres-wallets.js';
import { idempotencyKeyHash, WalletService } from '../../../src/coordinator/wallets.js';
import { startInProcessNodes, Tap } from '../../helpers/in-process-nodes.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';

let server: PostgresServer;
let root = '';
let taps: Tap[] = [];
test.before(async () => {
  server = await startPostgres();
  root = await mkdtemp(join(tmpdir(), 'mpc-wallet-keys-'));
  taps = (await startInProcessNodes(root)).links.map((l) => new Tap(l));
});
test.after.always(async () => {
  await server?.destroy();
  await rm(root, { recursive: true, force: true });
});

/** One coordinator on the shared database, its cluster made ready by a group monitor. */
async function coordinator(t: ExecutionContext, url: string, id: string, confirmKeys = true) {
  const db = await Database.open({ url, poolSize: 4 });
  const instances = await CoordinatorInstances.start(db, { coordinatorId: id });
  const registry = await PostgresWalletRegistry.open(db, { instances });
  t.teardown(async () => {
    await registry.close();
    await instances.stop();
    await db.close();
  });
  const cluster = new NodeCluster(taps, 2);
  const orchestrator = new Orchestrator();
  const wallets = new WalletService({ registry, cluster, runner: orchestrator, confirmKeys });
  const monitor = new GroupMonitor({ cluster, runner: orchestrator });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  const end = Date.now() + 10_000;
  while (!cluster.keygenReadiness().ready && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  monitor.stop();
  return { db, registry, cluster, wallets };
}

/** What a database writer does: the committed row's key replaced by one whose private key it knows. */
async function forgeKey(db: Database, walletId: string): Promise<string> {
  const forged = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
  await db.query(`UPDATE wallets SET public_key = $2, change_seq = nextval('wallet_change_seq') WHERE wallet_id = $1`, [
    walletId,
    forged,
  ]);
  return forged;
}

test.serial(
  'a committed row whose public key was changed in the database is never shown: not by id, not in the list, not as an idempotent replay',
  async (t) => {
    const url = await server.createDatabase();
    const first = await coordinator(t, url, 'coordinator');
    const { wallet } = await first.wallets.create({ label: 'treasury', idempotencyKey: 'idem-forged' });
    const forged = await forgeKey(first.db, wallet.walletId);
    t.not(forged, wallet.publicKey);

    // the coordinator that made it never takes the key from the database again
    t.is((await first.wallets.find(wallet.walletId))?.publicKey, wallet.publicKey);

    // a coordinator that starts now (or the second one of a pair) loads the changed row
    const second = await coordinator(t, url, 'coordinator_2');
    t.is(second.registry.get(wallet.walletId)?.publicKey, forged, 'the copy holds what the database says');
    const byId = await t.throwsAsync(second.wallets.find(wallet.walletId), { instanceOf: WalletKeyUnverifiedError });
    t.false(byId.publicDetail.includes(forged));
    await t.throwsAsync(second.wallets.list({ limit: 10 }), { instanceOf: WalletKeyUnverifiedError });
    await t.throwsAsync(second.wallets.create({ label: 'treasury', idempotencyKey: 'idem-forged' }), {
      instanceOf: WalletKeyUnverifiedError,
    });
    t.is(second.registry.byIdempotencyKeyHash(idempotencyKeyHash('idem-forged'))?.publicKey, forged);

    // without the confirmation (as before this check) the forged key and its addresses are served
    const trusting = await coordinator(t, url, 'coordinator_3', false);
    t.is((await trusting.wallets.find(wallet.walletId))?.publicKey, forged);
  },
);

test.serial(
  'an unchanged row is confirmed by the nodes and shown at the other coordinator; a wallet no node holds is not',
  async (t) => {
    const url = await server.createDatabase();
    const first = await coordinator(t, url, 'coordinator');
    const made = await first.wallets.create({ label: 'ops', idempotencyKey: 'idem-ok' });
    const second = await coordinator(t, url, 'coordinator_2');
    t.deepEqual(await second.wallets.find(made.wallet.walletId), made.wallet);
    t.deepEqual((await second.wallets.list({ limit: 10 })).wallets, [made.wallet]);
    t.deepEqual(await second.wallets.create({ label: 'ops', idempotencyKey: 'idem-ok' }), {
      wallet: made.wallet,
      replayed: true,
    });

    // a row the database writer made up (a valid key, a wallet id the nodes never generated)
    const walletId = `w_${randomBytes(16).toString('base64url')}`;
    const key = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
    await first.db.query(
      `INSERT INTO wallets (wallet_id, state, public_key, created_at, commit_seq, change_seq)
       VALUES ($1, 'committed', $2, now(), nextval('wallet_commit_seq'), nextval('wallet_change_seq'))`,
      [walletId, key],
    );
    await second.registry.catchUp();
    t.is(second.registry.get(walletId)?.publicKey, key);
    await t.throwsAsync(second.wallets.find(walletId), { instanceOf: WalletKeyUnverifiedError });
  },
);

test.serial(
  'a row no coordinator could have written (a committed wallet without its time, a pending one without its start) neither stops a coordinator from starting nor holds up later changes',
  async (t) => {
    const url = await server.createDatabase();
    const first = await coordinator(t, url, 'coordinator');
    const key = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
    await first.db.query(
      `INSERT INTO wallets (wallet_id, state, public_key, commit_seq, change_seq)
       VALUES ($1, 'committed', $2, nextval('wallet_commit_seq'), nextval('wallet_change_seq'))`,
      [`w_${randomBytes(16).toString('base64url')}`, key],
    );
    await first.db.query(
      `INSERT INTO wallets (wallet_id, state, change_seq) VALUES ($1, 'pending', nextval('wallet_change_seq'))`,
      [`w_${randomBytes(16).toString('base64url')}`],
    );
    // the running coordinator's copy reads past them
    await first.registry.catchUp();
    const second = await coordinator(t, url, 'coordinator_2');
    t.is(second.registry.count, 0);
    t.deepEqual(second.registry.pending(), []);
    const made = await first.wallets.create({ label: 'after the bad rows' });
    await second.registry.catchUp();
    t.deepEqual(await second.wallets.find(made.wallet.walletId), made.wallet);
  },
);
