/**
 * The audit log on both of its stores — the embedded hash-chained file and the PostgreSQL table
 * (a real server) — held to the same behaviour: appends resolve once durable and chain in order,
 * a restart continues the chain, bursts keep it valid, secrets are refused, time never runs
 * backwards, and a changed or deleted record is named by the verifier and stops the next open.
 * Then what only the table has: two coordinators appending at once extend one valid chain, each
 * record names its writer, and an unreachable database fails an append with StoreUnavailableError
 * and writes nothing.
 */
import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PgAuditLog, verifyPgAuditLog } from '../../../src/coordinator/store/audit-pg.js';
import { Database, StoreUnavailableError } from '../../../src/coordinator/store/database.js';
import {
  AuditLog,
  AuditLogCorruptError,
  verifyAuditLog,
  type AuditEvent,
  type AuditVerification,
} from '../../../src/util/audit-log.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/storage.js';

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

interface Sink {
  append(event: AuditEvent): Promise<void>;
  close(): Promise<void>;
  readonly length: number;
  readonly lastHash: string;
}

interface Store {
  open(o?: { wallClock?: () => number }): Promise<Sink>;
  verify(): Promise<AuditVerification>;
  events(): Promise<AuditEvent[]>;
  /** changes the event of record `seq` as an editor would (its hash left as it was) */
  edit(seq: number): Promise<void>;
  remove(seq: number): Promise<void>;
}

const BACKENDS: Record<string, (t: ExecutionContext) => Promise<Store>> = {
  file: async (t) => {
    const path = join(await tempDir(t), 'coordinator', 'audit.jsonl');
    const lines = async () => (await readFile(path, 'utf8')).split('\n').slice(0, -1);
    const rewrite = async (f: (ls: string[]) => string[]) => writeFile(path, f(await lines()).join('\n') + '\n');
    return {
      open: async (o = {}) => {
        const log = await AuditLog.open(path, o);
        t.teardown(() => log.close());
        return log;
      },
      verify: () => verifyAuditLog(path),
      events: async () => (await lines()).map((l) => (JSON.parse(l) as { event: AuditEvent }).event),
      edit: (seq) => rewrite((ls) => ls.map((l, k) => (k + 1 === seq ? l.replace('"w_', '"x_') : l))),
      remove: (seq) => rewrite((ls) => ls.filter((_, k) => k + 1 !== seq)),
    };
  },
  postgres: async (t) => {
    const url = await server.createDatabase();
    const admin = await Database.open({ url, poolSize: 2 });
    const dbs: Database[] = [];
    t.teardown(async () => {
      await Promise.all(dbs.map((d) => d.close()));
      await admin.close();
    });
    return {
      // each open is another process: its own pool and instance id
      open: async (o = {}) => {
        const db = await Database.open({ url, poolSize: 3 });
        dbs.push(db);
        const log = await PgAuditLog.open(db, { writer: `coordinator-${dbs.length}`, ...o });
        t.teardown(() => log.close());
        return log;
      },
      verify: () => admin.transaction((c) => verifyPgAuditLog(c)),
      events: async () =>
        (await admin.query<{ event: string }>('SELECT event FROM audit_log ORDER BY seq')).rows.map(
          (r) => JSON.parse(r.event) as AuditEvent,
        ),
      edit: async (seq) => {
        await admin.query(`UPDATE audit_log SET event = replace(event, '"w_', '"x_') WHERE seq = $1`, [seq]);
      },
      remove: async (seq) => {
        await admin.query('DELETE FROM audit_log WHERE seq = $1', [seq]);
      },
    };
  },
};

const sign = (n: number): AuditEvent => ({
  type: 'wallet.signed',
  walletId: `w_${n}`,
  digest: 'ab'.repeat(32),
  signers: ['node_1', 'node_2'],
  n,
});

for (const [name, make] of Object.entries(BACKENDS)) {
  test(`${name}: appends chain in order; a restart continues the chain`, async (t) => {
    const store = await make(t);
    const log = await store.open();
    for (let k = 1; k <= 3; k++) await log.append(sign(k));
    t.is(log.length, 3);
    const first = await store.verify();
    t.like(first, { ok: true, lines: 3, lastHash: log.lastHash });
    await log.close();
    const again = await store.open();
    t.is(again.length, 3);
    await again.append(sign(4));
    t.like(await store.verify(), { ok: true, lines: 4 });
    t.deepEqual(
      (await store.events()).map((e) => e.n),
      [1, 2, 3, 4],
    );
  });

  test(`${name}: a burst of appends keeps one valid chain, each resolving once recorded`, async (t) => {
    const store = await make(t);
    const log = await store.open();
    await Promise.all(Array.from({ length: 40 }, (_, k) => log.append(sign(k))));
    t.like(await store.verify(), { ok: true, lines: 40 });
    t.deepEqual(
      (await store.events()).map((e) => e.n).sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: 40 }, (_, k) => k),
    );
  });

  test(`${name}: events with a secret field or no proper type are refused and nothing is written`, async (t) => {
    const store = await make(t);
    const log = await store.open();
    await t.throwsAsync(log.append({ type: 'wallet.created', token: 'x' }), { instanceOf: TypeError });
    await t.throwsAsync(log.append({ type: 'Not A Type' }), { instanceOf: TypeError });
    await log.append(sign(1));
    t.like(await store.verify(), { ok: true, lines: 1 });
  });

  test(`${name}: time never runs backwards across a restart with a clock set back`, async (t) => {
    const store = await make(t);
    const ahead = await store.open({ wallClock: () => Date.parse('2031-01-01T00:00:00.000Z') });
    await ahead.append(sign(1));
    await ahead.close();
    const behind = await store.open({ wallClock: () => Date.parse('2021-01-01T00:00:00.000Z') });
    await behind.append(sign(2));
    const v = await store.verify();
    t.like(v, { ok: true, lines: 2 });
    t.true(
      v.ok && v.lastTime !== undefined && v.lastTime >= '2031-01-01',
      'the later record is not dated before the earlier',
    );
  });

  test(`${name}: a changed record and a deleted record are named, and the log refuses to open`, async (t) => {
    const store = await make(t);
    const log = await store.open();
    for (let k = 1; k <= 5; k++) await log.append(sign(k));
    await log.close();
    await store.edit(2);
    t.like(await store.verify(), { ok: false, line: 2 });
    const edited = await store.verify();
    t.regex(edited.ok ? '' : edited.reason, /hash does not match/);
    const e = await t.throwsAsync(store.open(), { instanceOf: AuditLogCorruptError });
    t.is(e?.line, 2);

    const other = await make(t);
    const log2 = await other.open();
    for (let k = 1; k <= 5; k++) await log2.append(sign(k));
    await log2.close();
    await other.remove(3);
    const v = await other.verify();
    t.like(v, { ok: false, line: 3 });
    t.regex(v.ok ? '' : v.reason, /sequence number 4 where 3 was expected/);
    await t.throwsAsync(other.open(), { instanceOf: AuditLogCorruptError });
  });
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only

test('postgres: two coordinators appending at once extend one valid chain; every record names its writer', async (t) => {
  const url = await server.createDatabase();
  const dbs = await Promise.all([1, 2].map(() => Database.open({ url, poolSize: 3 })));
  t.teardown(() => Promise.all(dbs.map((d) => d.close())));
  const [a, b] = (await Promise.all(dbs.map((db, k) => PgAuditLog.open(db, { writer: `coordinator-${k + 1}` })))) as [
    PgAuditLog,
    PgAuditLog,
  ];
  const appends: Promise<void>[] = [];
  for (let k = 0; k < 30; k++) appends.push(a.append(sign(k)), b.append(sign(100 + k)));
  await Promise.all(appends);
  const v = await (dbs[0] as Database).transaction((c) => verifyPgAuditLog(c));
  t.like(v, { ok: true, lines: 60 });
  const rows = (
    await (dbs[0] as Database).query<{ event: string; instance_id: string }>(
      'SELECT event, instance_id FROM audit_log ORDER BY seq',
    )
  ).rows;
  const writers = rows.map((r) => (JSON.parse(r.event) as { writer: string }).writer);
  t.is(writers.filter((w) => w === 'coordinator-1').length, 30);
  t.is(writers.filter((w) => w === 'coordinator-2').length, 30);
  t.deepEqual([...new Set(rows.map((r) => r.instance_id))].sort(), dbs.map((d) => d.instanceId).sort());
  await t.throwsAsync(a.append({ type: 'wallet.created', writer: 'someone else' }), { message: /writer/ });
});

test('postgres: an edited writer breaks the chain like any other edit', async (t) => {
  const url = await server.createDatabase();
  const db = await Database.open({ url });
  t.teardown(() => db.close());
  const log = await PgAuditLog.open(db, { writer: 'coordinator-1' });
  await log.append(sign(1));
  await log.append(sign(2));
  t.like(await db.transaction((c) => verifyPgAuditLog(c)), { ok: true, lines: 2 });
  await db.query(`UPDATE audit_log SET event = replace(event, 'coordinator-1', 'coordinator-2') WHERE seq = 1`);
  t.like(await db.transaction((c) => verifyPgAuditLog(c)), { ok: false, line: 1 });
});

test.serial(
  'postgres: the database stopped — appends fail with StoreUnavailableError and write nothing; back — the chain continues',
  async (t) => {
    const url = await server.createDatabase();
    const db = await Database.open({ url, poolSize: 2, connectTimeoutMs: 1_000 });
    t.teardown(() => db.close());
    const log = await PgAuditLog.open(db, { writer: 'coordinator-1' });
    await log.append(sign(1));
    await server.stop('immediate');
    try {
      const failed = await Promise.allSettled([log.append(sign(2)), log.append(sign(3))]);
      for (const f of failed) {
        t.is(f.status, 'rejected');
        t.true((f as PromiseRejectedResult).reason instanceof StoreUnavailableError);
      }
    } finally {
      await server.start();
    }
    t.like(await db.transaction((c) => verifyPgAuditLog(c)), { ok: true, lines: 1 }, 'nothing half-written');
    await log.append(sign(4));
    t.like(await db.transaction((c) => verifyPgAuditLog(c)), { ok: true, lines: 2 });
  },
);

test('postgres: npm run audit:verify -- --env checks the database named by the env file, and names a changed record', async (t) => {
  const { execFile } = await import('node:child_process');
  const { mkdir } = await import('node:fs/promises');
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
  const log = await PgAuditLog.open(db, { writer: 'coordinator-1' });
  for (let k = 1; k <= 3; k++) await log.append(sign(k));
  const script = join(process.cwd(), 'dist', 'scripts', 'audit-verify.js');
  const verify = async () => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, '--env', 'test'], { cwd: root });
      return { code: 0, stdout, stderr };
    } catch (e) {
      return e as { code: number; stdout: string; stderr: string };
    }
  };
  const ok = await verify();
  t.is(ok.code, 0);
  t.regex(ok.stdout, /\(audit_log\): ok, 3 records/);
  t.true(ok.stdout.includes(`last hash ${log.lastHash}`));
  await db.query(`UPDATE audit_log SET event = replace(event, '"w_', '"x_') WHERE seq = 2`);
  const bad = await verify();
  t.is(bad.code, 1);
  t.regex(bad.stderr, /record 2: hash does not match/);
  t.false(bad.stderr.includes(decodeURIComponent(new URL(url).password)));
});
