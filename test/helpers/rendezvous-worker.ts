/**
 * A protocol worker with a test's rendezvous (test/node/workers.test.ts; src/node/workers.ts,
 * ProtocolWorkersOptions.testEntry): before the worker handles a `start`, it counts itself in
 * `buffer[0]` and waits (up to `timeoutMs`) until `parties` have; a wait that times out is counted
 * in `buffer[1]`. Two starts that meet there were inside two threads at the same time: a proof of
 * parallel sessions. The listener is registered before worker.js registers its own, so it runs
 * first for each message and blocks the thread there.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface Rendezvous {
  readonly buffer: SharedArrayBuffer;
  readonly parties: number;
  readonly timeoutMs: number;
}

const r = (workerData as { test: Rendezvous }).test;

function meet(): void {
  const cells = new Int32Array(r.buffer);
  const here = Atomics.add(cells, 0, 1) + 1;
  if (here >= r.parties) {
    Atomics.notify(cells, 0);
    return;
  }
  const deadline = performance.now() + r.timeoutMs;
  for (let seen = here; seen < r.parties; seen = Atomics.load(cells, 0)) {
    const left = deadline - performance.now();
    if (left <= 0 || Atomics.wait(cells, 0, seen, left) === 'timed-out') {
      Atomics.add(cells, 1, 1);
      return;
    }
  }
}

parentPort?.on('message', (m: { body?: Uint8Array; sessionId?: string }) => {
  if (m.body === undefined || m.sessionId === undefined) return;
  try {
    if ((JSON.parse(Buffer.from(m.body).toString('utf8')) as { method?: unknown }).method === 'start') meet();
  } catch {
    /* not JSON: the worker answers it */
  }
});

await import('../../src/node/worker.js');
