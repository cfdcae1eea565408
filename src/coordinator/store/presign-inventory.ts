/**
 * The presignature inventory: the public parts of the presignatures the nodes hold ready, by
 * wallet and signer set, and the claims on them. The pool (src/coordinator/pool.ts) decides what
 * to make and when; the inventory is what survives a coordinator restart and what several
 * coordinators share, so a presignature stocked by one is signed with by any, exactly once.
 *
 * Three implementations with one set of rules (test/coordinator/store/presign-conformance.test.ts):
 * `MemoryInventory` (no durability: tests, and the base of the file), `FileInventory` (embedded:
 * a journal in the coordinator's data directory, presign-file.ts) and `PgInventory` (the
 * PostgreSQL table several coordinators share, presign-pg.ts).
 *
 * The rules:
 * - **A claim hands an entry out once.** Claimed entries are never handed out again, by this
 *   coordinator or another; the nodes' durable used-markers stay the last line of defence
 *   (docs/security.md A10), and the claim keeps a coordinator from ever asking twice.
 * - **An id is admitted once.** An entry whose id the inventory has recorded before (ready,
 *   claimed or discarded) is refused: the table remembers spent ids for its retention (7 days),
 *   the file those of the journal it opened plus the current run's (up to 100 000).
 * - **Making is reserved.** Before a background presign starts, `reserve` checks that ready plus
 *   reserved entries of that wallet and signer set are under the target, and counts the new one
 *   in; `fill` turns the reservation into the entry, `release` gives it back. Several coordinators
 *   filling one wallet therefore make what is missing once, not once each. A reservation whose
 *   coordinator died runs out (RESERVATION_MS).
 * @module
 */
import { z } from 'zod';
import { decodePresignaturePublic, encodePresignaturePublic } from '../../protocol/storage-format.js';
import { signersKey, type PoolEntry } from '../pool.js';

/** How long a reservation holds before another coordinator may make what it was for. */
export const RESERVATION_MS = 120_000;

/** An entry with the time it was recorded (ms since the epoch). */
export interface StoredEntry extends PoolEntry {
  readonly createdAt: number;
}

export interface PresignInventory {
  /** what it is, for logs (a path, or the database's host and name: never a credential) */
  readonly location: string;
  /** true when other coordinators write it too: `sync` then reads their changes */
  readonly shared: boolean;
  /** Ready entries of a wallet and signer set, as last known here (a hint: claims decide). */
  size(walletId: string, signers: readonly number[]): number;
  /** Ready entries by signer set, summed over wallets, as last known here (metrics). */
  sizesBySigners(): Map<string, number>;
  /** Wallets with ready entries, as last known here (the pool keeps them stocked after a restart). */
  stocked(): string[];
  /**
   * Records a fresh entry as ready, or as claimed at once (`claimed`: an on-demand presignature
   * handed straight to its request). With `reservation`, that reservation becomes the entry.
   * Resolves false, recording nothing, when the id was recorded before.
   */
  add(entry: PoolEntry, options?: { claimed?: boolean; reservation?: string }): Promise<boolean>;
  /** Takes the oldest ready entry of this wallet and signer set, once for everybody; undefined if none. */
  claim(walletId: string, signers: readonly number[]): Promise<StoredEntry | undefined>;
  /** A reservation to make one more for this wallet and signer set, or undefined when ready + reserved ≥ target. */
  reserve(walletId: string, signers: readonly number[], target: number): Promise<string | undefined>;
  /** Gives a reservation back (its presign failed or was not admitted). */
  release(reservation: string): Promise<void>;
  /** Discards the ready entries of a wallet, or of every wallet (the nodes burnt them); resolves how many. */
  discard(walletId?: string): Promise<number>;
  /** Discards a wallet's ready entries made under `state`; resolves how many. */
  dropState(walletId: string, state: string): Promise<number>;
  /** Reads what other coordinators changed (a no-op when not shared). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** An entry as stored: the nodes' encoded public presignature and where it belongs. */
export const storedEntrySchema = z.object({
  walletId: z.string().min(1).max(64),
  signers: z.array(z.number().int().min(0).max(255)).min(1).max(255),
  presignature: z.string().min(1).max(4096),
  auxId: z.string().max(128).optional(),
  state: z.string().max(256).optional(),
  createdAt: z.number().int().nonnegative(),
});
export type StoredEntryJson = z.infer<typeof storedEntrySchema>;

export function entryToJson(e: PoolEntry, createdAt: number): StoredEntryJson {
  return {
    walletId: e.walletId,
    signers: [...e.signers],
    presignature: Buffer.from(encodePresignaturePublic(e.pub)).toString('base64'),
    ...(e.auxId === undefined ? {} : { auxId: e.auxId }),
    ...(e.state === undefined ? {} : { state: e.state }),
    createdAt,
  };
}

/** The entry a stored record describes; throws unless it decodes and names its own signers. */
export function entryFromJson(json: unknown): StoredEntry {
  const j = storedEntrySchema.parse(json);
  const pub = decodePresignaturePublic(Uint8Array.from(Buffer.from(j.presignature, 'base64')));
  if (signersKey(pub.signers) !== signersKey(j.signers)) throw new Error('stored presignature names other signers');
  return {
    walletId: j.walletId,
    signers: j.signers,
    id: Buffer.from(pub.id).toString('hex'),
    pub,
    ...(j.auxId === undefined ? {} : { auxId: j.auxId }),
    ...(j.state === undefined ? {} : { state: j.state }),
    createdAt: j.createdAt,
  };
}

const key = (walletId: string, signers: readonly number[]): string => `${walletId}/${signersKey(signers)}`;

/** Ids remembered to refuse a repeat; beyond this many the oldest are forgotten. */
const SEEN_CAP = 100_000;

/**
 * The rules in memory, for one coordinator. `FileInventory` keeps the same state and journals each
 * change; nothing here is durable on its own.
 */
export class MemoryInventory implements PresignInventory {
  readonly shared: boolean = false;
  protected readonly ready = new Map<string, StoredEntry[]>();
  protected readonly seen = new Set<string>();
  private readonly reserved = new Map<string, string>(); // reservation → key
  private nextReservation = 0;

  constructor(readonly location = 'memory') {}

  size(walletId: string, signers: readonly number[]): number {
    return this.ready.get(key(walletId, signers))?.length ?? 0;
  }

  sizesBySigners(): Map<string, number> {
    const out = new Map<string, number>();
    for (const list of this.ready.values()) {
      const first = list[0];
      if (first) out.set(signersKey(first.signers), (out.get(signersKey(first.signers)) ?? 0) + list.length);
    }
    return out;
  }

  stocked(): string[] {
    return [...new Set([...this.ready.values()].flatMap((l) => (l[0] ? [l[0].walletId] : [])))];
  }

  add(entry: PoolEntry, options: { claimed?: boolean; reservation?: string } = {}): Promise<boolean> {
    if (options.reservation !== undefined) this.reserved.delete(options.reservation);
    if (this.seen.has(entry.id)) return Promise.resolve(false);
    const stored: StoredEntry = { ...entry, createdAt: Date.now() };
    this.remember(entry.id);
    if (!options.claimed) this.push(stored);
    return this.journal({ op: options.claimed ? 'claimed' : 'add', entry: stored }).then(() => true);
  }

  claim(walletId: string, signers: readonly number[]): Promise<StoredEntry | undefined> {
    const k = key(walletId, signers);
    const list = this.ready.get(k);
    const entry = list?.shift();
    if (list && list.length === 0) this.ready.delete(k);
    if (!entry) return Promise.resolve(undefined);
    // handed out now, synchronously; the journal line only spares a restart one refused offer
    return this.journal({ op: 'claim', id: entry.id }).then(() => entry);
  }

  reserve(walletId: string, signers: readonly number[], target: number): Promise<string | undefined> {
    const k = key(walletId, signers);
    let reservedHere = 0;
    for (const r of this.reserved.values()) if (r === k) reservedHere++;
    if (this.size(walletId, signers) + reservedHere >= target) return Promise.resolve(undefined);
    const id = `r${++this.nextReservation}`;
    this.reserved.set(id, k);
    return Promise.resolve(id);
  }

  release(reservation: string): Promise<void> {
    this.reserved.delete(reservation);
    return Promise.resolve();
  }

  discard(walletId?: string): Promise<number> {
    return this.dropWhere((e) => walletId === undefined || e.walletId === walletId);
  }

  dropState(walletId: string, state: string): Promise<number> {
    return this.dropWhere((e) => e.walletId === walletId && e.state === state);
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** What a durable subclass writes for each change (nothing here). */
  protected journal(_change: JournalChange): Promise<void> {
    return Promise.resolve();
  }

  protected push(e: StoredEntry): void {
    const k = key(e.walletId, e.signers);
    const list = this.ready.get(k) ?? [];
    list.push(e);
    this.ready.set(k, list);
  }

  protected remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > SEEN_CAP) this.seen.delete(this.seen.values().next().value as string);
  }

  private dropWhere(drop: (e: StoredEntry) => boolean): Promise<number> {
    const ids: string[] = [];
    for (const [k, list] of this.ready) {
      const kept = list.filter((e) => !drop(e) || (ids.push(e.id), false));
      if (kept.length === 0) this.ready.delete(k);
      else this.ready.set(k, kept);
    }
    if (ids.length === 0) return Promise.resolve(0);
    return this.journal({ op: 'discard', ids }).then(() => ids.length);
  }
}

/** One change to the inventory, as the embedded journal records it. */
export type JournalChange =
  | { readonly op: 'add' | 'claimed'; readonly entry: StoredEntry }
  | { readonly op: 'claim'; readonly id: string }
  | { readonly op: 'discard'; readonly ids: readonly string[] };
