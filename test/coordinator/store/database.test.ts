/**
 * The coordinator's PostgreSQL database on a real server: migrations applied once under the lock
 * by coordinators starting together, a schema that is newer or was changed refused, an unreachable
 * database a 503 that names no credential, and recovery once the server is back.
 */
import test from 'ava';
import pg from 'pg';
import {
  advisoryKey,
  Database,
  SchemaMismatchError,
  StoreUnavailableError,
} from '../../../src/coordinator/store/database.js';
import { MIGRATIONS } from '../../../src/coordinator/store/migrations.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

test.serial('four coordinators starting together apply each migration once', async (t) => {
  const url = await server.createDatabase();
  const dbs = await Promise.all([1, 2, 3, 4].map(() => Database.open({ url, poolSize: 2 })));
  t.teardown(() => Promise.all(dbs.map((d) => d.close())));
  const rows = (await (dbs[0] as Database).query<{ version: number }>('SELECT version FROM schema_migrations')).rows;
  t.deepEqual(
    rows.map((r) => r.version),
    MIGRATIONS.map((m) => m.version),
  );
  t.is((await (dbs[1] as Database).query('SELECT * FROM wallets')).rowCount, 0);
});

test.serial('a schema newer than ours, or a migration applied with other text, is refused', async (t) => {
  const url = await server.createDatabase();
  const newer = [...MIGRATIONS, { version: 999, name: 'future', sql: 'CREATE TABLE future (x int)' }];
  await (await Database.open({ url, migrations: newer })).close();
  const e = await t.throwsAsync(Database.open({ url }), { instanceOf: SchemaMismatchError });
  t.regex(e?.message ?? '', /schema version 999/);

  const url2 = await server.createDatabase();
  await (await Database.open({ url: url2 })).close();
  const changed = MIGRATIONS.map((m, k) => (k === 0 ? { ...m, sql: m.sql + '\n-- edited' } : m));
  const e2 = await t.throwsAsync(Database.open({ url: url2, migrations: changed }), {
    instanceOf: SchemaMismatchError,
  });
  t.regex(e2?.message ?? '', /migration 1 .* other text/);
});

test.serial(
  'unreachable: a 503 that names neither user nor password, and the pool recovers when the server returns',
  async (t) => {
    const url = await server.createDatabase();
    const password = decodeURIComponent(new URL(url).password);
    const wrong = url.replace(`:${server.port}/`, ':1/');
    const e = await t.throwsAsync(Database.open({ url: wrong, connectTimeoutMs: 1_000 }), {
      instanceOf: StoreUnavailableError,
    });
    t.false(e?.message.includes(password));
    t.is(e?.status, 503);
    t.is(e?.retryAfterS, 2);
    t.notRegex(e?.publicDetail ?? '', /127\.0\.0\.1|mpc/);

    const db = await Database.open({ url, connectTimeoutMs: 1_000 });
    t.teardown(() => db.close());
    await db.query('SELECT 1');
    await server.stop('immediate');
    try {
      const down = await t.throwsAsync(db.query('SELECT 1'), { instanceOf: StoreUnavailableError });
      t.false(down?.message.includes(password));
      await t.throwsAsync(
        db.transaction((c) => c.query('SELECT 1')),
        { instanceOf: StoreUnavailableError },
      );
    } finally {
      await server.start();
    }
    t.is((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
    t.is(await db.transaction(async (c) => (await c.query<{ two: number }>('SELECT 2 AS two')).rows[0]?.two), 2);
  },
);

test.serial('a transaction that throws is rolled back', async (t) => {
  const url = await server.createDatabase();
  const db = await Database.open({ url });
  t.teardown(() => db.close());
  await t.throwsAsync(
    db.transaction(async (c) => {
      await c.query(`INSERT INTO leases (name, holder, expires_at) VALUES ('x', $1, now())`, [db.instanceId]);
      throw new Error('changed my mind');
    }),
    { message: 'changed my mind' },
  );
  t.is((await db.query('SELECT * FROM leases')).rowCount, 0);
});

test.serial('the server going away while a transaction holds its connection is a 503, not a crash', async (t) => {
  const url = await server.createDatabase();
  const db = await Database.open({ url, connectTimeoutMs: 1_000 });
  t.teardown(() => db.close());
  try {
    await t.throwsAsync(
      db.transaction(async (c) => {
        await c.query('SELECT 1');
        // the connection ends while no query runs on it: node-postgres emits 'error' on the client
        await server.stop('immediate');
        await new Promise((resolve) => setTimeout(resolve, 300));
        await c.query('SELECT 1');
      }),
      { instanceOf: StoreUnavailableError },
    );
  } finally {
    await server.start();
  }
  t.is((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
});

test.serial('the server going away during a transaction: a 503, and the process does not crash', async (t) => {
  const url = await server.createDatabase();
  const db = await Database.open({ url, connectTimeoutMs: 1_000 });
  t.teardown(() => db.close());
  const started = db.transaction(async (c) => {
    await c.query('SELECT pg_sleep(5)');
  });
  // the statement is under way on a checked-out connection when the server stops
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const r = await db.query(`SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)'`);
    if (r.rowCount !== 0) break;
    await new Promise((r2) => setTimeout(r2, 20));
  }
  await server.stop('immediate');
  try {
    await t.throwsAsync(started, { instanceOf: StoreUnavailableError });
    // an 'error' event without a listener would end this worker before the end of the test
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await server.start();
  }
  t.is(await db.transaction(async (c) => (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one), 1);
});

test.serial('a statement that waits past the statement timeout (a lock held elsewhere) is a 503', async (t) => {
  const url = await server.createDatabase();
  const db = await Database.open({ url, statementTimeoutMs: 300 });
  t.teardown(() => db.close());
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  t.teardown(() => holder.end());
  const lock = advisoryKey('test-held').toString();
  await holder.query('SELECT pg_advisory_lock($1)', [lock]);
  const e = await t.throwsAsync(
    db.transaction((c) => c.query('SELECT pg_advisory_xact_lock($1)', [lock])),
    { instanceOf: StoreUnavailableError },
  );
  t.is(e?.status, 503);
  await t.throwsAsync(db.query('SELECT pg_advisory_lock($1)', [lock]), { instanceOf: StoreUnavailableError });
  await holder.query('SELECT pg_advisory_unlock($1)', [lock]);
  await db.transaction((c) => c.query('SELECT pg_advisory_xact_lock($1)', [lock]));
});

test.serial(
  'a read-only server (a standby after a failover) and a refused login are 503s, naming no password',
  async (t) => {
    const url = await server.createDatabase('readonly_case');
    const db = await Database.open({ url });
    t.teardown(() => db.close());
    await db.query('ALTER DATABASE readonly_case SET default_transaction_read_only = on');
    // a coordinator (re)starting against it, as after a failover to a standby not yet promoted
    await t.throwsAsync(Database.open({ url }), { instanceOf: StoreUnavailableError, message: /25006/ });
    const password = decodeURIComponent(new URL(url).password);
    const wrong = url.replace(encodeURIComponent(password), 'not-the-password');
    const e = await t.throwsAsync(Database.open({ url: wrong }), {
      instanceOf: StoreUnavailableError,
      message: /28P01/,
    });
    t.false(e?.message.includes(password));
    t.false(e?.message.includes('not-the-password'));
  },
);
