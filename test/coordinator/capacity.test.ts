/**
 * The nodes' capacity for sessions at once (`workers` in their info, NODE_WORKERS) sets how many
 * background presign sessions the coordinator runs at once: the fewest workers of any node that
 * presigns now, one for a node that does not report it; and the pool reads that limit each time it
 * starts sessions, so it follows nodes that join, leave or restart with another count.
 */
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { combinations, PresignPool, type PoolEntry } from '../../src/coordinator/pool.js';
import { Dealer, fakeLinks, readyCluster } from '../helpers/coordinator.js';

const AUX = 'ab'.repeat(32);
const info = (k: number, workers?: number) => ({
  nodeId: `node_${k + 1}`,
  index: k,
  auxId: AUX,
  primesReady: 4,
  wallets: 0,
  ...(workers === undefined ? {} : { workers }),
});

test('presign capacity: the fewest workers among the nodes that presign; one when unreported or none is usable', (t) => {
  const cluster = readyCluster(fakeLinks(() => () => ({})));
  t.is(cluster.presignCapacity(), 1, 'nodes that predate NODE_WORKERS count as one');
  cluster.setInfo(0, info(0, 8));
  cluster.setInfo(1, info(1, 3));
  cluster.setInfo(2, info(2, 5));
  t.is(cluster.presignCapacity(), 3);
  cluster.setConnected(1, false); // the smallest leaves: the others' limit applies
  t.is(cluster.presignCapacity(), 5);
  cluster.setSuspension((id) => id === 'node_3'); // a suspended node presigns nothing
  t.is(cluster.presignCapacity(), 8);
  cluster.setConnected(0, false);
  cluster.setConnected(2, false);
  t.is(cluster.presignCapacity(), 1, 'no usable node');
});

test('the pool runs as many background presigns at once as the capacity it reads now', async (t) => {
  const dealer = new Dealer();
  let running = 0;
  let most = 0;
  let capacity = 1;
  const presign = async (walletId: string, signers: readonly number[]): Promise<PoolEntry> => {
    running++;
    most = Math.max(most, running);
    await sleep(20);
    running--;
    return dealer.entry(walletId, signers);
  };
  const pool = new PresignPool({
    presign,
    targetSize: 4,
    // as the coordinator wires it (src/coordinator/create.ts): read at each start of sessions
    get concurrency() {
      return capacity;
    },
    signerSets: () => combinations([0, 1, 2], 2),
  });
  pool.track('w_alpha000');
  await sleep(70);
  t.is(most, 1, 'one at a time while the nodes report one worker');
  capacity = 3;
  const end = Date.now() + 3_000;
  while (most < 3 && Date.now() < end) await sleep(5);
  t.is(most, 3, 'three at once once they report three');
  await pool.stop();
  t.true(most <= 3);
});
