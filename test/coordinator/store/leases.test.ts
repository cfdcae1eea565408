/**
 * Leases on a real PostgreSQL: one holder at a time among coordinators, handed over at once when
 * the holder stops and after the lease runs out when it dies; the refresh schedule runs only at the
 * holder.
 */
import test from 'ava';
import { RefreshSchedule } from '../../../src/coordinator/refresh-schedule.js';
import { Database } from '../../../src/coordinator/store/database.js';
import { Leases } from '../../../src/coordinator/store/leases.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

const FAST = { ttlMs: 800, renewMs: 200 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial(
  'one holder at a time; a stopped holder hands over at once, a dead one when its lease runs out',
  async (t) => {
    const url = await server.createDatabase();
    const dbs = await Promise.all([1, 2, 3].map(() => Database.open({ url, poolSize: 2 })));
    t.teardown(() => Promise.all(dbs.map((d) => d.close())));
    const leases = dbs.map((db) => new Leases(db, ['job'], FAST));
    for (const l of leases) await l.start();
    t.teardown(() => Promise.all(leases.map((l) => l.stop())));
    const holders = () => leases.map((l) => l.holds('job'));
    t.deepEqual(holders(), [true, false, false]);
    for (let k = 0; k < 5; k++) {
      await sleep(150);
      t.is(holders().filter(Boolean).length, 1);
    }

    await (leases[0] as Leases).stop();
    // the other two race for it (their timers run too): exactly one takes it at its next renewal
    await Promise.all(leases.slice(1).map((l) => l.renew()));
    t.false((leases[0] as Leases).holds('job'));
    const taker = leases[1]?.holds('job') ? 1 : 2;
    const other = 3 - taker;
    t.is(holders().filter(Boolean).length, 1, 'taken at the next renewal');

    // the holder's process dies: its row stays until it runs out (stop() would have released it)
    await (leases[taker] as Leases).stop();
    await (dbs[other] as Database).query(
      `INSERT INTO leases (name, holder, expires_at) VALUES ('job', $1, now() + $2 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at`,
      [(dbs[taker] as Database).instanceId, FAST.ttlMs],
    );
    await (leases[other] as Leases).renew();
    t.false((leases[other] as Leases).holds('job'), 'not before the lease runs out');
    await sleep(FAST.ttlMs + 100);
    await (leases[other] as Leases).renew();
    t.true((leases[other] as Leases).holds('job'));
  },
);

test.serial('the refresh schedule refreshes only at the lease holder', async (t) => {
  const url = await server.createDatabase();
  const dbs = await Promise.all([1, 2].map(() => Database.open({ url, poolSize: 2 })));
  t.teardown(() => Promise.all(dbs.map((d) => d.close())));
  const leases = dbs.map((db) => new Leases(db, ['refresh-schedule'], FAST));
  for (const l of leases) await l.start();
  t.teardown(() => Promise.all(leases.map((l) => l.stop())));
  let clock = 0;
  const refreshed: string[][] = [[], []];
  const schedules = leases.map(
    (l, k) =>
      new RefreshSchedule({
        intervalMs: 10_000,
        walletIds: () => ['w_aaaaaaaa', 'w_bbbbbbbb', 'w_cccccccc'],
        refresh: (id) => Promise.resolve(refreshed[k]?.push(id)),
        now: () => clock,
        active: () => l.holds('refresh-schedule'),
      }),
  );
  clock = 10_000; // one whole interval: every wallet is due once
  for (const s of schedules) await s.tick();
  t.is(refreshed[0]?.length, 3);
  t.is(refreshed[1]?.length, 0);
  await (leases[0] as Leases).stop();
  await (leases[1] as Leases).renew();
  clock = 20_000;
  for (const s of schedules) await s.tick();
  t.is(refreshed[0]?.length, 3, 'the former holder stopped refreshing');
  t.is(refreshed[1]?.length, 3, 'the new holder refreshes the next cycle');
});
