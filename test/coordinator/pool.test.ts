/**
 * The presignature pool: filled in the background to its target per (wallet, signer set) with at
 * most `concurrency` sessions at once; `take` removes an entry before handing it out, so no
 * presignature is ever given twice; an empty pool presigns on demand; a repeated id is refused;
 * failures back off instead of spinning; signer sets that are not live are not stocked.
 */
import { Slots } from '../../src/coordinator/presign.js';
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { combinations, EXPIRY_MARGIN_MS, PresignPool, type PoolEntry } from '../../src/coordinator/pool.js';
import { MemoryInventory, type PresignInventory } from '../../src/coordinator/store/presign-inventory.js';
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

test('no presignature within EXPIRY_MARGIN_MS of PRESIGN_MAX_AGE is handed out; the inventory is told to drop them', async (t) => {
  const { presign } = source();
  const made: string[] = [];
  const recording = async (w: string, s: readonly number[]): Promise<PoolEntry> => {
    const e = await presign(w, s);
    made.push(e.id);
    return e;
  };
  const inner = new MemoryInventory();
  const aged = new Set<string>();
  const expired: number[] = [];
  // what the inventory says of the entries in `aged`: recorded two minutes ago
  const inventory: PresignInventory = Object.assign(Object.create(inner) as MemoryInventory, {
    claim: async (w: string, s: readonly number[]) => {
      const e = await inner.claim(w, s);
      return e && aged.has(e.id) ? { ...e, createdAt: e.createdAt - 120_000 } : e;
    },
    expire: (ageMs: number) => {
      expired.push(ageMs);
      return Promise.resolve(0);
    },
  });
  const maxAgeMs = EXPIRY_MARGIN_MS + 60_000; // usable for one minute
  const pool = new PresignPool({ presign: recording, targetSize: 2, signerSets: () => [[0, 1]], inventory, maxAgeMs });
  pool.start();
  t.deepEqual(expired, [60_000], 'at start, entries older than the usable age are dropped');
  pool.track('w_gamma000');
  await until(() => pool.size('w_gamma000', [0, 1]) === 2);
  t.truthy(await pool.take('w_gamma000', [0, 1], { deferRefill: true }), 'a fresh entry is handed out');
  // the one left is now too old: claimed (so never offered again) and skipped
  const old = [...made];
  for (const id of old) aged.add(id);
  t.is(
    await pool.take('w_gamma000', [0, 1], { deferRefill: true }),
    undefined,
    'an entry past its usable age is not handed out',
  );
  t.is(inner.size('w_gamma000', [0, 1]), 0, 'and it is gone from the inventory');
  await pool.stop();
  t.throws(() => new PresignPool({ presign, targetSize: 1, signerSets: () => [], maxAgeMs: EXPIRY_MARGIN_MS }), {
    instanceOf: RangeError,
  });
});

test('with a target per pair, wallets share it by recent signing, each up to its cap; a wallet never asked for gets nothing', async (t) => {
  const { presign, stats } = source();
  const pool = new PresignPool({ presign, targetSize: 3, pairTarget: 4, signerSets: () => [[0, 1]] });
  pool.track('w_cold0000'); // created with presign: true
  t.is(pool.target('w_cold0000'), 3, 'alone, a wallet gets up to its cap');
  await until(() => pool.size('w_cold0000', [0, 1]) === 3);
  for (let k = 0; k < 20; k++) await pool.obtain('w_hot00000', [0, 1]);
  await sleep(1_100); // shares are recomputed at most every second
  t.is(pool.target('w_hot00000'), 3, 'the busy wallet: its cap');
  t.is(pool.target('w_cold0000'), 1, 'the quiet one: what is left');
  t.is(pool.target('w_never000'), 0);
  pool.refill();
  // the quiet wallet's three still hold three of the four: the busy one gets the one left
  await until(() => pool.size('w_hot00000', [0, 1]) === 1);
  await sleep(50);
  t.is(pool.size('w_hot00000', [0, 1]), 1, 'never over the budget');
  // once the quiet wallet's older stock is used, the room goes to the busy one
  await pool.take('w_cold0000', [0, 1], { deferRefill: true });
  await pool.take('w_cold0000', [0, 1], { deferRefill: true });
  pool.refill();
  await until(() => pool.size('w_hot00000', [0, 1]) === 3);
  t.is(pool.size('w_cold0000', [0, 1]), 1);
  t.is(pool.size('w_never000', [0, 1]), 0);
  const made = stats.calls;
  await sleep(100);
  t.is(stats.calls, made, 'nothing more is made once every share is stocked');
  await pool.stop();
});

test('with a target per pair, what is ready across all wallets never exceeds it, however the shares move', async (t) => {
  const { presign } = source();
  const pool = new PresignPool({ presign, targetSize: 4, pairTarget: 8, concurrency: 4, signerSets: () => ALL_PAIRS });
  const wallets = Array.from({ length: 20 }, (_, k) => `w_many${String(k).padStart(4, '0')}`);
  for (const w of wallets) {
    await pool.obtain(w, [0, 1]); // one request each: shares shrink as wallets arrive
    await sleep(5);
  }
  for (let k = 0; k < 6; k++) await pool.obtain(wallets[0]!, [0, 1]); // then one wallet gets busy
  await sleep(1_100);
  pool.refill();
  await until(() => pool.waitingOnDemand === 0);
  await sleep(200);
  for (const [pair, ready] of pool.sizesBySigners()) t.true(ready <= 8, `${pair}: ${ready} ready`);
  t.true(pool.size(wallets[0]!, [0, 1]) >= 1, 'the busy wallet has some');
  await pool.stop();
});
