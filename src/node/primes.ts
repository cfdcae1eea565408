/**
 * Safe primes waiting for the next aux-info: four per run (Paillier p, q and ring-Pedersen p̂, q̂),
 * 1536 bits each, from OpenSSL (node:crypto, in libuv's thread pool, so the node keeps serving).
 * They are secrets (they factor the moduli), kept encrypted in the node's store until used.
 *
 * A development option takes them from a file of pre-generated safe primes instead (the test
 * fixtures, made by `test/fixtures/make-safe-primes.ts`), so a local cluster and the integration
 * tests start in seconds; each node takes the four at its own index. Never for production.
 * @module
 */
import { readFileSync } from 'node:fs';
import { Reader, Writer } from '../protocol/codec.js';
import { assertSafePrime, generateSafePrime, SAFE_PRIME_BITS } from '../paillier/primes.js';
import type { RecordStore } from './storage/store.js';

export const PRIMES_PER_AUX = 4;
const RECORD_ID = 'pending-primes';

export interface PrimeSourceOptions {
  store: RecordStore;
  /** this node's index (selects its primes in a development file) */
  index: number;
  /** development only: JSON file { "bits1536": ["0x…", …] } of pre-generated safe primes */
  devFile?: string | undefined;
  onProgress?: (ready: number, needed: number) => void;
}

export class PrimeSource {
  private primes: bigint[] = [];
  private filling: Promise<void> | undefined;

  private constructor(private readonly o: PrimeSourceOptions) {}

  static async open(o: PrimeSourceOptions): Promise<PrimeSource> {
    const src = new PrimeSource(o);
    const stored = await o.store.get('aux', RECORD_ID);
    if (stored) {
      const r = new Reader(stored);
      src.primes = r.list((x) => x.int(SAFE_PRIME_BITS + 8, 'prime'), { maxCount: 64 }, 'primes');
      r.end('primes');
    }
    return src;
  }

  get ready(): number {
    return this.o.devFile ? PRIMES_PER_AUX : this.primes.length;
  }

  /** Start generating in the background until four are ready (no-op when they are, or with a dev file). */
  fill(): Promise<void> {
    if (this.o.devFile || this.primes.length >= PRIMES_PER_AUX) return Promise.resolve();
    this.filling ??= (async () => {
      while (this.primes.length < PRIMES_PER_AUX) {
        const p = await generateSafePrime(SAFE_PRIME_BITS);
        this.primes.push(p);
        await this.save();
        this.o.onProgress?.(this.primes.length, PRIMES_PER_AUX);
      }
    })().finally(() => {
      this.filling = undefined;
    });
    return this.filling;
  }

  /** Four distinct safe primes for one aux-info run. They stay stored until `consumed()`. */
  async take(): Promise<bigint[]> {
    if (this.o.devFile) {
      const all = (JSON.parse(readFileSync(this.o.devFile, 'utf8')) as { bits1536: string[] }).bits1536.map((h) => BigInt(h));
      const mine = all.slice(PRIMES_PER_AUX * this.o.index, PRIMES_PER_AUX * (this.o.index + 1));
      if (mine.length !== PRIMES_PER_AUX) throw new Error('development primes file has too few primes for this node index');
      mine.forEach((p, k) => assertSafePrime(`development prime ${k}`, p, SAFE_PRIME_BITS));
      return mine;
    }
    await this.fill();
    return this.primes.slice(0, PRIMES_PER_AUX);
  }

  /** The aux-info made with the first four is stored: forget them. */
  async consumed(): Promise<void> {
    if (this.o.devFile) return;
    this.primes = this.primes.slice(PRIMES_PER_AUX);
    await this.save();
  }

  private async save(): Promise<void> {
    await this.o.store.put('aux', RECORD_ID, new Writer().list(this.primes, (w, p) => w.int(p)).finish());
  }
}
