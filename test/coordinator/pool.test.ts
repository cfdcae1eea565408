/**
 * The presignature pool: filled in the background to its target per (wallet, signer set) with at
 * most `concurrency` sessions at once; `take` removes an entry before handing it out, so no
 * presignature is ever given twice; an empty pool presigns on demand; a repeated id is refused;
 * failures back off instead of spinning; signer sets that are not live are not stocked.
 */
import { Slots } from '../../src/coordinator/presign.js';
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { combinations, PresignPool, type PoolEntry } from '../../src/coordinator/pool.js';
import { Dealer } from '../helpers/coordinator.js';

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

const ALL_PAIRS = combinations([0, 1, 2], 2);

function source(options: { delayMs?: number } = {}) {
  const dealer = new Dealer();
  let running = 0;
  const stats = { calls: 0, maxRunning: 0 };
  const presign = async (walletId: string, signers: readonly number[]): Promise<PoolEntry> => {
    stats.calls++;
    running++;
    stats.maxRunning = Math.max(stats.maxRunning, running);
    await sleep(options.delayMs ?? 2);
    running--;
    return dealer.entry(walletId, signers);
  };
  return { presign, stats };
}

test('combinations: the three pairs of three nodes, in order', (t) => {
  t.deepEqual(ALL_PAIRS, [
    [0, 1],
    [0, 2],
    [1, 2],
  ]);
  t.deepEqual(combinations([0, 1, 2, 3], 3).length, 4);
});

test('a tracked wallet is stocked to the target for every live pair, with bounded concurrency', async (t) => {
  const { presign, stats } = source({ delayMs: 5 });
  const pool = new PresignPool({ presign, targetSize: 2, concurrency: 2, signerSets: () => ALL_PAIRS });
  pool.track('w_alpha000');
  await until(() => ALL_PAIRS.every((p) => pool.size('w_alpha000', p) === 2));
  t.is(stats.calls, 6);
  t.true(stats.maxRunning <= 2, `at most 2 at once, saw ${stats.maxRunning}`);
  t.deepEqual(
    pool.sizesBySigners(),
    new Map([
      ['0-1', 2],
      ['0-2', 2],
      ['1-2', 2],
    ]),
  );
  await pool.stop();
});

test('take never hands out the same presignature twice and removes it before returning', async (t) => {
  const { presign } = source();
  const pool = new PresignPool({ presign, targetSize: 3, signerSets: () => [[0, 1]] });
  pool.track('w_alpha000');
  await until(() => pool.size('w_alpha000', [0, 1]) === 3);
  // two takes at once: two different presignatures
  const [a, b] = await Promise.all([
    pool.take('w_alpha000', [0, 1], { deferRefill: true }),
    pool.take('w_alpha000', [0, 1], { deferRefill: true }),
  ]);
  t.is(pool.size('w_alpha000', [0, 1]), 1, 'both gone from the pool');
  t.truthy(a && b);
  t.not(a?.id, b?.id);
  // drain everything handed out over many refills: all ids distinct
  const ids = new Set([a?.id, b?.id]);
  for (let n = 0; n < 10; n++) {
    await until(() => pool.size('w_alpha000', [0, 1]) > 0);
    const e = await pool.take('w_alpha000', [0, 1]);
    t.false(ids.has(e?.id), 'a fresh presignature every time');
    ids.add(e?.id);
  }
  t.is(await pool.take('w_other000', [0, 1]), undefined);
  await pool.stop();
});

test('an empty pool presigns on demand, then refills in the background', async (t) => {
  const { presign, stats } = source();
  const pool = new PresignPool({ presign, targetSize: 1, signerSets: () => [[0, 2]] });
  const entry = await pool.obtain('w_beta0000', [0, 2]);
  t.deepEqual(entry.signers, [0, 2]);
  t.is(entry.walletId, 'w_beta0000');
  await until(() => pool.size('w_beta0000', [0, 2]) === 1);
  const next = await pool.obtain('w_beta0000', [0, 2]);
  t.not(next.id, entry.id);
  t.true(stats.calls >= 2);
  await pool.stop();
});

test('with target 0 nothing is made ahead; obtain still works on demand', async (t) => {
  const { presign, stats } = source();
  const pool = new PresignPool({ presign, targetSize: 0, signerSets: () => ALL_PAIRS });
  pool.track('w_gamma000');
  await sleep(30);
  t.is(stats.calls, 0);
  await pool.obtain('w_gamma000', [1, 2]);
  await sleep(30);
  t.is(stats.calls, 1);
  await pool.stop();
});

test('a presignature id seen before is refused', async (t) => {
  const dealer = new Dealer();
  const fixed = dealer.entry('w_delta000', [0, 1]);
  const pool = new PresignPool({ presign: async () => fixed, targetSize: 0, signerSets: () => [[0, 1]] });
  const first = await pool.obtain('w_delta000', [0, 1]);
  t.is(first.id, fixed.id);
  await t.throwsAsync(pool.obtain('w_delta000', [0, 1]), { message: /seen before/ });
  await pool.stop();
});

test('a presignature for another wallet or signer set is refused', async (t) => {
  const dealer = new Dealer();
  const pool = new PresignPool({
    presign: async () => dealer.entry('w_other000', [0, 1]),
    targetSize: 0,
    signerSets: () => [[0, 1]],
  });
  await t.throwsAsync(pool.obtain('w_delta000', [0, 1]), { message: /does not belong/ });
  const pool2 = new PresignPool({
    presign: async (w) => dealer.entry(w, [0, 2]),
    targetSize: 0,
    signerSets: () => [[0, 1]],
  });
  await t.throwsAsync(pool2.obtain('w_delta000', [0, 1]), { message: /does not belong/ });
});

test('failed background presigns back off rather than spin, then recover', async (t) => {
  const dealer = new Dealer();
  let calls = 0;
  let failing = true;
  const pool = new PresignPool({
    presign: async (w, s) => {
      calls++;
      if (failing) throw new Error('node_2 timed out');
      return dealer.entry(w, s);
    },
    targetSize: 1,
    retryMs: 100,
    signerSets: () => [[0, 1]],
  });
  pool.track('w_eps00000');
  await sleep(60);
  t.is(calls, 1, 'no retry inside the back-off');
  failing = false;
  await until(() => pool.size('w_eps00000', [0, 1]) === 1);
  t.is(calls, 2);
  await pool.stop();
});

test('signer sets that are not live are not stocked; they are once live again', async (t) => {
  const { presign } = source();
  let live: number[][] = [[0, 1]];
  const pool = new PresignPool({ presign, targetSize: 1, signerSets: () => live });
  pool.track('w_zeta0000');
  await until(() => pool.size('w_zeta0000', [0, 1]) === 1);
  t.is(pool.size('w_zeta0000', [1, 2]), 0);
  live = ALL_PAIRS;
  pool.refill();
  await until(() => pool.size('w_zeta0000', [1, 2]) === 1 && pool.size('w_zeta0000', [0, 2]) === 1);
  t.pass();
  await pool.stop();
});

test('stop waits for sessions under way and starts no more', async (t) => {
  const { presign, stats } = source({ delayMs: 30 });
  const pool = new PresignPool({ presign, targetSize: 5, signerSets: () => [[0, 1]] });
  pool.track('w_eta00000');
  await sleep(5);
  await pool.stop();
  const calls = stats.calls;
  await sleep(60);
  t.is(stats.calls, calls);
  t.is(calls, 1);
});

test('Slots: at most n holders at once, the rest wait in order; a release is idempotent', async (t) => {
  const slots = new Slots(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    [0, 1, 2, 3, 4].map(async (k) => {
      const release = await slots.acquire();
      running++;
      peak = Math.max(peak, running);
      order.push(k);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      release();
      release();
    }),
  );
  t.is(peak, 2);
  t.deepEqual(order, [0, 1, 2, 3, 4]);
  t.throws(() => new Slots(0), { instanceOf: RangeError });
});
