/**
 * The core's linear memory must not grow without bound: after a warm-up, 100 000 more operations
 * of every kind (including Modulus creation and disposal, comb tables, multi-exponentiation,
 * inverses, and top-level calls over 40 moduli so the 32-entry context cache keeps evicting)
 * must leave coreMemoryBytes() where the warm-up left it.
 */
import test from 'ava';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  Modulus,
  modPowPublic,
  modMul,
  multiPowPublic,
  modInv,
  jacobi,
  coreMemoryBytes,
} from '../../src/wasm/index.js';
import { refPow } from '../helpers/fixtures.js';

const N = (1n << 255n) - 19n;
const ROTATING = Array.from({ length: 40 }, (_, i) => (1n << BigInt(200 + 3 * i)) + 2n * BigInt(i) * 0x9e3779b9n + 1n);

/** One mixed batch of operations; returns a checksum so nothing is optimised away. */
function batch(m: Modulus, from: number, count: number): bigint {
  let acc = 1n;
  for (let i = from; i < from + count; i++) {
    const x = (BigInt(i) * 0x9e3779b97f4a7c15n) % N;
    acc = m.mul(acc, x === 0n ? 1n : x);
    acc = m.powPublic(acc, 65537n);
    acc = m.multiPowPublic([
      [acc, 3n],
      [x, BigInt(i)],
    ]);
    const k = i % 40;
    const Nk = ROTATING[k] as bigint;
    acc ^= modPowPublic(acc % Nk, 3n, Nk);
    acc %= N;
    switch (i % 10) {
      case 0: {
        // a short-lived context, explicitly disposed
        const t = new Modulus(N - 2n * BigInt(1 + (i % 7)));
        acc = (acc + t.mul(acc % t.value, 3n)) % N;
        t.dispose();
        break;
      }
      case 1:
        acc = m.multiPowPublic([
          [acc, 5n],
          [x === 0n ? 2n : x, -3n],
        ]);
        break;
      case 2: {
        const fb = m.fixedBase(acc, 64, 1 + (i % 8));
        acc = fb.powPublic(BigInt(i)) ^ fb.pow(BigInt(i + 1));
        acc %= N;
        fb.dispose();
        break;
      }
      case 3:
        acc = m.pow(acc, BigInt(i), 32);
        break;
      case 4:
        acc = (acc + modInv(acc === 0n ? 1n : acc, N) + BigInt(jacobi(acc, N))) % N;
        break;
      case 5:
        acc = m.reduce(acc * acc * BigInt(i));
        break;
      case 6:
        acc = modMul(acc, 7n, N) ^ multiPowPublic([[acc, 2n]], N);
        acc %= N;
        break;
      case 7:
        // a rejected call must not leak either
        try {
          m.multiPowPublic([
            [acc, 1n],
            [N, 1n],
          ]);
        } catch {
          acc = (acc + 1n) % N;
        }
        break;
      default:
        break;
    }
  }
  return acc;
}

test.serial('100 000 operations do not grow the core memory beyond the warm-up', (t) => {
  const m = new Modulus(N);
  // sanity: the workload computes real results
  t.is(m.powPublic(3n, 65537n), refPow(3n, 65537n, N));

  const WARM = 20_000;
  const RUN = 100_000;
  batch(m, 0, WARM);
  const afterWarmUp = coreMemoryBytes();
  const start = Date.now();
  const sum = batch(m, WARM, RUN);
  const afterRun = coreMemoryBytes();
  t.log(
    `memory ${afterWarmUp} → ${afterRun} bytes; ${RUN} operations in ${Date.now() - start} ms (checksum ${sum % 1000n})`,
  );
  t.true(afterRun <= afterWarmUp, `core memory grew from ${afterWarmUp} to ${afterRun} bytes`);
  t.is(m.powPublic(3n, 65537n), refPow(3n, 65537n, N));
  m.dispose();
});

test.serial('top-level calls over ever-new moduli keep the context cache bounded', (t) => {
  // every call misses the cache, so each one creates a context and must evict (free) another
  const modulusFor = (i: number) => (1n << 300n) + 2n * BigInt(i) + 1n;
  for (let i = 0; i < 3000; i++) modPowPublic(3n, 65537n, modulusFor(i));
  const afterWarmUp = coreMemoryBytes();
  for (let i = 3000; i < 23_000; i++) {
    const Ni = modulusFor(i);
    const r = i % 2 ? modPowPublic(3n, 65537n, Ni) : modMul(5n, 7n, Ni);
    if (i % 1000 < 2) t.is(r, i % 2 ? refPow(3n, 65537n, Ni) : 35n);
  }
  const afterRun = coreMemoryBytes();
  t.log(`memory ${afterWarmUp} → ${afterRun} bytes over 20000 distinct moduli`);
  t.true(afterRun <= afterWarmUp, `core memory grew from ${afterWarmUp} to ${afterRun} bytes`);
});

test.serial('contexts left to the garbage collector are freed by the finalizer', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const collect = async () => {
    for (let i = 0; i < 4; i++) {
      gc();
      // finalization callbacks run in later tasks
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  // 300 undisposed 2000-bit contexts (about 10 KB each) per round, collected between rounds:
  // without the finalizer, 20 rounds would need about 60 MB
  const round = (r: number) => {
    for (let i = 0; i < 300; i++) {
      const ctx = new Modulus((1n << 2000n) + BigInt(2 * (r * 300 + i) + 1));
      ctx.fixedBase(5n, 64).powPublic(3n);
    }
  };
  round(0);
  await collect();
  round(1);
  await collect();
  const before = coreMemoryBytes();
  for (let r = 2; r < 22; r++) {
    round(r);
    await collect();
  }
  const after = coreMemoryBytes();
  t.log(`memory ${before} → ${after} bytes over 6000 undisposed contexts`);
  t.true(after <= before, `memory grew from ${before} to ${after} bytes`);
});
