/**
 * The wallet registry: the coordinator's only durable state, and public data only — wallet id,
 * label, public key, creation time and a hash of the Idempotency-Key that created it. An
 * append-only JSON-lines file: one record per line, fsynced before `append` resolves, so a wallet
 * the API answered 201 for survives any crash (ARCHITECTURE.md, durability rule 1).
 *
 * A crash mid-append leaves at most a torn last line. Loading ignores it and truncates the file
 * back to the last complete record, so the next append starts on a fresh line instead of gluing
 * itself to the fragment. Damage anywhere else is not a crash artefact: loading refuses the file
 * rather than silently forgetting wallets.
 *
 * Single writer: one coordinator process owns the file (several coordinators need the shared
 * store of the scaling plan).
 * @module
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { walletIdSchema } from '../rpc/messages.js';
import { ensureDir, errorCode, fsyncDir } from '../util/durable-file.js';
import { silentLogger, type Logger } from '../util/log.js';

export const REGISTRY_VERSION = 1;

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

const recordSchema = z
  .object({
    v: z.literal(REGISTRY_VERSION),
    walletId: walletIdSchema,
    label: z.string().max(MAX_LABEL_LENGTH).optional(),
    publicKey: z.string().regex(/^0[23][0-9a-f]{64}$/),
    createdAt: z.iso.datetime(),
    idempotencyKeyHash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  })
  .strict();

/** The file holds something other than records and a torn tail. */
export class RegistryCorruptError extends Error {
  override readonly name = 'RegistryCorruptError';
}

/** A wallet id or idempotency key hash that is already registered. */
export class RegistryConflictError extends Error {
  override readonly name = 'RegistryConflictError';
}

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

function fromLine(line: string): WalletRecord {
  const { v: _v, ...record } = recordSchema.parse(JSON.parse(line));
  return record as WalletRecord;
}

function toLine(record: WalletRecord): string {
  const { walletId, label, publicKey, createdAt, idempotencyKeyHash } = record;
  return JSON.stringify({ v: REGISTRY_VERSION, walletId, label, publicKey, createdAt, idempotencyKeyHash }) + '\n';
}

export class WalletRegistry {
  private readonly records: WalletRecord[] = [];
  private readonly byId = new Map<string, WalletRecord>();
  private readonly byIdempotency = new Map<string, WalletRecord>();
  /** appends run one after another: a line is never interleaved with another */
  private tail: Promise<unknown> = Promise.resolve();
  /** bytes of complete records on disk */
  private size = 0;
  /** a failed append that could not be rolled back: refuse writes until reopened (which repairs) */
  private broken = false;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly log: Logger,
  ) {}

  /**
   * Loads the registry at `path` (created if missing, with its directory).
   * @throws RegistryCorruptError if a line other than the last is not a valid record, or ids repeat
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
    let good = bytes.length - Buffer.byteLength(torn, 'utf8');
    let dropped = torn.length > 0 ? 1 : 0;
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k] as string;
      let record: WalletRecord;
      try {
        record = fromLine(line);
      } catch {
        // A complete but unreadable last line is still the last write interrupted (e.g. a file
        // system that extended the file before the data landed): drop it like a torn one.
        if (k === lines.length - 1 && torn.length === 0) {
          good -= Buffer.byteLength(line, 'utf8') + 1;
          dropped++;
          break;
        }
        throw new RegistryCorruptError(`${this.path}: line ${k + 1} is not a wallet record`);
      }
      if (this.byId.has(record.walletId)) throw new RegistryCorruptError(`${this.path}: line ${k + 1} repeats wallet ${record.walletId}`);
      if (record.idempotencyKeyHash !== undefined && this.byIdempotency.has(record.idempotencyKeyHash)) {
        throw new RegistryCorruptError(`${this.path}: line ${k + 1} repeats an idempotency key`);
      }
      this.index(record);
    }
    if (dropped > 0) {
      await this.fh.truncate(good);
      await this.fh.sync();
      this.log.warn({ path: this.path, droppedBytes: bytes.length - good }, 'wallet registry: ignored an incomplete last line (interrupted write)');
    }
    this.size = good;
  }

  private index(record: WalletRecord): void {
    this.records.push(record);
    this.byId.set(record.walletId, record);
    if (record.idempotencyKeyHash !== undefined) this.byIdempotency.set(record.idempotencyKeyHash, record);
  }

  get count(): number {
    return this.records.length;
  }

  get(walletId: string): WalletRecord | undefined {
    return this.byId.get(walletId);
  }

  byIdempotencyKeyHash(hash: string): WalletRecord | undefined {
    return this.byIdempotency.get(hash);
  }

  /** Wallets in creation order, `limit` (1–100) at a time. @throws InvalidCursorError */
  list(options: { limit?: number; cursor?: string } = {}): Page {
    const limit = options.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new RangeError(`limit must be 1–${MAX_PAGE_SIZE}`);
    const from = options.cursor === undefined ? 0 : decodeCursor(options.cursor);
    if (from > this.records.length) throw new InvalidCursorError('invalid cursor');
    const wallets = this.records.slice(from, from + limit);
    const end = from + wallets.length;
    return { wallets, nextCursor: end < this.records.length ? encodeCursor(end) : undefined };
  }

  /**
   * Appends a wallet; resolves once the record is on disk (written and fsynced).
   * @throws RegistryConflictError if the wallet id or the idempotency key hash is already registered,
   *   RangeError if the record is not valid
   */
  append(record: WalletRecord): Promise<WalletRecord> {
    const line = toLine(record);
    let checked: WalletRecord;
    try {
      checked = fromLine(line.slice(0, -1)); // the same validation as loading: never write what cannot be read
    } catch (e) {
      return Promise.reject(new RangeError(`invalid wallet record: ${e instanceof z.ZodError ? z.prettifyError(e) : (e as Error).message}`));
    }
    const run = async (): Promise<WalletRecord> => {
      if (this.closed) throw new Error('wallet registry is closed');
      if (this.broken) throw new Error('wallet registry: an earlier write failed; restart the coordinator to repair the file');
      if (this.byId.has(checked.walletId)) throw new RegistryConflictError(`wallet ${checked.walletId} is already registered`);
      if (checked.idempotencyKeyHash !== undefined && this.byIdempotency.has(checked.idempotencyKeyHash)) {
        throw new RegistryConflictError('idempotency key already used');
      }
      const data = Buffer.from(line, 'utf8');
      try {
        await this.fh.write(data, 0, data.length, this.size);
        await this.fh.sync();
      } catch (e) {
        // Cut a partial line off, so the next append does not glue onto it.
        try {
          await this.fh.truncate(this.size);
          await this.fh.sync();
        } catch {
          this.broken = true;
        }
        throw e;
      }
      this.size += data.length;
      this.index(checked);
      return checked;
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
