/**
 * A protocol worker: a node runs its protocol sessions (aux-info, keygen, presign, refresh,
 * reshare) on NODE_WORKERS of these threads so the main thread stays free for heartbeats and for
 * signing requests, which must not wait behind a second of presigning arithmetic. Requests arrive
 * as bytes and leave as bytes; which worker gets which request, and what the workers share (the
 * scope lock, the aux-info generation), is workers.ts.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openNodeRuntime } from './runtime.js';
import type { ScopeLock } from './storage/lock.js';
import type { FromWorker, ToWorker, WorkerData } from './workers.js';

const port = parentPort;
if (!port) throw new Error('worker.ts must run as a worker thread');
const data = workerData as WorkerData;
const post = (m: FromWorker): void => port.postMessage(m);
/** a request from the main thread */
type Request = Exclude<ToWorker, { readonly granted: number }>;

/**
 * The lifecycle's per-scope lock, held by the main thread for every worker of the node: a commit
 * here and a presignature stored by another worker exclude each other (workers.ts).
 */
const grants = new Map<number, () => void>();
let nextTicket = 0;
/**
 * Shared locks this worker holds or waits for. While any is, and the node has other workers,
 * requests that arrive are queued, not started (lock grants still pass): a request started here
 * could run seconds of proof arithmetic on this thread while it holds a lock every other worker may
 * be waiting for (a presignature is stored under the aux-info's lock, which all of them take), or
 * delay the moment a waited-for grant is taken up. Handlers already started may still resume
 * between their awaits; new ones wait. A node's only worker does not queue: no other thread waits
 * for its locks (the main thread only signs, which takes none), and queueing would only hold its
 * `info` and every other session behind a commit's store writes, unlike a node before workers.
 *
 * This cannot deadlock: what runs under a shared lock (a stage, a commit, storing a presignature:
 * lifecycle.ts) awaits only the record store, audit posts and further lock grants, never an answer
 * to a request, so no holder anywhere needs a request queued here to finish; and the main thread,
 * which grants the locks, queues nothing. Queued requests start as soon as this worker holds and
 * waits for none.
 */
let lockActive = 0;
const queued: Request[] = [];
const scopeLock: ScopeLock = {
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const ticket = nextTicket++;
    lockActive++;
    try {
      await new Promise<void>((resolve) => {
        grants.set(ticket, resolve);
        post({ lock: key, ticket });
      });
      try {
        return await fn();
      } finally {
        post({ unlock: ticket });
      }
    } finally {
      lockActive--;
      drain();
    }
  },
};

function drain(): void {
  while (lockActive === 0 && queued.length > 0) handle(queued.shift() as Request);
}

/** session id → the routing generation of the last request of it taken up here (workers.ts, `Session`) */
const gens = new Map<string, number>();

const runtime = await openNodeRuntime(data, {
  // audit events go to the main thread, the one writer of the node's audit log
  audit: (event) => {
    post({ audit: event });
    return Promise.resolve();
  },
  scopeLock,
  auxGeneration: new Int32Array(data.auxGeneration),
  workers: data.workers,
  runsAux: data.worker === 0,
  onSessionClosed: (sessionId) => {
    const gen = gens.get(sessionId);
    gens.delete(sessionId);
    post({ closed: sessionId, ...(gen === undefined ? {} : { gen }) });
  },
});
const { service } = runtime;

port.on('message', (m: ToWorker) => {
  if ('granted' in m) {
    const resolve = grants.get(m.granted);
    grants.delete(m.granted);
    return resolve?.();
  }
  if (lockActive > 0 && data.workers > 1) queued.push(m);
  else handle(m);
});

function handle(m: Request): void {
  const { id, body, coordinator, sessionId, gen } = m;
  if (sessionId !== undefined && gen !== undefined) gens.set(sessionId, gen);
  void service.handleBytes(body, coordinator).then((out) => {
    const open = sessionId === undefined ? undefined : service.hasSession(sessionId);
    // a session id that holds no session here is forgotten (a refused prepare, an abort)
    if (sessionId !== undefined && !open && gens.get(sessionId) === gen) gens.delete(sessionId);
    post({ id, body: out, ...(open === undefined ? {} : { open }) });
  });
}

// sessions left idle by a coordinator that went away are dropped even if no request comes here
setInterval(() => service.expire(), 30_000).unref();
post({ ready: true });
