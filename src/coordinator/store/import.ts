/**
 * Moving an embedded coordinator's wallet registry (its wallets.jsonl) into PostgreSQL, so that
 * the deployment can grow to several coordinators without losing a wallet.
 *
 * One transaction under the registry's write lock: either every wallet is in the database or
 * none. Committed wallets keep their order, labels, keys, idempotency key hashes and archive
 * state. Key generations the file lists as unfinished keep their state: `failed` rows, and
 * interrupted ones as pending rows that no instance owns (so interrupted everywhere), which every
 * coordinator's reconciliation then settles with the nodes as before — an interrupted one may still
 * be recovered (every node committed), a failed one with committed shares is left to the operator. Running it again is
 * harmless: a wallet the database already holds with the same key is skipped; one it holds with
 * other content stops the import (nothing is written), naming the wallet.
 * @module
 */
import type { WalletRegistry } from '../registry.js';
import type { Database } from './database.js';
import { WALLET_WRITE_LOCK, WALLETS_CHANNEL } from './postgres-wallets.js';

export interface ImportResult {
  /** committed wallets written */
  readonly imported: number;
  /** committed wallets the database already held */
  readonly skipped: number;
  /** unfinished key generations written (failed or interrupted), for reconciliation */
  readonly unfinished: number;
}

export class ImportConflictError extends Error {
  override readonly name = 'ImportConflictError';
}

export async function importRegistry(db: Database, file: WalletRegistry): Promise<ImportResult> {
  const committed: ReturnType<WalletRegistry['list']>['wallets'][number][] = [];
  let cursor: string | undefined;
  do {
    const page = file.list({ limit: 100, ...(cursor === undefined ? {} : { cursor }) });
    committed.push(...page.wallets);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  const unfinished = file.pending();
  return db.transaction(async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [WALLET_WRITE_LOCK]);
    let imported = 0;
    let skipped = 0;
    for (const w of committed) {
      const archived = file.isArchived(w.walletId);
      const purged = file.isPurged(w.walletId);
      const existing = (
        await c.query<{ state: string; public_key: string | null; archived: boolean; purged: boolean }>(
          'SELECT state, public_key, archived, purged FROM wallets WHERE wallet_id = $1',
          [w.walletId],
        )
      ).rows[0];
      if (existing) {
        if (
          existing.state !== 'committed' ||
          existing.public_key !== w.publicKey ||
          existing.archived !== archived ||
          existing.purged !== purged
        )
          throw new ImportConflictError(
            `wallet ${w.walletId} is in the database with other content (${existing.state}); nothing was imported`,
          );
        skipped++;
        continue;
      }
      await c.query(
        `INSERT INTO wallets (wallet_id, state, label, public_key, created_at, idempotency_key_hash, archived, purged,
           commit_seq, change_seq)
         VALUES ($1, 'committed', $2, $3, $4, $5, $6, $7, nextval('wallet_commit_seq'), nextval('wallet_change_seq'))`,
        [w.walletId, w.label ?? null, w.publicKey, w.createdAt, w.idempotencyKeyHash ?? null, archived, purged],
      );
      imported++;
    }
    let pending = 0;
    for (const p of unfinished) {
      const r = await c.query(
        `INSERT INTO wallets (wallet_id, state, label, started_at, change_seq)
         VALUES ($1, $2, $3, $4, nextval('wallet_change_seq'))
         ON CONFLICT (wallet_id) DO NOTHING`,
        [p.walletId, p.state === 'failed' ? 'failed' : 'pending', p.label ?? null, p.startedAt],
      );
      pending += r.rowCount ?? 0;
    }
    await c.query(`SELECT pg_notify('${WALLETS_CHANNEL}', '')`);
    return { imported, skipped, unfinished: pending };
  });
}
