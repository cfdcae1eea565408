/**
 * An append-only, hash-chained audit log in JSON lines: one record per line,
 *
 *   {"event":{…},"hash":"<hex>","prev":"<hex>","seq":7,"time":"2026-01-01T00:00:00.000Z"}
 *
 * - `seq` counts from 1 and equals the line number;
 * - `prev` is the previous line's `hash` (64 zeros on line 1);
 * - `hash` = SHA-256("mpc-engine/v1/audit-log\0" ‖ canonical({ event, prev, seq, time }));
 * - the line itself is the canonical encoding of all five fields: keys sorted at every depth, no
 *   white space, no undefined, no non-finite numbers. A reader can therefore recompute every byte.
 *
 * Editing, deleting, reordering or inserting a line breaks the chain at that line (its `seq`,
 * `prev` or `hash` no longer fits); `verifyAuditLog` and `npm run audit:verify -- <file>` name the
 * first line that does not. Cutting lines off the end cannot be seen from the file alone: an
 * operator who needs that keeps the last `seq` and `hash` the verifier prints somewhere else.
 *
 * Durability: `append` resolves only once its line is written and fsynced. Appends that arrive
 * while a write is under way are written and fsynced together (group commit), so a burst of
 * signatures costs one fsync per batch, not one each, and every caller still waits for its own.
 *
 * Crash repair at open: a write cut short leaves a last line without its newline; that fragment
 * is cut off (its append never resolved, so nobody was told it was recorded). A complete line
 * that fails validation is not a crash artefact — it is damage or tampering — and the log refuses
 * to open; the file is left exactly as it is, for the operator and `audit:verify`.
 *
 * Time: `time` is for people reading the log, not for ordering (`seq` orders). It is the wall
 * clock read once at open plus the monotonic time elapsed since, never earlier than the last
 * line's time, so a clock stepped backwards (NTP, an operator) cannot make the log run backwards.
 *
 * Single writer: one process owns a file (the coordinator its audit.jsonl, a node its own).
 * Coordinators sharing a database keep one chain in a table instead
 * (src/coordinator/store/audit-pg.ts), built and checked by the functions exported here.
 * Events are public data only: a field whose name marks a secret (token, key, share, password …,
 * as in log.ts) is refused, so a careless caller cannot write a credential into the log.
 * @module
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureDir, errorCode, fsyncDir } from './durable-file.js';
import { isSecretField, silentLogger, type Logger } from './log.js';

export type AuditValue =
  string | number | boolean | null | readonly AuditValue[] | { readonly [key: string]: AuditValue | undefined };

/** What is recorded: a `type` (lower-case, dotted: `wallet.created`) and public fields. */
export interface AuditEvent {
  readonly type: string;
  readonly [field: string]: AuditValue | undefined;
}

/** One line as read back. */
export interface AuditRecord {
  readonly seq: number;
  /** ISO 8601, UTC */
  readonly time: string;
  readonly prev: string;
  readonly hash: string;
  readonly event: AuditEvent;
}

export interface AuditLogOptions {
  readonly log?: Logger;
  /** tests: the wall clock (ms since the epoch; default Date.now) */
  readonly wallClock?: () => number;
  /** tests: the monotonic clock (ms; default performance.now) */
  readonly monotonicClock?: () => number;
}

export const AUDIT_GENESIS = '0'.repeat(64);
const DOMAIN = 'mpc-engine/v1/audit-log\0';
/** longest line accepted, written or read (a line this long is not an event of ours) */
export const MAX_AUDIT_LINE_BYTES = 64 * 1024;
const MAX_DEPTH = 8;
const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
const HEX64 = /^[0-9a-f]{64}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const RECORD_KEYS = ['event', 'hash', 'prev', 'seq', 'time'];

/** A complete line of the log does not validate: damage or tampering, never repaired. */
export class AuditLogCorruptError extends Error {
  override readonly name = 'AuditLogCorruptError';
  constructor(
    readonly path: string,
    /** 1-based */
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${path}: line ${line}: ${reason}`);
  }
}

/**
 * The canonical encoding: JSON with object keys sorted (by UTF-16 code units, as Array.sort),
 * undefined members left out, and anything JSON cannot carry exactly refused.
 * @throws TypeError for non-finite numbers, bigint, functions, symbols, class instances, cycles, depth > 8
 */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new TypeError('audit event nested too deeply');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('audit event holds a non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v, depth + 1))).join(',')}]`;
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new TypeError('audit event holds a non-plain object');
    const members = Object.keys(value)
      .sort()
      .flatMap((k) => {
        const v = (value as Record<string, unknown>)[k];
        return v === undefined ? [] : [`${JSON.stringify(k)}:${canonicalJson(v, depth + 1)}`];
      });
    return `{${members.join(',')}}`;
  }
  throw new TypeError(`audit event holds a ${typeof value}`);
}

/** The first field, at any depth, whose name marks a secret. */
function secretField(value: unknown, depth = 0): string | undefined {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (!Array.isArray(value) && isSecretField(k)) return k;
    const inner = secretField(v, depth + 1);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

export function recordHash(seq: number, time: string, prev: string, eventJson: string): string {
  // canonical({ event, prev, seq, time }) spelled out: the event is already canonical
  const body = `{"event":${eventJson},"prev":${JSON.stringify(prev)},"seq":${seq},"time":${JSON.stringify(time)}}`;
  return createHash('sha256').update(DOMAIN, 'utf8').update(body, 'utf8').digest('hex');
}

export function recordLine(seq: number, time: string, prev: string, eventJson: string, hash: string): string {
  return `{"event":${eventJson},"hash":${JSON.stringify(hash)},"prev":${JSON.stringify(prev)},"seq":${seq},"time":${JSON.stringify(time)}}`;
}

/** An event checked and encoded; @throws TypeError */
export function encodeEvent(event: AuditEvent): string {
  if (event === null || typeof event !== 'object' || Array.isArray(event))
    throw new TypeError('an audit event is an object');
  if (typeof event.type !== 'string' || event.type.length > 64 || !TYPE.test(event.type))
    throw new TypeError('an audit event needs a type like "wallet.created"');
  const secret = secretField(event);
  if (secret !== undefined)
    throw new TypeError(`audit events carry no secrets: field ${JSON.stringify(secret)} refused`);
  return canonicalJson(event);
}

/** State of the chain after a line. */
export interface ChainHead {
  seq: number;
  hash: string;
  /** ms since the epoch of the last line (0 before the first) */
  timeMs: number;
}

/**
 * Checks one complete line (without its newline) against the chain so far.
 * @returns the record, or the reason it does not fit
 */
export function checkLine(line: string, head: ChainHead): { record: AuditRecord; timeMs: number } | { reason: string } {
  if (Buffer.byteLength(line, 'utf8') > MAX_AUDIT_LINE_BYTES) return { reason: 'longer than any audit record' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { reason: 'not JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { reason: 'not an audit record' };
  const r = parsed as Record<string, unknown>;
  if (Object.keys(r).sort().join(',') !== RECORD_KEYS.join(',')) return { reason: 'not an audit record (fields)' };
  const { seq, time, prev, hash, event } = r;
  if (seq !== head.seq + 1)
    return {
      reason: `sequence number ${JSON.stringify(seq)} where ${head.seq + 1} was expected (a line deleted, inserted or moved)`,
    };
  if (typeof prev !== 'string' || prev !== head.hash)
    return {
      reason: 'does not chain to the line before (prev differs: a line before it deleted, changed, inserted or moved)',
    };
  if (typeof time !== 'string' || !ISO.test(time) || Number.isNaN(Date.parse(time)))
    return { reason: 'time is not an ISO 8601 UTC time' };
  const timeMs = Date.parse(time);
  if (timeMs < head.timeMs) return { reason: 'time runs backwards' };
  if (typeof hash !== 'string' || !HEX64.test(hash)) return { reason: 'hash is not 64 hex digits' };
  let eventJson: string;
  try {
    eventJson = encodeEvent(event as AuditEvent);
  } catch (e) {
    return { reason: `event: ${(e as Error).message}` };
  }
  if (recordHash(seq, time, prev, eventJson) !== hash)
    return { reason: 'hash does not match the content (the line was changed)' };
  if (recordLine(seq, time, prev, eventJson, hash) !== line)
    return { reason: 'not in canonical form (the line was re-encoded or changed)' };
  return { record: { seq, time, prev, hash, event: event as AuditEvent }, timeMs };
}

const CHUNK = 1 << 20;

/**
 * Reads the file's complete lines in order, in chunks (an audit log grows without bound; it is
 * never read whole), until `visit` returns false. Returns the bytes after the last newline (a
 * torn line, or empty) and the length of the complete lines.
 */
async function forEachLine(
  fh: FileHandle,
  visit: (line: string, lineNo: number) => boolean,
): Promise<{ tail: Buffer; completeBytes: number }> {
  let carry = Buffer.alloc(0);
  let offset = 0;
  let lineNo = 0;
  let completeBytes = 0;
  const buf = Buffer.alloc(CHUNK);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
    let data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
    let nl: number;
    while ((nl = data.indexOf(0x0a)) >= 0) {
      lineNo++;
      completeBytes += nl + 1;
      if (!visit(data.subarray(0, nl).toString('utf8'), lineNo)) return { tail: Buffer.alloc(0), completeBytes };
      data = data.subarray(nl + 1);
    }
    // a line longer than any record: fail it now rather than buffer without bound
    if (data.length > MAX_AUDIT_LINE_BYTES && !visit(data.toString('utf8'), lineNo + 1))
      return { tail: Buffer.alloc(0), completeBytes };
    carry = Buffer.from(data);
  }
  return { tail: carry, completeBytes };
}

export type AuditVerification =
  | {
      readonly ok: true;
      readonly lines: number;
      readonly lastHash: string;
      readonly lastTime: string | undefined;
      readonly tornTailBytes: number;
    }
  | { readonly ok: false; readonly line: number; readonly reason: string };

/**
 * Checks a whole log without changing it: every complete line must continue the chain. A torn
 * last line (no newline) is reported in `tornTailBytes`, not as a failure: the writer cuts it at
 * its next open.
 */
export async function verifyAuditLog(path: string): Promise<AuditVerification> {
  const fh = await open(path, 'r');
  try {
    const head: ChainHead = { seq: 0, hash: AUDIT_GENESIS, timeMs: 0 };
    let lastTime: string | undefined;
    let failure: { line: number; reason: string } | undefined;
    const { tail } = await forEachLine(fh, (line, lineNo) => {
      const c = checkLine(line, head);
      if ('reason' in c) {
        failure = { line: lineNo, reason: c.reason };
        return false;
      }
      Object.assign(head, { seq: c.record.seq, hash: c.record.hash, timeMs: c.timeMs });
      lastTime = c.record.time;
      return true;
    });
    if (failure) return { ok: false, ...failure };
    return { ok: true, lines: head.seq, lastHash: head.hash, lastTime, tornTailBytes: tail.length };
  } finally {
    await fh.close();
  }
}

interface Pending {
  readonly data: Buffer;
  /** the chain after this line */
  readonly after: ChainHead;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class AuditLog {
  /** chain state including appends not yet durable */
  private head: ChainHead;
  /** chain state and size of what is on disk and fsynced */
  private durable: ChainHead & { size: number };
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;
  /** a failed write could not be cut back: refuse appends until reopened (which repairs) */
  private broken: Error | undefined;
  private closed = false;
  private readonly anchorWall: number;
  private readonly anchorMono: number;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly log: Logger,
    private readonly monotonic: () => number,
    wallNow: number,
    durable: ChainHead & { size: number },
  ) {
    this.durable = durable;
    this.head = { seq: durable.seq, hash: durable.hash, timeMs: durable.timeMs };
    this.anchorWall = wallNow;
    this.anchorMono = monotonic();
  }

  /**
   * Opens (or creates, with its directory) the log at `path` and checks the whole chain.
   * @throws AuditLogCorruptError naming the first complete line that does not validate (the file is not modified)
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const log = options.log ?? silentLogger();
    await ensureDir(dirname(path), 0o700);
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
      const head: ChainHead = { seq: 0, hash: AUDIT_GENESIS, timeMs: 0 };
      const { tail, completeBytes } = await forEachLine(fh, (line, lineNo) => {
        const c = checkLine(line, head);
        if ('reason' in c) throw new AuditLogCorruptError(path, lineNo, c.reason);
        Object.assign(head, { seq: c.record.seq, hash: c.record.hash, timeMs: c.timeMs });
        return true;
      });
      if (tail.length > 0) {
        await fh.truncate(completeBytes);
        await fh.sync();
        log.warn(
          { path, droppedBytes: tail.length, line: head.seq + 1 },
          'audit log: cut an incomplete last line (an append interrupted by a crash)',
        );
      }
      return new AuditLog(
        path,
        fh,
        log,
        options.monotonicClock ?? (() => performance.now()),
        (options.wallClock ?? Date.now)(),
        { ...head, size: completeBytes },
      );
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** where the log is (its path) */
  get location(): string {
    return this.path;
  }

  /** Lines on disk (fsynced). */
  get length(): number {
    return this.durable.seq;
  }

  /** The hash of the last durable line (AUDIT_GENESIS when empty): what an operator anchors elsewhere. */
  get lastHash(): string {
    return this.durable.hash;
  }

  /**
   * Appends an event; resolves once its line is written and fsynced, in call order.
   * @throws TypeError (synchronously as a rejection) if the event is not a valid public event;
   *   the write's error if it failed (nothing of it stays in the file)
   */
  append(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('audit log is closed'));
    if (this.broken)
      return Promise.reject(
        new Error(
          `audit log: an earlier write failed and could not be undone (${this.broken.message}); reopen it to repair`,
        ),
      );
    let eventJson: string;
    try {
      eventJson = encodeEvent(event);
    } catch (e) {
      return Promise.reject(e);
    }
    const timeMs = Math.max(this.head.timeMs, Math.floor(this.anchorWall + (this.monotonic() - this.anchorMono)));
    const time = new Date(timeMs).toISOString();
    const seq = this.head.seq + 1;
    const hash = recordHash(seq, time, this.head.hash, eventJson);
    const line = recordLine(seq, time, this.head.hash, eventJson, hash) + '\n';
    const data = Buffer.from(line, 'utf8');
    if (data.length > MAX_AUDIT_LINE_BYTES) return Promise.reject(new TypeError('audit event too large'));
    const after = { seq, hash, timeMs };
    this.head = after;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, after, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  /** Writes queued lines in batches, one fsync per batch; stops if the file cannot be repaired. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.broken) {
      const batch = this.queue;
      this.queue = [];
      const data = batch.length === 1 ? (batch[0] as Pending).data : Buffer.concat(batch.map((p) => p.data));
      try {
        let done = 0;
        while (done < data.length) {
          const { bytesWritten } = await this.fh.write(data, done, data.length - done, this.durable.size + done);
          done += bytesWritten;
        }
        await this.fh.sync();
      } catch (e) {
        await this.fail(batch, e as Error);
        continue;
      }
      this.durable = { ...(batch.at(-1) as Pending).after, size: this.durable.size + data.length };
      for (const p of batch) p.resolve();
    }
    this.writing = undefined;
  }

  /**
   * A batch failed: it and everything queued after it (which chains onto it) is rejected, the
   * partial write cut off, and the chain rewound to what is on disk, so later appends continue
   * from there. If the cut fails too, the file may hold a fragment: refuse appends until reopened.
   */
  private async fail(batch: Pending[], err: Error): Promise<void> {
    const rejected = [...batch, ...this.queue];
    this.queue = [];
    this.head = {
      seq: this.durable.seq,
      hash: this.durable.hash,
      timeMs: Math.max(this.durable.timeMs, ...rejected.map((p) => p.after.timeMs)),
    };
    this.log.error(
      { path: this.path, err: err.message, events: rejected.length },
      'audit log: write failed; those events were not recorded',
    );
    for (const p of rejected) p.reject(err);
    try {
      await this.fh.truncate(this.durable.size);
      await this.fh.sync();
    } catch (e) {
      this.broken = err;
      this.log.error(
        { path: this.path, err: (e as Error).message },
        'audit log: could not cut a failed write; appends refused until reopened',
      );
      for (const p of this.queue) p.reject(err);
      this.queue = [];
    }
  }

  /** Waits for appends under way, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing) await this.writing;
    await this.fh.close();
  }
}
