/**
 * The presignature inventory on its three implementations — memory, the embedded journal and the
 * PostgreSQL table (a real server) — held to the same rules: a claim hands an entry out once (also
 * under concurrent claims), an id is admitted once, reservations keep ready + reserved under the
 * target, discards and state drops, and (durable ones) what is ready survives a reopen while what
 * was claimed does not. Then what only the shared table has: two coordinators claiming and
 * reserving at once, and a dead coordinator's reservation running out.
 */
import test, { type ExecutionContext } from 'ava';
import { appendFile, mkdir, readFile, rename, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Database } from '../../../src/coordinator/store/database.js';
import { FileInventory } from '../../../src/coordinator/store/presign-file.js';
import { MemoryInventory, type PresignInventory } from '../../../src/coordinator/store/presign-inventory.js';
import { PgInventory } from '../../../src/coordinator/store/presign-pg.js';
import { Dealer } from '../../helpers/coordinator.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/storage.js';

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

/** `open` is a coordinator (re)starting on the store (a new one for memory: nothing survives). */
interface Backend {
  readonly durable: boolean;
  open(): Promise<PresignInventory>;
}

const BACKENDS: Record<string, (t: ExecutionContext) => Promise<Backend>> = {
  memory: () => Promise.resolve({ durable: false, open: () => Promise.resolve(new MemoryInventory()) }),
  file: async (t) => {
    const path = join(await tempDir(t), 'coordinator', 'presignatures.jsonl');
    return {
      durable: true,
      open: async () => {
        const inv = await FileInventory.open(path);
        t.teardown(() => inv.close());
        return inv;
      },
    };
  },
  postgres: async (t) => {
    const url = await server.createDatabase();
    return {
      durable: true,
      open: async () => {
        const db = await Database.open({ url, poolSize: 4 });
        t.teardown(() => db.close());
        return PgInventory.open(db);
      },
    };
  },
};

const W = 'w_aaaaaaaa';
const dealer = new Dealer();

for (const [name, backend] of Object.entries(BACKENDS)) {
  test(`${name}: a claim hands each entry out once, oldest first, also under 20 concurrent claims`, async (t) => {
    const inv = await (await backend(t)).open();
    const made = Array.from({ length: 5 }, () => dealer.entry(W, [0, 1]));
    for (const e of made) t.true(await inv.add(e));
    t.is(inv.size(W, [0, 1]), 5);
    t.is(inv.size(W, [0, 2]), 0);
    t.deepEqual(inv.sizesBySigners(), new Map([['0-1', 5]]));
    t.deepEqual(inv.stocked(), [W]);
    const first = await inv.claim(W, [0, 1]);
    t.is(first?.id, made[0]?.id, 'oldest first');
    t.true(first?.pub.R.equals((made[0] as (typeof made)[0]).pub.R), 'the public parts round-trip');
    const claims = await Promise.all(Array.from({ length: 20 }, () => inv.claim(W, [0, 1])));
    const ids = claims.flatMap((c) => (c ? [c.id] : []));
    t.deepEqual(
      ids.sort(),
      made
        .slice(1)
        .map((e) => e.id)
        .sort(),
      'the other four, each once',
    );
    t.is(await inv.claim(W, [0, 1]), undefined);
    t.is(await inv.claim('w_bbbbbbbb', [0, 1]), undefined);
    t.is(inv.size(W, [0, 1]), 0);
  });

  test(`${name}: an id is admitted once: ready, claimed or recorded as claimed at once`, async (t) => {
    const inv = await (await backend(t)).open();
    const a = dealer.entry(W, [0, 1]);
    t.true(await inv.add(a));
    t.false(await inv.add(a), 'while ready');
    await inv.claim(W, [0, 1]);
    t.false(await inv.add(a), 'once claimed');
    const b = dealer.entry(W, [1, 2]);
    t.true(await inv.add(b, { claimed: true }));
    t.is(inv.size(W, [1, 2]), 0, 'recorded as claimed: never ready');
    t.is(await inv.claim(W, [1, 2]), undefined);
    t.false(await inv.add(b));
  });

  test(`${name}: reservations keep ready + reserved under the target; filled or released`, async (t) => {
    const inv = await (await backend(t)).open();
    const r1 = await inv.reserve(W, [0, 1], 2);
    const r2 = await inv.reserve(W, [0, 1], 2);
    t.truthy(r1);
    t.truthy(r2);
    t.not(r1, r2);
    t.is(await inv.reserve(W, [0, 1], 2), undefined, 'two reserved of two');
    t.truthy(await inv.reserve(W, [0, 2], 2), 'another signer set has its own count');
    t.true(await inv.add(dealer.entry(W, [0, 1]), { reservation: r1 as string }));
    t.is(inv.size(W, [0, 1]), 1);
    t.is(await inv.reserve(W, [0, 1], 2), undefined, 'one ready and one reserved of two');
    await inv.release(r2 as string);
    t.truthy(await inv.reserve(W, [0, 1], 2), 'a released reservation frees its place');
    t.is(await inv.reserve(W, [0, 1], 0), undefined, 'a target of 0 reserves nothing');
  });

  test(`${name}: discard of a wallet, of every wallet, and of one state`, async (t) => {
    const inv = await (await backend(t)).open();
    const other = 'w_bbbbbbbb';
    await inv.add({ ...dealer.entry(W, [0, 1]), state: 's1' });
    await inv.add({ ...dealer.entry(W, [0, 1]), state: 's2' });
    await inv.add({ ...dealer.entry(W, [1, 2]), state: 's1' });
    await inv.add(dealer.entry(other, [0, 1]));
    t.is(await inv.dropState(W, 's1'), 2);
    t.is(inv.size(W, [0, 1]), 1);
    t.is(inv.size(W, [1, 2]), 0);
    t.is((await inv.claim(W, [0, 1]))?.state, 's2');
    await inv.add(dealer.entry(W, [0, 2]));
    t.is(await inv.discard(W), 1);
    t.is(inv.size(other, [0, 1]), 1, 'other wallets keep theirs');
    await inv.add(dealer.entry(W, [0, 2]));
    t.is(await inv.discard(), 2);
    t.deepEqual(inv.stocked(), []);
    t.is(await inv.claim(other, [0, 1]), undefined);
  });

  test(`${name}: expire discards the ready entries recorded longer ago than the age, and only those`, async (t) => {
    const inv = await (await backend(t)).open();
    const old = dealer.entry(W, [0, 1]);
    await inv.add(old);
    await new Promise((r) => setTimeout(r, 2_000));
    const young = dealer.entry(W, [0, 1]);
    await inv.add(young);
    t.is(await inv.expire(1_000), 1, 'the one recorded 2 s ago, not the one just recorded');
    t.is(inv.size(W, [0, 1]), 1);
    t.is((await inv.claim(W, [0, 1]))?.id, young.id);
    t.false(await inv.add(old), 'an expired id is still refused');
  });

  test(`${name}: a reopened inventory holds what was ready, not what was claimed or discarded`, async (t) => {
    const b = await backend(t);
    if (!b.durable) {
      const again = await b.open();
      t.deepEqual(again.stocked(), [], 'memory keeps nothing');
      return;
    }
    const inv = await b.open();
    const kept = { ...dealer.entry(W, [0, 1]), auxId: 'aux-1', state: 'st' };
    const claimed = dealer.entry(W, [0, 1]);
    const discarded = dealer.entry('w_cccccccc', [1, 2]);
    await inv.add(claimed);
    await inv.add(kept);
    await inv.add(discarded);
    t.is((await inv.claim(W, [0, 1]))?.id, claimed.id);
    await inv.discard('w_cccccccc');
    await inv.close();
    const again = await b.open();
    t.deepEqual(again.stocked(), [W]);
    t.is(again.size(W, [0, 1]), 1);
    const e = await again.claim(W, [0, 1]);
    t.is(e?.id, kept.id);
    t.is(e?.auxId, 'aux-1');
    t.is(e?.state, 'st');
    t.true(e?.pub.Y.equals(kept.pub.Y));
    t.true(e !== undefined && e.createdAt > 0);
    t.false(await again.add(kept), 'its id is still refused after the reopen');
  });
}

test('file: a torn last line and a line that is no record are ignored; the file is rewritten at open', async (t) => {
  const path = join(await tempDir(t), 'presignatures.jsonl');
  const inv = await FileInventory.open(path);
  const a = dealer.entry(W, [0, 1]);
  const b = dealer.entry(W, [0, 1]);
  await inv.add(a);
  await inv.add(b);
  await inv.claim(W, [0, 1]);
  await inv.close();
  await appendFile(path, '{"op":"nonsense"}\n{"op":"add","entry":{"walletId":');
  const again = await FileInventory.open(path);
  t.teardown(() => again.close());
  t.is(again.size(W, [0, 1]), 1);
  t.is((await again.claim(W, [0, 1]))?.id, b.id);
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
  // the rewrite at open kept b's add only; then b's claim was appended
  t.is(lines.length, 2);
  t.deepEqual(JSON.parse(lines[1] as string), { op: 'claim', id: b.id });
});

/** Two coordinators, each with its own pool and instance, on one new database. */
async function twoCoordinators(t: ExecutionContext): Promise<[PgInventory, PgInventory]> {
  const url = await server.createDatabase();
  const dbs = await Promise.all([1, 2].map(() => Database.open({ url, poolSize: 5 })));
  t.teardown(() => Promise.all(dbs.map((d) => d.close())));
  const [a, b] = await Promise.all(dbs.map((db) => PgInventory.open(db)));
  if (!a || !b) throw new Error('unreachable');
  return [a, b];
}

test('postgres: two coordinators claiming one wallet at once never get the same entry', async (t) => {
  const [a, b] = await twoCoordinators(t);
  const made = Array.from({ length: 12 }, () => dealer.entry(W, [0, 2]));
  for (const [k, e] of made.entries()) await (k % 2 === 0 ? a : b).add(e);
  const claims = await Promise.all(Array.from({ length: 30 }, (_, k) => (k % 2 === 0 ? a : b).claim(W, [0, 2])));
  const ids = claims.flatMap((c) => (c ? [c.id] : []));
  t.is(ids.length, 12);
  t.is(new Set(ids).size, 12, 'no entry twice');
  await b.sync();
  t.is(b.size(W, [0, 2]), 0);
});

test('postgres: two coordinators filling one wallet reserve the target once between them', async (t) => {
  const [a, b] = await twoCoordinators(t);
  await a.add(dealer.entry(W, [1, 2]));
  const got = await Promise.all(Array.from({ length: 10 }, (_, k) => (k % 2 === 0 ? a : b).reserve(W, [1, 2], 4)));
  t.is(got.filter((r) => r !== undefined).length, 3, 'one ready + three reserved = the target of four');
});

test('postgres: a dead coordinator’s reservation runs out; spent rows are pruned after their retention', async (t) => {
  const url = await server.createDatabase();
  const db = await Database.open({ url, poolSize: 3 });
  t.teardown(() => db.close());
  const inv = await PgInventory.open(db, { retentionMs: 1 });
  const r = await inv.reserve(W, [0, 1], 1);
  t.truthy(r);
  t.is(await inv.reserve(W, [0, 1], 1), undefined);
  // its coordinator died: nothing releases it, it runs out
  await db.query(`UPDATE presignatures SET expires_at = now() - interval '1 second' WHERE id = $1`, [r]);
  t.truthy(await inv.reserve(W, [0, 1], 1), 'the place is free once it ran out');
  await inv.add(dealer.entry(W, [0, 2]));
  await inv.claim(W, [0, 2]);
  await new Promise((res) => setTimeout(res, 20));
  await PgInventory.open(db, { retentionMs: 1 }); // a coordinator starting prunes at its first read
  const left = await db.query<{ state: string }>('SELECT state FROM presignatures ORDER BY state');
  t.deepEqual(
    left.rows.map((x) => x.state),
    ['making'],
    'the claimed row is gone after its retention; the live reservation stays',
  );
});

/**
 * Lines enough to make the journal compact while it runs (COMPACT_MIN_DEAD is 10 000): entries
 * recorded as claimed at once, whose lines are dead the moment they are written and not fsynced.
 * One public presignature serves every id (the journal keys entries by `id`), so this stays fast.
 * `deadLines` queues them all at once; `writeDeadLines` a thousand at a time, so that the event
 * loop is not held for long.
 */
const deadBase = dealer.entry('w_dddddddd', [0, 1]);
function deadLines(inv: PresignInventory, from: number, n: number): Promise<boolean>[] {
  return Array.from({ length: n }, (_, k) =>
    inv.add({ ...deadBase, id: `e${(from + k).toString(16).padStart(63, '0')}` }, { claimed: true }),
  );
}
async function writeDeadLines(inv: PresignInventory, n: number): Promise<void> {
  for (let k = 0; k < n; k += 1_000) await Promise.allSettled(deadLines(inv, k, Math.min(1_000, n - k)));
}

// serial: these hold the event loop for a while, and other tests here measure time
test.serial('file: an entry added while a compaction is under way is ready once after a reopen', async (t) => {
  const path = join(await tempDir(t), 'presignatures.jsonl');
  const inv = await FileInventory.open(path);
  // 10 000 dead lines are the threshold, not over it: the compaction comes in the next ones
  await writeDeadLines(inv, 10_000);
  const tail = deadLines(inv, 10_000, 100);
  // ready in memory at once, its line queued behind the tail: the compaction in the middle of the
  // tail writes it, and its own line follows
  const a = dealer.entry(W, [0, 1]);
  t.true(await inv.add(a));
  await Promise.all(tail);
  await inv.close();
  const again = await FileInventory.open(path);
  t.teardown(() => again.close());
  t.is(again.size(W, [0, 1]), 1, 'one entry, not two');
  t.is((await again.claim(W, [0, 1]))?.id, a.id);
  t.is(await again.claim(W, [0, 1]), undefined, 'never handed out a second time');
});

test.serial('file: a compaction that fails leaves the journal writable, and what it holds complete', async (t) => {
  const path = join(await tempDir(t), 'presignatures.jsonl');
  const inv = await FileInventory.open(path);
  const a = dealer.entry(W, [0, 1]);
  t.true(await inv.add(a));
  // a directory under the journal's name: the rewrite cannot replace it (nor can it be reopened),
  // as a full disk or a failing rename would stop it; the open file still takes appends
  await rename(path, `${path}.aside`);
  await mkdir(path);
  await writeDeadLines(inv, 10_100);
  await rmdir(path);
  await rename(`${path}.aside`, path);
  t.is((await inv.claim(W, [0, 1]))?.id, a.id, 'claims still go through');
  const b = dealer.entry(W, [0, 1]);
  t.true(await inv.add(b), 'and adds');
  await inv.close();
  const again = await FileInventory.open(path);
  t.teardown(() => again.close());
  t.is(again.size(W, [0, 1]), 1);
  t.is((await again.claim(W, [0, 1]))?.id, b.id, 'the claim of a and the add of b were journalled');
});

test('postgres: a reservation set to outlast any coordinator’s (a changed row) runs out like a dead one', async (t) => {
  const url = await server.createDatabase();
  const db = await Database.open({ url, poolSize: 3 });
  t.teardown(() => db.close());
  const inv = await PgInventory.open(db);
  const r = await inv.reserve(W, [0, 1], 1);
  t.truthy(r);
  t.is(await inv.reserve(W, [0, 1], 1), undefined, 'control: a live reservation holds its place');
  // no coordinator reserves for longer than RESERVATION_MS: this one would keep the pair unstocked for good
  await db.query(`UPDATE presignatures SET expires_at = now() + interval '100 years' WHERE id = $1`, [r]);
  t.truthy(await inv.reserve(W, [0, 1], 1), 'the place is free');
});
