/**
 * The protocol worker: a node runs its protocol sessions (aux-info, keygen, presign, refresh) on
 * this thread so the main thread stays free for heartbeats and for signing requests, which must
 * not wait behind a second of presigning arithmetic. Requests arrive as bytes and leave as bytes.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openNodeRuntime, type RuntimeOptions } from './runtime.js';

const port = parentPort;
if (!port) throw new Error('worker.ts must run as a worker thread');
// audit events go to the main thread, the one writer of the node's audit log
const runtime = await openNodeRuntime(workerData as RuntimeOptions, {
  audit: (event) => {
    port.postMessage({ audit: event });
    return Promise.resolve();
  },
});
port.on('message', (m: { id: number; body: Uint8Array; coordinator: string }) => {
  void runtime.service.handleBytes(m.body, m.coordinator).then((out) => port.postMessage({ id: m.id, body: out }));
});
port.postMessage({ ready: true });
