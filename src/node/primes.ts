/**
 * Safe primes waiting for the next aux-info: four per run (Paillier p, q and ring-Pedersen p̂, q̂),
 * 1536 bits each, from OpenSSL (node:crypto's asynchronous generatePrime, in libuv's thread pool,
 * so the node keeps serving). They are secrets (they factor the moduli), kept encrypted in the
 * node's store until used.
 *
 * Single use: a run reveals its moduli N = p·q and N̂ = p̂·q̂ when it opens its commitment, and a
 * party that has seen them could present the same moduli in a later run (it committed to them in
 * advance). So the four primes leave the store, durably, *before* `take` hands them to a run —
 * before anything of the run is sent — and are never handed out again, whether the run ends with
 * aux-info, aborts, or the node crashes. An aborted run costs four fresh primes, never a reuse.
 *
 * Refill: the source keeps `poolSize` primes ready (NODE_PRIME_POOL, default 8: two runs) and,
 * with `autoFill`, generates in the background whenever a run took some — so a later aux-info run
 * (a new node group, a retry after an abort) does not wait for the nodes to restart. One prime is
 * generated at a time: one libuv thread, never the event loop.
 *
 * A development option takes them from a file of pre-generated safe primes instead (the test
 * fixtures, made by `test/fixtures/make-safe-primes.ts`), so a local cluster and the integration
 * tests start in seconds; each node takes the four at its own index, every run. Those primes are
 * public: the node's entry point accepts the option only in a development environment
 * (src/config/development.ts).
 * @module
 */
import { readFileSync } from 'node:fs';
import { Reader, Writer } from '../protocol/codec.js';
import { assertSafePrime, generateSafePrime, SAFE_PRIME_BITS } from '../protocol/aux/index.js';
import type { RecordStore } from './storage/store.js';

export const PRIMES_PER_AUX = 4;
/** Default of NODE_PRIME_POOL: primes for two aux-info runs. */
export const DEFAULT_PRIME_POOL = 8;
/** The most primes stored (the record's decoding bound). */
export const MAX_PRIME_POOL = 64;
const RECORD_ID = 'pending-primes';

export interface PrimeSourceOptions {
  store: RecordStore;
  /** this node's index (selects its primes in a development file) */
  index: number;
  /** development only: JSON file { "bits1536": ["0x…", …] } of pre-generated safe primes */
  devFile?: string | undefined;
  /** primes kept ready (4–64, default 8) */
  poolSize?: number;
  /** generate in the background whenever fewer than poolSize are ready (default false) */
  autoFill?: boolean;
  onProgress?: (ready: number, wanted: number) => void;
  /** a background generation failed (it is retried at the next take or fill) */
  onError?: (e: Error) => void;
  /** one fresh safe prime (default: SAFE_PRIME_BITS bits from OpenSSL, asynchronously); tests use smaller ones */
  generate?: () => Promise<bigint>;
}

export class PrimeSource {
  private primes: bigint[] = [];
  private filling: Promise<void> | undefined;
  /** callers of take() waiting for primes: told after each new prime, or of a failure */
  private waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** store writes, one at a time, each of the list as it is when the write starts */
  private saving: Promise<void> = Promise.resolve();
  private readonly poolSize: number;
  private readonly generate: () => Promise<bigint>;

  private constructor(private readonly o: PrimeSourceOptions) {
    this.poolSize = o.poolSize ?? DEFAULT_PRIME_POOL;
    if (!Number.isSafeInteger(this.poolSize) || this.poolSize < PRIMES_PER_AUX || this.poolSize > MAX_PRIME_POOL) {
      throw new RangeError(`poolSize must be an integer in ${PRIMES_PER_AUX}..${MAX_PRIME_POOL}`);
    }
    this.generate = o.generate ?? (() => generateSafePrime(SAFE_PRIME_BITS));
  }

  /**
   * A source that holds no primes and makes none (0 ready; `take` refuses): for the threads of a
   * node that never run aux-info (its main thread, its protocol workers but the first: workers.ts),
   * so the node's secret primes are in the memory of one thread only.
   */
  static none(store: RecordStore, index: number): PrimeSource {
    const src = new PrimeSource({ store, index });
    src.stub = true;
    return src;
  }

  /** a `none()` source */
  private stub = false;

  static async open(o: PrimeSourceOptions): Promise<PrimeSource> {
    const src = new PrimeSource(o);
    const stored = await o.store.get('aux', RECORD_ID);
    if (stored) {
      const r = new Reader(stored);
      src.primes = r.list((x) => x.int(SAFE_PRIME_BITS + 8, 'prime'), { maxCount: MAX_PRIME_POOL }, 'primes');
      r.end('primes');
    }
    return src;
  }

  get ready(): number {
    if (this.stub) return 0;
    return this.o.devFile ? PRIMES_PER_AUX : this.primes.length;
  }

  /** Generate in the background until poolSize are ready (no-op when they are, or with a dev file). */
  fill(): Promise<void> {
    if (this.stub || this.o.devFile || this.primes.length >= this.poolSize) return Promise.resolve();
    this.filling ??= (async () => {
      try {
        while (this.primes.length < this.poolSize) {
          const p = await this.generate();
          this.primes.push(p);
          await this.save();
          this.o.onProgress?.(this.primes.length, this.poolSize);
          this.notify();
        }
      } catch (e) {
        this.notify(e as Error);
        throw e;
      }
    })().finally(() => {
      this.filling = undefined;
    });
    return this.filling;
  }

  /**
   * Four distinct safe primes for one aux-info run, already removed from the store (durably) when
   * this resolves: call it before the run sends anything, and never run twice with its result.
   */
  async take(): Promise<bigint[]> {
    // a thread without the node's primes must never make or store any (it would overwrite the record)
    if (this.stub) throw new Error('this thread of the node holds no safe primes (another one runs aux-info)');
    if (this.o.devFile) {
      const all = (JSON.parse(readFileSync(this.o.devFile, 'utf8')) as { bits1536: string[] }).bits1536.map((h) =>
        BigInt(h),
      );
      const mine = all.slice(PRIMES_PER_AUX * this.o.index, PRIMES_PER_AUX * (this.o.index + 1));
      if (mine.length !== PRIMES_PER_AUX)
        throw new Error('development primes file has too few primes for this node index');
      mine.forEach((p, k) => assertSafePrime(`development prime ${k}`, p, SAFE_PRIME_BITS));
      return mine;
    }
    while (this.primes.length < PRIMES_PER_AUX) {
      const next = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
      this.fill().catch(() => undefined); // the failure reaches us through `next`
      await next;
    }
    // synchronous from the check to the removal: two runs never get the same primes
    const taken = this.primes.splice(0, PRIMES_PER_AUX);
    await this.save();
    if (this.o.autoFill) this.fill().catch((e: unknown) => this.o.onError?.(e as Error));
    return taken;
  }

  private notify(e?: Error): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) {
      if (e) w.reject(e);
      else w.resolve();
    }
  }

  private save(): Promise<void> {
    const run = (): Promise<void> =>
      this.o.store.put('aux', RECORD_ID, new Writer().list(this.primes, (w, p) => w.int(p)).finish());
    const p = this.saving.then(run, run);
    this.saving = p.catch(() => undefined);
    return p;
  }
}
