/**
 * The quarantine on both of its journals — the embedded file and the PostgreSQL table (a real
 * server) — held to the same behaviour: suspensions until released, disputes and their cool-downs,
 * at most t − 1 verified suspensions, codes, everything surviving a restart, and another writer's
 * records (the release command, another coordinator) seen. Then what only the shared table has:
 * two coordinators on one database see each other's records within a couple of seconds, cannot
 * together suspend one node too many nor one node twice, and an unreachable database fails an
 * append with StoreUnavailableError, writes nothing, and writes it once the database is back.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Quarantine, type QuarantineOptions } from '../../../src/coordinator/quarantine.js';
import { Database, StoreUnavailableError } from '../../../src/coordinator/store/database.js';
import { PgQuarantineJournal } from '../../../src/coordinator/store/quarantine-pg.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/storage.js';

const MIN = 60_000;

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

/** A store: `open` is a coordinator (re)starting on it; `count` the records it holds. */
interface Store {
  open(o?: QuarantineOptions): Promise<Quarantine>;
  count(): Promise<number>;
}

const BACKENDS: Record<string, (t: ExecutionContext) => Promise<Store>> = {
  file: async (t) => {
    const path = join(await tempDir(t), 'coordinator', 'quarantine.jsonl');
    const { readFile } = await import('node:fs/promises');
    return {
      open: async (o = {}) => {
        const q = await Quarantine.open(path, o);
        t.teardown(() => q.close());
        return q;
      },
      count: async () =>
        (await readFile(path, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '').length,
    };
  },
  postgres: async (t) => {
    const url = await server.createDatabase();
    const dbs: Database[] = [];
    t.teardown(() => Promise.all(dbs.map((d) => d.close())));
    return {
      // each open is another process: its own pool and instance id
      open: async (o = {}) => {
        const db = await Database.open({ url, poolSize: 3 });
        dbs.push(db);
        const q = await Quarantine.openJournal(new PgQuarantineJournal(db, { pollMs: 200 }), o);
        t.teardown(() => q.close());
        return q;
      },
      count: async () => {
        const db = await Database.open({ url, poolSize: 1 });
        dbs.push(db);
        return Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM quarantine_journal')).rows[0]?.n);
      },
    };
  },
};

/** A wall clock and a monotonic clock that tests move together. */
function clocks(wall = 1_000_000) {
  const c = { wall, mono: 0, advance: (ms: number) => ((c.wall += ms), (c.mono += ms)) };
  return { c, opts: { now: () => c.wall, monotonic: () => c.mono, watch: false } };
}

for (const [name, make] of Object.entries(BACKENDS)) {
  test(`${name}: a verified offence suspends until released; both survive a restart`, async (t) => {
    const store = await make(t);
    const { c, opts } = clocks();
    const q = await store.open(opts);
    t.false(q.isSuspended('node_3'));
    t.like(
      await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'σ check', code: 'partial-signature-invalid' }),
      { nodeId: 'node_3', verified: true, until: undefined, code: 'partial-signature-invalid' },
    );
    c.advance(365 * 24 * 60 * MIN);
    t.true(q.isSuspended('node_3'), 'no expiry');
    const again = await store.open(opts);
    t.like(again.suspension('node_3'), { verified: true, code: 'partial-signature-invalid', reason: 'σ check' });
    await again.release('node_3');
    t.false(again.isSuspended('node_3'));
    t.false((await store.open(opts)).isSuspended('node_3'), 'the release survives too');
    t.is(await store.count(), 2);
  });

  test(`${name}: an abort report puts the pair in dispute for 1, 2, 4 … minutes; a restart keeps what remains`, async (t) => {
    const store = await make(t);
    const { c, opts } = clocks(5_000_000);
    const q = await store.open(opts);
    const report = () =>
      q.report({ accuser: 'node_1', accused: ['node_2'], valid: true, protocol: 'presign', reason: 'x' });
    t.like((await report()).disputes[0], { nodes: ['node_1', 'node_2'], reports: 1, until: c.wall + MIN });
    t.deepEqual(q.suspended(), [], 'nobody suspended');
    c.advance(MIN);
    t.false(q.inDispute('node_1', 'node_2'));
    t.is((await report()).disputes[0]?.until, c.wall + 2 * MIN);
    t.deepEqual(q.reportsBy('node_1'), { total: 2, discarded: 0 });
    // another process 30 s later (wall clock): the 2-minute cool-down has 90 s left
    const b = { wall: c.wall + 30_000, mono: 777 };
    const again = await store.open({ now: () => b.wall, monotonic: () => b.mono, watch: false });
    b.mono += 89_999;
    t.true(again.inDispute('node_2', 'node_1'));
    b.mono += 1;
    t.false(again.inDispute('node_2', 'node_1'));
  });

  test(`${name}: an implausible accuser is suspended for a cool-down; a release clears it and its disputes`, async (t) => {
    const store = await make(t);
    const { c, opts } = clocks();
    const q = await store.open({ ...opts, maxFaulty: 1 });
    const r = await q.report({
      accuser: 'node_3',
      accused: ['node_1', 'node_2'],
      valid: true,
      protocol: 'aux',
      reason: 'invented',
    });
    t.like(r.accuser, { nodeId: 'node_3', verified: false, until: c.wall + MIN });
    t.false(q.isSuspended('node_1'));
    t.true(q.inDispute('node_1', 'node_3'));
    const discarded = await q.report({
      accuser: 'node_2',
      accused: [],
      valid: false,
      protocol: 'sign',
      reason: 'names itself',
    });
    t.like(discarded.accuser, { nodeId: 'node_2', verified: false });
    await q.release('node_3');
    t.false(q.isSuspended('node_3'));
    t.false(q.inDispute('node_1', 'node_3'));
    const again = await store.open({ ...opts, maxFaulty: 1 });
    t.false(again.isSuspended('node_3'));
    t.true(again.isSuspended('node_2'));
    t.deepEqual(again.reportsBy('node_2'), { total: 1, discarded: 1 });
  });

  test(`${name}: verified offences suspend at most t − 1 nodes; a node already suspended is not recorded twice`, async (t) => {
    const store = await make(t);
    const { opts } = clocks();
    const q = await store.open({ ...opts, maxFaulty: 1 });
    t.like(await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'a' }), { nodeId: 'node_3' });
    t.is(await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'b' }), undefined);
    t.like(await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'again' }), { nodeId: 'node_3', reason: 'a' });
    t.is(await store.count(), 1, 'one record: the refused and the duplicate were not written');
    t.deepEqual(
      (await store.open({ ...opts, maxFaulty: 1 })).suspended().map((s) => s.nodeId),
      ['node_3'],
    );
    await q.release('node_3');
    t.like(await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'c' }), { nodeId: 'node_1' });
  });

  test(`${name}: another writer's release is seen (reload, and the watch within seconds, with onChange)`, async (t) => {
    const store = await make(t);
    const q = await store.open({ maxFaulty: 2 });
    let changed = 0;
    q.onChange = () => changed++;
    await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'z' });
    await q.record({ nodeId: 'node_2', protocol: 'sign', reason: 'y' });
    const before = changed;
    const other = await store.open({ watch: false, maxFaulty: 2 });
    t.true(other.isSuspended('node_3'));
    await other.release('node_3');
    // event-driven: the watch fires; the bound only keeps a broken build from hanging
    for (let k = 0; k < 100 && q.isSuspended('node_3'); k++) await sleep(100);
    t.false(q.isSuspended('node_3'));
    t.true(changed > before, 'onChange told');
    await other.release('node_2');
    const third = await store.open({ watch: false, maxFaulty: 2 });
    await third.record({ nodeId: 'node_1', protocol: 'sign', reason: 'w' });
    await other.reload();
    t.true(other.isSuspended('node_1'), 'reload reads what another wrote');
    t.false(other.isSuspended('node_2'));
  });
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: several coordinators on one database

async function coordinators(t: ExecutionContext, n: number, o: QuarantineOptions = {}) {
  const url = await server.createDatabase();
  const dbs = await Promise.all(Array.from({ length: n }, () => Database.open({ url, poolSize: 3 })));
  const qs = await Promise.all(dbs.map((db) => Quarantine.openJournal(new PgQuarantineJournal(db), o)));
  t.teardown(async () => {
    for (const q of qs) q.close();
    await Promise.all(dbs.map((d) => d.close()));
  });
  const rows = async () =>
    (
      await (dbs[0] as Database).query<{ entry: { type: string; nodeId?: string } }>(
        'SELECT entry FROM quarantine_journal ORDER BY id',
      )
    ).rows.map((r) => r.entry);
  return { dbs, qs: qs as [Quarantine, Quarantine, ...Quarantine[]], rows };
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (check()) return true;
  return check();
}

test('postgres: two coordinators see each other’s suspensions, disputes and releases within a couple of seconds', async (t) => {
  const { qs } = await coordinators(t, 2, { maxFaulty: 1 });
  const [a, b] = qs;
  let told = 0;
  b.onChange = () => told++;
  await a.record({ nodeId: 'node_2', protocol: 'sign', reason: 'σ check' });
  const start = Date.now();
  t.true(await until(() => b.isSuspended('node_2')), 'b sees a’s suspension');
  t.true(told > 0, 'b’s onChange told (its pool and health follow)');
  await b.report({ accuser: 'node_1', accused: ['node_3'], valid: true, protocol: 'presign', reason: 'x' });
  t.true(await until(() => a.inDispute('node_1', 'node_3')), 'a sees b’s dispute');
  await b.release('node_2');
  t.true(await until(() => !a.isSuspended('node_2')), 'a sees b’s release');
  // polling every second: a few seconds at most even on a loaded machine (generous bound)
  t.true(Date.now() - start < 15_000);
});

test('postgres: two coordinators recording verified offences at once suspend at most t − 1 nodes, and one node once', async (t) => {
  const { qs, rows } = await coordinators(t, 2, { maxFaulty: 1, watch: false });
  const [a, b] = qs;
  // different nodes at once: each coordinator alone would allow its own
  const [ra, rb] = await Promise.all([
    a.record({ nodeId: 'node_1', protocol: 'sign', reason: 'a' }),
    b.record({ nodeId: 'node_2', protocol: 'sign', reason: 'b' }),
  ]);
  t.is([ra, rb].filter((r) => r !== undefined).length, 1, 'exactly one suspension stands');
  t.is((await rows()).length, 1);
  await Promise.all([a.reload(), b.reload()]);
  const winner = (ra ?? rb)?.nodeId;
  for (const q of qs)
    t.deepEqual(
      q.suspended().map((s) => s.nodeId),
      [winner],
      'both agree on who is suspended',
    );
  // the same offence seen by both at once: recorded once
  await a.release(winner as string);
  await b.reload();
  await Promise.all([
    a.record({ nodeId: 'node_3', protocol: 'sign', reason: 'same' }),
    b.record({ nodeId: 'node_3', protocol: 'sign', reason: 'same' }),
  ]);
  t.is((await rows()).filter((e) => e.type === 'offence' && e.nodeId === 'node_3').length, 1);
  await Promise.all([a.reload(), b.reload()]);
  for (const q of qs) t.true(q.isSuspended('node_3'));
});

test.serial(
  'postgres: the database stopped — the append fails with StoreUnavailableError and writes nothing; back — it is written once',
  async (t) => {
    const url = await server.createDatabase();
    const db = await Database.open({ url, poolSize: 2, connectTimeoutMs: 1_000 });
    t.teardown(() => db.close());
    const q = await Quarantine.openJournal(new PgQuarantineJournal(db, { pollMs: 200 }), { maxFaulty: 1 });
    t.teardown(() => q.close());
    await q.report({ accuser: 'node_1', accused: ['node_2'], valid: true, protocol: 'presign', reason: 'before' });
    await server.stop('immediate');
    try {
      await t.throwsAsync(q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'while down' }), {
        instanceOf: StoreUnavailableError,
      });
      t.true(q.isSuspended('node_3'), 'in effect here meanwhile: the offender stays out');
      await t.throwsAsync(q.release('node_1'), { instanceOf: StoreUnavailableError });
    } finally {
      await server.start();
    }
    // the poll writes what failed, in order, once
    const count = async () =>
      Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM quarantine_journal')).rows[0]?.n);
    for (let k = 0; k < 100 && (await count().catch(() => 0)) < 3; k++) await sleep(100);
    const entries = (
      await db.query<{ entry: { type: string; reason?: string } }>('SELECT entry FROM quarantine_journal ORDER BY id')
    ).rows.map((r) => r.entry);
    t.deepEqual(
      entries.map((e) => e.type),
      ['report', 'offence', 'release'],
    );
    await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'after' });
    const fresh = await Quarantine.openJournal(new PgQuarantineJournal(db), { watch: false, maxFaulty: 1 });
    t.like(fresh.suspension('node_3'), { reason: 'while down' });
    t.is(await count(), 3, 'the later duplicate was not written');
  },
);

test('postgres: npm run quarantine lists and releases in the database named by the env file; a running coordinator applies it', async (t) => {
  const { execFile } = await import('node:child_process');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { promisify } = await import('node:util');
  const url = await server.createDatabase();
  const root = await tempDir(t);
  await mkdir(join(root, 'env'));
  await writeFile(
    join(root, 'env', '.env.test'),
    [
      'COORDINATOR_PLATFORM=LOCAL',
      'NODE_IDS=node_1,node_2,node_3',
      'NODE_HOSTS=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
      'NODE_PLATFORMS=LOCAL,LOCAL,LOCAL',
      'MPC_THRESHOLD=2',
      'MPC_TOTAL_SHARDS=3',
      `COORDINATOR_DATABASE_URL=${url}`,
    ].join('\n'),
  );
  const db = await Database.open({ url });
  t.teardown(() => db.close());
  const q = await Quarantine.openJournal(new PgQuarantineJournal(db, { pollMs: 200 }), { maxFaulty: 1 });
  t.teardown(() => q.close());
  await q.record({ nodeId: 'node_2', protocol: 'sign', reason: 'y', code: 'partial-signature-invalid' });
  const script = join(process.cwd(), 'dist', 'scripts', 'quarantine.js');
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, [script, '--env', 'test', ...args], { cwd: root });
  const list = await run();
  t.regex(list.stdout, /node_2: verified offence in sign at [^\n]*: y \[partial-signature-invalid\]; suspended/);
  const released = await run('--release', 'node_2');
  t.regex(released.stdout, /node_2 released in postgresql 127\.0\.0\.1:\d+\/\w+; every coordinator applies it/);
  t.false(released.stdout.includes(decodeURIComponent(new URL(url).password)));
  t.true(await until(() => !q.isSuspended('node_2')), 'the running coordinator sees the release');
  t.is((await run('--release', 'node_2')).stdout.trim(), 'node_2 is neither suspended nor in dispute');
});
