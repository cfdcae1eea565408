/**
 * `npm run db:import`: an embedded coordinator's registry file moved into PostgreSQL (a real
 * server) — every wallet in order with its archive state, unfinished key generations left for
 * reconciliation, a second run changing nothing, a conflicting database refused with nothing
 * written, and the command refused while the coordinator runs.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WalletRegistry } from '../../../src/coordinator/registry.js';
import { Database } from '../../../src/coordinator/store/database.js';
import { ImportConflictError, importRegistry } from '../../../src/coordinator/store/import.js';
import { CoordinatorInstances } from '../../../src/coordinator/store/instances.js';
import { PostgresWalletRegistry } from '../../../src/coordinator/store/postgres-wallets.js';
import { lockDirectory } from '../../../src/util/dir-lock.js';
import { localNodeEnv } from '../../helpers/node-env.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';

const run = promisify(execFile);
let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

const key = (n: number) => '03' + n.toString(16).padStart(64, '0');
const id = (n: number) => `w_import${String(n).padStart(4, '0')}`;

/** A registry file: 5 wallets (2 archived, one of them purged), one failed and one interrupted key generation. */
async function fileRegistry(path: string): Promise<void> {
  const r = await WalletRegistry.open(path);
  for (let n = 1; n <= 5; n++)
    await r.append({
      walletId: id(n),
      ...(n === 2 ? { label: 'two' } : {}),
      publicKey: key(n),
      createdAt: new Date(Date.UTC(2026, 0, n)).toISOString(),
      ...(n === 3 ? { idempotencyKeyHash: 'ab'.repeat(32) } : {}),
    });
  await r.setArchived(id(2), true);
  await r.setArchived(id(4), true);
  await r.purge(id(4));
  await r.begin({ walletId: id(6), label: 'failed', startedAt: new Date().toISOString() });
  await r.abandon(id(6));
  await r.begin({ walletId: id(7), startedAt: new Date().toISOString() });
  await r.close();
}

async function tempDir(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-import-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test.serial(
  'every wallet in order with its state; unfinished ones reconcilable; a second run changes nothing',
  async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'wallets.jsonl');
    await fileRegistry(path);
    const url = await server.createDatabase();
    const db = await Database.open({ url });
    t.teardown(() => db.close());
    const file = await WalletRegistry.open(path);
    t.teardown(() => file.close());
    t.deepEqual(await importRegistry(db, file), { imported: 5, skipped: 0, unfinished: 2 });
    t.deepEqual(await importRegistry(db, file), { imported: 0, skipped: 5, unfinished: 0 });

    const instances = await CoordinatorInstances.start(db, { coordinatorId: 'coordinator' });
    t.teardown(() => instances.stop());
    const shared = await PostgresWalletRegistry.open(db, { instances });
    t.teardown(() => shared.close());
    t.deepEqual(shared.list({ limit: 100 }).wallets, file.list({ limit: 100 }).wallets);
    for (let n = 1; n <= 5; n++) {
      t.is(shared.isArchived(id(n)), file.isArchived(id(n)), id(n));
      t.is(shared.isPurged(id(n)), file.isPurged(id(n)), id(n));
    }
    t.truthy(shared.byIdempotencyKeyHash('ab'.repeat(32)));
    t.deepEqual(
      shared
        .pending()
        .map((p) => p.walletId)
        .sort(),
      [id(6), id(7)],
    );
    // as the file says: a failed keygen, and an interrupted one that reconciliation may still
    // recover (every node committed: the coordinator stopped before its commit line)
    t.is(file.status(id(7)), 'interrupted');
    t.is(shared.status(id(6)), 'failed');
    t.is(shared.status(id(7)), 'interrupted');
    // what the reconciliation does: claims it (nobody runs it), then, once the nodes archived it, resolves it
    t.true(await shared.claim(id(7)));
    await shared.resolve(id(7));
    t.is(shared.status(id(7)), 'resolved');
  },
);

test.serial('a database holding one of the wallets with other content: refused, nothing written', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'wallets.jsonl');
  await fileRegistry(path);
  const url = await server.createDatabase();
  const db = await Database.open({ url });
  t.teardown(() => db.close());
  await db.query(
    `INSERT INTO wallets (wallet_id, state, public_key, created_at, commit_seq, change_seq)
     VALUES ($1, 'committed', $2, now(), nextval('wallet_commit_seq'), nextval('wallet_change_seq'))`,
    [id(3), key(99)],
  );
  const file = await WalletRegistry.open(path);
  t.teardown(() => file.close());
  const e = await t.throwsAsync(importRegistry(db, file), { instanceOf: ImportConflictError });
  t.regex(e?.message ?? '', new RegExp(id(3)));
  t.is((await db.query('SELECT * FROM wallets')).rowCount, 1);
});

test.serial('the command: refused while the coordinator owns its directory; then imports', async (t) => {
  const root = await tempDir(t);
  await localNodeEnv(root);
  const url = await server.createDatabase();
  await appendFile(join(root, 'env', '.env.test'), `\nCOORDINATOR_DATABASE_URL=${url}\n`);
  const dataDir = join(root, 'data', 'coordinator');
  await fileRegistry(join(dataDir, 'wallets.jsonl'));
  const script = join(process.cwd(), 'dist', 'scripts', 'db-import.js');
  const owner = await lockDirectory(dataDir, 'coordinator');
  const refused = (await run(process.execPath, [script, '--env', 'test'], { cwd: root }).catch((e: unknown) => e)) as {
    code: number;
    stderr: string;
  };
  await owner.release();
  t.is(refused.code, 75);
  t.regex(refused.stderr, /stop the coordinator first/);
  const done = await run(process.execPath, [script, '--env', 'test'], { cwd: root });
  t.regex(done.stdout, /5 wallets imported, 0 already there, 2 unfinished key generations/);
  t.false(done.stdout.includes(new URL(url).password), 'the password is never printed');
  const db = await Database.open({ url });
  t.teardown(() => db.close());
  t.is((await db.query(`SELECT * FROM wallets WHERE state = 'committed'`)).rowCount, 5);
});

test.serial(
  'npm run wallet:purge --coordinator on the shared database: an archived wallet recorded as purged, audited',
  async (t) => {
    const root = await tempDir(t);
    await localNodeEnv(root);
    const url = await server.createDatabase();
    await appendFile(join(root, 'env', '.env.test'), `\nCOORDINATOR_DATABASE_URL=${url}\n`);
    const db = await Database.open({ url });
    t.teardown(() => db.close());
    const instances = await CoordinatorInstances.start(db, { coordinatorId: 'coordinator' });
    t.teardown(() => instances.stop());
    const shared = await PostgresWalletRegistry.open(db, { instances });
    t.teardown(() => shared.close());
    await shared.append({ walletId: id(1), publicKey: key(1), createdAt: new Date().toISOString() });
    const script = join(process.cwd(), 'dist', 'scripts', 'wallet-purge.js');
    const args = ['--env', 'test', '--coordinator', '--wallet', id(1), '--confirm', id(1)];
    const active = (await run(process.execPath, [script, ...args], { cwd: root }).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    t.is(active.code, 1);
    t.regex(active.stderr, /is active: archive it first/);
    await shared.setArchived(id(1), true);
    const done = await run(process.execPath, [script, ...args], { cwd: root });
    t.regex(done.stdout, /recorded as purged/);
    await shared.catchUp();
    t.true(shared.isPurged(id(1)), 'a running coordinator sees it');
    const audited = await db.query<{ event: unknown }>('SELECT * FROM audit_log');
    t.is(audited.rowCount, 1);
    t.regex(JSON.stringify(audited.rows[0]), /wallet\.purged/);
  },
);
