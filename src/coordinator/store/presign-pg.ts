/**
 * The presignature inventory several coordinators share: the table `presignatures` (migration 4),
 * with the rules of presign-inventory.ts.
 *
 * - A claim is one statement: the oldest ready row of the wallet and signer set, locked with
 *   `FOR UPDATE SKIP LOCKED` and moved to `claimed` in the same UPDATE, so two coordinators
 *   claiming at once get two different rows (or one gets none) and never wait on each other.
 * - A reservation counts the making and ready rows of its wallet and signer set under a
 *   transaction-scoped advisory lock on that pair, so two coordinators never both fill the last gap.
 *   Reservations of a dead coordinator run out (`expires_at`) and are deleted by the next reserve,
 *   as is one set to run longer than RESERVATION_MS (no coordinator writes that: a changed row).
 * - Claimed and discarded rows are kept for `retentionMs` (7 days by default: their ids are refused
 *   if a buggy or malicious path offers them again), then deleted by `sync`.
 * - Sizes are hints read by `sync` (the pool calls it every second) and adjusted by this process's
 *   own adds and claims in between; only a claim decides who gets an entry.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { silentLogger, type Logger } from '../../util/log.js';
import { signersKey, type PoolEntry } from '../pool.js';
import { advisoryKey, type Database } from './database.js';
import {
  entryFromJson,
  entryToJson,
  RESERVATION_MS,
  type PresignInventory,
  type StoredEntry,
} from './presign-inventory.js';

export interface PgInventoryOptions {
  /** how long claimed and discarded rows are kept (default 7 days) */
  readonly retentionMs?: number;
  readonly log?: Logger;
}

interface Count {
  readonly walletId: string;
  readonly signers: readonly number[];
  n: number;
}

const DAY_MS = 24 * 3600_000;
/** Spent rows are pruned at most this often. */
const PRUNE_EVERY_MS = 60_000;

export class PgInventory implements PresignInventory {
  readonly shared = true;
  private counts = new Map<string, Count>();
  private readonly retentionMs: number;
  private readonly log: Logger;
  private prunedAt = 0;

  private constructor(
    private readonly db: Database,
    o: PgInventoryOptions,
  ) {
    this.retentionMs = o.retentionMs ?? 7 * DAY_MS;
    this.log = o.log ?? silentLogger();
  }

  /** Opens the inventory and reads its sizes. @throws StoreUnavailableError */
  static async open(db: Database, o: PgInventoryOptions = {}): Promise<PgInventory> {
    const inv = new PgInventory(db, o);
    await inv.sync();
    return inv;
  }

  get location(): string {
    return this.db.location;
  }

  size(walletId: string, signers: readonly number[]): number {
    return this.counts.get(`${walletId}/${signersKey(signers)}`)?.n ?? 0;
  }

  sizesBySigners(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.counts.values()) out.set(signersKey(c.signers), (out.get(signersKey(c.signers)) ?? 0) + c.n);
    return out;
  }

  stocked(): string[] {
    return [...new Set([...this.counts.values()].filter((c) => c.n > 0).map((c) => c.walletId))];
  }

  async add(entry: PoolEntry, options: { claimed?: boolean; reservation?: string } = {}): Promise<boolean> {
    const json = entryToJson(entry, Date.now());
    const added = await this.db.transaction(async (c) => {
      if (options.reservation !== undefined)
        await c.query(`DELETE FROM presignatures WHERE id = $1 AND state = 'making'`, [options.reservation]);
      const r = await c.query(
        `INSERT INTO presignatures (id, wallet_id, signers, state, entry, instance_id)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
        [
          entry.id,
          entry.walletId,
          signersKey(entry.signers),
          options.claimed ? 'claimed' : 'ready',
          JSON.stringify(json),
          this.db.instanceId,
        ],
      );
      return r.rowCount === 1;
    });
    if (added && !options.claimed) this.adjust(entry.walletId, entry.signers, +1);
    return added;
  }

  async claim(walletId: string, signers: readonly number[]): Promise<StoredEntry | undefined> {
    for (;;) {
      const r = await this.db.query<{ id: string; entry: unknown }>(
        `UPDATE presignatures SET state = 'claimed', changed_at = now(), instance_id = $3
         WHERE id = (SELECT id FROM presignatures WHERE wallet_id = $1 AND signers = $2 AND state = 'ready'
                     ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id, entry`,
        [walletId, signersKey(signers), this.db.instanceId],
      );
      const row = r.rows[0];
      if (!row) {
        this.counts.delete(`${walletId}/${signersKey(signers)}`);
        return undefined;
      }
      this.adjust(walletId, signers, -1);
      try {
        const entry = entryFromJson(row.entry);
        if (entry.id !== row.id || entry.walletId !== walletId || signersKey(entry.signers) !== signersKey(signers))
          throw new Error('the row does not describe itself');
        return { ...entry, shared: true };
      } catch (e) {
        // claimed, so never offered again; the next one may be sound
        this.log.error({ presignatureId: row.id, err: (e as Error).message }, 'presignature inventory: unreadable row');
      }
    }
  }

  async reserve(walletId: string, signers: readonly number[], target: number): Promise<string | undefined> {
    const key = signersKey(signers);
    return this.db.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [advisoryKey(`presign/${walletId}/${key}`).toString()]);
      // Run out, or set to run longer than any coordinator reserves (a row changed in the database:
      // kept, it would keep this pair unstocked for good, every request then waiting for a presign).
      // The bound is on the clock, not now(): that is this transaction's start, before the wait for
      // the lock, and a reservation made meanwhile runs out later than now() + RESERVATION_MS.
      await c.query(
        `DELETE FROM presignatures WHERE wallet_id = $1 AND signers = $2 AND state = 'making'
           AND (expires_at < now() OR expires_at > clock_timestamp() + $3 * interval '1 millisecond')`,
        [walletId, key, RESERVATION_MS],
      );
      const r = await c.query<{ n: string }>(
        `SELECT count(*) AS n FROM presignatures WHERE wallet_id = $1 AND signers = $2 AND state IN ('making', 'ready')`,
        [walletId, key],
      );
      if (Number(r.rows[0]?.n ?? 0) >= target) return undefined;
      const id = `r:${randomUUID()}`;
      await c.query(
        `INSERT INTO presignatures (id, wallet_id, signers, state, instance_id, expires_at)
         VALUES ($1, $2, $3, 'making', $4, now() + $5 * interval '1 millisecond')`,
        [id, walletId, key, this.db.instanceId, RESERVATION_MS],
      );
      return id;
    });
  }

  async release(reservation: string): Promise<void> {
    await this.db.query(`DELETE FROM presignatures WHERE id = $1 AND state = 'making'`, [reservation]);
  }

  async discard(walletId?: string): Promise<number> {
    const r = await this.db.query(
      `UPDATE presignatures SET state = 'discarded', changed_at = now()
       WHERE state = 'ready' AND ($1::text IS NULL OR wallet_id = $1)`,
      [walletId ?? null],
    );
    for (const [k, c] of this.counts) if (walletId === undefined || c.walletId === walletId) this.counts.delete(k);
    return r.rowCount ?? 0;
  }

  async dropState(walletId: string, state: string): Promise<number> {
    const r = await this.db.query(
      `UPDATE presignatures SET state = 'discarded', changed_at = now()
       WHERE wallet_id = $1 AND state = 'ready' AND entry->>'state' = $2`,
      [walletId, state],
    );
    await this.sync();
    return r.rowCount ?? 0;
  }

  async expire(ageMs: number): Promise<number> {
    const r = await this.db.query(
      `UPDATE presignatures SET state = 'discarded', changed_at = now()
       WHERE state = 'ready' AND created_at < now() - $1 * interval '1 millisecond'`,
      [ageMs],
    );
    if ((r.rowCount ?? 0) > 0) await this.sync();
    return r.rowCount ?? 0;
  }

  async sync(): Promise<void> {
    const r = await this.db.query<{ wallet_id: string; signers: string; n: string }>(
      `SELECT wallet_id, signers, count(*) AS n FROM presignatures WHERE state = 'ready' GROUP BY wallet_id, signers`,
    );
    const counts = new Map<string, Count>();
    for (const row of r.rows) {
      const signers = row.signers.split('-').map(Number);
      counts.set(`${row.wallet_id}/${row.signers}`, { walletId: row.wallet_id, signers, n: Number(row.n) });
    }
    this.counts = counts;
    if (Date.now() - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = Date.now();
      await this.db.query(
        `DELETE FROM presignatures WHERE (state IN ('claimed', 'discarded') AND changed_at < now() - $1 * interval '1 millisecond')
            OR (state = 'making' AND (expires_at < now() OR expires_at > clock_timestamp() + $2 * interval '1 millisecond'))`,
        [this.retentionMs, RESERVATION_MS],
      );
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private adjust(walletId: string, signers: readonly number[], by: number): void {
    const k = `${walletId}/${signersKey(signers)}`;
    const c = this.counts.get(k) ?? { walletId, signers: [...signers], n: 0 };
    c.n = Math.max(0, c.n + by);
    if (c.n === 0) this.counts.delete(k);
    else this.counts.set(k, c);
  }
}
