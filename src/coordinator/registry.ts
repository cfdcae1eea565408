/**
 * The wallet registry: the coordinator's only durable state, and public data only — wallet id,
 * label, public key, creation time and a hash of the Idempotency-Key that created it. An
 * append-only JSON-lines file: one record per line, fsynced before the call that writes it
 * resolves, so a wallet the API answered 201 for survives any crash.
 *
 * Wallet creation writes two records (format version 2):
 * - `pending` before key generation runs: it proves the file is writable before any node stores a
 *   share, and names the wallet id the nodes are about to store shares under;
 * - `committed` once every node stored its share, with the public key: the wallet exists;
 * - `abandoned` when key generation fails (best effort: a crash leaves the pending record alone);
 * - `resolved` once a reconciliation (reconcile.ts) has had every node archive what it held of a
 *   pending wallet that can no longer be committed: the id is dead and nothing is left to do.
 * A pending record without its commit is a key generation that may have left shares on nodes that
 * no wallet owns; `pending()` lists them for reconciliation, and the coordinator reports them at
 * start. A reconciliation either commits it (every node holds the same committed share: the
 * wallet is recovered) or resolves it. Version 1 records (one line per wallet, no states) are committed wallets and still load.
 *
 * Archiving: `archived` and `restored` records (with their time) switch a committed wallet off and
 * on again; the last one read wins. An archived wallet stays listed and keeps its shares at the
 * nodes, but the coordinator neither signs with it nor refreshes it. Files without such records
 * load as before (every wallet active).
 *
 * Purging: a `purged` record (with its time) closes an archived wallet for good, once its shares
 * were destroyed at every node (`npm run wallet:purge`): it stays listed with `status: "purged"`,
 * stays archived, and is never restored (a purged wallet has no shares left to sign with). Only an
 * archived wallet can be purged.
 *
 * Failed writes: when a write fails (a full disk, an I/O error) the registry refuses every later
 * wallet creation with a 503 until the coordinator is restarted, which re-reads and repairs the
 * file. Otherwise each later request would run a whole key generation — shares stored on every
 * node — only to fail at the commit and orphan them too.
 *
 * Loading: a crash mid-append leaves at most a last line without its newline; that torn fragment
 * is cut off (the write it belongs to never returned), so the next append starts on a fresh line.
 * A complete line that does not validate — a newer format version, a hand edit, damage — is not a
 * crash artefact: loading stops, naming the file and the line, and never modifies the file, so no
 * wallet is forgotten by a start that guessed wrong.
 *
 * Single writer: one coordinator process owns the file (its data directory's lock); several
 * coordinators share the PostgreSQL store instead (store/postgres-wallets.ts).
 * @module
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { walletIdSchema } from '../rpc/messages.js';
import { ensureDir, errorCode, fsyncDir } from '../util/durable-file.js';
import { silentLogger, type Logger } from '../util/log.js';
import { ServiceError, WalletPurgedError } from './errors.js';

/** The format version written; version 1 files still load. */
export const REGISTRY_VERSION = 2;

export const MAX_LABEL_LENGTH = 128;

/** One wallet, as stored (and nothing secret). */
export interface WalletRecord {
  readonly walletId: string;
  readonly label?: string;
  /** Y, 33-byte compressed SEC1, lower-case hex */
  readonly publicKey: string;
  /** ISO 8601 */
  readonly createdAt: string;
  /** SHA-256 (hex) of the Idempotency-Key of the request that created it */
  readonly idempotencyKeyHash?: string;
}

/** A key generation recorded as started but never committed. */
export interface PendingWallet {
  readonly walletId: string;
  readonly label?: string;
  /** ISO 8601, when key generation was about to start */
  readonly startedAt: string;
  /**
   * `interrupted`: no outcome was recorded (the coordinator stopped or a write failed): nodes
   * may hold complete shares for it. `failed`: key generation failed; nodes may hold shares too.
   */
  readonly state: 'interrupted' | 'failed';
}

const labelSchema = z.string().max(MAX_LABEL_LENGTH);
const publicKeySchema = z.string().regex(/^0[23][0-9a-f]{64}$/);
const keyHashSchema = z.string().regex(/^[0-9a-f]{64}$/);

const walletFields = {
  walletId: walletIdSchema,
  label: labelSchema.optional(),
  publicKey: publicKeySchema,
  createdAt: z.iso.datetime(),
  idempotencyKeyHash: keyHashSchema.optional(),
};

const lineSchema = z.union([
  z.object({ v: z.literal(1), ...walletFields }).strict(),
  z.object({ v: z.literal(2), state: z.literal('committed'), ...walletFields }).strict(),
  z
    .object({
      v: z.literal(2),
      state: z.literal('pending'),
      walletId: walletIdSchema,
      label: labelSchema.optional(),
      startedAt: z.iso.datetime(),
    })
    .strict(),
  z.object({ v: z.literal(2), state: z.literal('abandoned'), walletId: walletIdSchema }).strict(),
  z.object({ v: z.literal(2), state: z.literal('resolved'), walletId: walletIdSchema }).strict(),
  z
    .object({
      v: z.literal(2),
      state: z.enum(['archived', 'restored', 'purged']),
      walletId: walletIdSchema,
      at: z.iso.datetime(),
    })
    .strict(),
]);
type Line = z.infer<typeof lineSchema>;

/** The file holds something other than records and a torn tail; it was not modified. */
export class RegistryCorruptError extends Error {
  override readonly name = 'RegistryCorruptError';
}

/** A wallet id or idempotency key hash that is already registered. */
export class RegistryConflictError extends Error {
  override readonly name = 'RegistryConflictError';
}

/**
 * The registry cannot record wallets: a write failed (this one or an earlier one) and creation is
 * refused until the coordinator restarts. Reads still work. The detail names no file or OS error
 * (those go to the log).
 */
export class RegistryUnavailableError extends ServiceError {
  override readonly name = 'RegistryUnavailableError';
  readonly status = 503;
  readonly problem = 'registry-unavailable';
}

/**
 * A key generation this coordinator began was taken over by another coordinator's reconciliation
 * (its liveness ran out while it ran: a pause, a lost database link), which now owns the pending
 * record: this coordinator may neither commit nor abandon it, and answers no wallet. A retry with
 * the same Idempotency-Key is answered the recovered wallet, or makes a new one if the key
 * generation was resolved.
 */
export class KeygenTakenOverError extends ServiceError {
  override readonly name = 'KeygenTakenOverError';
  readonly status = 503;
  readonly problem = 'keygen-taken-over';
  override readonly retryAfterS = 5;
  override get publicDetail(): string {
    return 'the key generation was taken over by another coordinator after this one stopped renewing its liveness; no wallet is returned here (retry with the same Idempotency-Key)';
  }
}

/** How old a shared store's copy may be when a signature, refresh or reshare relies on it (ms). */
export const CURRENT_COPY_MS = 2_000;

/** A pagination cursor that this registry did not hand out. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

export interface Page {
  readonly wallets: readonly WalletRecord[];
  /** pass back as `cursor` for the next page; undefined on the last page */
  readonly nextCursor: string | undefined;
}

export const MAX_PAGE_SIZE = 100;

/** Cursor = position in the append order (records are never removed, so it stays valid). */
function encodeCursor(position: number): string {
  return Buffer.from(`p${position}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  const m = /^p(\d{1,12})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m || encodeCursor(Number(m[1])) !== cursor) throw new InvalidCursorError('invalid cursor');
  return Number(m[1]);
}

function parseLine(line: string): Line {
  return lineSchema.parse(JSON.parse(line));
}

function committedLine(record: WalletRecord): string {
  const { walletId, label, publicKey, createdAt, idempotencyKeyHash } = record;
  return (
    JSON.stringify({
      v: REGISTRY_VERSION,
      state: 'committed',
      walletId,
      label,
      publicKey,
      createdAt,
      idempotencyKeyHash,
    }) + '\n'
  );
}

function asRecord(line: Extract<Line, { publicKey: string }>): WalletRecord {
  const { walletId, label, publicKey, createdAt, idempotencyKeyHash } = line;
  return {
    walletId,
    ...(label === undefined ? {} : { label }),
    publicKey,
    createdAt,
    ...(idempotencyKeyHash === undefined ? {} : { idempotencyKeyHash }),
  };
}

/** What the registry knows of a wallet id (see `WalletStore.status`). */
export type WalletStatus = 'committed' | 'running' | 'interrupted' | 'failed' | 'resolved';

/**
 * The wallet registry as the coordinator uses it, whichever store holds it: this file
 * (`WalletRegistry`) or PostgreSQL shared by several coordinators (store/postgres-wallets.ts).
 * Reads answer from the process's copy of the registry; writes resolve once durable in the store
 * and visible in that copy. A shared store's copy follows what other coordinators write within
 * about a second, and `catchUp` brings it up to date now (before answering "no such wallet").
 */
export interface WalletStore {
  /** where the records are, for logs (a path, or the database's host and name: never a credential) */
  readonly location: string;
  /** committed wallets */
  readonly count: number;
  /** false once creation must be refused (a failed file write, a closed store) */
  readonly writable: boolean;
  get(walletId: string): WalletRecord | undefined;
  byIdempotencyKeyHash(hash: string): WalletRecord | undefined;
  /** unfinished key generations no process is running (interrupted or failed), oldest first */
  pending(): PendingWallet[];
  status(walletId: string): WalletStatus | undefined;
  isArchived(walletId: string): boolean;
  isPurged(walletId: string): boolean;
  pendingRecord(walletId: string): { label?: string; startedAt: string } | undefined;
  /** @throws InvalidCursorError, RangeError (limit) */
  list(options?: { limit?: number; cursor?: string }): Page;
  /** brings this process's copy up to date with the store */
  catchUp(): Promise<void>;
  /**
   * Resolves once this copy holds every change committed more than `maxAgeMs` (default
   * CURRENT_COPY_MS) before the call: at once when its last read of the store began within that
   * time (no query), else after a catch-up. Signing, refresh and reshare call it before they trust
   * `isArchived`, so an archive or purge made at another coordinator holds here within that bound.
   * @throws StoreUnavailableError (503) if the copy is older and the store cannot be read
   */
  ensureCurrent(maxAgeMs?: number): Promise<void>;
  /**
   * Takes an interrupted key generation over for this process's reconciliation, before it acts on
   * the nodes: true if it is this process's now (its former owner is not alive and cannot commit or
   * abandon it any more), false if not (its owner is alive, or it is no longer pending).
   */
  claim(walletId: string): Promise<boolean>;
  begin(pending: { walletId: string; label?: string; startedAt: string; idempotencyKeyHash?: string }): Promise<void>;
  abandon(walletId: string): Promise<void>;
  append(record: WalletRecord): Promise<WalletRecord>;
  resolve(walletId: string): Promise<void>;
  setArchived(walletId: string, archived: boolean): Promise<boolean>;
  purge(walletId: string): Promise<boolean>;
  close(): Promise<void>;
}

const UNAVAILABLE =
  'the wallet registry cannot be written (a write failed); no wallet is created until the coordinator is restarted with the disk fixed';

export class WalletRegistry implements WalletStore {
  private readonly records: WalletRecord[] = [];
  private readonly byId = new Map<string, WalletRecord>();
  private readonly byIdempotency = new Map<string, WalletRecord>();
  /** pending records without a commit, by wallet id */
  private readonly unfinished = new Map<
    string,
    { label?: string; startedAt: string; state: 'interrupted' | 'failed' | 'running' }
  >();
  /** pending wallets resolved without a commit: their ids are dead */
  private readonly resolved = new Set<string>();
  /** committed wallets archived (and not restored since) */
  private readonly archivedIds = new Set<string>();
  /** archived wallets purged: archived for good */
  private readonly purgedIds = new Set<string>();
  /** appends run one after another: a line is never interleaved with another */
  private tail: Promise<unknown> = Promise.resolve();
  /** bytes of complete records on disk */
  private size = 0;
  /** a write failed: refuse further creation until reopened (which repairs) */
  private failed = false;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly log: Logger,
  ) {}

  /**
   * Loads the registry at `path` (created if missing, with its directory). Cuts a torn last line
   * (no newline); changes nothing else.
   * @throws RegistryCorruptError naming the file and line if a complete line is not a valid record
   *   or contradicts an earlier one (the file is left as it is)
   */
  static async open(path: string, options: { log?: Logger } = {}): Promise<WalletRegistry> {
    const log = options.log ?? silentLogger();
    await ensureDir(dirname(path));
    let fh: FileHandle;
    let created = false;
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      if (errorCode(e) !== 'ENOENT') throw e;
      fh = await open(path, 'a+', 0o600);
      created = true;
    }
    try {
      if (created) await fsyncDir(dirname(path));
      const registry = new WalletRegistry(path, fh, log);
      await registry.load();
      return registry;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  private async load(): Promise<void> {
    const bytes = await this.fh.readFile();
    const text = bytes.toString('utf8');
    const lines = text.split('\n');
    // The piece after the last newline is a torn append (or empty when the file ends cleanly).
    const torn = lines.pop() as string;
    const good = bytes.length - Buffer.byteLength(torn, 'utf8');
    // Validate everything before touching the file: a refused file is never modified.
    for (let k = 0; k < lines.length; k++) this.apply(lines[k] as string, k + 1);
    if (torn.length > 0) {
      await this.fh.truncate(good);
      await this.fh.sync();
      this.log.warn(
        { path: this.path, droppedBytes: bytes.length - good },
        'wallet registry: cut an incomplete last line (an interrupted write)',
      );
    }
    this.size = good;
    for (const p of this.unfinished.values()) if (p.state === 'running') p.state = 'interrupted';
    if (this.unfinished.size > 0) {
      this.log.warn(
        { path: this.path, wallets: this.pending().map((p) => `${p.walletId} (${p.state})`) },
        'wallet registry: key generations that never completed; nodes may hold shares no wallet owns',
      );
    }
  }

  /** One complete line at load. */
  private apply(text: string, lineNo: number): void {
    const where = `wallet registry ${this.path}: line ${lineNo}`;
    const advice = 'the file was not changed; restore or repair it, then start again';
    let line: Line;
    try {
      line = parseLine(text);
    } catch (e) {
      const version = (safeJson(text) as { v?: unknown } | undefined)?.v;
      const why =
        typeof version === 'number' && version > REGISTRY_VERSION
          ? `format version ${version}, newer than this coordinator reads (${REGISTRY_VERSION})`
          : e instanceof z.ZodError
            ? 'not a wallet record'
            : 'not JSON';
      throw new RegistryCorruptError(`${where} is ${why}; ${advice}`);
    }
    const fail = (why: string): never => {
      throw new RegistryCorruptError(`${where} ${why}; ${advice}`);
    };
    switch (line.v === 1 ? 'committed' : line.state) {
      case 'pending': {
        const p = line as Extract<Line, { state: 'pending' }>;
        if (this.byId.has(p.walletId) || this.unfinished.has(p.walletId) || this.resolved.has(p.walletId))
          fail(`repeats wallet ${p.walletId}`);
        this.unfinished.set(p.walletId, {
          ...(p.label === undefined ? {} : { label: p.label }),
          startedAt: p.startedAt,
          state: 'running',
        });
        break;
      }
      case 'abandoned': {
        const pending = this.unfinished.get(line.walletId);
        if (!pending || pending.state === 'failed') fail(`abandons wallet ${line.walletId}, which was not pending`);
        (pending as { state: string }).state = 'failed';
        break;
      }
      case 'resolved': {
        if (!this.unfinished.has(line.walletId)) fail(`resolves wallet ${line.walletId}, which was not pending`);
        this.unfinished.delete(line.walletId);
        this.resolved.add(line.walletId);
        break;
      }
      case 'archived':
      case 'restored':
      case 'purged': {
        const change = (line as Extract<Line, { at: string }>).state;
        if (!this.byId.has(line.walletId)) fail(`${change} wallet ${line.walletId}, which was not committed`);
        if (this.purgedIds.has(line.walletId)) fail(`${change} wallet ${line.walletId}, which was purged`);
        if (change === 'purged') {
          if (!this.archivedIds.has(line.walletId)) fail(`purges wallet ${line.walletId}, which was not archived`);
          this.purgedIds.add(line.walletId);
          break;
        }
        if (change === 'archived') this.archivedIds.add(line.walletId);
        else this.archivedIds.delete(line.walletId);
        break;
      }
      default: {
        const record = asRecord(line as Extract<Line, { publicKey: string }>);
        if (this.byId.has(record.walletId)) fail(`repeats wallet ${record.walletId}`);
        if (this.resolved.has(record.walletId)) fail(`commits wallet ${record.walletId}, which was resolved`);
        if (this.unfinished.get(record.walletId)?.state === 'failed')
          fail(`commits wallet ${record.walletId}, which was abandoned`);
        if (record.idempotencyKeyHash !== undefined && this.byIdempotency.has(record.idempotencyKeyHash))
          fail('repeats an idempotency key');
        this.unfinished.delete(record.walletId);
        this.index(record);
      }
    }
  }

  private index(record: WalletRecord): void {
    this.records.push(record);
    this.byId.set(record.walletId, record);
    if (record.idempotencyKeyHash !== undefined) this.byIdempotency.set(record.idempotencyKeyHash, record);
  }

  get count(): number {
    return this.records.length;
  }

  get location(): string {
    return this.path;
  }

  /** The file has one writer, this process: its copy is always up to date. */
  catchUp(): Promise<void> {
    return Promise.resolve();
  }

  /** Always current (one writer). */
  ensureCurrent(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * One process runs the file's key generations: an interrupted one (from before this start) is
   * nobody's, and nothing needs recording to take it over.
   */
  claim(walletId: string): Promise<boolean> {
    return Promise.resolve(this.status(walletId) === 'interrupted');
  }

  /** False once a write failed: creation is refused until restart. */
  get writable(): boolean {
    return !this.failed && !this.closed;
  }

  get(walletId: string): WalletRecord | undefined {
    return this.byId.get(walletId);
  }

  byIdempotencyKeyHash(hash: string): WalletRecord | undefined {
    return this.byIdempotency.get(hash);
  }

  /**
   * Key generations started but never committed, oldest first — from before this start
   * (`interrupted`) and failed since (`failed`); not those still running. Their wallet ids are the
   * ones under which nodes may hold shares that no wallet owns.
   */
  pending(): PendingWallet[] {
    return [...this.unfinished.entries()].flatMap(([walletId, p]) =>
      p.state === 'running'
        ? []
        : [{ walletId, ...(p.label === undefined ? {} : { label: p.label }), startedAt: p.startedAt, state: p.state }],
    );
  }

  /**
   * What the registry knows of a wallet id: committed; pending and `running` (a key generation
   * under way now), `interrupted` or `failed`; `resolved` (dead); or undefined (never heard of).
   */
  status(walletId: string): WalletStatus | undefined {
    if (this.byId.has(walletId)) return 'committed';
    const p = this.unfinished.get(walletId);
    if (p) return p.state;
    return this.resolved.has(walletId) ? 'resolved' : undefined;
  }

  /** Whether a committed wallet is archived (false for any other id). */
  isArchived(walletId: string): boolean {
    return this.archivedIds.has(walletId);
  }

  /** Whether a wallet was purged (its shares destroyed at the nodes): archived for good. */
  isPurged(walletId: string): boolean {
    return this.purgedIds.has(walletId);
  }

  /**
   * Records that an archived wallet's shares were destroyed at every node: it can never be
   * restored. Resolves once on disk, with whether anything changed (a purged wallet writes nothing).
   * @throws RegistryUnavailableError, RangeError if the wallet is not committed or not archived
   */
  purge(walletId: string): Promise<boolean> {
    let changed = false;
    return this.write(
      () =>
        changed
          ? JSON.stringify({ v: REGISTRY_VERSION, state: 'purged', walletId, at: new Date().toISOString() }) + '\n'
          : undefined,
      () => {
        if (!this.byId.has(walletId)) throw new RangeError(`wallet ${walletId} is not committed`);
        changed = !this.purgedIds.has(walletId);
        if (changed && !this.archivedIds.has(walletId))
          throw new RangeError(`wallet ${walletId} is active: archive it first (DELETE /v1/wallets/${walletId})`);
      },
      () => {
        this.purgedIds.add(walletId);
      },
    ).then(() => changed);
  }

  /**
   * Archives (`true`) or restores (`false`) a committed wallet; resolves once on disk, with whether
   * anything changed (a wallet already in that state writes nothing).
   * @throws RegistryUnavailableError, RangeError if the wallet is not committed, WalletPurgedError
   *   to restore a purged wallet
   */
  setArchived(walletId: string, archived: boolean): Promise<boolean> {
    let changed = false;
    const state = archived ? 'archived' : 'restored';
    return this.write(
      () =>
        changed
          ? JSON.stringify({ v: REGISTRY_VERSION, state, walletId, at: new Date().toISOString() }) + '\n'
          : undefined,
      () => {
        if (!this.byId.has(walletId)) throw new RangeError(`wallet ${walletId} is not committed`);
        if (!archived && this.purgedIds.has(walletId)) throw new WalletPurgedError(walletId);
        changed = this.archivedIds.has(walletId) !== archived;
      },
      () => {
        if (archived) this.archivedIds.add(walletId);
        else this.archivedIds.delete(walletId);
      },
    ).then(() => changed);
  }

  /** A pending wallet's label and start, if it is pending. */
  pendingRecord(walletId: string): { label?: string; startedAt: string } | undefined {
    const p = this.unfinished.get(walletId);
    return p && { ...(p.label === undefined ? {} : { label: p.label }), startedAt: p.startedAt };
  }

  /**
   * Records that a pending wallet (interrupted or failed, not running) will never be committed:
   * every node archived what it held of it. Resolves once on disk.
   * @throws RegistryUnavailableError, RangeError if the wallet is not pending or still running
   */
  resolve(walletId: string): Promise<void> {
    return this.write(
      JSON.stringify({ v: REGISTRY_VERSION, state: 'resolved', walletId }) + '\n',
      () => {
        const state = this.unfinished.get(walletId)?.state;
        if (state === undefined || state === 'running')
          throw new RangeError(`wallet ${walletId} is not an unfinished key generation`);
      },
      () => {
        this.unfinished.delete(walletId);
        this.resolved.add(walletId);
      },
    );
  }

  /** Wallets in creation order, `limit` (1–100) at a time. @throws InvalidCursorError */
  list(options: { limit?: number; cursor?: string } = {}): Page {
    const limit = options.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE)
      throw new RangeError(`limit must be 1–${MAX_PAGE_SIZE}`);
    const from = options.cursor === undefined ? 0 : decodeCursor(options.cursor);
    if (from > this.records.length) throw new InvalidCursorError('invalid cursor');
    const wallets = this.records.slice(from, from + limit);
    const end = from + wallets.length;
    return { wallets, nextCursor: end < this.records.length ? encodeCursor(end) : undefined };
  }

  /**
   * Records that key generation for `walletId` is about to start; resolves once on disk. Call
   * before any node is asked to store a share. The idempotency key hash is not written here: the
   * file's one process holds requests in flight in memory (wallets.ts), and the commit records it.
   * @throws RegistryUnavailableError if this or an earlier write failed, RegistryConflictError if the id is known
   */
  begin(pending: { walletId: string; label?: string; startedAt: string; idempotencyKeyHash?: string }): Promise<void> {
    const line = JSON.stringify({
      v: REGISTRY_VERSION,
      state: 'pending',
      walletId: pending.walletId,
      label: pending.label,
      startedAt: pending.startedAt,
    });
    try {
      parseLine(line); // never write what cannot be read
    } catch (e) {
      return Promise.reject(
        new RangeError(
          `invalid pending wallet: ${e instanceof z.ZodError ? z.prettifyError(e) : (e as Error).message}`,
        ),
      );
    }
    return this.write(
      line + '\n',
      () => {
        if (
          this.byId.has(pending.walletId) ||
          this.unfinished.has(pending.walletId) ||
          this.resolved.has(pending.walletId)
        )
          throw new RegistryConflictError(`wallet ${pending.walletId} is already registered`);
      },
      () => {
        this.unfinished.set(pending.walletId, {
          ...(pending.label === undefined ? {} : { label: pending.label }),
          startedAt: pending.startedAt,
          state: 'running',
        });
      },
    );
  }

  /**
   * Records that key generation for a pending wallet failed (so its id is known dead); resolves
   * once on disk. It stays in `pending()`: nodes may hold shares from it.
   * @throws RegistryUnavailableError, RangeError if the wallet is not pending here
   */
  abandon(walletId: string): Promise<void> {
    return this.write(
      JSON.stringify({ v: REGISTRY_VERSION, state: 'abandoned', walletId }) + '\n',
      () => {
        if (this.unfinished.get(walletId)?.state !== 'running')
          throw new RangeError(`wallet ${walletId} is not being created`);
      },
      () => {
        const p = this.unfinished.get(walletId);
        if (p) p.state = 'failed';
      },
    );
  }

  /**
   * Commits a wallet; resolves once the record is on disk (written and fsynced). Wallet creation
   * commits only what it began (`begin`); a record without a pending one is accepted as an import.
   * @throws RegistryConflictError if the wallet id or the idempotency key hash is already registered,
   *   RangeError if the record is not valid, RegistryUnavailableError if a write failed
   */
  append(record: WalletRecord): Promise<WalletRecord> {
    const line = committedLine(record);
    let checked: WalletRecord;
    try {
      // the same validation as loading: never write what cannot be read
      checked = asRecord(parseLine(line.slice(0, -1)) as Extract<Line, { publicKey: string }>);
    } catch (e) {
      return Promise.reject(
        new RangeError(`invalid wallet record: ${e instanceof z.ZodError ? z.prettifyError(e) : (e as Error).message}`),
      );
    }
    return this.write(
      line,
      () => {
        if (this.byId.has(checked.walletId))
          throw new RegistryConflictError(`wallet ${checked.walletId} is already registered`);
        if (this.resolved.has(checked.walletId))
          throw new RegistryConflictError(`wallet ${checked.walletId} was resolved without a commit`);
        if (this.unfinished.get(checked.walletId)?.state === 'failed')
          throw new RegistryConflictError(`wallet ${checked.walletId} was abandoned`);
        if (checked.idempotencyKeyHash !== undefined && this.byIdempotency.has(checked.idempotencyKeyHash)) {
          throw new RegistryConflictError('idempotency key already used');
        }
      },
      () => {
        this.unfinished.delete(checked.walletId);
        this.index(checked);
      },
    ).then(() => checked);
  }

  /**
   * Appends one line after `check` (run in turn, against the state the earlier appends left),
   * fsyncs, then `apply`. A line given as a function is made after `check`; undefined: nothing to
   * write (and nothing applied). A failed write marks the registry failed (creation refused until restart)
   * and cuts a partial line off so the file stays loadable.
   */
  private write(line: string | (() => string | undefined), check: () => void, apply: () => void): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.closed) throw new Error('wallet registry is closed');
      if (this.failed) throw new RegistryUnavailableError(UNAVAILABLE);
      check();
      const text = typeof line === 'string' ? line : line();
      if (text === undefined) return;
      const data = Buffer.from(text, 'utf8');
      try {
        await this.fh.write(data, 0, data.length, this.size);
        await this.fh.sync();
      } catch (e) {
        this.failed = true;
        this.log.error(
          { path: this.path, err: (e as Error).message },
          'wallet registry: a write failed; wallet creation is refused until the coordinator is restarted',
        );
        // Cut a partial line off, so the file loads at the restart (a torn tail would be cut then too).
        try {
          await this.fh.truncate(this.size);
          await this.fh.sync();
        } catch {
          // the restart cuts it
        }
        throw new RegistryUnavailableError(UNAVAILABLE);
      }
      this.size += data.length;
      apply();
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.tail;
    this.closed = true;
    await this.fh.close();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
