/**
 * Where background presigning goes (src/coordinator/presign-demand.ts): a budget per signer pair
 * shared in proportion to recent signing, capped per wallet, never over the budget; demand decays
 * and a wallet nobody signs with is forgotten.
 */
import test from 'ava';
import { randomInt } from 'node:crypto';
import { allocate, Demand, DEMAND_TAU_MS } from '../../src/coordinator/presign-demand.js';

const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

test('allocate: proportional shares, each capped, the sum never over the budget', (t) => {
  const hot: [string, number][] = [
    ['a', 8],
    ['b', 2],
  ];
  t.deepEqual(
    allocate(hot, 10, 100),
    new Map([
      ['a', 8],
      ['b', 2],
    ]),
  );
  t.deepEqual(
    allocate(hot, 10, 4),
    new Map([
      ['a', 4],
      ['b', 4],
    ]),
    'the cap moves the rest to the others',
  );
  t.deepEqual(
    allocate(hot, 100, 4),
    new Map([
      ['a', 4],
      ['b', 4],
    ]),
    'a budget above every cap leaves some unspent',
  );
  t.deepEqual(allocate(hot, 0, 4), new Map());
  t.deepEqual(allocate(hot, 5, 0), new Map());
  t.deepEqual(allocate([], 5, 2), new Map());
  // random cases: the invariants
  for (let k = 0; k < 200; k++) {
    const n = randomInt(1, 31);
    const weights = Array.from({ length: n }, (_, i) => [`w${i}`, randomInt(1, 1000) / 100] as [string, number]);
    const budget = randomInt(0, 80);
    const cap = randomInt(1, 7);
    const out = allocate(weights, budget, cap);
    t.true(sum(out) <= budget, 'never over the budget');
    t.is(sum(out), Math.min(budget, n * cap), 'the budget is spent as far as the caps allow');
    for (const v of out.values()) t.true(v >= 1 && v <= cap, 'each between 1 and the cap');
  }
});

test('allocate: with a budget smaller than the wallets, shares first, then one each for the heaviest; ties break by id', (t) => {
  const many: [string, number][] = [
    ['c', 1],
    ['a', 5],
    ['b', 1],
    ['d', 0.5],
  ];
  t.deepEqual(
    allocate(many, 2, 4),
    new Map([
      ['a', 1],
      ['b', 1],
    ]),
  );
  t.deepEqual(
    allocate(many, 3, 4),
    new Map([
      ['a', 2],
      ['b', 1],
    ]),
    'a: 3 × 5/7.5 = 2 by its share alone',
  );
  t.deepEqual(
    allocate(many, 7, 4),
    new Map([
      ['a', 4],
      ['b', 1],
      ['c', 1],
      ['d', 1],
    ]),
  );
});

test('demand decays with time; a wallet unused for hours is forgotten and gets nothing', (t) => {
  const clock = { now: 0 };
  const d = new Demand(() => clock.now);
  for (let k = 0; k < 9; k++) d.note('busy');
  d.note('once');
  t.is(d.weight('busy'), 9);
  clock.now += DEMAND_TAU_MS;
  t.true(Math.abs(d.weight('busy') - 9 / Math.E) < 1e-9, 'e-fold per time constant');
  let { targets, forgotten } = d.allocate(10, 10);
  t.deepEqual(forgotten, []);
  t.is(targets.get('busy'), 9);
  t.is(targets.get('once'), 1);
  clock.now += 4 * DEMAND_TAU_MS;
  d.note('busy');
  ({ targets, forgotten } = d.allocate(10, 10));
  t.deepEqual(forgotten, ['once'], 'one request five time constants ago no longer counts');
  t.is(targets.get('once'), undefined);
  t.is(targets.get('busy'), 10);
  t.is(d.size, 1);
});
