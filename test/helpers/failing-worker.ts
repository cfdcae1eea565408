/**
 * A protocol worker entry whose worker `fails` throws at start, once worker 0 is ready
 * (test/node/workers.test.ts; src/node/workers.ts, ProtocolWorkersOptions.testEntry): a start
 * that fails while other workers are already running. Worker 0 sets `buffer[0]` once worker.js
 * has posted its `ready`; the failing worker waits for that, then `afterMs` more for the main
 * thread to take the message up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { workerData } from 'node:worker_threads';

export interface FailingStart {
  readonly buffer: SharedArrayBuffer;
  readonly fails: number;
  readonly afterMs: number;
}

const { worker, test } = workerData as { worker: number; test: FailingStart };
const ready = new Int32Array(test.buffer);
if (worker === test.fails) {
  Atomics.wait(ready, 0, 0, 20_000);
  await sleep(test.afterMs);
  throw new Error(`worker ${worker} failed at start (test)`);
}
await import('../../src/node/worker.js');
if (worker === 0) {
  Atomics.store(ready, 0, 1);
  Atomics.notify(ready, 0);
}
