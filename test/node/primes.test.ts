/**
 * The node's safe-prime source (src/node/primes.ts): primes handed to an aux-info run leave the
 * encrypted store before the run starts and are never handed out again — also after an aborted
 * run and across a restart (docs/security.md P3); the pool refills itself in the background to its size after
 * every take, durably (docs/security.md S10).
 *
 * Most tests use small safe primes from OpenSSL (128 bits: milliseconds) through the `generate`
 * option; the record format and the store are the real ones.
 */
import test from 'ava';
import { setImmediate as tick } from 'node:timers/promises';
import { PrimeSource, type PrimeSourceOptions } from '../../src/node/primes.js';
import { generateSafePrime } from '../../src/paillier/primes.js';
import { openNode, tempDir } from '../helpers/storage.js';

const small = (): Promise<bigint> => generateSafePrime(128);

async function source(t: import('ava').ExecutionContext, o: Partial<PrimeSourceOptions> = {}) {
  const root = await tempDir(t);
  const { store } = await openNode(root, 'node_1');
  const open = (extra: Partial<PrimeSourceOptions> = {}) =>
    PrimeSource.open({ store, index: 0, generate: small, ...o, ...extra });
  return { store, open, src: await open() };
}

/** Resolves once the source reports `n` primes ready (through onProgress), or at once if it has. */
function readyAt(progress: { ready: number; waiters: (() => void)[] }, n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (progress.ready >= n ? resolve() : progress.waiters.push(check));
    check();
  });
}

test('P3: primes given to a run are never given again — not after an aborted run, not after a restart', async (t) => {
  const { open } = await source(t, { poolSize: 8 });
  const src = await open();
  await src.fill();
  t.is(src.ready, 8);
  const first = await src.take();
  t.is(first.length, 4);
  t.is(src.ready, 4, 'gone from the pool at once');
  // the run aborts; the next run must get other primes
  const second = await src.take();
  t.is(new Set([...first, ...second]).size, 8, 'eight distinct primes for two runs');
  // a restart reads the store: neither run's primes are in it
  const reopened = await open();
  t.is(reopened.ready, 0);
  await reopened.fill();
  const third = await reopened.take();
  for (const p of third) t.false([...first, ...second].includes(p));
});

test('P3: take() resolves only once the primes are out of the store (a crash after it cannot bring them back)', async (t) => {
  const { open, src } = await source(t, { poolSize: 4 });
  await src.fill();
  const taken = await src.take();
  // a "crash" now: a new process opens the store
  const after = await open();
  t.is(after.ready, 0);
  const next = await after.take(); // freshly generated
  t.false(next.some((p) => taken.includes(p)));
});

test('two runs at once never share primes', async (t) => {
  const { src } = await source(t, { poolSize: 8 });
  await src.fill();
  const [a, b] = await Promise.all([src.take(), src.take()]);
  t.is(new Set([...a, ...b]).size, 8);
});

test('S10: with autoFill the pool refills itself to its size after a take, in the background and durably', async (t) => {
  const progress = { ready: 0, waiters: [] as (() => void)[] };
  const { open } = await source(t, {
    poolSize: 8,
    autoFill: true,
    onProgress: (ready) => {
      progress.ready = ready;
      const w = progress.waiters.splice(0);
      for (const f of w) f();
    },
  });
  const src = await open();
  await src.fill();
  t.is(src.ready, 8);
  progress.ready = 0;
  await src.take();
  t.is(src.ready, 4, 'take does not wait for the refill');
  await readyAt(progress, 8);
  t.is(src.ready, 8, 'refilled without a restart');
  t.is((await open({ autoFill: false })).ready, 8, 'and stored');
  // a second aux run right after: four ready at once, and the pool refills again
  progress.ready = 0;
  await src.take();
  await readyAt(progress, 8);
  t.is(src.ready, 8);
});

test('S10: without autoFill (the main thread, which never runs aux) nothing is generated after a take', async (t) => {
  let made = 0;
  const { src } = await source(t, { poolSize: 4, generate: () => (made++, small()) });
  await src.fill();
  t.is(made, 4);
  await src.take();
  for (let k = 0; k < 20; k++) await tick();
  t.is(made, 4);
  t.is(src.ready, 0);
});

test('a take with too few primes waits for the generator; a failing generator rejects it instead of hanging', async (t) => {
  const { src } = await source(t, { poolSize: 4 });
  const p = await src.take(); // empty pool: generates four, then hands them out
  t.is(new Set(p).size, 4);
  let calls = 0;
  const failing = await source(t, {
    poolSize: 4,
    generate: async () => {
      if (++calls > 2) throw new Error('generator down');
      return small();
    },
  });
  await t.throwsAsync(failing.src.take(), { message: 'generator down' });
  t.is(failing.src.ready, 2, 'what was made is kept');
});

test('the pool size is bounded (4–64)', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  for (const poolSize of [3, 65, 1.5])
    await t.throwsAsync(PrimeSource.open({ store, index: 0, poolSize }), { instanceOf: RangeError });
});
