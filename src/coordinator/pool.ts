/**
 * Presignatures kept ready per (wallet, signer set), so that a sign request normally costs one
 * round: the signers' partial signatures. Presigning (3 rounds, about 2.5 s of compute per pair)
 * happens ahead of demand, in the background, a bounded number of sessions at a time.
 *
 * Single use (docs/security.md A10): `take` claims an entry in the inventory before handing it out,
 * so two requests — at this coordinator or another — can never get the same one; an entry is never
 * put back, whatever happens to the signing attempt; and an id the inventory has recorded before is
 * never admitted again. The nodes enforce
 * the same rule durably (a presignature is marked used before its partial leaves the node); the
 * pool's rule keeps the coordinator from ever asking twice.
 *
 * A commit of a wallet's refreshed key share, or of new aux-info, makes the nodes burn every
 * presignature of the older epoch: `discard` drops those entries here too (and keeps presigns that
 * were under way across the commit out), so signing never picks one the nodes would refuse.
 *
 * On demand (`obtain` with nothing ready): a request waits for a presign session of its own. Those
 * waits are bounded — at most `maxOnDemand` at once (more are refused at once: `PresignBusyError`,
 * 503 with Retry-After, rather than a queue that grows with the load) and each for at most
 * `onDemandTimeoutMs` — and a request whose client has gone (its `signal` aborted) stops waiting.
 * A session that has not started by then never starts; one already running may finish, and its
 * presignature is stocked for the next request (the work is not lost).
 *
 * What is ready lives in a presignature inventory (store/presign-inventory.ts): in memory, in the
 * data directory's journal (a restarted coordinator signs with what the nodes still hold), or in
 * the database several coordinators share (a presignature stocked by one is claimed once, by any).
 * A background presign first reserves its place in the inventory, so coordinators filling the same
 * wallet make what is missing once between them.
 * @module
 */
import { silentLogger, type Logger } from '../util/log.js';
import type { PresignaturePublic } from '../protocol/presign/presignature.js';
import { ServiceError } from './errors.js';
import { MemoryInventory, type PresignInventory } from './store/presign-inventory.js';
import { Demand } from './presign-demand.js';

export interface PoolEntry {
  readonly walletId: string;
  /** the signers' party indices, sorted */
  readonly signers: readonly number[];
  /** the presignature's id (lower-case hex), as the nodes know it */
  readonly id: string;
  /** what combining the partial signatures needs */
  readonly pub: PresignaturePublic;
  /**
   * The state it was made under: the group's aux id at the time, and the signers' state
   * fingerprint from `prepare` (aux-info, key share epoch and public data). The nodes burn a
   * presignature when a newer aux-info or key share commits, so an entry of another state is stale.
   */
  readonly auxId?: string;
  readonly state?: string;
  /**
   * read from a database other coordinators (and whoever can write it) share: its public parts are
   * checked against what the signers hold before a wrong partial is blamed on anyone (signing.ts)
   */
  readonly shared?: boolean;
}

/**
 * Makes one presignature for a wallet with these signers (a presign session); throws on failure.
 * When `signal` has aborted before the session starts, it does not start (and the call rejects
 * with PresignCancelledError); a session already running is not interrupted.
 */
export type PresignFn = (
  walletId: string,
  signers: readonly number[],
  options?: { signal?: AbortSignal },
) => Promise<PoolEntry>;

/** Too many requests already wait for a presignature made on demand: try again shortly. */
export class PresignBusyError extends ServiceError {
  override readonly name = 'PresignBusyError';
  readonly status = 503;
  readonly problem = 'presign-busy';
  override readonly retryAfterS = 2;
}

/** A presignature made on demand was not ready in time (the session, if it started, goes on for the pool). */
export class PresignTimeoutError extends ServiceError {
  override readonly name = 'PresignTimeoutError';
  readonly status = 503;
  readonly problem = 'presign-timeout';
  override readonly retryAfterS = 5;
}

/**
 * The request was cancelled (its client went away) before its presignature was ready. 499, the
 * status proxies use for a client that closed its request: nobody reads the answer.
 */
export class PresignCancelledError extends ServiceError {
  override readonly name = 'PresignCancelledError';
  readonly status = 499;
  readonly problem = 'request-cancelled';
}

/** How long before PRESIGN_MAX_AGE the pool stops handing a presignature out. */
export const EXPIRY_MARGIN_MS = 10 * 60_000;
/** How often the wallets' shares of PRESIGN_POOL_TARGET are recomputed (at most). */
const SHARES_MS = 1_000;
/** How often expired presignatures are dropped from the inventory. */
const EXPIRE_EVERY_MS = 60_000;

/** Default bound on requests waiting for an on-demand presignature at once. */
export const DEFAULT_MAX_ON_DEMAND = 16;
/** Default wait for an on-demand presignature (a session is ~3 s of compute; 60 s is its own deadline). */
export const DEFAULT_ON_DEMAND_TIMEOUT_MS = 30_000;

export interface PoolOptions {
  readonly presign: PresignFn;
  /**
   * presignatures kept per (wallet, signer set) at most (PRESIGN_POOL_SIZE); 0 turns background
   * presigning off. Without `pairTarget`, every wallet being stocked gets this many.
   */
  readonly targetSize: number;
  /**
   * PRESIGN_POOL_TARGET: presignatures kept per signer set across all wallets, shared in proportion
   * to their recent signing (presign-demand.ts), each wallet capped at `targetSize`
   */
  readonly pairTarget?: number;
  /** background presign sessions at once (default 1: they compete with signing for node CPU) */
  readonly concurrency?: number;
  /** the signer sets usable now (connected nodes) */
  readonly signerSets: () => readonly (readonly number[])[];
  /** the group's aux id now (cluster.auxId): entries made under another are dropped, not handed out */
  readonly currentAux?: () => string | undefined;
  /** wait before refilling a (wallet, signers) whose last presign failed (default 10 s) */
  readonly retryMs?: number;
  /** requests waiting for an on-demand presignature at once; more are refused (default 16) */
  readonly maxOnDemand?: number;
  /** how long a request waits for an on-demand presignature (default 30 s) */
  readonly onDemandTimeoutMs?: number;
  /** where ready presignatures are kept (default: in memory only) */
  readonly inventory?: PresignInventory;
  /** whether a wallet may still be stocked (not archived, known); default: every wallet */
  readonly isLive?: (walletId: string) => boolean;
  /** how often a shared inventory is read for other coordinators' changes (default 1 s) */
  readonly syncMs?: number;
  /**
   * PRESIGN_MAX_AGE: the nodes burn a presignature this old, so the pool hands out none older than
   * this less EXPIRY_MARGIN_MS (the time a sign takes to reach them, and clocks that differ), and
   * drops them from the inventory every minute (default: kept until used)
   */
  readonly maxAgeMs?: number;
  readonly log?: Logger;
}

export interface TakeOptions {
  /** the caller calls refill(walletId) itself, later (default false: refill at once) */
  readonly deferRefill?: boolean;
}

export interface ObtainOptions extends TakeOptions {
  /** aborted when the request's client has gone: stop waiting, start nothing more for it */
  readonly signal?: AbortSignal;
}

export function signersKey(signers: readonly number[]): string {
  return signers.join('-');
}

/** Every k-element subset of `items` (kept in order), in lexicographic order. */
export function combinations<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  const out: T[][] = [];
  items.forEach((item, i) => {
    for (const rest of combinations(items.slice(i + 1), k - 1)) out.push([item, ...rest]);
  });
  return out;
}

interface Job {
  readonly walletId: string;
  readonly signers: readonly number[];
}

export class PresignPool {
  private readonly log: Logger;
  readonly inventory: PresignInventory;
  /** background presigns queued or running here, per key, and per signer set */
  private readonly pending = new Map<string, number>();
  private readonly pendingBySigners = new Map<string, number>();
  private readonly retryAt = new Map<string, number>();
  private readonly tracked = new Set<string>();
  /** recent signing per wallet, and each wallet's share of `pairTarget` (recomputed at most every second) */
  private readonly demand = new Demand();
  private shares: { readonly at: number; readonly targets: Map<string, number> } | undefined;
  private readonly queue: Job[] = [];
  private readonly running = new Set<Promise<void>>();
  private retryTimer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private expireTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** bumped by discard(): a presign started under an older count is not admitted */
  private epochAll = 0;
  private readonly epochOf = new Map<string, number>();
  /** requests waiting for an on-demand presignature now */
  private onDemand = 0;

  constructor(private readonly o: PoolOptions) {
    if (!Number.isSafeInteger(o.targetSize) || o.targetSize < 0)
      throw new RangeError('targetSize must be a non-negative integer');
    if (o.maxOnDemand !== undefined && (!Number.isSafeInteger(o.maxOnDemand) || o.maxOnDemand < 1))
      throw new RangeError('maxOnDemand must be a positive integer');
    if (o.onDemandTimeoutMs !== undefined && !(o.onDemandTimeoutMs > 0))
      throw new RangeError('onDemandTimeoutMs must be positive');
    if (o.pairTarget !== undefined && (!Number.isSafeInteger(o.pairTarget) || o.pairTarget < 0))
      throw new RangeError('pairTarget must be a non-negative integer');
    if (o.concurrency !== undefined && (!Number.isSafeInteger(o.concurrency) || o.concurrency < 1))
      throw new RangeError('concurrency must be a positive integer');
    if (o.maxAgeMs !== undefined && !(o.maxAgeMs > EXPIRY_MARGIN_MS))
      throw new RangeError(`maxAgeMs must be over ${EXPIRY_MARGIN_MS} ms`);
    this.log = (o.log ?? silentLogger()).child({ component: 'presign-pool' });
    this.inventory = o.inventory ?? new MemoryInventory();
  }

  /**
   * Stocks the wallets the inventory already holds presignatures for (after a restart, or stocked
   * by another coordinator) as if each had signed once, and with a shared inventory reads the
   * others' changes every `syncMs` from now on. Wallets stocked later by another coordinator are
   * not adopted: each coordinator stocks for the requests it serves (a forgotten wallet would
   * otherwise be adopted again for as long as it holds presignatures).
   */
  start(): void {
    for (const w of this.inventory.stocked()) this.track(w);
    if (this.o.maxAgeMs !== undefined) this.expireEvery(this.o.maxAgeMs - EXPIRY_MARGIN_MS);
    if (!this.inventory.shared) return;
    const every = this.o.syncMs ?? 1_000;
    const tick = (): void => {
      this.syncTimer = setTimeout(() => {
        this.inventory
          .sync()
          .then(() => this.refill())
          .catch((e: unknown) =>
            this.log.warn({ err: (e as Error).message }, 'presignature inventory not read; trying again'),
          )
          .finally(() => {
            if (!this.stopped) tick();
          });
      }, every);
      this.syncTimer.unref();
    };
    tick();
  }

  /** Drops what has become too old to hand out now and every EXPIRE_EVERY_MS, then refills. */
  private expireEvery(usableMs: number): void {
    const pass = (): void => {
      this.inventory.expire(usableMs).then(
        (dropped) => {
          if (dropped > 0) this.log.info({ dropped }, 'presignatures past PRESIGN_MAX_AGE dropped');
          this.refill();
        },
        (e: unknown) => this.log.warn({ err: (e as Error).message }, 'expired presignatures not dropped; trying again'),
      );
    };
    pass();
    this.expireTimer = setInterval(pass, EXPIRE_EVERY_MS);
    this.expireTimer.unref();
  }

  private static key(walletId: string, signers: readonly number[]): string {
    return `${walletId}/${signersKey(signers)}`;
  }

  /** Ready presignatures of a wallet and signer set, as last known here (a hint: see take). */
  size(walletId: string, signers: readonly number[]): number {
    return this.inventory.size(walletId, signers);
  }

  /** Entries ready, summed over wallets, by signer set (for metrics). */
  sizesBySigners(): Map<string, number> {
    return this.inventory.sizesBySigners();
  }

  /**
   * Claims and returns a ready presignature, or undefined; the pool then refills in the
   * background — at once, or with `deferRefill` when the caller calls refill(walletId) itself (a
   * signer does once its answer is out, so the refill's compute does not slow that answer).
   */
  async take(walletId: string, signers: readonly number[], options: TakeOptions = {}): Promise<PoolEntry | undefined> {
    try {
      for (;;) {
        const entry = await this.inventory.claim(walletId, signers);
        const aux = this.o.currentAux?.();
        // made under an aux-info the group has left: the nodes burnt it at the commit (claimed: gone)
        if (entry && aux !== undefined && entry.auxId !== undefined && entry.auxId !== aux) continue;
        // too close to PRESIGN_MAX_AGE: the nodes may have burnt it by the time the sign arrives
        if (entry && this.o.maxAgeMs !== undefined && Date.now() - entry.createdAt > this.o.maxAgeMs - EXPIRY_MARGIN_MS)
          continue;
        return entry;
      }
    } finally {
      if (!options.deferRefill) this.refill(walletId);
    }
  }

  /** Requests waiting for an on-demand presignature now (metrics, tests). */
  get waitingOnDemand(): number {
    return this.onDemand;
  }

  /**
   * A presignature for this wallet and signer set: a ready one, or one made now (bounded: see the
   * module comment).
   * @throws PresignBusyError, PresignTimeoutError, PresignCancelledError, StoreUnavailableError, or whatever the presign function throws
   */
  async obtain(walletId: string, signers: readonly number[], options: ObtainOptions = {}): Promise<PoolEntry> {
    if (options.signal?.aborted) throw new PresignCancelledError('the request was cancelled');
    this.track(walletId);
    const ready = await this.take(walletId, signers, options);
    if (ready) return ready;
    const max = this.o.maxOnDemand ?? DEFAULT_MAX_ON_DEMAND;
    if (this.onDemand >= max)
      throw new PresignBusyError(`${max} requests already wait for a presignature made on demand; try again shortly`);
    this.log.debug({ walletId, signers }, 'pool empty: presigning on demand');
    this.onDemand++;
    const stop = new AbortController();
    const timeoutMs = this.o.onDemandTimeoutMs ?? DEFAULT_ON_DEMAND_TIMEOUT_MS;
    const timer = setTimeout(
      () => stop.abort(new PresignTimeoutError(`no presignature within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onCancel = (): void => stop.abort(new PresignCancelledError('the request was cancelled'));
    options.signal?.addEventListener('abort', onCancel, { once: true });
    try {
      return await new Promise<PoolEntry>((resolve, reject) => {
        let settled = false;
        const settle = (): boolean => {
          if (settled) return false;
          settled = true;
          stop.signal.removeEventListener('abort', onStop);
          return true;
        };
        const onStop = (): void => {
          if (settle()) reject(stop.signal.reason as Error);
        };
        stop.signal.addEventListener('abort', onStop, { once: true });
        const generation = this.generation(walletId);
        this.o.presign(walletId, signers, { signal: stop.signal }).then(
          (made) => {
            if (this.generation(walletId) !== generation) {
              // made under an epoch since replaced: the nodes burnt it at the commit
              if (settle()) reject(new Error('the presignature was made under a key share or aux-info since replaced'));
              return;
            }
            if (settle()) {
              // recorded as claimed before it is used: its id is never admitted again, anywhere
              this.admit(made, walletId, signers, { claimed: true }).then(
                () => resolve(made),
                (e: unknown) => reject(e as Error),
              );
              return;
            }
            // its request stopped waiting: the presignature is not wasted, the next request takes it
            void this.stock(made, walletId, signers);
          },
          (e: unknown) => {
            if (settle()) reject(e);
            else if (!(e instanceof PresignCancelledError)) {
              this.log.warn(
                { walletId, signers, err: (e as Error).message },
                'a presign whose request stopped waiting failed',
              );
            }
          },
        );
      });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCancel);
      this.onDemand--;
    }
  }

  /** Admits a fresh presignature into the ready entries (a refused one is logged and dropped). */
  private async stock(
    entry: PoolEntry,
    walletId: string,
    signers: readonly number[],
    reservation?: string,
  ): Promise<void> {
    if (this.stopped) {
      if (reservation !== undefined) await this.inventory.release(reservation).catch(() => undefined);
      return;
    }
    try {
      await this.admit(entry, walletId, signers, reservation === undefined ? {} : { reservation });
    } catch (e) {
      this.log.warn({ walletId, signers, err: (e as Error).message }, 'presignature not stocked');
      if (reservation !== undefined) await this.inventory.release(reservation).catch(() => undefined);
    }
  }

  /**
   * Drop the ready presignatures of one wallet (its key share was refreshed) or of every wallet
   * (new aux-info): the nodes burnt them at the commit. Background presigns under way are not
   * admitted when they end. Refills for what is tracked. Resolves how many were dropped.
   */
  discard(walletId?: string): Promise<number> {
    if (walletId === undefined) this.epochAll++;
    else this.epochOf.set(walletId, (this.epochOf.get(walletId) ?? 0) + 1);
    return this.inventory.discard(walletId).then(
      (dropped) => {
        if (dropped > 0) this.log.info({ walletId, dropped }, 'presignatures of an older epoch dropped');
        this.refill(walletId);
        return dropped;
      },
      (e: unknown) => {
        // the entries stay recorded; signing with one meets the nodes' refusal and drops it then
        this.log.warn({ walletId, err: (e as Error).message }, 'presignatures of an older epoch not dropped');
        this.refill(walletId);
        return 0;
      },
    );
  }

  private generation(walletId: string): string {
    return `${this.epochAll}/${this.epochOf.get(walletId) ?? 0}`;
  }

  /**
   * Drop every ready entry of a wallet made under `state` (a node answered that one of them was
   * already used: its state was replaced, so they are all burnt). Resolves how many.
   */
  async dropState(walletId: string, state: string | undefined): Promise<number> {
    if (state === undefined) return 0;
    return this.inventory.dropState(walletId, state);
  }

  /**
   * A request for this wallet (or a wallet to stock as if it had signed once: created with
   * `presign`, recovered, found stocked): it is stocked from now on, in proportion to its recent
   * requests, until they die down.
   */
  track(walletId: string): void {
    this.demand.note(walletId);
    if (this.tracked.has(walletId)) return;
    this.tracked.add(walletId);
    this.shares = undefined; // a new wallet takes its share at once
    this.refill(walletId);
  }

  untrack(walletId: string): void {
    this.tracked.delete(walletId);
    this.demand.forget(walletId);
  }

  /** How many presignatures this wallet should have ready per signer set now (its share of `pairTarget`). */
  target(walletId: string): number {
    if (this.o.pairTarget === undefined) return this.o.targetSize;
    const now = Date.now();
    if (!this.shares || now - this.shares.at >= SHARES_MS) {
      const { targets, forgotten } = this.demand.allocate(this.o.pairTarget, this.o.targetSize);
      for (const w of forgotten) this.tracked.delete(w); // nobody signs with it: stop stocking
      this.shares = { at: now, targets };
    }
    return this.shares.targets.get(walletId) ?? 0;
  }

  /**
   * Queue the presigns that bring tracked wallets (or one) up to their target for every live signer
   * set. With `pairTarget`, what is ready or being made for a signer set across all wallets (those
   * no longer stocked too: their presignatures are used or expire) never exceeds it: the budget
   * bounds the compute, and a wallet whose share grew waits for older stock to be used or to expire
   * (it signs on demand meanwhile). Busiest wallets first, so they get the room that frees up.
   */
  refill(walletId?: string): void {
    if (this.stopped || this.o.targetSize === 0) return;
    const wallets = walletId === undefined ? [...this.tracked] : this.tracked.has(walletId) ? [walletId] : [];
    if (wallets.length > 1) wallets.sort((a, b) => this.target(b) - this.target(a));
    const sets = this.o.signerSets();
    const now = Date.now();
    const room = new Map<string, number>();
    if (this.o.pairTarget !== undefined) {
      const ready = this.inventory.sizesBySigners();
      for (const signers of sets) {
        const s = signersKey(signers);
        room.set(s, this.o.pairTarget - (ready.get(s) ?? 0) - (this.pendingBySigners.get(s) ?? 0));
      }
    }
    for (const w of wallets) {
      if (this.o.isLive?.(w) === false) {
        this.untrack(w);
        continue;
      }
      for (const signers of sets) {
        const key = PresignPool.key(w, signers);
        if ((this.retryAt.get(key) ?? 0) > now) continue;
        const have = this.size(w, signers) + (this.pending.get(key) ?? 0);
        const target = this.target(w);
        const s = signersKey(signers);
        for (let k = have; k < target; k++) {
          const left = room.get(s);
          if (left !== undefined) {
            if (left <= 0) break;
            room.set(s, left - 1);
          }
          this.queue.push({ walletId: w, signers: [...signers] });
          this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
          this.pendingBySigners.set(s, (this.pendingBySigners.get(s) ?? 0) + 1);
        }
      }
    }
    this.drain();
  }

  private drain(): void {
    const limit = this.o.concurrency ?? 1;
    while (!this.stopped && this.running.size < limit && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      const run = this.runJob(job).finally(() => {
        this.running.delete(run);
        this.drain();
      });
      this.running.add(run);
    }
  }

  private async runJob(job: Job): Promise<void> {
    const key = PresignPool.key(job.walletId, job.signers);
    const live = this.o.signerSets().some((s) => signersKey(s) === signersKey(job.signers));
    let reservation: string | undefined;
    try {
      if (!live || !this.tracked.has(job.walletId) || this.o.isLive?.(job.walletId) === false) return;
      // ready + being made (here or at another coordinator) already reach the target: nothing to do
      reservation = await this.inventory.reserve(job.walletId, job.signers, this.target(job.walletId));
      if (reservation === undefined) return;
      const generation = this.generation(job.walletId);
      const entry = await this.o.presign(job.walletId, job.signers);
      if (this.stopped) return;
      if (this.generation(job.walletId) !== generation) {
        // made under an epoch since replaced (burnt at the nodes): make another once this job is counted out
        setImmediate(() => this.refill(job.walletId));
        return;
      }
      const r = reservation;
      reservation = undefined; // stock() fills or releases it
      await this.stock(entry, job.walletId, job.signers, r);
    } catch (e) {
      const retryMs = this.o.retryMs ?? 10_000;
      this.retryAt.set(key, Date.now() + retryMs);
      this.log.warn(
        { walletId: job.walletId, signers: job.signers, err: (e as Error).message, retryMs },
        'background presign failed',
      );
      this.scheduleRetry(retryMs);
    } finally {
      if (reservation !== undefined) await this.inventory.release(reservation).catch(() => undefined);
      const left = (this.pending.get(key) ?? 1) - 1;
      if (left > 0) this.pending.set(key, left);
      else this.pending.delete(key);
      const s = signersKey(job.signers);
      const leftPair = (this.pendingBySigners.get(s) ?? 1) - 1;
      if (leftPair > 0) this.pendingBySigners.set(s, leftPair);
      else this.pendingBySigners.delete(s);
    }
  }

  /**
   * Records a fresh presignature of the expected wallet and signers in the inventory (ready, or
   * claimed at once for the request that made it); throws for any other, or for an id seen before.
   */
  private async admit(
    entry: PoolEntry,
    walletId: string,
    signers: readonly number[],
    options: { claimed?: boolean; reservation?: string },
  ): Promise<void> {
    if (entry.walletId !== walletId || signersKey(entry.signers) !== signersKey(signers)) {
      throw new Error('presignature does not belong to the requested wallet and signers');
    }
    if (!(await this.inventory.add(entry, options))) {
      this.log.error(
        { walletId, signers, presignatureId: entry.id },
        'a presignature id came back a second time: refused',
      );
      throw new Error('presignature id seen before');
    }
  }

  private scheduleRetry(ms: number): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.refill();
    }, ms + 10);
    this.retryTimer.unref();
  }

  /** Stops background presigning and waits for the sessions under way (the inventory stays open: its owner closes it). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.syncTimer);
    clearInterval(this.expireTimer);
    this.queue.length = 0;
    await Promise.allSettled([...this.running]);
  }
}
