/**
 * KEY_REFRESH_INTERVAL: each wallet refreshed once per interval at its own slot, spread over the
 * interval, the same slots after a restart, failed refreshes retried until the next slot.
 */
import test from 'ava';
import { RefreshSchedule } from '../../src/coordinator/refresh-schedule.js';

const HOUR = 3_600_000;

function setup(ids: string[], fail: (id: string) => boolean = () => false, start = 1_000 * HOUR) {
  let now = start;
  const refreshed: string[] = [];
  const make = () =>
    new RefreshSchedule({
      intervalMs: 24 * HOUR,
      walletIds: () => ids,
      refresh: async (id) => {
        if (fail(id)) throw new Error('nodes away');
        refreshed.push(id);
      },
      now: () => now,
      retryMs: HOUR,
    });
  return {
    make,
    refreshed,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('over one interval every wallet is refreshed exactly once, at slots spread over the interval', async (t) => {
  const ids = Array.from({ length: 200 }, (_, k) => `wallet_${String(k).padStart(4, '0')}`);
  const s = setup(ids);
  const schedule = s.make();
  const perHour: number[] = [];
  for (let h = 0; h < 24; h++) {
    s.advance(HOUR);
    perHour.push((await schedule.tick()).refreshed);
  }
  t.is(s.refreshed.length, 200);
  t.is(new Set(s.refreshed).size, 200, 'no wallet twice');
  // 200 wallets over 24 hours: about 8 an hour, never all at once
  t.true(Math.max(...perHour) <= 25, `per hour: ${perHour.join(',')}`);
  t.true(perHour.filter((n) => n > 0).length >= 18, `per hour: ${perHour.join(',')}`);
  for (let h = 0; h < 24; h++) {
    s.advance(HOUR);
    await schedule.tick();
  }
  t.is(s.refreshed.length, 400, 'once more in the next interval');
});

test('a restart keeps the slots: a coordinator restarted every hour still refreshes each wallet once a day', async (t) => {
  const ids = Array.from({ length: 50 }, (_, k) => `w_${k}_abcdefgh`);
  const s = setup(ids);
  for (let h = 0; h < 24; h++) {
    const schedule = s.make(); // a new process: it starts from now
    s.advance(HOUR);
    await schedule.tick();
  }
  t.is(s.refreshed.length, 50);
  t.is(new Set(s.refreshed).size, 50);
});

test('a refresh that fails is tried again after the retry time, and counted once it succeeds', async (t) => {
  let away = true;
  const s = setup(['wallet_only_one'], () => away);
  const schedule = s.make();
  let failedAt = -1;
  for (let m = 0; m < 24 * 60 && failedAt < 0; m += 10) {
    s.advance(10 * 60_000);
    if ((await schedule.tick()).failed > 0) failedAt = m;
  }
  t.true(failedAt >= 0, 'its slot came and the refresh failed');
  away = false;
  s.advance(30 * 60_000);
  t.is((await schedule.tick()).refreshed, 0, 'not before the retry time');
  s.advance(31 * 60_000);
  t.is((await schedule.tick()).refreshed, 1, 'tried again after an hour');
  t.deepEqual(s.refreshed, ['wallet_only_one']);
});

test('an interval shorter than a second is refused', (t) => {
  t.throws(
    () =>
      setup([]).make() && new RefreshSchedule({ intervalMs: 10, walletIds: () => [], refresh: async () => undefined }),
    {
      message: /at least one second/,
    },
  );
});
