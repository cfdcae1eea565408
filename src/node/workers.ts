/**
 * A node's protocol workers (NODE_WORKERS, default the available cores less one, 1 to 4):
 * the threads its protocol sessions (aux-info, keygen, presign, refresh, reshare) run on, so a
 * node presigns on every core while its main thread answers signing requests, which never wait
 * behind presigning arithmetic. This module is the main thread's side: it starts the workers
 * (worker.ts), routes each request to one of them, and holds what the workers must share.
 *
 * Routing (a session's live state is in the memory of the worker that prepared it):
 *  - every request naming a session id goes to the worker holding that session (sticky);
 *  - a new presign session goes to the worker with the fewest open sessions (a tie: the highest
 *    index, as worker 0 also carries aux-info and `info`);
 *  - aux-info runs, and `info`, go to worker 0, the one that owns the safe primes: only it fills
 *    and takes them (primes.ts keeps them in memory, and two threads taking from two copies could
 *    hand the same primes to two runs); the other workers refuse an aux-info prepare outright;
 *  - a wallet's key-changing runs (keygen, refresh, reshare) go to the worker already holding an
 *    open run of that wallet, else the least loaded one: the "one run per scope at a time" check,
 *    the hand-over of an idle run (`supersede`), `abandon` and `archive` cancel or refuse runs
 *    they find in their own worker's memory, so all runs of one scope must be in one worker;
 *    `archive` is routed there too (`finalize`, `discard` and the evidence reads likewise, though
 *    they need only the lock below);
 *  - `abandon` goes to every worker: the abandoned-run list is checked by sid whatever the scope,
 *    so the run it stops may be on any worker (see `abandon` below);
 *  - `abort` goes to every worker: the one holding the session cancels it, and all of them
 *    remember the aborted id, so a `prepare` of it arriving later is refused wherever it lands.
 *
 * Shared, because a commit in one worker and a presignature made in another touch the same wallet:
 *  - the lifecycle's per-scope lock is held here, on the main thread (a worker asks for it and is
 *    granted it by message): a presignature is stored only under its wallet's and the aux-info's
 *    locks, after checking that their committed epochs are still the ones it was made under, and a
 *    commit burns the old epoch's presignatures under the same lock, so none of an old epoch is
 *    ever stored after its epoch's burn (lifecycle.ts). In-memory locks per worker would not
 *    exclude each other;
 *  - an aux-info generation counter in shared memory, bumped after each aux-info commit: every
 *    worker re-reads the aux-info it cached (key shares are not cached; they are read per use);
 *  - what is already safe across threads and processes is not duplicated: session-id replay
 *    records, presignature used-markers and confirmation tombstones are the record store's
 *    exclusive-create markers, and audit events go to the main thread, the audit log's one writer.
 *
 * The node reports its worker count in `info` (`workers`); the coordinator runs at most that many
 * background presign sessions at once (src/coordinator/cluster.ts, presignCapacity).
 * @module
 */
import { Worker } from 'node:worker_threads';
import { decodeJson, encodeJson } from '../rpc/messages.js';
import { rpcFailure } from '../rpc/errors.js';
import type { AuditEvent } from '../util/audit-log.js';
import type { Logger } from '../util/log.js';
import { AUX_SCOPE, scopeOf } from './lifecycle.js';
import type { KeyedLock } from './storage/lock.js';
import type { RuntimeOptions } from './runtime.js';

/** What a protocol worker is started with (its `workerData`). */
export interface WorkerData extends RuntimeOptions {
  /** this worker's position (0: the one that owns the safe primes and runs aux-info) */
  readonly worker: number;
  readonly workers: number;
  /** the shared aux-info generation (one Int32) */
  readonly auxGeneration: SharedArrayBuffer;
  /** what a test's entry script is given (ProtocolWorkersOptions.testEntry); never set otherwise */
  readonly test?: unknown;
}

/** main → worker */
export type ToWorker =
  | {
      readonly id: number;
      readonly body: Uint8Array;
      readonly coordinator: string;
      readonly sessionId?: string;
      /** the generation of the routing entry the request was sent under (ProtocolWorkers, `Session`) */
      readonly gen?: number;
    }
  | { readonly granted: number };

/** worker → main */
export type FromWorker =
  | { readonly ready: true }
  | { readonly id: number; readonly body: Uint8Array; readonly open?: boolean }
  | { readonly audit: AuditEvent }
  | { readonly lock: string; readonly ticket: number }
  | { readonly unlock: number }
  /** a session left the worker; `gen`: of the last request of that id it took up */
  | { readonly closed: string; readonly gen?: number };

/** A request as far as routing reads it (the worker validates it whole). */
interface Routed {
  readonly method?: unknown;
  readonly sessionId?: unknown;
  readonly protocol?: unknown;
  readonly walletId?: unknown;
  readonly scope?: unknown;
}

export interface ProtocolWorkersOptions {
  /** how many (NODE_WORKERS) */
  readonly count: number;
  readonly runtime: RuntimeOptions;
  /** the scope lock the workers share; the main thread's own service uses it too */
  readonly lock: KeyedLock;
  readonly auxGeneration: SharedArrayBuffer;
  /**
   * an audit event a worker recorded (the main thread is the audit log's one writer); settles once
   * it is durable or its failure is logged. The worker's next answer waits for it.
   */
  readonly audit: (event: AuditEvent) => Promise<void>;
  readonly log: Logger;
  /**
   * Tests only: each thread runs `url` instead of worker.js (a script that installs a test's hooks,
   * then imports worker.js), with `data` as its `workerData.test`. Production code never sets it,
   * so worker.js carries no test hooks.
   */
  readonly testEntry?: { readonly url: URL; readonly data: unknown };
  /** told which worker took each request naming a session (tests) */
  readonly onRouted?: (sessionId: string, method: string, worker: number) => void;
}

interface Session {
  readonly worker: number;
  readonly scope: string | undefined;
  /**
   * A number no other routing entry had: a coordinator may reuse a session id once its session
   * ended, and a reply (or `closed`) of the old session still in flight must not close the new
   * entry, even on the same worker. Requests carry it; the worker echoes it in `closed`.
   */
  readonly gen: number;
}

export class ProtocolWorkers {
  private readonly sessions = new Map<string, Session>();
  /** open sessions per worker: what "least loaded" counts */
  private readonly load: number[];
  /** wallet scopes with an open key-changing run → its worker, and how many runs are open */
  private readonly scopes = new Map<string, { worker: number; open: number }>();
  private readonly waiting = new Map<number, (b: Uint8Array, open: boolean | undefined) => void>();
  /** per worker: settles once every audit event it sent so far is durable (or its failure logged) */
  private readonly audited: Promise<void>[];
  /** locks held by workers: `${worker}:${ticket}` → release */
  private readonly held = new Map<string, () => void>();
  private nextId = 0;
  /** stop() began: no lock is granted to a worker any more, no request is sent */
  private stopped = false;
  private nextGen = 0;

  private constructor(
    private readonly o: ProtocolWorkersOptions,
    private readonly threads: readonly Worker[],
  ) {
    this.load = threads.map(() => 0);
    this.audited = threads.map(() => Promise.resolve());
  }

  /** Start `count` workers; resolves once each has opened its runtime. */
  static async start(o: ProtocolWorkersOptions): Promise<ProtocolWorkers> {
    if (!Number.isSafeInteger(o.count) || o.count < 1) throw new RangeError('count must be a positive integer');
    const threads = Array.from({ length: o.count }, (_, worker) => {
      const data: WorkerData = {
        ...o.runtime,
        // one thread fills the safe primes: worker 0, which alone runs aux-info
        fillPrimes: worker === 0,
        worker,
        workers: o.count,
        auxGeneration: o.auxGeneration,
        ...(o.testEntry ? { test: o.testEntry.data } : {}),
      };
      return new Worker(o.testEntry?.url ?? new URL('./worker.js', import.meta.url), { workerData: data });
    });
    const pool = new ProtocolWorkers(o, threads);
    try {
      await Promise.all(threads.map((t, k) => pool.attach(t, k)));
    } catch (e) {
      // the workers already ready are ended on purpose: their exit must not end the process (it
      // would, before the caller could report `e`, the reason the start failed)
      pool.stopped = true;
      await Promise.all(threads.map((t) => t.terminate()));
      throw e;
    }
    return pool;
  }

  /** The workers' thread ids, by position. */
  get threadIds(): readonly number[] {
    return this.threads.map((t) => t.threadId);
  }

  /** The worker holding session `sessionId`, if one does. */
  workerOf(sessionId: string): number | undefined {
    return this.sessions.get(sessionId)?.worker;
  }

  private attach(thread: Worker, worker: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const early = (code: number) =>
        reject(new Error(`protocol worker ${worker} exited (${code}) before it was ready`));
      thread.once('error', reject);
      thread.once('exit', early);
      thread.on('message', (m: FromWorker) => {
        if ('ready' in m) {
          thread.off('error', reject);
          thread.off('exit', early);
          thread.on('error', (e) => {
            this.o.log.fatal({ err: e.message, worker }, 'protocol worker failed');
            process.exit(1);
          });
          // An exit without an error event (process.exit in the worker, an out-of-memory kill of
          // the thread) would leave its requests unanswered and its granted locks held for ever:
          // the process exits and its supervisor restarts it. Nothing is lost that a restart
          // does not recover: every record is written whole (atomic rename), and a switch
          // interrupted mid-way is finished or rolled back at start (lifecycle.ts).
          thread.on('exit', (code) => {
            if (this.stopped) return;
            this.o.log.fatal({ worker, code }, 'protocol worker exited');
            process.exit(1);
          });
          return resolve();
        }
        if ('audit' in m) {
          // appended at once (the log groups appends into one fsync); the answers after it wait
          const prior = this.audited[worker] as Promise<void>;
          this.audited[worker] = Promise.allSettled([prior, this.o.audit(m.audit)]).then(() => undefined);
          return;
        }
        if ('lock' in m) return this.grant(thread, worker, m.lock, m.ticket);
        if ('unlock' in m) {
          const key = `${worker}:${m.unlock}`;
          const release = this.held.get(key);
          this.held.delete(key);
          return release?.();
        }
        if ('closed' in m) return this.closed(m.closed, worker, m.gen);
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        // Answered once the audit events the worker recorded before it are durable (docs/architecture.md,
        // durability rule 6): a commit must not be reported done while its `state.committed` could
        // still be lost. They came by the same port as this answer, so they are all in `audited`.
        void (this.audited[worker] as Promise<void>).then(() => done?.(m.body, m.open));
      });
    });
  }

  /** A worker asks for a scope's lock: granted once every earlier holder, in any thread, released it. */
  private grant(thread: Worker, worker: number, key: string, ticket: number): void {
    void this.o.lock.run(
      key,
      () =>
        new Promise<void>((release) => {
          // after stop() the worker is terminated (or about to be): it would never release
          if (this.stopped) return release();
          this.held.set(`${worker}:${ticket}`, release);
          thread.postMessage({ granted: ticket } satisfies ToWorker);
        }),
    );
  }

  /** Session `sessionId` left `worker`; only the entry of generation `gen` is closed (a newer one stays). */
  private closed(sessionId: string, worker: number, gen: number | undefined): void {
    const s = this.sessions.get(sessionId);
    if (!s || s.worker !== worker || s.gen !== gen) return;
    this.sessions.delete(sessionId);
    this.load[worker] = (this.load[worker] as number) - 1;
    if (s.scope === undefined) return;
    const sc = this.scopes.get(s.scope);
    if (sc && --sc.open === 0) this.scopes.delete(s.scope);
  }

  /**
   * The worker with the fewest open sessions; a tie goes to the highest index, as worker 0 also
   * carries aux-info runs and `info`, which should not queue behind a presign that could run elsewhere.
   */
  private leastLoaded(): number {
    let best = this.load.length - 1;
    for (let k = best - 1; k >= 0; k--) if ((this.load[k] as number) < (this.load[best] as number)) best = k;
    return best;
  }

  private open(sessionId: string, worker: number, scope: string | undefined): Session {
    const entry: Session = { worker, scope, gen: this.nextGen++ };
    this.sessions.set(sessionId, entry);
    this.load[worker] = (this.load[worker] as number) + 1;
    if (scope !== undefined) {
      const sc = this.scopes.get(scope);
      if (sc) sc.open++;
      else this.scopes.set(scope, { worker, open: 1 });
    }
    return entry;
  }

  /**
   * `entry`: the routing entry the request is sent under (its worker's); a request of a session
   * id no entry routes carries none, and its answer closes nothing.
   */
  private send(
    worker: number,
    body: Uint8Array,
    coordinator: string,
    sessionId?: string,
    entry?: Session,
  ): Promise<Uint8Array> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve(encodeJson(rpcFailure('unavailable', 'node is shutting down')));
      const id = this.nextId++;
      const gen = entry?.gen;
      this.waiting.set(id, (out, open) => {
        // the worker says whether it still holds the session: a prepare it refused leaves nothing
        if (sessionId !== undefined && gen !== undefined && open === false) this.closed(sessionId, worker, gen);
        resolve(out);
      });
      const msg: ToWorker = {
        id,
        body,
        coordinator,
        ...(sessionId === undefined ? {} : { sessionId }),
        ...(gen === undefined ? {} : { gen }),
      };
      (this.threads[worker] as Worker).postMessage(msg);
    });
  }

  /**
   * Hand one request (bytes, as it came) to the worker it belongs to; resolves with the answer's
   * bytes. `decoded`: the request as the caller already parsed it (else parsed here). A request
   * that does not parse goes to worker 0, which answers the error.
   */
  async handle(body: Uint8Array, coordinator: string, decoded?: unknown): Promise<Uint8Array> {
    let r: Routed = {};
    try {
      const parsed: unknown = decoded ?? decodeJson(body);
      if (parsed !== null && typeof parsed === 'object') r = parsed;
    } catch {
      /* worker 0 answers it */
    }
    const sessionId = typeof r.sessionId === 'string' ? r.sessionId : undefined;
    const method = typeof r.method === 'string' ? r.method : '';
    if (method === 'abandon') return this.abandon(body, coordinator);
    if (sessionId === undefined) return this.send(this.byScope(method, r), body, coordinator);
    let known = this.sessions.get(sessionId);
    if (method === 'abort') return this.abort(body, coordinator, sessionId, known);
    let worker = known?.worker;
    if (worker === undefined && method === 'prepare') {
      const scope =
        typeof r.protocol === 'string'
          ? scopeOf(r.protocol, typeof r.walletId === 'string' ? r.walletId : undefined)
          : undefined;
      worker =
        scope === AUX_SCOPE
          ? 0
          : scope !== undefined
            ? (this.scopes.get(scope)?.worker ?? this.leastLoaded())
            : this.leastLoaded();
      known = this.open(sessionId, worker, scope);
    }
    worker ??= 0; // no worker holds it: worker 0 answers unknown-session
    this.o.onRouted?.(sessionId, method, worker);
    return this.send(worker, body, coordinator, sessionId, known);
  }

  /** Requests without a session id: by the scope they touch, else worker 0. */
  private byScope(method: string, r: Routed): number {
    const scope =
      method === 'archive'
        ? r.walletId
        : ['finalize', 'discard', 'confirmation', 'evidence'].includes(method)
          ? r.scope
          : undefined;
    return typeof scope === 'string' ? (this.scopes.get(scope)?.worker ?? 0) : 0;
  }

  /** Every worker remembers the abort; the answer is the one of the worker holding the session (else worker 0's). */
  private async abort(
    body: Uint8Array,
    coordinator: string,
    sessionId: string,
    known: Session | undefined,
  ): Promise<Uint8Array> {
    const owner = known?.worker ?? 0;
    this.o.onRouted?.(sessionId, 'abort', owner);
    const answers = await Promise.all(
      this.threads.map((_, k) => this.send(k, body, coordinator, sessionId, k === owner ? known : undefined)),
    );
    return answers[owner] as Uint8Array;
  }

  /**
   * `abandon` goes to every worker, whatever scope it names: a service checks its abandoned-run
   * list by sid alone (docs/security.md, state switches, rule 4), so an abandonment naming another
   * wallet's scope still stops that sid's run, and that run may be on any worker. Each remembers the sid
   * and cancels a matching session of its own; the signature is answered only if every worker
   * signed, else the first refusal (in worker order): a worker that refused (the run is another
   * coordinator's and live, or this node confirmed it) must not be outvoted by one that never saw
   * the run, or the node would sign an abandonment of a run it goes on to confirm (rule 6).
   */
  private async abandon(body: Uint8Array, coordinator: string): Promise<Uint8Array> {
    const answers = await Promise.all(this.threads.map((_, k) => this.send(k, body, coordinator)));
    for (const a of answers) {
      let ok = false;
      try {
        ok = (decodeJson(a) as { ok?: unknown } | null)?.ok === true;
      } catch {
        /* an answer that does not parse is no acceptance */
      }
      if (!ok) return a;
    }
    return answers[0] as Uint8Array;
  }

  /**
   * Stop every worker (sessions still running are abandoned): requests still waiting for an
   * answer are answered `unavailable`, locks the workers held are released, and a lock a worker
   * waits for is released as soon as it would be granted. Calling it again does nothing more.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const failure = encodeJson(rpcFailure('unavailable', 'node is shutting down'));
    for (const done of this.waiting.values()) done(failure, undefined);
    this.waiting.clear();
    for (const release of this.held.values()) release();
    this.held.clear();
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}
