/**
 * The wallet registry in PostgreSQL, shared by every coordinator of a group (the `WalletStore` of
 * registry.ts; the file is the other one).
 *
 * The database decides: every write is one transaction that checks the row it changes (a begin
 * inserts only a new id, a commit changes only a pending row, a purge only an archived one) and
 * takes the next change number under one advisory lock, so changes are numbered in commit order.
 * Each process keeps a copy of the registry (public data only) and follows the changes: it reads
 * the rows whose change number is above the last one it applied — after each of its own writes,
 * when another coordinator NOTIFYs a change, every `followMs` in case a notification was lost, and
 * on `catchUp`. Because numbers are committed in order, "above the last applied" never skips a row.
 *
 * Idempotency keys: a begin stores the key's hash on the pending row (unique), so two coordinators
 * given the same Idempotency-Key at once run one key generation; the other request sees a conflict.
 * A failed or resolved row gives its key back.
 *
 * Running or interrupted: a pending row names the coordinator instance running its key generation
 * (instances.ts). It is `running` while that instance is alive, `interrupted` once it is not —
 * and then any coordinator may reconcile it.
 *
 * Claims (fencing): an instance whose liveness ran out may only be paused, and wake up with its key
 * generation still running. So a reconciliation first claims the row — one transaction that checks
 * the owner is not alive and makes the row the claimant's (`owner_instance`, `claimed_at`) — and
 * only then acts on the nodes. Commit, abandon and resolve check in their own transaction that the
 * row is this instance's: the former owner's commit or abandon is refused (KeygenTakenOverError),
 * so it never answers a wallet the claimant resolved and never overwrites the claimant's outcome. A
 * commit of the very key the claimant recovered is the same wallet and is accepted, unless it was
 * archived since. A claimed row is `running` at the other coordinators while its claimant lives,
 * and `interrupted` at the claimant (whose next reconciliation takes it up again if this one did
 * not finish) and everywhere once the claimant is dead.
 *
 * Freshness: `ensureCurrent` answers from the copy when its last read of the database began within
 * CURRENT_COPY_MS (no query: the follow timer and notifications keep it so while the database
 * answers), else catches up first; a database that cannot be read then is a 503. Signing relies on
 * it, so an archive made at another coordinator stops signing here within that bound, also when
 * this coordinator has lost the database but not the nodes.
 * @module
 */
import type { PoolClient } from 'pg';
import { z } from 'zod';
import { walletIdSchema } from '../../rpc/messages.js';
import { performance } from 'node:perf_hooks';
import { silentLogger, type Logger } from '../../util/log.js';
import { WalletPurgedError } from '../errors.js';
import {
  CURRENT_COPY_MS,
  InvalidCursorError,
  KeygenTakenOverError,
  MAX_LABEL_LENGTH,
  MAX_PAGE_SIZE,
  RegistryConflictError,
  RegistryUnavailableError,
  type Page,
  type PendingWallet,
  type WalletRecord,
  type WalletStatus,
  type WalletStore,
} from '../registry.js';
import { advisoryKey, isUnavailable, type Database, type Queryable } from './database.js';
import type { CoordinatorInstances } from './instances.js';

/** NOTIFY channel of registry changes */
export const WALLETS_CHANNEL = 'mpc_engine_wallets';
/** the advisory lock every registry write holds (change numbers commit in order) */
export const WALLET_WRITE_LOCK = advisoryKey('wallet-writes').toString();

interface Row {
  wallet_id: string;
  state: 'pending' | 'failed' | 'committed' | 'resolved';
  label: string | null;
  public_key: string | null;
  started_at: Date | null;
  created_at: Date | null;
  idempotency_key_hash: string | null;
  archived: boolean;
  purged: boolean;
  owner_instance: string | null;
  claimed_at: Date | null;
  commit_seq: string | null;
  change_seq: string;
}

const recordSchema = z.object({
  walletId: walletIdSchema,
  label: z.string().max(MAX_LABEL_LENGTH).optional(),
  publicKey: z.string().regex(/^0[23][0-9a-f]{64}$/),
  createdAt: z.iso.datetime(),
  idempotencyKeyHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
const pendingSchema = z.object({
  walletId: walletIdSchema,
  label: z.string().max(MAX_LABEL_LENGTH).optional(),
  startedAt: z.iso.datetime(),
  idempotencyKeyHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

function encodeCursor(seq: bigint): string {
  return Buffer.from(`s${seq}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): bigint {
  const m = /^s(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m || encodeCursor(BigInt(m[1] as string)) !== cursor) throw new InvalidCursorError('invalid cursor');
  return BigInt(m[1] as string);
}

export interface PostgresWalletsOptions {
  readonly instances: CoordinatorInstances;
  readonly log?: Logger;
  /** how often the copy is brought up to date without a notification (default 1 s) */
  readonly followMs?: number;
}

export class PostgresWalletRegistry implements WalletStore {
  /** committed wallets in commit order, with their commit numbers */
  private readonly records: WalletRecord[] = [];
  private readonly commitSeqs: bigint[] = [];
  private readonly byId = new Map<string, WalletRecord>();
  private readonly byIdempotency = new Map<string, WalletRecord>();
  private readonly unfinished = new Map<
    string,
    { label?: string; startedAt: string; failed: boolean; owner: string | undefined; claimed: boolean }
  >();
  private readonly resolved = new Set<string>();
  private readonly archivedIds = new Set<string>();
  private readonly purgedIds = new Set<string>();
  private lastChange = 0n;
  /** performance.now() when the last catch-up that succeeded began its read */
  private readAt = Number.NEGATIVE_INFINITY;
  private following: Promise<void> = Promise.resolve();
  /** the catch-up waiting for the one under way, if any */
  private queued: Promise<void> | undefined;
  /** ends the current LISTEN connection */
  private listener: { end(): void } | undefined;
  private listening: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private contact = true;
  private readonly log: Logger;

  private constructor(
    private readonly db: Database,
    private readonly o: PostgresWalletsOptions,
  ) {
    this.log = o.log ?? silentLogger();
  }

  /** Loads the registry and starts following it. @throws StoreUnavailableError */
  static async open(db: Database, o: PostgresWalletsOptions): Promise<PostgresWalletRegistry> {
    const registry = new PostgresWalletRegistry(db, o);
    await registry.catchUp();
    registry.timer = setInterval(() => void registry.catchUp().catch(() => undefined), o.followMs ?? 1_000);
    registry.timer.unref();
    registry.listening = registry.listen();
    return registry;
  }

  get location(): string {
    return this.db.location;
  }

  get count(): number {
    return this.records.length;
  }

  get writable(): boolean {
    return !this.closed;
  }

  /** Whether the last look at the database (a catch-up, at least every `followMs`) reached it. */
  get reachable(): boolean {
    return this.contact;
  }

  get(walletId: string): WalletRecord | undefined {
    return this.byId.get(walletId);
  }

  byIdempotencyKeyHash(hash: string): WalletRecord | undefined {
    return this.byIdempotency.get(hash);
  }

  pending(): PendingWallet[] {
    return [...this.unfinished.entries()]
      .flatMap(([walletId, p]): PendingWallet[] => {
        const state = this.pendingState(p);
        return state === 'running'
          ? []
          : [{ walletId, ...(p.label === undefined ? {} : { label: p.label }), startedAt: p.startedAt, state }];
      })
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  status(walletId: string): WalletStatus | undefined {
    if (this.byId.has(walletId)) return 'committed';
    const p = this.unfinished.get(walletId);
    if (p) return this.pendingState(p);
    return this.resolved.has(walletId) ? 'resolved' : undefined;
  }

  isArchived(walletId: string): boolean {
    return this.archivedIds.has(walletId);
  }

  isPurged(walletId: string): boolean {
    return this.purgedIds.has(walletId);
  }

  pendingRecord(walletId: string): { label?: string; startedAt: string } | undefined {
    const p = this.unfinished.get(walletId);
    return p && { ...(p.label === undefined ? {} : { label: p.label }), startedAt: p.startedAt };
  }

  list(options: { limit?: number; cursor?: string } = {}): Page {
    const limit = options.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE)
      throw new RangeError(`limit must be 1–${MAX_PAGE_SIZE}`);
    let from = 0;
    if (options.cursor !== undefined) {
      const after = decodeCursor(options.cursor);
      // the first wallet committed after the cursor's (binary search: commit numbers ascend)
      let lo = 0;
      let hi = this.commitSeqs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((this.commitSeqs[mid] as bigint) <= after) lo = mid + 1;
        else hi = mid;
      }
      from = lo;
    }
    const wallets = this.records.slice(from, from + limit);
    const end = from + wallets.length;
    return {
      wallets,
      nextCursor: end < this.records.length ? encodeCursor(this.commitSeqs[end - 1] as bigint) : undefined,
    };
  }

  begin(pending: { walletId: string; label?: string; startedAt: string; idempotencyKeyHash?: string }): Promise<void> {
    const parsed = pendingSchema.safeParse(pending);
    if (!parsed.success)
      return Promise.reject(new RangeError(`invalid pending wallet: ${z.prettifyError(parsed.error)}`));
    return this.write(async (c) => {
      const r = await c.query(
        `INSERT INTO wallets (wallet_id, state, label, started_at, idempotency_key_hash, owner_instance, change_seq)
         VALUES ($1, 'pending', $2, $3, $4, $5, nextval('wallet_change_seq'))
         ON CONFLICT DO NOTHING`,
        [
          pending.walletId,
          pending.label ?? null,
          pending.startedAt,
          pending.idempotencyKeyHash ?? null,
          this.db.instanceId,
        ],
      );
      if (r.rowCount !== 1)
        throw new RegistryConflictError(`wallet ${pending.walletId} or its idempotency key is already registered`);
    });
  }

  abandon(walletId: string): Promise<void> {
    return this.write(async (c) => {
      const row = await lockedRow(c, walletId);
      if (row && this.lostTo(row)) throw this.takenOver(walletId);
      if (row?.state !== 'pending' || row.owner_instance !== this.db.instanceId || row.claimed_at !== null)
        throw new RangeError(`wallet ${walletId} is not being created`);
      await c.query(
        `UPDATE wallets SET state = 'failed', idempotency_key_hash = NULL, change_seq = nextval('wallet_change_seq')
         WHERE wallet_id = $1`,
        [walletId],
      );
    });
  }

  claim(walletId: string): Promise<boolean> {
    let claimed = false;
    return this.write(async (c) => {
      const row = await lockedRow(c, walletId);
      if (row?.state !== 'pending') return;
      const mine = row.owner_instance === this.db.instanceId;
      // this instance's own key generation is running, not interrupted; another's only once it is dead
      if (mine ? row.claimed_at === null : await this.ownerAlive(c, row)) return;
      claimed = true;
      if (mine) return;
      await c.query(
        `UPDATE wallets SET owner_instance = $2, claimed_at = now(), change_seq = nextval('wallet_change_seq')
         WHERE wallet_id = $1`,
        [walletId, this.db.instanceId],
      );
    }).then(() => claimed);
  }

  append(record: WalletRecord): Promise<WalletRecord> {
    const parsed = recordSchema.strict().safeParse(stripUndefined(record));
    if (!parsed.success)
      return Promise.reject(new RangeError(`invalid wallet record: ${z.prettifyError(parsed.error)}`));
    const checked = parsed.data as WalletRecord;
    return this.write(async (c) => {
      const row = await lockedRow(c, checked.walletId);
      // the same key committed already: another coordinator's reconciliation recovered this wallet
      // while its key generation was finishing here (the nodes hold one key: nothing differs) —
      // unless it was archived since: then this is no wallet to answer as created
      if (row?.state === 'committed' && row.public_key === checked.publicKey && !row.archived) return;
      if (row && this.lostTo(row)) throw this.takenOver(checked.walletId);
      // a key generation another instance runs, or one left interrupted: only its owner or the
      // reconciliation that claimed it commits it
      if (row?.state === 'pending' && row.owner_instance !== this.db.instanceId)
        throw new RegistryConflictError(
          `wallet ${checked.walletId} is being created by another coordinator, or must be claimed first`,
        );
      if (row?.state === 'committed')
        throw new RegistryConflictError(`wallet ${checked.walletId} is already registered`);
      if (row?.state === 'resolved')
        throw new RegistryConflictError(`wallet ${checked.walletId} was resolved without a commit`);
      if (row?.state === 'failed') throw new RegistryConflictError(`wallet ${checked.walletId} was abandoned`);
      if (checked.idempotencyKeyHash !== undefined) {
        const other = await c.query('SELECT 1 FROM wallets WHERE idempotency_key_hash = $1 AND wallet_id <> $2', [
          checked.idempotencyKeyHash,
          checked.walletId,
        ]);
        if (other.rowCount !== 0) throw new RegistryConflictError('idempotency key already used');
      }
      const values = [
        checked.walletId,
        checked.label ?? null,
        checked.publicKey,
        checked.createdAt,
        checked.idempotencyKeyHash ?? null,
      ];
      if (row)
        await c.query(
          // a recovered wallet (reconcile.ts commits it from the pending record, which has no key)
          // keeps the key its begin reserved: a retry with that key is answered this wallet
          `UPDATE wallets SET state = 'committed', label = $2, public_key = $3, created_at = $4,
             idempotency_key_hash = COALESCE($5, idempotency_key_hash), commit_seq = nextval('wallet_commit_seq'),
             change_seq = nextval('wallet_change_seq')
           WHERE wallet_id = $1`,
          values,
        );
      // a record without a pending one: an import (the registry file moved into the database)
      else
        await c.query(
          `INSERT INTO wallets (wallet_id, state, label, public_key, created_at, idempotency_key_hash, commit_seq, change_seq)
           VALUES ($1, 'committed', $2, $3, $4, $5, nextval('wallet_commit_seq'), nextval('wallet_change_seq'))`,
          values,
        );
    }).then(() => this.byId.get(checked.walletId) ?? checked);
  }

  resolve(walletId: string): Promise<void> {
    return this.write(async (c) => {
      const row = await lockedRow(c, walletId);
      // a pending row only once this instance claimed it (its owner was dead then)
      const unfinished =
        row?.state === 'failed' ||
        (row?.state === 'pending' && row.owner_instance === this.db.instanceId && row.claimed_at !== null);
      if (!unfinished)
        throw new RangeError(`wallet ${walletId} is not an unfinished key generation this coordinator claimed`);
      await c.query(
        `UPDATE wallets SET state = 'resolved', idempotency_key_hash = NULL, change_seq = nextval('wallet_change_seq')
         WHERE wallet_id = $1`,
        [walletId],
      );
    });
  }

  setArchived(walletId: string, archived: boolean): Promise<boolean> {
    let changed = false;
    return this.write(async (c) => {
      const row = await lockedRow(c, walletId);
      if (row?.state !== 'committed') throw new RangeError(`wallet ${walletId} is not committed`);
      if (!archived && row.purged) throw new WalletPurgedError(walletId);
      changed = row.archived !== archived;
      if (changed)
        await c.query(
          `UPDATE wallets SET archived = $2, change_seq = nextval('wallet_change_seq') WHERE wallet_id = $1`,
          [walletId, archived],
        );
    }).then(() => changed);
  }

  purge(walletId: string): Promise<boolean> {
    let changed = false;
    return this.write(async (c) => {
      const row = await lockedRow(c, walletId);
      if (row?.state !== 'committed') throw new RangeError(`wallet ${walletId} is not committed`);
      changed = !row.purged;
      if (changed && !row.archived)
        throw new RangeError(`wallet ${walletId} is active: archive it first (DELETE /v1/wallets/${walletId})`);
      if (changed)
        await c.query(
          `UPDATE wallets SET purged = true, change_seq = nextval('wallet_change_seq') WHERE wallet_id = $1`,
          [walletId],
        );
    }).then(() => changed);
  }

  /**
   * Reads the changes after the last one applied, in order, and applies them. Runs one at a time;
   * a call while one runs waits for it and then runs again (a change may have come in between).
   * @throws StoreUnavailableError
   */
  catchUp(): Promise<void> {
    // A catch-up that has not started yet reads after this call: it serves this caller too (a burst
    // of notifications costs one query, not one each).
    if (this.queued) return this.queued;
    const run = async (): Promise<void> => {
      this.queued = undefined;
      if (this.closed) return;
      let rows: Row[];
      // before the query: the read sees every change committed before this moment
      const began = performance.now();
      try {
        rows = (
          await this.db.query<Row>('SELECT * FROM wallets WHERE change_seq > $1 ORDER BY change_seq', [
            this.lastChange.toString(),
          ])
        ).rows;
        this.contact = true;
      } catch (e) {
        if (isUnavailable(e)) this.contact = false;
        throw e;
      }
      for (const row of rows) {
        const issue = rowIssue(row);
        // a row no coordinator writes (changed in the database): skipped, so it holds up no later
        // change and no start; an unreadable row of a wallet already known changes nothing here
        if (issue === undefined) this.apply(row);
        else
          this.log.error(
            { walletId: row.wallet_id.slice(0, 80), changeSeq: row.change_seq, issue },
            'wallet registry: a row that no coordinator could have written is skipped (changed in the database?)',
          );
        this.lastChange = BigInt(row.change_seq);
      }
      this.readAt = Math.max(this.readAt, began);
      // A pending row whose owner is not alive as of the last liveness read may belong to a
      // coordinator that started since (renewals are 5 s apart): read liveness again before this
      // copy calls its key generation interrupted, which invites a reconciliation to archive it.
      const owners = rows.flatMap((r) =>
        r.state === 'pending' && r.owner_instance !== null ? [r.owner_instance] : [],
      );
      if (owners.some((o) => !this.o.instances.isAlive(o))) await this.o.instances.refresh();
    };
    const result = this.following.then(run, run);
    this.queued = result;
    this.following = result.catch(() => undefined);
    return result;
  }

  ensureCurrent(maxAgeMs: number = CURRENT_COPY_MS): Promise<void> {
    // the warm path: one clock read and a comparison
    if (performance.now() - this.readAt <= maxAgeMs) return Promise.resolve();
    if (this.closed) return Promise.reject(new RegistryUnavailableError('the wallet registry is closed'));
    return this.catchUp();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.following;
    this.listener?.end();
    await this.listening;
  }

  private pendingState(p: {
    failed: boolean;
    owner: string | undefined;
    claimed: boolean;
  }): 'running' | 'interrupted' | 'failed' {
    if (p.failed) return 'failed';
    // claimed here: no key generation of this process runs it, its reconciliation settles it
    if (p.claimed && p.owner === this.db.instanceId) return 'interrupted';
    return p.owner !== undefined && this.o.instances.isAlive(p.owner) ? 'running' : 'interrupted';
  }

  /**
   * Whether a row this instance began was taken over by another's reconciliation: it names
   * another owner now (or was settled by it), and was claimed.
   */
  private lostTo(row: Row): boolean {
    return row.claimed_at !== null && row.owner_instance !== this.db.instanceId;
  }

  private takenOver(walletId: string): KeygenTakenOverError {
    return new KeygenTakenOverError(
      `wallet ${walletId}: its key generation was claimed by another coordinator's reconciliation (this one's liveness had run out); not committed nor abandoned here`,
    );
  }

  private async ownerAlive(c: Queryable, row: { owner_instance: string | null }): Promise<boolean> {
    if (row.owner_instance === null) return false;
    if (row.owner_instance === this.db.instanceId) return true;
    const r = await c.query('SELECT 1 FROM coordinator_instances WHERE instance_id = $1 AND alive_until > now()', [
      row.owner_instance,
    ]);
    return r.rowCount !== 0;
  }

  /** One row as it is now in the database, replacing what the copy held for its id. */
  private apply(row: Row): void {
    const id = row.wallet_id;
    this.unfinished.delete(id);
    this.resolved.delete(id);
    if (row.archived) this.archivedIds.add(id);
    else this.archivedIds.delete(id);
    if (row.purged) this.purgedIds.add(id);
    else this.purgedIds.delete(id);
    switch (row.state) {
      case 'pending':
      case 'failed':
        this.unfinished.set(id, {
          ...(row.label === null ? {} : { label: row.label }),
          startedAt: (row.started_at as Date).toISOString(),
          failed: row.state === 'failed',
          owner: row.owner_instance ?? undefined,
          claimed: row.claimed_at !== null,
        });
        return;
      case 'resolved':
        this.resolved.add(id);
        return;
      case 'committed': {
        if (this.byId.has(id)) return; // committed wallets never change but for the flags above
        const record: WalletRecord = {
          walletId: id,
          ...(row.label === null ? {} : { label: row.label }),
          publicKey: row.public_key as string,
          createdAt: (row.created_at as Date).toISOString(),
          ...(row.idempotency_key_hash === null ? {} : { idempotencyKeyHash: row.idempotency_key_hash }),
        };
        this.records.push(record);
        this.commitSeqs.push(BigInt(row.commit_seq as string));
        this.byId.set(id, record);
        if (record.idempotencyKeyHash !== undefined) this.byIdempotency.set(record.idempotencyKeyHash, record);
      }
    }
  }

  /**
   * One write transaction under the registry's advisory lock, with the NOTIFY that wakes the other
   * coordinators; then this copy catches up (so the write is visible here when it resolves).
   */
  private async write(body: (c: Queryable) => Promise<void>): Promise<void> {
    if (this.closed) throw new RegistryUnavailableError('the wallet registry is closed');
    try {
      await this.db.transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [WALLET_WRITE_LOCK]);
        await body(c);
        await c.query(`SELECT pg_notify('${WALLETS_CHANNEL}', '')`);
      });
    } catch (e) {
      if (isUnavailable(e))
        this.log.warn({ err: (e as Error).message }, 'wallet registry: a write did not reach the database');
      throw e;
    }
    // Committed: a copy that cannot catch up now does not make the write a failure (the caller
    // would report a wallet as not created that is); the next catch-up brings it in.
    await this.catchUp().catch((e: unknown) =>
      this.log.warn({ err: (e as Error).message }, 'wallet registry: written, not yet visible in this copy'),
    );
  }

  /** LISTEN on a connection of its own, reconnecting after a loss; notifications trigger a catch-up. */
  private async listen(): Promise<void> {
    while (!this.closed) {
      let client: PoolClient | undefined;
      try {
        client = await this.db.pool.connect();
        const held = client;
        const ended = new Promise<void>((resolve) => {
          // every error is handled: an unhandled 'error' event would end the process
          held.on('error', () => resolve());
          held.on('end', () => resolve());
          this.listener = { end: () => resolve() };
        });
        if (this.closed) break;
        held.on('notification', () => void this.catchUp().catch(() => undefined));
        await held.query(`LISTEN ${WALLETS_CHANNEL}`);
        await this.catchUp().catch(() => undefined);
        await ended;
      } catch {
        // the database is away: the timer keeps trying the catch-up; listen again shortly
      } finally {
        // destroyed, not returned: a connection that listened must not serve queries
        client?.release(true);
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, 1_000).unref());
    }
  }
}

/** Why a row read from the database cannot be applied (a field a write always sets is missing or malformed), if it cannot. */
function rowIssue(row: Row): string | undefined {
  if (!walletIdSchema.safeParse(row.wallet_id).success) return 'wallet id';
  if (row.label !== null && (typeof row.label !== 'string' || row.label.length > MAX_LABEL_LENGTH)) return 'label';
  const isTime = (d: Date | null): boolean => d instanceof Date && !Number.isNaN(d.getTime());
  switch (row.state) {
    case 'pending':
    case 'failed':
      return isTime(row.started_at) ? undefined : 'started_at';
    case 'committed':
      if (!/^0[23][0-9a-f]{64}$/.test(row.public_key ?? '')) return 'public_key';
      if (!isTime(row.created_at)) return 'created_at';
      if (row.idempotency_key_hash !== null && !/^[0-9a-f]{64}$/.test(row.idempotency_key_hash))
        return 'idempotency_key_hash';
      return row.commit_seq === null ? 'commit_seq' : undefined;
    case 'resolved':
      return undefined;
    default:
      return 'state';
  }
}

/** A wallet's row, locked until the transaction ends (the check and the change see one state). */
async function lockedRow(c: Queryable, walletId: string): Promise<Row | undefined> {
  return (await c.query<Row>('SELECT * FROM wallets WHERE wallet_id = $1 FOR UPDATE', [walletId])).rows[0];
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
